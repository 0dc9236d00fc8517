"""A PDF page drawn as a PNG (PDFium, through pypdfium2), bounded in size and time, and cached.

`zoom` is the scale over the page's size in points (1 = 72 dpi; the page view's default, 1.5, is
108 dpi). Whatever the zoom, no side of the image is over MAX_SIDE pixels: a larger page is drawn
at a smaller scale (a 20,000-point page as well as a zoom of 6). Drawing gives up after
RENDER_SECONDS (PDFium's progressive rendering, asked after each step whether to stop), so one
page with a million glyphs does not hold the lock that every use of PDFium shares. The last pages
drawn are kept (`Renderer`), at most CACHE_BYTES of PNG, so memory stays flat however many are
asked for.
"""

from __future__ import annotations

import io
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qa.errors import CorpusError, InputError, NotFound
from qa.ingest.formats.pdfhandle import closing, opened

#: the page view's scale (108 dpi: an A4 page is 893 x 1263 pixels)
DEFAULT_ZOOM = 1.5
MIN_ZOOM, MAX_ZOOM = 0.25, 6.0
#: the longest side of a drawn page, in pixels (so at most MAX_SIDE x MAX_SIDE pixels)
MAX_SIDE = 2500
#: how long drawing one page may take before it is given up
RENDER_SECONDS = 10.0
#: the PNGs kept, in bytes and in number
CACHE_BYTES = 24 << 20
CACHE_PAGES = 64


@dataclass(frozen=True)
class PageImage:
    """A drawn page: the PNG, its size in pixels, the page (1-based) and the document's page count,
    and the scale it was drawn at (the zoom asked for, or less for a page over MAX_SIDE)."""

    png: bytes
    width: int
    height: int
    page: int
    pages: int
    scale: float


def check_zoom(value: Any) -> float:
    """A zoom from a caller: a finite number from MIN_ZOOM to MAX_ZOOM (InputError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not MIN_ZOOM <= value <= MAX_ZOOM:
        raise InputError(f"zoom must be a number from {MIN_ZOOM:g} to {MAX_ZOOM:g} (1 is 72 dpi).")
    return float(value)


def check_page(value: Any, pages: int) -> int:
    """A page number from a caller: a whole number (InputError), and one of the document's pages
    (NotFound)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError("page must be a whole number (the first page is 1).")
    if not 1 <= value <= pages:
        raise NotFound(f"There is no page {value}: the document has {pages} page{'s' if pages != 1 else ''} "
                       f"(1 to {pages}).")
    return value


def page_count(data: bytes) -> int:
    with opened(data) as pdf:
        return len(pdf)


def render(data: bytes, page: int, zoom: float = DEFAULT_ZOOM, seconds: float = RENDER_SECONDS) -> PageImage:
    """Page `page` (1-based) of a PDF's bytes as a PNG, at `zoom` or the largest scale under
    MAX_SIDE; NotFound for a page it does not have, CorpusError when PDFium cannot draw it."""
    zoom = check_zoom(zoom)
    with opened(data) as pdf:
        pages = len(pdf)
        page = check_page(page, pages)
        handle = pdf[page - 1]
        with closing(handle):
            width, height = handle.get_size()
            if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
                raise CorpusError(f"page {page} has no size to draw")
            scale = min(zoom, MAX_SIDE / max(width, height))
            w, h = max(1, min(MAX_SIDE, math.ceil(width * scale))), max(1, min(MAX_SIDE, math.ceil(height * scale)))
            image = _draw(handle, w, h, seconds, page)
    return PageImage(_png(image), w, h, page, pages, round(scale, 4))


def _png(image: Any) -> bytes:
    """The drawn page as PNG: in grey when it has no colour (most pages of text: half the bytes,
    twice as fast to encode), at zlib's fastest level (encoding costs more than drawing)."""
    import numpy as np

    pixels = np.asarray(image)
    if (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all():
        image = image.convert("L")
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _draw(page: Any, w: int, h: int, seconds: float, number: int) -> Any:
    """The page drawn into a w x h RGB bitmap, progressively, giving up after `seconds`."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    deadline = time.monotonic() + seconds
    bitmap = pdfium.PdfBitmap.new_native(w, h, pdfium_c.FPDFBitmap_BGR, rev_byteorder=True)
    try:
        bitmap.fill_rect((255, 255, 255, 255), 0, 0, w, h)
        pause = pdfium_c.IFSDK_PAUSE(version=1)
        pause.NeedToPauseNow = type(pause.NeedToPauseNow)(lambda _me: time.monotonic() > deadline)
        flags = pdfium_c.FPDF_ANNOT | pdfium_c.FPDF_REVERSE_BYTE_ORDER
        status = pdfium_c.FPDF_RenderPageBitmap_Start(bitmap, page, 0, 0, w, h, 0, flags, pause)
        while status == pdfium_c.FPDF_RENDER_TOBECONTINUED and time.monotonic() <= deadline:
            status = pdfium_c.FPDF_RenderPage_Continue(page, pause)
        pdfium_c.FPDF_RenderPage_Close(page)
        if status == pdfium_c.FPDF_RENDER_TOBECONTINUED:
            raise CorpusError(f"page {number} took too long to draw (over {seconds:g} s)")
        if status != pdfium_c.FPDF_RENDER_DONE:
            raise CorpusError(f"PDFium could not draw page {number}")
        return bitmap.to_pil().copy()  # a copy: the bitmap's buffer goes when it is closed
    finally:
        bitmap.close()


class Renderer:
    """Draws pages and keeps the last ones drawn (least recently used out first), at most
    `max_bytes` of PNG and `max_pages` pages; safe from many threads."""

    def __init__(self, max_bytes: int = CACHE_BYTES, max_pages: int = CACHE_PAGES) -> None:
        self.max_bytes = max_bytes
        self.max_pages = max_pages
        self._kept: OrderedDict[tuple[str, int, float], PageImage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def page(self, key: str, load: Callable[[], bytes], page: int, zoom: float = DEFAULT_ZOOM) -> PageImage:
        """Page `page` of the PDF known as `key` (its SHA-256), drawn from `load()`'s bytes unless
        kept from before."""
        zoom = check_zoom(zoom)
        slot = (key, page if isinstance(page, int) else -1, round(zoom, 3))
        with self._lock:
            kept = self._kept.get(slot)
            if kept is not None:
                self._kept.move_to_end(slot)
                return kept
        image = render(load(), page, zoom)
        with self._lock:
            if slot not in self._kept and len(image.png) <= self.max_bytes:
                self._kept[slot] = image
                self._bytes += len(image.png)
                while self._bytes > self.max_bytes or len(self._kept) > self.max_pages:
                    _slot, old = self._kept.popitem(last=False)
                    self._bytes -= len(old.png)
        return image

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._bytes = 0
