"""PDF fixtures made by the tests themselves (fpdf2, a dev dependency): pages with running headers,
page numbers and text laid out line by line, as a word processor prints it."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


class _Paper(FPDF):
    def __init__(self, header: str, title: str | None, author: str | None) -> None:
        super().__init__(format="A4")
        self.running = header
        self.add_font("dejavu", fname=FONT)
        self.set_auto_page_break(True, margin=20)
        if title:
            self.set_title(title)
        if author:
            self.set_author(author)

    def header(self) -> None:
        self.set_font("dejavu", size=8)
        self.cell(0, 6, self.running, align="C")
        self.ln(10)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("dejavu", size=8)
        self.cell(0, 8, f"Page {self.page_no()}", align="C")


def text_pdf(path: Path, paragraphs: list[str], header: str = "A running header", title: str | None = None,
             author: str | None = None, size: float = 11) -> Path:
    """A PDF of the paragraphs, wrapped by fpdf2, a running header and a page number on every page."""
    pdf = _Paper(header, title, author)
    pdf.add_page()
    for text in paragraphs:
        pdf.set_font("dejavu", size=size)
        pdf.multi_cell(0, size * 0.5, text)
        pdf.ln(size * 0.4)
    pdf.output(str(path))
    return path


def lines_pdf(path: Path, pages: list[list[str]], header: str = "A running header",
              title: str | None = None) -> Path:
    """A PDF whose pages hold exactly the given lines ("" for a gap between paragraphs)."""
    pdf = _Paper(header, title, None)
    pdf.set_auto_page_break(False)
    for lines in pages:
        pdf.add_page()
        pdf.set_font("dejavu", size=11)
        for line in lines:
            pdf.cell(0, 5.5, line)
            pdf.ln(5.5 if line else 3)
    pdf.output(str(path))
    return path


def article_pdf(source: Path, path: Path) -> Path:
    """The bundled article printed to PDF: its paragraphs as they stand in the text file."""
    blocks = [" ".join(b.split()) for b in source.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    return text_pdf(path, blocks, header="IPIS Journal of International Affairs · China and North Korea")


def encrypted_pdf(path: Path, user_password: str | None, text: str = "A secret memo about the Varrow dam.") -> Path:
    """A PDF protected with RC4: it opens only with `user_password` (None: anyone may open it)."""
    pdf = _Paper("Confidential", None, None)
    pdf.set_encryption(owner_password="owner-secret", user_password=user_password)
    pdf.add_page()
    pdf.set_font("dejavu", size=11)
    pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


def image_only_pdf(path: Path, pages: int = 2) -> Path:
    """A 'scanned' PDF: every page one picture, no text layer at all."""
    from PIL import Image, ImageDraw

    picture = path.with_suffix(".png")
    image = Image.new("RGB", (400, 200), "white")
    ImageDraw.Draw(image).text((20, 80), "Scanned words are pixels", fill="black")
    image.save(picture)
    pdf = FPDF()
    for _ in range(pages):
        pdf.add_page()
        pdf.image(str(picture), x=10, y=10, w=180)
    pdf.output(str(path))
    picture.unlink()
    return path
