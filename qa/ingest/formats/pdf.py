"""PDF: the text layer read with pdfminer.six (the engine under pdfplumber).

pdfminer's layout analysis groups characters into lines and lines into text boxes, and orders the
boxes so that columns are read one after the other. Each box becomes a block of its page, with its
lines kept: the layout repair joins them and rejoins words hyphenated across lines and pages.
Rotated text (an arXiv stamp) and margin line numbers never reach the layout analysis
(`pdfmargin`); running headers, footers and page numbers are dropped next (`qa.ingest.running`).
Without a title in the metadata, the first page's largest type gives it (`pdftitle`). Encrypted files
(unless they open with the empty password), files with no text layer and damaged files are
skipped with the reason.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from qa.ingest.formats import Block, Extracted, Skip
from qa.ingest.formats.pdftitle import title_from_type
from qa.ingest.running import running_lines

NO_TEXT = "no text layer (a scanned or image-only PDF; OCR is not done)"


def _meta(info: list[dict[str, Any]], key: str) -> str | None:
    from pdfminer.pdftypes import resolve1
    from pdfminer.utils import decode_text

    for d in info:
        value = resolve1(d.get(key)) if isinstance(d, dict) else None
        if isinstance(value, bytes):
            value = decode_text(value)
        if isinstance(value, str) and " ".join(value.split()):
            return " ".join(value.split())
    return None


def _open(data: bytes) -> Any:
    from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFParser

    if not data.lstrip()[:1024].startswith(b"%PDF") and b"%PDF-" not in data[:1024]:
        raise Skip("not a PDF (no %PDF header)", "not a PDF")
    try:
        return PDFDocument(PDFParser(io.BytesIO(data)), password="")
    except (PDFPasswordIncorrect, PDFEncryptionError) as e:
        raise Skip("encrypted (it needs a password)", "encrypted") from e
    except Exception as e:  # pdfminer raises many kinds on a damaged file
        if "encrypt" in str(e).lower() or "password" in str(e).lower():
            raise Skip("encrypted (it needs a password)", "encrypted") from e
        raise Skip(f"not a readable PDF ({type(e).__name__})", "not a readable PDF") from e


def _reader(manager: Any) -> Any:
    """pdfminer's page aggregator, leaving rotated text and margin line numbers out of the layout."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams, LTChar

    from qa.ingest.formats.pdfmargin import not_body

    class Reader(PDFPageAggregator):
        def end_page(self, page: Any) -> None:
            objs = self.cur_item._objs  # the page's characters, before the layout analysis
            chars = [o for o in objs if isinstance(o, LTChar)]
            drop = not_body(chars, self.cur_item.x0, self.cur_item.x1)
            if drop:
                gone = {id(chars[i]) for i in drop}
                self.cur_item._objs = [o for o in objs if id(o) not in gone]
            super().end_page(page)

    return Reader(manager, laparams=LAParams())


def _pages(document: Any) -> tuple[list[list[list[str]]], list[Any], tuple[float, float]]:
    """Each page's text boxes in reading order, each box its lines; and the first page's lines as
    set (`pdftitle.TypeLine`, one per line or None), with that page's bottom and top."""
    from pdfminer.layout import LTTextBox, LTTextLine
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage

    from qa.ingest.formats.pdftitle import type_line

    manager = PDFResourceManager(caching=True)
    device = _reader(manager)
    interpreter = PDFPageInterpreter(manager, device)
    pages: list[list[list[str]]] = []
    first: list[Any] = []
    extent = (0.0, 0.0)
    for page in PDFPage.create_pages(document):
        interpreter.process_page(page)
        layout = device.get_result()
        boxes = []
        for element in layout:
            if isinstance(element, LTTextBox):
                box = []
                for line in element:
                    text = " ".join(line.get_text().split()) if isinstance(line, LTTextLine) else ""
                    if text:
                        box.append(text)
                        if not pages:
                            first.append(type_line(line))
                if box:
                    boxes.append(box)
        if not pages:
            extent = (layout.y0, layout.y1)
        pages.append(boxes)
    return pages, first, extent


def read_pdf(data: bytes) -> Extracted:
    """The blocks of a PDF's text layer, page by page, without running headers and footers."""
    logging.getLogger("pdfminer").setLevel(logging.ERROR)  # it logs every oddity of a file as a warning
    document = _open(data)
    try:
        pages, first, (bottom, top) = _pages(document)
    except Skip:
        raise
    except Exception as e:
        raise Skip(f"not a readable PDF ({type(e).__name__})", "not a readable PDF") from e
    if not any(pages):
        raise Skip(NO_TEXT, "no text layer")
    flat = [[line for box in boxes for line in box] for boxes in pages]
    drop = running_lines(flat)
    blocks: list[Block] = []
    for n, boxes in enumerate(pages):
        i = 0
        for box in boxes:
            kept = [line for j, line in enumerate(box, start=i) if j not in drop[n]]
            i += len(box)
            if kept:
                blocks.append(Block("\n".join(kept), page=n + 1))
    if not blocks:
        raise Skip(NO_TEXT, "no text layer")
    info = getattr(document, "info", []) or []
    title, author = _meta(info, "Title"), _meta(info, "Author")
    if title is None:  # the title (and the authors, where clear) as the first page sets them
        lines = [line for j, line in enumerate(first) if line is not None and j not in drop[0]]
        title, by_type = title_from_type(lines, bottom, top)
        author = author or by_type
    return Extracted("pdf", blocks, title=title, author=author, pages=len(pages), flowing=True)
