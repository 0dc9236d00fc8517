"""pypdfium2 in one place: the lock every PDFium call holds, and opening a PDF with its reasons.

PDFium is not thread-safe, not even across different documents ("it is not allowed to call pdfium
functions simultaneously across different threads", pypdfium2's documentation): an index build
reading PDFs in one thread while the server renders a page in another would corrupt the process.
Every user of PDFium in qa (text extraction, page images, OCR's rendering) does its work inside
`with LOCK:` and closes what it opened before leaving it, so no finalizer runs PDFium later from
another thread.
"""

from __future__ import annotations

import threading
from typing import Any

from qa.ingest.formats import Skip

#: held around every PDFium call of the process (re-entrant: a helper may call another)
LOCK = threading.RLock()

_PASSWORD, _SECURITY = 4, 5  # FPDF_ERR_PASSWORD, FPDF_ERR_SECURITY


def open_pdf(data: bytes) -> Any:
    """A pypdfium2 PdfDocument of the bytes (the caller holds LOCK and closes it), or Skip."""
    import pypdfium2 as pdfium

    if not data.lstrip()[:1024].startswith(b"%PDF") and b"%PDF-" not in data[:1024]:
        raise Skip("not a PDF (no %PDF header)", "not a PDF")
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        code = getattr(e, "err_code", None)
        if code in (_PASSWORD, _SECURITY):
            raise Skip("encrypted (it needs a password)", "encrypted") from e
        reason = str(e).split("(PDFium: ")[-1].rstrip(").") if "PDFium: " in str(e) else type(e).__name__
        raise Skip(f"not a readable PDF ({reason.lower()})", "not a readable PDF") from e
