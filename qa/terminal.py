"""`qa ask`'s readable form, for a person at a terminal: what the chat page shows, as text.

The quoted answer with its numbered citation (its short answer, where the span model found one,
on a line of its own and underlined inside the quote on a terminal), its confidence in words, what
was searched when it differs from what was asked, then each passage in rank order under its
citation, the answer sentence marked `»…«` inside it. Scores stay in the JSON (`qa ask --json`). Document text is
printed without its escape sequences or other control characters, and styling (bold) is added
only on a terminal that takes it.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from qa.serve.render import ABSTAIN, CONFIDENCE, ITS_DOCUMENT
from qa.text import for_terminal

#: passages are wrapped to this many columns (or the terminal's width, when it is narrower)
WIDTH = 100
_INDENT = "    "
# Placeholders for the answer's marks: set before wrapping, styled after (for_terminal drops both
# from document text, so they cannot come from a document)
_OPEN, _CLOSE = "\x01", "\x02"


def wants_color(stream: TextIO) -> bool:
    """Bold only on a terminal, and not when $NO_COLOR is set (no-color.org) or TERM is dumb."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def width(stream: TextIO) -> int:
    """WIDTH, or the terminal's width when `stream` is a narrower terminal (never under 40)."""
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()):
        return WIDTH
    return max(40, min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns))


def confidence_words(value: float | None) -> str:
    """"Confidence: medium (the quote may answer the question; check it in context)", the chat
    page's words for a calibrated confidence; empty when there is none."""
    if value is None or not 0.0 <= value <= 1.0:
        return ""
    word, meaning = next((w, m) for least, w, m in CONFIDENCE if value >= least)
    return f"Confidence: {word} ({meaning})"


def marked(text: str, ranges: Iterable[Sequence[int]]) -> str:
    """`text` cleaned for a terminal, each [start, end) range between the mark placeholders."""
    out, at = [], 0
    for a, b in sorted((max(0, int(a)), min(len(text), int(b))) for a, b in ranges):
        if a < at or b <= a:
            continue
        out += [for_terminal(text[at:a]), _OPEN, for_terminal(text[a:b]), _CLOSE]
        at = b
    out.append(for_terminal(text[at:]))
    return "".join(out)


def quote(answer: Any, color: bool = False) -> str:
    """The answer's text cleaned for a terminal; with `color`, its short answer (`answer.span`)
    underlined inside it (the quote itself is bold)."""
    span = getattr(answer, "span", None)
    t = answer.text
    if not color or span is None or not 0 <= span.start < span.end <= len(t):
        return for_terminal(t)
    return f"{for_terminal(t[: span.start])}\x1b[4m{for_terminal(t[span.start : span.end])}\x1b[24m{for_terminal(t[span.end :])}"


def render_text(result: Any, color: bool = False, columns: int = WIDTH) -> str:
    """The readable form of a `qa.answer.result.Result`: the quoted answer, its citation and
    confidence, then the numbered passages (the answer marked »…« in its own passage)."""
    bold, off = ("\x1b[1m", "\x1b[0m") if color else ("", "")
    lines = []
    answer = result.answer
    if answer:
        c = answer.citation
        lines.append(f"{bold}“{quote(answer, color)}”{off} [{c.id}]")
        if getattr(answer, "span", None) is not None:  # the short answer, on a line of its own (a pipe too)
            lines.append(f"{_INDENT}Short answer: {for_terminal(answer.span.text)}")
        lines.append(f"{_INDENT}[{c.id}] {for_terminal(c.label())}")
        if confidence_words(answer.confidence):
            lines.append(f"{_INDENT}{confidence_words(answer.confidence)}")
    else:
        why = f" {for_terminal(result.reason)}" if result.reason else ""
        lines.append(f"{ABSTAIN}{why} The nearest passages may still help:")
    if result.query != result.question:
        lines.append(f"{_INDENT}Searched for: {for_terminal(result.query)}")
    if result.conversation_document:
        lines.append(f"{_INDENT}Searched only {for_terminal(result.conversation_document)}, {ITS_DOCUMENT}")
    for h in result.hits:
        # marked only when there is an answer (as on the chat page): the nearest passages of an
        # abstention hold no answer sentence
        body = marked(h.passage.text, h.highlight) if answer else for_terminal(h.passage.text)
        # a table's passage keeps its rows one a line; prose has no line breaks
        wrapped = "\n".join(textwrap.fill(line, width=columns, initial_indent=_INDENT, subsequent_indent=_INDENT)
                             for line in body.split("\n"))
        lines.append("")
        lines.append(f"[{h.rank}] {for_terminal(h.citation.label())}")
        lines.append(wrapped.replace(_OPEN, f"{bold}»").replace(_CLOSE, f"«{off}"))
    return "\n".join(lines)
