"""PDF: the text layer read with PDFium (pypdfium2), and pdfminer.six for pages PDFium cannot order.

Which engine, and why. pdfminer.six's layout analysis (characters into lines, lines into boxes,
boxes ordered by where they stand) reads 11 to 24 pages a second of papers on the 2-core test
machine, in pure Python; PDFium's text page, in C, 390 to 600, and this reader on PDFium 57 to 344,
3 to 7 times the pdfminer reader it replaces (`benchmarks/pdf_speed.py`; docs/benchmarks.md, "PDF
extraction"). PDFium gives the text in the order the page draws it, which for PDFs from word
processors and LaTeX is the reading order, columns one after the other; from its words and their
boxes (`pdfwords`) the lines and text boxes are made here (`pdflines`), and on the made-up papers
they come out at least as well as pdfminer's: every paragraph whole and in reading order where
pdfminer read some after the next column, words hyphenated across lines and pages rejoined by the
same layout repair. So PDFium reads every page, and pdfminer only the pages whose drawing order is
not their reading order (columns drawn across the page row by row, boxes drawn out of order:
`pdflines.in_reading_order`) or that are set sideways (`pdfminer_pages`), where PDFium's order
would not be as good; `Extracted.notes` names them.

Each text box becomes a block of its page, its lines kept: the layout repair joins them and
rejoins words hyphenated across lines and pages. Rotated text (an arXiv stamp) and margin line
numbers are dropped first (`pdfmargin`); tables, found from the page's rules and words
(`pdftables`), become blocks of their own (kind "table": the caption, then a line a row), so
their figures never run into a paragraph; running headers, footers and page numbers are dropped
next (`qa.ingest.running`). Without a title in the metadata, the first page's largest type gives
it (`pdftitle`). Encrypted files (unless they open with the empty password), files with no text
layer and damaged files are skipped with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from qa.ingest.formats import Block, Extracted, Skip
from qa.ingest.formats.pdflines import Line, Part, boxes_of, in_reading_order, lines_of
from qa.ingest.formats.pdftables import Table, find_tables, in_table, with_captions
from qa.ingest.formats.pdftitle import TypeLine, title_from_type
from qa.ingest.running import running_lines

NO_TEXT = "no text layer (a scanned or image-only PDF)"  # OCR reads such pages when it can (pdfocr)
#: "auto": PDFium, pdfminer for the pages it cannot order; "pdfminer": every page by pdfminer,
#: without tables (the reader as it was before PDFium, for the benchmark's baseline)
ENGINES = ("auto", "pdfminer")


@dataclass
class _Page:
    """What PDFium read of one page: its parts in reading order, or None for pdfminer to read."""

    parts: list[Part] | None
    tables: list[Table] = field(default_factory=list)
    #: the page's media box origin (pdfminer's coordinates start there) and rotation
    origin: tuple[float, float] = (0.0, 0.0)
    rotation: int = 0


def _meta(document: Any, key: str) -> str | None:
    value = document.get_metadata_value(key) if hasattr(document, "get_metadata_value") else None
    if value is None:
        value = document.get_metadata_dict().get(key)
    value = " ".join(str(value or "").split())
    return value or None


def _type_lines(textpage: Any, lines: Sequence[Line], middle: float) -> list[TypeLine | None]:
    """The first page's lines as set; the upper half's measured character by character (a title
    or byline there may carry superscript marks), the rest by their words."""
    from qa.ingest.formats.pdfwords import char_sizes

    out: list[TypeLine | None] = []
    for line in lines:
        if line.top <= middle:
            chars = sum(len(w.text) for w in line.words)
            out.append(TypeLine(line.text, line.size, line.top, line.bottom, line.text, chars))
            continue
        measured = [char_sizes(textpage, w) for w in line.words]
        sizes = [s for word in measured for ch, s in word if ch.strip()]
        if not sizes:
            out.append(None)
            continue
        size = median(sizes)
        main = " ".join("".join(ch if s >= 0.8 * size else " " for ch, s in word) for word in measured)
        out.append(TypeLine(line.text, size, line.top, line.bottom, " ".join(main.split()), len(sizes)))
    return out


def _read_page(page: Any, first_page: bool) -> tuple[_Page, list[TypeLine | None], tuple[float, float]]:
    """One page read by PDFium: its parts (None when pdfminer must read it), and for the first
    page its lines as set with its bottom and top."""
    from qa.ingest.formats.pdfmargin import not_body
    from qa.ingest.formats.pdfwords import read_rules, read_words

    left, bottom, right, top = page.get_bbox()
    media = page.get_mediabox()
    textpage = page.get_textpage()
    try:
        words = read_words(textpage)
        drop = not_body(words, left, right)
        if drop:
            words = [w for i, w in enumerate(words) if i not in drop]
        rules = read_rules(page)
        tables = find_tables(rules, words)
        result = _Page(None, tables, (media[0], media[1]), page.get_rotation())
        if 2 * sum(1 for w in words if not w.upright) >= len(words) > 0:  # a page set sideways
            return result, [], (bottom, top)
        body = [w for w in words if not in_table(w, tables)] if tables else words
        lines = lines_of(body)
        boxes = boxes_of(lines)
        if not in_reading_order(lines, boxes):
            return result, [], (bottom, top)
        tables, boxes = with_captions(tables, boxes)
        result.tables = tables
        ordered: list[tuple[int, Part, Sequence[Line]]] = [
            (b.first, Part(tuple(line.text for line in b.lines)), b.lines) for b in boxes]
        ordered += [(t.first, Part(tuple(t.lines()), table=True), ()) for t in tables]
        ordered.sort(key=lambda item: item[0])
        result.parts = [part for _first, part, _lines in ordered]
        first: list[TypeLine | None] = []
        if first_page:
            text_lines = [line for _f, part, ls in ordered if not part.table for line in ls]
            first = _type_lines(textpage, text_lines, (bottom + top) / 2)
        return result, first, (bottom, top)
    finally:
        textpage.close()


def _read_pdfium(data: bytes, read: bool = True
                 ) -> tuple[list[_Page], list[TypeLine | None], tuple[float, float], str | None, str | None]:
    """Every page read by PDFium (left to pdfminer, unread, when not `read`), with the first
    page's lines as set, its extent, and the metadata's title and author."""
    from qa.ingest.formats.pdfium import LOCK, open_pdf

    with LOCK:
        document = open_pdf(data)
        try:
            pages: list[_Page] = []
            first: list[TypeLine | None] = []
            extent = (0.0, 0.0)
            for n in range(len(document)):
                if not read:
                    pages.append(_Page(None))
                    continue
                page = document[n]
                try:
                    done, lines, page_extent = _read_page(page, n == 0)
                finally:
                    page.close()
                pages.append(done)
                if n == 0:
                    first, extent = lines, page_extent
            return pages, first, extent, _meta(document, "Title"), _meta(document, "Author")
        finally:
            document.close()


def _read_pdfminer(data: bytes, pages: list[_Page], every: bool
                   ) -> tuple[list[TypeLine | None], tuple[float, float]] | None:
    """Pages PDFium could not order (every page when `every`) read by pdfminer, in place; the first
    page's lines as set and extent when it was among them."""
    from qa.ingest.formats.pdfminer_pages import read_pages

    wanted: dict[int, list[Table]] = {}
    for n, page in enumerate(pages):
        if every or page.parts is None:
            x, y = page.origin
            shifted = [Table(t.x0 - x, t.x1 - x, t.bottom - y, t.top - y, t.rows, t.first, t.caption)
                       for t in page.tables]
            wanted[n] = [] if every or page.rotation else shifted
    if not wanted:
        return None
    parts, first, extent = read_pages(data, wanted)
    for n, read in parts.items():
        pages[n].parts = read
    return (first, extent) if 0 in wanted else None


def read_pdf(data: bytes, engine: str = "auto") -> Extracted:
    """The blocks of a PDF's text layer, page by page, without running headers and footers."""
    logging.getLogger("pdfminer").setLevel(logging.ERROR)  # it logs every oddity of a file as a warning
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}")
    try:
        pages, first, (bottom, top), title, author = _read_pdfium(data, engine == "auto")
        unordered = [n + 1 for n, page in enumerate(pages) if page.parts is None]
        redone = _read_pdfminer(data, pages, every=engine == "pdfminer")
    except Skip:
        raise
    except Exception as e:
        raise Skip(f"not a readable PDF ({type(e).__name__})", "not a readable PDF") from e
    if redone is not None:
        first, (bottom, top) = redone
    parts = [page.parts or [] for page in pages]
    if not all(parts):  # OCR: pages without a text layer, read by Tesseract (qa.ingest.formats.pdfocr)
        from qa.ingest.formats.pdfocr import read_scanned

        parts, first, (bottom, top) = read_scanned(data, parts, first, (bottom, top))
    if not any(parts):
        raise Skip(NO_TEXT, "no text layer")
    extracted = _extracted(parts, first, bottom, top, title, author)
    if unordered and engine == "auto":
        extracted.notes.append(f"pdfminer read pages {', '.join(map(str, unordered))} (not drawn in reading order)")
    return extracted


def _extracted(pages: list[list[Part]], first: list[TypeLine | None], bottom: float, top: float,
               title: str | None, author: str | None) -> Extracted:
    """Blocks from each page's parts (running lines dropped), with the title and authors."""
    flat = [[line for part in parts if not part.table for line in part.lines] for parts in pages]
    drop = running_lines(flat)
    blocks: list[Block] = []
    for n, parts in enumerate(pages):
        i = 0
        for part in parts:
            if part.table:
                blocks.append(Block("\n".join(part.lines), page=n + 1, kind="table"))
                continue
            kept = [line for j, line in enumerate(part.lines, start=i) if j not in drop[n]]
            i += len(part.lines)
            if kept:
                blocks.append(Block("\n".join(kept), page=n + 1))
    if not blocks:
        raise Skip(NO_TEXT, "no text layer")
    if title is None:  # the title (and the authors, where clear) as the first page sets them
        lines = [line for j, line in enumerate(first) if line is not None and j not in drop[0]]
        title, by_type = title_from_type(lines, bottom, top)
        author = author or by_type
    return Extracted("pdf", blocks, title=title, author=author, pages=len(pages), flowing=True)
