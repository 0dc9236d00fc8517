"""Scanned and hostile PDFs made by the tests: a born-digital paper rendered to page images and
wrapped again as an image-only PDF (what a scanner gives), and the hostile files of CASES.md 40,
written object by object."""

from __future__ import annotations

import zlib
from pathlib import Path

from fpdf import FPDF

from tests.pdfmaker import FONT

TITLE = "The Varrow Valley Survey"
PAGES = [
    ["The Varrow valley lies between two granite ridges in the north of the province. Its river was "
     "first mapped by a surveyor from the coastal town of Elmsby in the spring of 1887.",
     "Farmers in the valley grew barley and rye, and most families kept a few goats. The nearest "
     "market was a day's walk to the south, across the old stone bridge."],
    ["The Varrow dam was finished in 1931 by the engineer Ada Lindqvist. It holds back a lake of "
     "eleven square kilometres and supplies power to the towns along the coast.",
     "A flood in 1952 damaged the spillway, which was rebuilt two years later with money from the "
     "regional council."],
]


def paper(path: Path, pages: list[list[str]] = PAGES, title: str | None = TITLE) -> Path:
    """A born-digital paper without metadata: the title in large type on the first page, then the
    pages' paragraphs in 11 point type."""
    pdf = FPDF(format="A4")
    pdf.add_font("dejavu", fname=FONT)
    pdf.set_auto_page_break(False)
    for n, paragraphs in enumerate(pages):
        pdf.add_page()
        if n == 0 and title:
            pdf.set_font("dejavu", size=22)
            pdf.multi_cell(0, 11, title)
            pdf.ln(6)
        pdf.set_font("dejavu", size=11)
        for text in paragraphs:
            pdf.multi_cell(0, 5.5, text)
            pdf.ln(4)
    pdf.output(str(path))
    return path


def page_images(source: Path, dpi: int = 200) -> list:
    """Each page of a PDF as a grey PIL image (what a scanner sees)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(source))
    try:
        return [pdf[n].render(scale=dpi / 72, grayscale=True).to_pil().convert("L") for n in range(len(pdf))]
    finally:
        pdf.close()


def scanned(source: Path, path: Path, dpi: int = 200) -> Path:
    """An image-only copy of a PDF: every page rendered and wrapped again, no text layer, no title."""
    images = page_images(source, dpi)
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=dpi, title="")
    return path


def mixed(path: Path, tmp: Path) -> Path:
    """Two pages: the first with a text layer, the second only a picture of text."""
    picture = page_images(paper(tmp / "picture-source.pdf", [PAGES[1]], title=None))[0]
    picture.save(tmp / "picture.png")
    pdf = FPDF(format="A4")
    pdf.add_font("dejavu", fname=FONT)
    pdf.add_page()
    pdf.set_font("dejavu", size=11)
    pdf.multi_cell(0, 5.5, " ".join(PAGES[0]))
    pdf.add_page()
    pdf.image(str(tmp / "picture.png"), x=0, y=0, w=210, h=297)
    pdf.output(str(path))
    return path


# -- hostile files (CASES.md 40) ---------------------------------------------------------------------


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF of `objects` (object n is objects[n - 1]; the first is the catalog), with its xref."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    packed = zlib.compress(data, 9)
    return b"<< /Length %d /Filter /FlateDecode %s>>\nstream\n" % (len(packed), extra) + packed + b"\nendstream"


def _one_page(content: bytes, media: bytes = b"[0 0 612 792]", resources: bytes = b"<< /Font << /F1 4 0 R >> >>",
              more: tuple[bytes, ...] = ()) -> bytes:
    return raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                    b"<< /Type /Page /Parent 2 0 R /MediaBox " + media + b" /Resources " + resources
                    + b" /Contents 5 0 R >>",
                    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
                    _stream(content), *more])


def huge_page() -> bytes:
    """A page of 20,000 x 20,000 points with one line of text."""
    return _one_page(b"BT /F1 200 Tf 1000 10000 Td (A page twenty thousand points square.) Tj ET",
                     media=b"[0 0 20000 20000]")


def tiny_glyphs(millions: float = 1.0) -> bytes:
    """One page of `millions` of glyphs in half-point type: a file of a few KB."""
    line = b"(" + b"x" * 1000 + b") Tj T* "
    return _one_page(b"BT /F1 0.5 Tf 0.6 TL 10 780 Td " + line * int(millions * 1000) + b"ET")


def looping_resources() -> bytes:
    """A page drawing a form that draws itself (its resources name it)."""
    form = _stream(b"/X1 Do BT /F1 12 Tf 72 700 Td (Loop) Tj ET",
                   b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] "
                   b"/Resources << /XObject << /X1 6 0 R >> /Font << /F1 4 0 R >> >> ")
    return _one_page(b"/X1 Do", resources=b"<< /XObject << /X1 6 0 R >> /Font << /F1 4 0 R >> >>", more=(form,))


def noise_page(width: int = 1700, height: int = 2200, seed: int = 0) -> bytes:
    """An image-only page of pure noise (grey pixels drawn at random)."""
    import numpy as np

    pixels = np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8).tobytes()
    image = _stream(pixels, b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                            b"/BitsPerComponent 8 " % (width, height))
    return _one_page(b"q 612 0 0 792 0 0 cm /Im1 Do Q", resources=b"<< /XObject << /Im1 6 0 R >> >>", more=(image,))
