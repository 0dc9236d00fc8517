"""OCR: the pages of a PDF without a text layer (a scan), read by Tesseract.

Such a page is rendered with pdfium (pypdfium2) at 300 dpi in grey, cleaned of speckles with a 3x3
median filter, and read by Tesseract through pytesseract's `image_to_data`, which gives every word
with its box and its block, paragraph and line. The words become the page's blocks, a block per
paragraph and a line per line, as pdfminer's text boxes are for a born-digital page, so sentences,
passages, running headers and page citations work the same; the first page's lines, sized by their
height, give the title when the metadata has none (`pdftitle`). `ocr_words` gives a page's words with
their boxes (fractions of the page, origin top left) to the page view, which marks a cited sentence.

Measured (`python -m benchmarks.ocr`, docs/benchmarks.md), on the bundled article printed to PDF
and scanned clean, grey and noisy (turned, blurred, speckled, black and white), in 11 and in 8 point
type: 300 dpi with the median filter recovered 99.8-99.95% of the original's words in all six,
never more than 0.11 points below the best setting; 150 dpi fell to 99.2% on 8 point type, and
without the filter the noisy scans fell to 98.5% (11 point) and 99.1% (8 point). OCR is slow:
0.1-0.4 pages/s on the busy 2-core test machine, hundreds of times slower than reading a text
layer. Tesseract runs with one thread (OMP_THREAD_LIMIT=1, set by the reading worker,
`qa.ingest.readworker`): on two busy cores its OpenMP threads made it four times slower.

Tesseract is a program of its own (Debian's `tesseract-ocr` and `tesseract-ocr-eng`; `scripts/setup`
installs them); without it a PDF with no text layer at all is refused in one line that says so, and a
PDF with some scanned pages is read without them. `QA_TESSERACT` names another command.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qa.ingest.formats import Skip

if TYPE_CHECKING:
    from qa.ingest.formats.pdflines import Part

#: pages are rendered for Tesseract at this resolution
DPI = 300
#: a page larger than this many pixels at DPI (a 20,000-point page) is rendered at a lower resolution
MAX_PIXELS = 40_000_000
#: the median filter's size (pixels) that takes speckles off a page before Tesseract reads it (0: none)
MEDIAN = 3
#: a rendered page whose darkest grey is lighter than this holds no ink: it is blank, not read
BLANK = 200
INSTALL = "apt-get install tesseract-ocr tesseract-ocr-eng"
NO_OCR = f"no text layer (a scanned or image-only PDF) and no Tesseract OCR to read it: {INSTALL} (Debian)"
NO_WORDS = "no text layer, and OCR found no words on its pages"
#: pages whose words `ocr_words` keeps
CACHED_PAGES = 32


@dataclass(frozen=True)
class Word:
    """A word Tesseract read on a page: its text and its box (x0, y0, x1, y1) as fractions of the
    page's width and height as pdfium renders it, origin top left; its line and paragraph number on
    the page (from 0, in reading order) and Tesseract's confidence (0-100)."""

    text: str
    box: tuple[float, float, float, float]
    line: int
    paragraph: int
    confidence: float


def tesseract() -> str | None:
    """The Tesseract program to run ($QA_TESSERACT, else `tesseract` on the PATH), None when missing."""
    return shutil.which(os.environ.get("QA_TESSERACT", "").strip() or "tesseract")


def _render(page: Any) -> tuple[Any, float]:
    """The page as a grey PIL image, and its scale (pixels per point)."""
    width, height = page.get_size()
    scale = min(DPI / 72, (MAX_PIXELS / max(1.0, width * height)) ** 0.5)
    return page.render(scale=scale, grayscale=True).to_pil().convert("L"), scale


def _read_image(image: Any, command: str, timeout: float | None) -> list[Word]:
    """The words Tesseract reads on a page image, in its reading order."""
    import pytesseract
    from PIL import ImageFilter

    pytesseract.pytesseract.tesseract_cmd = command
    if MEDIAN:
        image = image.filter(ImageFilter.MedianFilter(MEDIAN))
    image.format = "BMP"  # no compression: pytesseract writes it to a temporary file for Tesseract
    try:
        data = pytesseract.image_to_data(image, lang="eng", output_type=pytesseract.Output.DICT,
                                         timeout=max(1, round(timeout)) if timeout else 0)
    except pytesseract.TesseractNotFoundError as e:
        raise Skip(NO_OCR, "no text layer") from e
    except (pytesseract.TesseractError, RuntimeError, OSError) as e:
        raise Skip(f"OCR failed ({' '.join(str(e).split())[:80]})", "OCR failed") from e
    width, height = image.size
    words: list[Word] = []
    lines: dict[tuple[int, int, int], int] = {}
    paragraphs: dict[tuple[int, int], int] = {}
    for i, text in enumerate(data["text"]):
        text = " ".join(str(text).split())
        if int(data["level"][i]) != 5 or not text:
            continue
        par = (int(data["block_num"][i]), int(data["par_num"][i]))
        line = (*par, int(data["line_num"][i]))
        x, y, w, h = (int(data[k][i]) for k in ("left", "top", "width", "height"))
        box = (x / width, y / height, (x + w) / width, (y + h) / height)
        words.append(Word(text, box, lines.setdefault(line, len(lines)),
                          paragraphs.setdefault(par, len(paragraphs)), float(data["conf"][i])))
    return words


def _boxes(words: list[Word]) -> list[list[str]]:
    """A page's words as pdfminer's text boxes are: a box per paragraph, each box its lines."""
    boxes: dict[int, dict[int, list[str]]] = {}
    for word in words:
        boxes.setdefault(word.paragraph, {}).setdefault(word.line, []).append(word.text)
    return [[" ".join(line) for line in box.values()] for box in boxes.values()]


def _type_lines(words: list[Word], height: float) -> list[Any]:
    """A page's lines as `pdftitle` reads type, in the order of `_boxes`: each sized by its height
    in points, rounded to whole points (read letters' boxes vary more than type does), y up."""
    from qa.ingest.formats.pdftitle import TypeLine

    by_line: dict[int, list[Word]] = {}
    for word in words:
        by_line.setdefault(word.line, []).append(word)
    out = []
    for line in by_line.values():
        top, bottom = min(w.box[1] for w in line), max(w.box[3] for w in line)
        text = " ".join(w.text for w in line)
        out.append(TypeLine(text, float(round((bottom - top) * height)), (1 - top) * height,
                            (1 - bottom) * height, text, sum(not ch.isspace() for ch in text)))
    return out


def _render_page(data: bytes, n: int) -> tuple[Any, float] | None:
    """Page `n` (from 0) of a PDF rendered for Tesseract, with its scale; None when it is blank."""
    from qa.ingest.formats.pdfium import LOCK, open_pdf

    with LOCK:  # PDFium is not thread-safe: every use holds the lock, and closes what it opened
        pdf = open_pdf(data)
        try:
            if not 0 <= n < len(pdf):
                raise Skip(f"no page {n + 1} (the PDF has {len(pdf)})", "no such page")
            page = pdf[n]
            try:
                image, scale = _render(page)
            finally:
                page.close()
        finally:
            pdf.close()
    return None if image.getextrema()[0] >= BLANK else (image, scale)


def page_words(data: bytes, page: int, timeout: float | None = None) -> tuple[Word, ...]:
    """The words Tesseract reads on page `page` (from 1) of a PDF, rendered as for indexing; Skip
    when it cannot read them (no Tesseract, no such page)."""
    command = tesseract()
    if command is None:
        raise Skip(NO_OCR, "no text layer")
    rendered = _render_page(data, page - 1)
    return () if rendered is None else tuple(_read_image(rendered[0], command, timeout))


def read_scanned(data: bytes, pages: list[list[Part]], first: list[Any], extent: tuple[float, float]
                 ) -> tuple[list[list[Part]], list[Any], tuple[float, float]]:
    """`pages` (each page's parts: text boxes, tables) with those that have none read by OCR, and
    the first page's type lines and extent (`pdftitle`), new when that page was read so.

    Blank pages are passed over. Without Tesseract a PDF with no text at all is refused (Skip), one
    with some text is read without its scanned pages. Each page read is reported (`timelimit.report`),
    brings its own time to the file's limit (`timelimit.grant_page`), and Tesseract gets the time
    left (`timelimit.remaining`).
    """
    from qa.ingest import timelimit
    from qa.ingest.formats.pdflines import Part

    command = tesseract()
    if command is None:
        if not any(pages):
            raise Skip(NO_OCR, "no text layer")
        return pages, first, extent
    empty = [n for n, parts in enumerate(pages) if not parts]
    digest = hashlib.sha256(data).hexdigest()
    pages = list(pages)
    for done, n in enumerate(empty):
        timelimit.report(done / len(empty), f"OCR of page {n + 1} ({done + 1} of {len(empty)} scanned)")
        timelimit.grant_page()  # each scanned page brings its own time (Settings.page_seconds)
        try:
            rendered = _render_page(data, n)
        except Skip:
            raise
        except Exception as e:  # PDFium or Pillow on a damaged page
            raise Skip(f"not a readable PDF (page {n + 1}: {type(e).__name__})", "not a readable PDF") from e
        if rendered is None:
            continue
        image, scale = rendered
        words = _read_image(image, command, timelimit.remaining())
        remember(digest, n + 1, tuple(words))
        pages[n] = [Part(tuple(lines)) for lines in _boxes(words)]
        if n == 0:
            height = image.height / scale
            first, extent = _type_lines(words, height), (0.0, height)
    if not any(pages):
        raise Skip(NO_WORDS, "no text layer")
    return pages, first, extent


_words: OrderedDict[tuple[str, int], tuple[Word, ...]] = OrderedDict()
_lock = threading.Lock()


def remember(digest: str, page: int, words: tuple[Word, ...]) -> None:
    """Keeps the words read on page `page` of the PDF whose SHA-256 is `digest` (the last
    CACHED_PAGES pages read are kept)."""
    with _lock:
        _words[(digest, page)] = words
        _words.move_to_end((digest, page))
        while len(_words) > CACHED_PAGES:
            _words.popitem(last=False)


def remembered(digest: str) -> dict[int, tuple[Word, ...]]:
    """The pages of the PDF whose SHA-256 is `digest` whose words are kept: page -> words."""
    with _lock:
        return {page: words for (d, page), words in _words.items() if d == digest}


def words_to_json(words: tuple[Word, ...]) -> list[list[Any]]:
    """Words as JSON (how the reading worker sends them)."""
    return [[w.text, list(w.box), w.line, w.paragraph, w.confidence] for w in words]


def words_from_json(rows: list[list[Any]]) -> tuple[Word, ...]:
    return tuple(Word(str(t), (float(b[0]), float(b[1]), float(b[2]), float(b[3])), int(line), int(par), float(c))
                 for t, b, line, par, c in rows)


def ocr_words(data: bytes, page: int) -> list[Word]:
    """The words Tesseract reads on page `page` (from 1) of a PDF, each with its box as fractions of
    the page (origin top left), in reading order: what the page view marks a cited sentence with.

    The words of the last CACHED_PAGES pages read (here, or when the PDF was indexed in this
    process) are kept; another page is read in a worker process under the per-file time limit
    (`qa.ingest.timelimit`). Skip when the page cannot be read (no Tesseract, no such page, too slow).
    """
    from qa.ingest import timelimit

    digest = hashlib.sha256(data).hexdigest()
    with _lock:
        kept = _words.get((digest, page))
        if kept is not None:
            _words.move_to_end((digest, page))
            return list(kept)
    seconds = timelimit.seconds()
    if timelimit.isolated():
        words = words_from_json(timelimit.run("page_words", data, [page, seconds], seconds, None))
    else:
        words = page_words(data, page, seconds)
    remember(digest, page, words)
    return list(words)
