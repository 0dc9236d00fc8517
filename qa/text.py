"""Small text helpers shared by loading, searching and display: normalisation and clean-up."""

from __future__ import annotations

import re
import unicodedata

from qa.errors import InputError

_WORD = re.compile(r"\w+")
_NON_WORD = re.compile(r"\W+")
# Escape sequences a terminal would interpret (CSI ... final byte, OSC ... BEL/ST, single ESC).
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")


def is_invisible(ch: str) -> bool:
    """Control, format (bidi overrides, zero-width), surrogate, private or unassigned characters."""
    return unicodedata.category(ch)[0] == "C" and ch not in "\n\t"


def clean_text(text: str) -> str:
    """NFC, no terminal escapes, no invisible characters, whitespace collapsed to single spaces."""
    text = _ANSI.sub("", text)
    text = "".join(ch for ch in text if not is_invisible(ch))
    text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


def clean_question(question: object, max_chars: int) -> str:
    """The question as it will be searched, or an InputError with a message for the user."""
    if question is None:
        raise InputError("Please type a question.")
    if not isinstance(question, str):
        if isinstance(question, int | float) and not isinstance(question, bool):
            question = str(question)
        else:
            raise InputError("Please type a question.")
    assert isinstance(question, str)
    # Refuse absurd sizes before doing any work on them.
    if len(question) > 20 * max_chars:
        raise InputError(f"Question is too long ({len(question)} characters; the limit is {max_chars}).")
    cleaned = clean_text(question)
    if not cleaned:
        raise InputError("Please type a question.")
    if len(cleaned) > max_chars:
        raise InputError(f"Question is too long ({len(cleaned)} characters; the limit is {max_chars}).")
    return cleaned


def words(text: str) -> list[str]:
    """The lower-cased word tokens of a text."""
    return _WORD.findall(text.lower())


def skeleton(text: str) -> str:
    """The text with every non-word character removed, NFC: what a citation check compares."""
    return _NON_WORD.sub("", unicodedata.normalize("NFC", text))


def for_terminal(text: str) -> str:
    """Text safe to print to a terminal: no escape sequences or other control characters."""
    text = _ANSI.sub("", text)
    return "".join(ch for ch in text if ch in "\n\t" or not is_invisible(ch))


_BLANK_LINE = re.compile(r"\n[^\S\n]*\n\s*")


def blocks(text: str) -> list[tuple[int, int]]:
    """[start, end) of each block of `text` between blank lines, blank blocks left out: the
    paragraphs of an extracted text as `qa show` prints it."""
    spans, at = [], 0
    for m in _BLANK_LINE.finditer(text):
        if text[at : m.start()].strip():
            spans.append((at, m.start()))
        at = m.end()
    if text[at:].strip():
        spans.append((at, len(text)))
    return spans


#: the document view's bound for a long document: paragraphs either side of the cited one, characters
WINDOW_PARAGRAPHS, WINDOW_CHARS = 40, 100_000


def text_window(text: str, start: int, end: int) -> dict[str, object]:
    """The text around the cited range [start, end), for the document view: all of it when short,
    else `WINDOW_PARAGRAPHS` paragraphs either side of the cited one and at most `WINDOW_CHARS`
    characters. Returns document_text, document_offset (where it begins in `text`),
    document_highlight (the cited range inside it), document_paragraphs ([first, last, total] of
    the paragraphs shown, counted from 1) and document_whole (whether it is all of `text`)."""
    from bisect import bisect_right

    spans = blocks(text) or [(0, len(text))]
    at = max(0, bisect_right([a for a, _ in spans], start) - 1)
    lo, hi = max(0, at - WINDOW_PARAGRAPHS), min(len(spans), at + WINDOW_PARAGRAPHS + 1)
    a, b = spans[lo][0], spans[hi - 1][1]
    trimmed = b - a > WINDOW_CHARS
    if trimmed:  # very long paragraphs: characters around the citation
        first, last = a, b
        a = max(first, start - WINDOW_CHARS // 4)
        b = min(last, a + WINDOW_CHARS)
        a = max(first, b - WINDOW_CHARS)  # near the end: more of what comes before
    b = max(b, min(end, len(text)))
    return {"document_text": text[a:b], "document_offset": a, "document_highlight": [start - a, end - a],
            "document_paragraphs": [lo + 1, hi, len(spans)],
            "document_whole": lo == 0 and hi == len(spans) and not trimmed}
