"""PDF: the text layer read with pdfminer.six (the engine under pdfplumber).

pdfminer's layout analysis groups characters into lines and lines into text boxes, and orders the
boxes so that columns are read one after the other. Each box becomes a block of its page, with its
lines kept: the layout repair joins them and rejoins words hyphenated across lines and pages.
Running headers, footers and page numbers are dropped first (`qa.ingest.running`). Encrypted files
(unless they open with the empty password), files with no text layer and damaged files are
skipped with the reason.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from qa.ingest.formats import Block, Extracted, Skip
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


def _pages(document: Any) -> list[list[list[str]]]:
    """Each page's text boxes in reading order, each box its lines."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams, LTTextBox
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage

    manager = PDFResourceManager(caching=True)
    device = PDFPageAggregator(manager, laparams=LAParams())
    interpreter = PDFPageInterpreter(manager, device)
    pages: list[list[list[str]]] = []
    for page in PDFPage.create_pages(document):
        interpreter.process_page(page)
        boxes = []
        for element in device.get_result():
            if isinstance(element, LTTextBox):
                lines = [" ".join(line.split()) for line in element.get_text().splitlines()]
                if any(lines):
                    boxes.append([line for line in lines if line])
        pages.append(boxes)
    return pages


def read_pdf(data: bytes) -> Extracted:
    """The blocks of a PDF's text layer, page by page, without running headers and footers."""
    logging.getLogger("pdfminer").setLevel(logging.ERROR)  # it logs every oddity of a file as a warning
    document = _open(data)
    try:
        pages = _pages(document)
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
    return Extracted("pdf", blocks, title=_meta(info, "Title"), author=_meta(info, "Author"),
                     pages=len(pages), flowing=True)
