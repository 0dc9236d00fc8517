"""A PDF's title, and its authors where clear, from the first page's type when the metadata has none.

The title is the run of lines in the largest type in the upper half of the first page, when that
type stands clearly above the body's (at least 1.2 times its size); lines of it that follow each
other are joined, so a title set over two lines reads as one. Running headers are not candidates
(the caller leaves them out) and neither is rotated text (never read as lines: `pdfmargin`).
The authors are the line(s) right under the title in the next-largest type, still larger than
the body's, and only when every part of them reads as a person's name; otherwise none is given.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from qa.ingest.layout import smart_title

#: the title's type is at least this many times the body's
TITLE_RATIO = 1.2
#: a title longer than this is not one (a pull-out or a banner)
MAX_LINES, MAX_WORDS = 4, 30
_SEPARATORS = re.compile(r"\s*(?:,|;|&|\band\b)\s*")
_MARKS = re.compile(r"[*∗†‡§¶✉]+")
_NAME_WORD = re.compile(r"^[^\W\d_][\w.'’-]*$")
_PARTICLES = {"de", "van", "von", "der", "den", "bin", "al", "da", "del", "di", "du", "la", "le"}


@dataclass(frozen=True)
class TypeLine:
    """One text line of a page as set: its text, its type size and where it stands (points, y up).
    Made from PDFium's words (`pdf`), pdfminer's lines (`pdfminer_pages`) or OCR's (`pdfocr`)."""

    text: str
    size: float
    top: float
    bottom: float
    #: the text without characters much smaller than the line's type (superscript marks)
    main: str
    #: its characters that are not spaces
    chars: int


def _body_size(lines: Sequence[TypeLine]) -> float:
    sizes: Counter[float] = Counter()
    for line in lines:
        sizes[round(line.size * 2) / 2] += line.chars
    return sizes.most_common(1)[0][0]


def _run(lines: Iterable[TypeLine], first: TypeLine, size: float) -> list[TypeLine]:
    """`first` and the lines of the same type that follow it down the page, row by row."""
    out = [first]
    for line in lines:
        if abs(line.size - size) > 0.5:
            break
        if out[-1].bottom - line.top > size:  # a gap wider than a line: the run has ended
            break
        out.append(line)
    return out


def _names(lines: Sequence[TypeLine]) -> str | None:
    parts = [p for line in lines for p in _SEPARATORS.split(_MARKS.sub(" ", line.main))]
    names = [" ".join(p.split()) for p in parts if p.strip()]
    for name in names:
        words = name.split()
        if not 2 <= len(words) <= 5 or not all(_NAME_WORD.match(w) for w in words):
            return None
        if not all(w[0].isupper() for w in words if w.lower() not in _PARTICLES):
            return None
    return ", ".join(names) or None


def title_from_type(lines: Sequence[TypeLine], page_bottom: float, page_top: float) -> tuple[str | None, str | None]:
    """(title, authors) of a first page's lines (running lines already left out); None when unclear."""
    if not lines:
        return None, None
    body = _body_size(lines)
    middle = (page_bottom + page_top) / 2
    down = sorted(lines, key=lambda line: -line.top)
    candidates = [line for line in down if line.top > middle and sum(ch.isalpha() for ch in line.text) >= 2]
    if not candidates:
        return None, None
    size = max(line.size for line in candidates)
    if size < TITLE_RATIO * body:
        return None, None
    first = next(line for line in candidates if line.size >= size - 0.5)
    after = down[down.index(first) + 1 :]
    title_lines = _run(after, first, size)
    text = ""
    for line in title_lines:
        text = text[:-1] + line.text if text.endswith("-") and line.text[:1].islower() else f"{text} {line.text}"
    text = " ".join(text.split())
    if len(title_lines) > MAX_LINES or len(text.split()) > MAX_WORDS:
        return None, None
    rest = after[len(title_lines) - 1 :]
    authors = None
    if rest:
        nxt = rest[0]
        close = title_lines[-1].bottom - nxt.top <= 3 * size
        if close and body * 1.05 < nxt.size < size - 0.5:
            authors = _names(_run(rest[1:], nxt, nxt.size))
    return smart_title(text), authors
