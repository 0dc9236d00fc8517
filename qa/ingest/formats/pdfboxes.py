"""Where a quote stands on a PDF's pages: one rectangle per line it covers, as fractions of the page.

The quote comes from the document's extracted text (hyphenation repaired, whitespace normalised,
running headers and margin stamps gone), so it is found again among the page's characters as
PDFium reads them (`FPDFText`: each character and its box) by comparing letters and digits only,
case and compatibility forms folded (a ligature "ﬁ" is "fi"): spaces, hyphens, line breaks and
punctuation never decide a match. Words are matched in order; a few characters the extracted text
does not have (a margin line number, a footnote mark) may sit between two words. The matched
characters are merged into one rectangle per line, in the page as it is displayed (its /Rotate
and crop box applied), and given as fractions of the page: 0..1, origin top left.

A quote that runs across a page break is split at it and each part is found on its own page. A
page without a text layer (a scan) is read by OCR when `qa.ingest.formats.pdfocr` can (its words
and their boxes stand in for the characters).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qa.ingest.formats.pdfhandle import closing, opened

log = logging.getLogger("qa.pdf")

Rect = tuple[float, float, float, float]  # left, top, right, bottom

#: characters a matched word may skip past to find the next one (a line number, a note mark)
GAP = 60
#: first words of a quote tried as the place to start matching, in case the very first is not found
ANCHORS = 4
#: places an anchor may occur at that are tried (a short common word occurs often)
TRIES = 400
#: the share of a quote's letters that must be found for its place to count
ENOUGH = 0.6
#: a page with more characters than this is not searched (a million tiny glyphs: CASES.md 40)
MAX_CHARS = 200_000


@dataclass(frozen=True)
class Glyph:
    """A character (or an OCR word) and its box in points, y downwards (see `Sheet`)."""

    text: str
    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True)
class Part:
    """The piece of a quote on one page: its text and where on the page's extracted text it begins
    (0..1, a hint for choosing between two places where the same words stand)."""

    page: int
    text: str
    hint: float


@dataclass(frozen=True)
class PageBoxes:
    """The lines of a quote on one page, each a rectangle in fractions of the page (origin top left)."""

    page: int
    boxes: tuple[Rect, ...]

    def to_json(self) -> dict[str, Any]:
        return {"page": self.page, "boxes": [list(b) for b in self.boxes]}


def fold(s: str) -> str:
    """The letters and digits of `s`, case and compatibility forms folded ("ﬁ" -> "fi")."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", s).casefold() if ch.isalnum())


def parts(raw: str, page_starts: Sequence[int], start: int, end: int) -> list[Part]:
    """The pieces of raw[start:end] on each page it covers (`page_starts`: where each page's text
    begins in `raw`); pieces without a letter or digit are left out."""
    out: list[Part] = []
    if not page_starts or end <= start:
        return out
    for index, first in enumerate(page_starts):
        last = page_starts[index + 1] if index + 1 < len(page_starts) else len(raw)
        a, b = max(start, first), min(end, last)
        if a < b and fold(raw[a:b]):
            out.append(Part(index + 1, raw[a:b], (a - first) / max(1, last - first)))
    return out


# -- finding the words ---------------------------------------------------------------------------


def _haystack(glyphs: Sequence[Glyph]) -> tuple[str, list[int]]:
    letters: list[str] = []
    owner: list[int] = []
    for i, g in enumerate(glyphs):
        folded = fold(g.text)
        letters.append(folded)
        owner.extend([i] * len(folded))
    return "".join(letters), owner


def _walk(hay: str, words: Sequence[str], at: int) -> tuple[int, list[tuple[int, int]]]:
    """Matches `words` in order from `at`: each where the last ended, else within GAP characters
    after it (preferring a place where the next word follows too); a word not found is skipped."""
    score, spans = 0, []
    for n, word in enumerate(words):
        if hay.startswith(word, at):
            found = at
        else:
            pair = word + words[n + 1] if n + 1 < len(words) else word
            found = hay.find(pair, at, at + GAP + len(pair))
            if found < 0:
                found = hay.find(word, at, at + GAP + len(word))
            if found < 0:
                continue
        spans.append((found, found + len(word)))
        score += len(word)
        at = found + len(word)
    return score, spans


def locate(glyphs: Sequence[Glyph], text: str, hint: float | None = None) -> list[int]:
    """The indices of the glyphs that spell `text` (see the module docstring); [] when it is not
    there. Of two equally good places, the one nearer `hint` (0..1 through the page) wins."""
    hay, owner = _haystack(glyphs)
    words = [w for w in (fold(w) for w in text.split()) if w]
    total = sum(len(w) for w in words)
    if not words or not hay:
        return []
    best: tuple[int, float, list[tuple[int, int]]] = (0, 0.0, [])
    for k in range(min(ANCHORS, len(words))):
        j, anchor = k + 1, words[k]
        while len(anchor) < 8 and j < len(words):  # a short first word: the next ones with it
            anchor += words[j]
            j += 1
        at, tried = hay.find(anchor), 0
        while at >= 0 and tried < TRIES:
            score, spans = _walk(hay, words[j:], at + len(anchor))
            score += len(anchor)
            near = -abs(at / len(hay) - hint) if hint is not None else -at / len(hay)
            if (score, near) > best[:2]:
                best = (score, near, [(at, at + len(anchor)), *spans])
            at, tried = hay.find(anchor, at + 1), tried + 1
        if best[0] == total:
            break
    if best[0] < ENOUGH * total:
        return []
    hits = sorted({owner[i] for a, b in best[2] for i in range(a, b)})
    return _edges(glyphs, hits, text.strip())


def _edges(glyphs: Sequence[Glyph], hits: list[int], text: str) -> list[int]:
    """`hits` with the punctuation the quote begins or ends with (an opening quotation mark, the
    full stop), where the glyphs just outside them are that punctuation."""
    lead = len(text) - len(text.lstrip("".join(ch for ch in text[:3] if not ch.isalnum())))
    trail = len(text) - len(text.rstrip("".join(ch for ch in text[-3:] if not ch.isalnum())))
    out = list(hits)
    for step, count, at in ((-1, lead, hits[0]), (1, trail, hits[-1])):
        for _ in range(count):
            at += step
            if not 0 <= at < len(glyphs) or fold(glyphs[at].text):
                break
            out.append(at)
    return sorted(out)


def lines(glyphs: Sequence[Glyph]) -> list[Rect]:
    """Glyphs in reading order merged into one rectangle per line: a glyph joins the line before it
    when their heights overlap by at least half and it does not start back at the line's left."""
    out: list[list[float]] = []
    for g in glyphs:
        if g.right <= g.left or g.bottom <= g.top:
            continue
        if out:
            left, top, right, bottom = out[-1]
            height = min(bottom - top, g.bottom - g.top)
            overlap = min(bottom, g.bottom) - max(top, g.top)
            if overlap >= 0.5 * height and g.left >= right - 2 * height:
                out[-1] = [min(left, g.left), min(top, g.top), max(right, g.right), max(bottom, g.bottom)]
                continue
        out.append([g.left, g.top, g.right, g.bottom])
    return [(a, b, c, d) for a, b, c, d in out]


# -- the page's characters -----------------------------------------------------------------------


def _display(page: Any, width: float, height: float) -> Callable[[float, float], tuple[float, float]]:
    """Page space -> the page as displayed, in points, y downwards (PDFium's own device mapping, so
    the page's rotation and crop box count exactly as when it is drawn)."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    size_x, size_y = max(1, round(width * 1000)), max(1, round(height * 1000))

    def device(x: float, y: float) -> tuple[float, float]:
        dx, dy = ctypes.c_int(), ctypes.c_int()
        pdfium_c.FPDF_PageToDevice(page, 0, 0, size_x, size_y, 0, x, y, dx, dy)
        return dx.value / 1000, dy.value / 1000

    (ox, oy), (ax, ay), (bx, by) = device(0, 0), device(1000, 0), device(0, 1000)
    m = ((ax - ox) / 1000, (ay - oy) / 1000, (bx - ox) / 1000, (by - oy) / 1000)
    return lambda x, y: (ox + m[0] * x + m[2] * y, oy + m[1] * x + m[3] * y)


@dataclass(frozen=True)
class Sheet:
    """A page's glyphs as read (x to the right, y downwards, lines of text running along x), the
    page's displayed size in points, and the map of a rectangle of the glyphs' space onto the page
    as displayed (a page with /Rotate 90 shows its lines running down)."""

    glyphs: list[Glyph]
    width: float
    height: float
    display: Callable[[Rect], Rect] = lambda r: r


def page_glyphs(pdf: Any, index: int) -> Sheet:
    """The characters of page `index` (0-based) with their boxes; none for a page without a text
    layer (or with more than MAX_CHARS). Call it inside `opened()`."""
    import pypdfium2.raw as pdfium_c

    page = pdf[index]
    textpage = page.get_textpage()
    with closing(page, textpage):
        width, height = page.get_size()
        count = textpage.count_chars()
        if count <= 0 or count > MAX_CHARS or not width > 0 or not height > 0:
            return Sheet([], width, height)
        to = _display(page, width, height)

        def display(r: Rect) -> Rect:  # page space had y upwards: the glyphs' y is its negative
            (x0, y0), (x1, y1) = to(r[0], -r[1]), to(r[2], -r[3])
            return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

        rect = pdfium_c.FS_RECTF()
        glyphs = []
        for i in range(count):
            code = pdfium_c.FPDFText_GetUnicode(textpage, i)
            if not code or code > 0x10FFFF or pdfium_c.FPDFText_IsGenerated(textpage, i) == 1:
                continue
            char = chr(code)
            if char.isspace() or not pdfium_c.FPDFText_GetLooseCharBox(textpage, i, rect):
                continue
            glyphs.append(Glyph(char, rect.left, -rect.top, rect.right, -rect.bottom))
        return Sheet(glyphs, width, height, display)


# -- pages without a text layer ------------------------------------------------------------------


def _ocr_glyphs(data: bytes, page: int, size: tuple[float, float]) -> list[Glyph]:
    """The OCR words of page `page` (from 1) as glyphs in points (`qa.ingest.formats.pdfocr`,
    which keeps the last pages it read); [] when OCR cannot read it (no Tesseract, too slow)."""
    from qa.ingest.formats import pdfocr

    try:
        words = pdfocr.ocr_words(data, page)
    except Exception as e:  # OCR missing or failing: the page is shown without its marks
        log.warning("no OCR boxes for page %d: %s", page, e)
        return []
    width, height = size
    return [Glyph(w.text, w.box[0] * width, w.box[1] * height, w.box[2] * width, w.box[3] * height)
            for w in words]


# -- the whole thing -----------------------------------------------------------------------------


def quote_boxes(data: bytes, pieces: Sequence[Part]) -> list[PageBoxes]:
    """The lines of each piece of a quote on its page, as fractions of the page; a page where the
    piece is not found is left out (the page is still shown, unmarked)."""
    sheets: dict[int, Sheet] = {}
    with opened(data) as pdf:
        pages = len(pdf)
        for part in pieces:
            if 1 <= part.page <= pages and part.page not in sheets:
                sheets[part.page] = page_glyphs(pdf, part.page - 1)
    out = []
    for part in pieces:
        sheet = sheets.get(part.page)
        if sheet is None:
            continue
        if not sheet.glyphs:  # no text layer: OCR's words, outside the lock (it may take seconds)
            sheet = Sheet(_ocr_glyphs(data, part.page, (sheet.width, sheet.height)), sheet.width, sheet.height)
        hits = locate(sheet.glyphs, part.text, part.hint)
        rects = lines([sheet.glyphs[i] for i in hits])
        boxes = tuple(_fraction(sheet.display(r), sheet.width, sheet.height) for r in rects)
        if boxes:
            out.append(PageBoxes(part.page, boxes))
    return out


def _fraction(r: Rect, width: float, height: float) -> Rect:
    def f(v: float, whole: float) -> float:
        return round(min(1.0, max(0.0, v / whole)), 5)

    return f(r[0], width), f(r[1], height), f(r[2], width), f(r[3], height)
