"""A PDF opened with PDFium for the page view (its boxes and its images), the shared lock held.

PDFium is not thread-safe (qa.ingest.formats.pdfium): `opened()` holds its process-wide LOCK for
the whole block and closes the document at the end; pages and text pages taken from it are closed
inside the block (`closing`), so no finalizer runs PDFium later from another thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from qa.errors import CorpusError
from qa.ingest.formats import Skip
from qa.ingest.formats.pdfium import LOCK, open_pdf


@contextmanager
def opened(data: bytes) -> Iterator[Any]:
    """The `pypdfium2.PdfDocument` of a PDF's bytes, LOCK held until the block ends; CorpusError,
    in one line, when PDFium cannot open it (damaged, or it needs a password)."""
    with LOCK:
        try:
            pdf = open_pdf(data)
        except Skip as e:
            raise CorpusError(f"PDFium cannot open this PDF: {e}") from None
        try:
            yield pdf
        finally:
            pdf.close()


@contextmanager
def closing(*things: Any) -> Iterator[None]:
    """Closes pypdfium2 objects (a page, its text page) at the end of the block, last first."""
    try:
        yield
    finally:
        for thing in reversed(things):
            thing.close()
