"""What PDFium sees on a page: its words with their boxes and type size, and its ruling lines.

The text comes from PDFium's text page in one call, in the order the page's content draws it; it
is cut into words at spaces (PDFium puts one where the glyphs leave a gap) and at a line-end
hyphen, which PDFium marks with U+FFFE (U+0002 in older builds) and joins to the next line. Each
word is measured by a few calls on its first and last characters only, never per character: its
box (the font's ascent and descent, so words of one line share a top and bottom), the baseline and
matrix of its first character (rotated text has a matrix that does not run along the page) and its
type size in points (the font size times the matrix's scale). Ruling lines (table rules, frames)
are read from the page's path objects: a thin one is a rule; a rectangle or polyline gives its
straight, axis-parallel sides. Coordinates are PDF points, y up, as pdfminer gives them.

Callers hold `pdfium.LOCK`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

#: a path thinner than this (points) across is a rule
THIN = 2.5
#: rules and sides shorter than this (points) are not rules (a dash, a tick mark, a bullet)
MIN_RULE = 8.0
#: paths with more segments than this are drawings (a plot, a map), not rules
MAX_SEGMENTS = 64

_TOKEN = re.compile(r"[^\s\ufffe\x02]+[\ufffe\x02]?|[\ufffe\x02]")
_HYPHEN_MARKS = str.maketrans({"\ufffe": "-", "\x02": "-"})


@dataclass(frozen=True, slots=True)
class Word:
    """A word as set on the page: its text and box (points, y up), baseline and type size."""

    text: str
    x0: float
    x1: float
    bottom: float
    top: float
    baseline: float
    size: float
    #: the matrix of its first character; (a, b) run along the page for upright text
    matrix: tuple[float, float, float, float, float, float]
    #: PDFium's index of its first and last character on the text page
    first: int
    last: int

    @property
    def y0(self) -> float:
        return self.bottom

    @property
    def upright(self) -> bool:
        a, b = self.matrix[0], self.matrix[1]
        return a > 0 and abs(b) <= 0.1 * a

    def get_text(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Rule:
    """A straight ruling line: horizontal at y = `at` from x `start` to `end`, or vertical at x."""

    horizontal: bool
    at: float
    start: float
    end: float


def page_text(textpage: Any) -> str:
    """The text page's characters as one string, index i being PDFium's character i."""
    import pypdfium2.raw as raw

    count = raw.FPDFText_CountChars(textpage)
    if count <= 0:
        return ""
    text = str(textpage.get_text_range())
    if len(text) == count and raw.FPDFText_GetTextIndexFromCharIndex(textpage, count - 1) == count - 1:
        return text
    # characters outside the text PDFium gives (rare): read one by one, keeping the indexes
    codes = (raw.FPDFText_GetUnicode(textpage, i) for i in range(count))
    return "".join(chr(c) if 0 < c < 0x110000 and not 0xD800 <= c < 0xE000 else " " for c in codes)


def read_words(textpage: Any) -> list[Word]:
    """The page's words in the order the page draws them."""
    import pypdfium2.raw as raw

    text = page_text(textpage)
    words: list[Word] = []
    rect, m = raw.FS_RECTF(), raw.FS_MATRIX()
    box, matrix, font_size = raw.FPDFText_GetLooseCharBox, raw.FPDFText_GetMatrix, raw.FPDFText_GetFontSize
    for match in _TOKEN.finditer(text):
        a, b = match.start(), match.end() - 1
        box(textpage, a, rect)
        x0, x1, bottom, top = rect.left, rect.right, rect.bottom, rect.top
        if b != a:
            box(textpage, b, rect)
            x0, x1 = min(x0, rect.left), max(x1, rect.right)
            bottom, top = min(bottom, rect.bottom), max(top, rect.top)
        matrix(textpage, a, m)
        size = font_size(textpage, a) * math.hypot(m.c, m.d)
        if size <= 0:
            size = top - bottom
        words.append(Word(match.group().translate(_HYPHEN_MARKS), x0, x1, bottom, top, m.f, size,
                          (m.a, m.b, m.c, m.d, m.e, m.f), a, b))
    return words


def char_sizes(textpage: Any, word: Word) -> list[tuple[str, float]]:
    """Each character of `word` with its type size (a superscript mark is smaller)."""
    import pypdfium2.raw as raw

    m = raw.FS_MATRIX()
    out = []
    for i in range(word.first, word.last + 1):
        raw.FPDFText_GetMatrix(textpage, i, m)
        code = raw.FPDFText_GetUnicode(textpage, i)
        ch = chr(code) if 0 < code < 0x110000 and not 0xD800 <= code < 0xE000 else " "
        out.append(("-" if ch in "\ufffe\x02" else ch, raw.FPDFText_GetFontSize(textpage, i) * math.hypot(m.c, m.d)))
    return out


def _sides(obj: Any, raw: Any) -> list[Rule]:
    """The straight, axis-parallel sides of a path object of few segments."""
    import ctypes

    n = raw.FPDFPath_CountSegments(obj)
    if not 0 < n <= MAX_SEGMENTS:
        return []
    m = raw.FS_MATRIX()
    if not raw.FPDFPageObj_GetMatrix(obj, m):
        return []
    x, y = ctypes.c_float(), ctypes.c_float()
    out: list[Rule] = []
    start = previous = None
    for i in range(n):
        segment = raw.FPDFPath_GetPathSegment(obj, i)
        if not segment or not raw.FPDFPathSegment_GetPoint(segment, x, y):
            continue
        point = (m.a * x.value + m.c * y.value + m.e, m.b * x.value + m.d * y.value + m.f)
        kind = raw.FPDFPathSegment_GetType(segment)
        if kind == raw.FPDF_SEGMENT_LINETO and previous is not None:
            out.extend(_side(previous, point))
        if kind == raw.FPDF_SEGMENT_MOVETO:
            start = point
        if raw.FPDFPathSegment_GetClose(segment) and start is not None:
            out.extend(_side(point, start))
        previous = point
    return out


def _side(p: tuple[float, float], q: tuple[float, float]) -> list[Rule]:
    (x0, y0), (x1, y1) = p, q
    if abs(y1 - y0) <= 0.5 and abs(x1 - x0) >= MIN_RULE:
        return [Rule(True, (y0 + y1) / 2, min(x0, x1), max(x0, x1))]
    if abs(x1 - x0) <= 0.5 and abs(y1 - y0) >= MIN_RULE:
        return [Rule(False, (x0 + x1) / 2, min(y0, y1), max(y0, y1))]
    return []


def read_rules(page: Any) -> list[Rule]:
    """The page's ruling lines: thin paths, and the straight sides of rectangles and polylines.

    Only the page's own path objects count: a drawing brought in as a form (a plot pasted from
    another PDF) is a figure, whose axes and grid are not a table's rules.
    """
    import ctypes

    import pypdfium2.raw as raw

    rules: list[Rule] = []
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    fill, stroke = ctypes.c_int(), ctypes.c_int()
    for i in range(raw.FPDFPage_CountObjects(page)):
        obj = raw.FPDFPage_GetObject(page, i)
        if raw.FPDFPageObj_GetType(obj) != raw.FPDF_PAGEOBJ_PATH:
            continue
        if raw.FPDFPath_GetDrawMode(obj, fill, stroke) and not fill.value and not stroke.value:
            continue  # drawn neither filled nor stroked: a clipping path
        if not raw.FPDFPageObj_GetBounds(obj, left, bottom, right, top):
            continue
        width, height = right.value - left.value, top.value - bottom.value
        if height <= THIN and width >= MIN_RULE:
            rules.append(Rule(True, (bottom.value + top.value) / 2, left.value, right.value))
        elif width <= THIN and height >= MIN_RULE:
            rules.append(Rule(False, (left.value + right.value) / 2, bottom.value, top.value))
        elif width >= MIN_RULE or height >= MIN_RULE:
            rules.extend(_sides(obj, raw))
    return rules
