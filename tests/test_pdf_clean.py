"""Clean text from real papers: a PDF's title and authors from its first page's type when the
metadata has none, rotated stamps and margin line numbers kept out of the text, and a plain-text
paper titled by its first line when a link follows it. The PDFs are made here with fpdf2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fpdf import FPDF

from qa.ingest.chunks import passages_of
from qa.ingest.documents import read_document
from tests.pdfmaker import FONT

HEADER = "Journal of Estuary Studies · Vol. 12"
BANNER = "Proceedings of the Estuary Workshop, Varrow, 2024"
STAMP = "arXiv:2412.01234v2 [physics.geo-ph] 5 Dec 2024"
TITLE = ("Tidal Pumping Stations and the", "Silt of the Varrow Estuary")
AUTHORS = [("Ilse Marrow", "1"), ("Tomas Wendt", "2"), ("Greta Holm", "1,2")]
PLACES = ["Kessel", "Quillon", "Tumen", "Varrow", "Ostrand", "Bralle", "Mirren", "Holt", "Sandby", "Fenwick",
          "Larch", "Amsel"]
THINGS = ["brackish water", "silt and gravel", "reed seed", "smelt and eels", "tannery outflow", "ferry wakes"]


def _paragraph(n: int) -> str:
    place, thing = PLACES[n], THINGS[n % len(THINGS)]
    return (f"The {place} station measured {thing} at low tide on forty mornings of the survey year. "
            f"Its keeper wrote the readings for the {place.lower()} reach into a ledger that the council "
            f"still holds. Pilots planned their night passages by the readings taken at {place}.")


COLUMNS = [[_paragraph(3 * c + i) for i in range(3)] for c in range(4)]  # two columns a page


class _Paper(FPDF):
    def header(self) -> None:
        self.set_font("dejavu", size=8)
        self.set_xy(22, 10)
        self.cell(166, 5, HEADER, align="C")


def paper_pdf(path: Path, line_numbers: bool = True, stamp: bool = True, pages: int = 2) -> Path:
    """Two pages of a two-column paper: no metadata, a running header, the title in 20 pt over two
    lines, the authors in 13 pt with superscript marks, body text in 10 pt, an arXiv stamp up the
    left margin of page 1 and line numbers down both margins (more pages repeat the text)."""
    pdf = _Paper(format="A4")
    pdf.add_font("dejavu", fname=FONT)
    pdf.set_auto_page_break(False)
    row = 0
    for page in range(pages):
        pdf.add_page()
        y = 26.0
        if page == 0:
            pdf.set_font("dejavu", size=8)  # a first-page header, set only here: not a running line
            pdf.set_xy(22, 17)
            pdf.cell(166, 5, BANNER, align="C")
            pdf.set_font("dejavu", size=20)
            for line in TITLE:
                pdf.set_xy(22, y)
                pdf.cell(166, 9, line, align="C")
                y += 9
            y += 3
            x = 40.0
            for i, (name, mark) in enumerate(AUTHORS):
                pdf.set_font("dejavu", size=13)
                pdf.text(x, y + 5, name)
                x += pdf.get_string_width(name)
                pdf.set_font("dejavu", size=7)
                pdf.text(x, y + 2.5, mark)
                x += pdf.get_string_width(mark) + 2
                if i < len(AUTHORS) - 1:
                    pdf.set_font("dejavu", size=13)
                    sep = "," if i < len(AUTHORS) - 2 else " and"
                    pdf.text(x - 2, y + 5, sep)
                    x += pdf.get_string_width(sep) + 1
            y += 16
            if stamp:
                pdf.set_font("dejavu", size=22)
                with pdf.rotation(90, x=12, y=250):
                    pdf.text(12, 250, STAMP)
        pdf.set_font("dejavu", size=10)
        rows = 0
        for col, x in enumerate((22.0, 110.0)):
            cy = y
            for paragraph in COLUMNS[(2 * page + col) % len(COLUMNS)]:
                for line in pdf.multi_cell(78, 5, paragraph, dry_run=True, output="LINES"):
                    pdf.text(x, cy, line)
                    cy += 5
                cy += 3
            rows = max(rows, round((cy - y) / 5))
        if line_numbers:
            pdf.set_font("dejavu", size=7)
            for i in range(rows):
                row += 1
                pdf.text(15, y + 5 * i, str(row))
                pdf.text(192, y + 5 * i, str(row))
    pdf.output(str(path))
    return path


def read(path: Path):
    document, _note = read_document(path, "corpus/" + path.name, 10**8)
    return document


@pytest.fixture(scope="module")
def paper(tmp_path_factory) -> Path:
    return paper_pdf(tmp_path_factory.mktemp("paper") / "estuary-paper.pdf")


def test_title_and_authors_come_from_the_first_pages_type(paper):
    document = read(paper)
    assert document.title == " ".join(TITLE)  # over two lines, joined; not the banner above it
    assert document.author == "Ilse Marrow, Tomas Wendt, Greta Holm"  # superscript marks left out


def test_no_stamp_or_line_number_in_any_passage_and_the_body_intact(paper):
    document = read(paper)
    passages = list(passages_of(document, 120))
    for p in passages:
        assert document.raw[p.start : p.end] == p.text  # citations index `qa show`'s text
        assert "arXiv" not in p.text and "physics" not in p.text
        assert not re.search(r"(^|\s)\d{1,2}(\s|$)", p.text), p.text  # no bare line number
    assert "arXiv" not in document.raw and "v X r a" not in document.raw
    assert not [p for p in document.paragraphs if p.text.isdigit()]
    body = [p.text for p in document.paragraphs if p.role == "body"]
    assert sorted(body) == sorted(text for column in COLUMNS for text in column)
    page2 = [p.text for p in document.paragraphs if p.role == "body"][-6:]
    assert page2 == COLUMNS[2] + COLUMNS[3]  # page 2 read column by column
    assert HEADER not in document.raw


def test_a_plain_paper_keeps_its_numbers_and_an_unclear_byline_gives_no_author(tmp_path):
    """Digits inside the text are body text; without line numbers and stamp nothing else changes."""
    document = read(paper_pdf(tmp_path / "plain.pdf", line_numbers=False, stamp=False))
    assert document.title == " ".join(TITLE)
    assert sorted(p.text for p in document.paragraphs if p.role == "body") == sorted(
        text for column in COLUMNS for text in column)


def test_metadata_title_still_wins(tmp_path):
    from tests.pdfmaker import lines_pdf

    path = lines_pdf(tmp_path / "meta.pdf", [["A small heading", "", "The pumps were new."], ["Ships came in May."]],
                     title="The title in the metadata")
    assert read(path).title == "The title in the metadata"


@pytest.mark.parametrize("gap", ["\n\n", "\n"])
def test_a_plain_text_paper_is_titled_by_its_first_line_not_the_link_under_it(tmp_path, gap):
    path = tmp_path / "attention.txt"
    raw = ("Attention Is All You Need" + gap + "https://arxiv.org/abs/1706.03762\n\n"
           "the dominant sequence transduction models are based on complex recurrent or convolutional\n"
           "neural networks that include an encoder and a decoder.\n\nWe propose the Transformer.\n")
    path.write_text(raw, encoding="utf-8")
    document = read(path)
    assert document.title == "Attention Is All You Need"
    assert [p.text for p in document.paragraphs][:2] == ["Attention Is All You Need", "https://arxiv.org/abs/1706.03762"]
    assert document.raw == raw
    for p in passages_of(document, 120):
        assert "arxiv.org" not in p.text and "Attention" not in p.text or p.role == "title"
        assert raw[p.start : p.end].split() == p.text.split()


def _char(text: str, x0: float, y0: float, matrix=(10.0, 0.0, 0.0, 10.0, 0.0, 0.0)):
    from types import SimpleNamespace

    return SimpleNamespace(matrix=matrix, x0=x0, x1=x0 + 5, y0=y0, get_text=lambda: text)


def test_margin_rules_keep_a_sideways_page_and_digits_inside_the_text():
    from qa.ingest.formats.pdfmargin import not_body

    up = (0.0, 10.0, -10.0, 0.0, 0.0, 0.0)  # text running up the page
    line = [_char(ch, 100 + 5 * i, 700) for i, ch in enumerate("Year 1961")]
    # a page set sideways (most of its text rotated) keeps all of it
    sideways = [_char(ch, 300, 100 + 6 * i, up) for i, ch in enumerate("Rotated table of costs")] + line[:3]
    assert not_body(sideways, 0, 600) == set()
    # a rotated stamp on an ordinary page goes
    stamped = line * 3 + [_char(ch, 20, 100 + 6 * i, up) for i, ch in enumerate("arXiv")]
    assert not_body(stamped, 0, 600) == set(range(27, 32))
    # a column of numbers level with the text (a table, a numbered list) stays; one in the margin goes
    table = [_char("Name", 100, 720)] + [_char(str(n), 100, 700 - 12 * n) for n in range(1, 6)]
    assert not_body(table + line, 0, 600) == set()
    numbers = [_char(str(n), 30, 700 - 12 * n) for n in range(1, 6)]
    assert not_body(line + numbers, 0, 600) == set(range(len(line), len(line) + 5))
    assert not_body(line + numbers[:2], 0, 600) == set()  # two rows are not a column of line numbers
