"""A made-up two-column paper with tables, drawn with fpdf2 the way LaTeX and word processors set
them: no metadata, a running header under a rule and a page number over one, the title in large
type, an arXiv stamp up the left margin, body text in two columns, a ruled table (every cell
boxed), a booktabs table (three horizontal rules only), a table across both columns with a header
over two columns, a figure (a framed drawing with labels) with its caption, and a footnote under a
short rule. Every table's caption names it ("Table 2: ..."); the body never repeats a figure of one.

`paper_pdf(path)` makes the three-page paper; `long_paper_pdf(path, pages)` repeats its pages to
any length (the speed benchmark's 300 pages), a table on half of them; `drawn_pdf` draws a
page in or out of reading order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

from tests.pdfmaker import FONT

HEADER = "Journal of Estuary Studies · Vol. 12"
STAMP = "arXiv:2501.04321v1 [physics.geo-ph] 9 Jan 2025"
TITLE = ("Pumps, Eels and Channels of the", "Lower Varrow Estuary")
AUTHORS = "Ilse Marrow, Tomas Wendt and Greta Holm"
PLACES = ["Kessel", "Quillon", "Tumen", "Varrow", "Ostrand", "Bralle", "Mirren", "Holt", "Sandby", "Fenwick",
          "Larch", "Amsel", "Dunmore", "Erskine"]
THINGS = ["brackish water", "silt and gravel", "reed seed", "smelt", "tannery outflow", "ferry wakes"]


@dataclass(frozen=True)
class Table:
    caption: str
    rows: tuple[tuple[str, ...], ...]  # the first is the header
    style: str  # "grid" (every cell boxed), "booktabs" (three rules), "wide" (across both columns)


TABLES = (
    Table("Table 1: Running cost of each pump in euros per hour.",
          (("Pump", "2019", "2020", "2021"), ("Kessel", "212", "198", "205"), ("Quillon", "187", "176", "190"),
           ("Tumen", "243", "251", "238")), "grid"),
    Table("Table 2: Eel counts per net by season.",
          (("Station", "Spring", "Summer", "Autumn"), ("Varrow", "14", "31", "22"), ("Ostrand", "9", "17", "12"),
           ("Bralle", "21", "40", "33"), ("Mirren", "6", "11", "8")), "booktabs"),
    Table("Table 3: Channel depth in metres after dredging, at low and high water.",
          (("Reach", "Low north", "Low south", "High north", "High south", "Surveyed"),
           ("Holt", "7.2", "6.8", "11.4", "11.1", "3 May 2021"), ("Sandby", "5.9", "6.1", "10.2", "10.6", "9 June 2021"),
           ("Fenwick", "8.3", "8.0", "12.7", "12.2", "2 July 2021")), "wide"),
)
FIGURE_CAPTION = "Figure 1: The Kessel reach at low tide, seen from the north bank."
FOOTNOTE = "Measured at the old harbour gauge."


_ONES = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def spelled(n: int) -> str:
    """1 <= n < 10000 in words ("three hundred and twelve"): body text holds no digits."""
    out = []
    if n >= 1000:
        out.append(f"{_ONES[n // 1000]} thousand")
        n %= 1000
    if n >= 100:
        out.append(f"{_ONES[n // 100]} hundred")
        n %= 100
    if n:
        words = _ONES[n] if n < 20 else _TENS[n // 10] + (f"-{_ONES[n % 10]}" if n % 10 else "")
        out.append(f"and {words}" if out else words)
    return " ".join(out)


def paragraph(n: int) -> str:
    """Body paragraph n, unlike any other: names a station, a thing measured, a ledger page and the
    tables, never a figure of a table (its numbers are spelled out)."""
    place, thing = PLACES[n % len(PLACES)], THINGS[n % len(THINGS)]
    return (f"The {place} station measured {thing} at low tide on forty mornings of the survey year, "
            f"as the tables of this paper set out. Its keeper wrote the readings for the {place.lower()} reach "
            f"on page {spelled(n + 1)} of a ledger that the council still holds. Pilots planned their night "
            f"passages by the readings taken at {place}.")


COL_X, COL_W, LINE = (22.0, 110.0), 78.0, 5.0


class _Paper(FPDF):
    def __init__(self) -> None:
        super().__init__(format="A4")
        self.add_font("dejavu", fname=FONT)
        self.set_auto_page_break(False)
        self.set_line_width(0.2)

    def header(self) -> None:
        self.set_font("dejavu", size=8)
        self.set_xy(22, 10)
        self.cell(166, 5, HEADER, align="C")
        self.line(22, 16, 188, 16)

    def footer(self) -> None:
        self.line(22, 282, 188, 282)
        self.set_font("dejavu", size=8)
        self.set_xy(22, 284)
        self.cell(166, 5, str(self.page_no()), align="C")


def _text(pdf: FPDF, x: float, y: float, text: str, width: float = COL_W) -> float:
    """The text wrapped to `width` from (x, y), line by line; the y under its last line."""
    for line in pdf.multi_cell(width, LINE, text, dry_run=True, output="LINES"):
        pdf.text(x, y, line)
        y += LINE
    return y


def _caption(pdf: FPDF, x: float, y: float, text: str, width: float = COL_W) -> float:
    pdf.set_font("dejavu", size=9)
    y = _text(pdf, x, y, text, width)
    pdf.set_font("dejavu", size=10)
    return y


def _widths(table: Table, width: float) -> list[float]:
    first = width * (0.2 if table.style == "wide" else 0.31)
    rest = (width - first) / (len(table.rows[0]) - 1)
    return [first] + [rest] * (len(table.rows[0]) - 1)


def _table(pdf: FPDF, x: float, y: float, table: Table, width: float) -> float:
    """The table with its caption above it, from (x, y); the y under it."""
    y = _caption(pdf, x, y, table.caption, width) + 1
    widths, row_h = _widths(table, width), 6.0
    pdf.set_font("dejavu", size=9)
    top = y
    if table.style == "wide":  # a header over the two low-water and the two high-water columns
        pdf.set_line_width(0.5)
        pdf.line(x, y, x + width, y)
        pdf.set_line_width(0.2)
        left = x + widths[0]
        for label in ("Low water", "High water"):
            span = widths[1] + widths[2]
            pdf.text(left + span / 2 - pdf.get_string_width(label) / 2, y + 4.3, label)
            pdf.line(left + 1, y + row_h, left + span - 1, y + row_h)
            left += span
        y += row_h
    for r, row in enumerate(table.rows):
        cx = x
        for c, cell in enumerate(row):
            if table.style == "grid":
                pdf.rect(cx, y, widths[c], row_h)
            tx = cx + 1.5 if c == 0 else cx + widths[c] - 1.5 - pdf.get_string_width(cell)  # figures right-aligned
            pdf.text(tx, y + 4.3, cell)
            cx += widths[c]
        if table.style != "grid" and r == 0:
            if table.style == "booktabs":
                pdf.set_line_width(0.5)
                pdf.line(x, top, x + width, top)
                pdf.set_line_width(0.2)
            pdf.line(x, y + row_h, x + width, y + row_h)
        y += row_h
    if table.style != "grid":
        pdf.set_line_width(0.5)
        pdf.line(x, y, x + width, y)
        pdf.set_line_width(0.2)
    pdf.set_font("dejavu", size=10)
    return y + 7


def _figure(pdf: FPDF, x: float, y: float) -> float:
    pdf.rect(x + 4, y, COL_W - 8, 30)
    pdf.set_font("dejavu", size=7)
    for i, label in enumerate(("north bank", "channel", "mud flat")):
        pdf.text(x + 10 + 22 * i, y + 8 + 7 * i, label)
    pdf.line(x + 8, y + 26, x + COL_W - 12, y + 6)
    return _caption(pdf, x, y + 36, FIGURE_CAPTION) + 3


def _first_page(pdf: FPDF, n: int) -> int:
    pdf.set_font("dejavu", size=20)
    for i, line in enumerate(TITLE):
        pdf.set_xy(22, 24 + 9 * i)
        pdf.cell(166, 9, line, align="C")
    pdf.set_font("dejavu", size=13)
    pdf.set_xy(22, 45)
    pdf.cell(166, 7, AUTHORS, align="C")
    pdf.set_font("dejavu", size=22)
    with pdf.rotation(90, x=12, y=250):
        pdf.text(12, 250, STAMP)
    pdf.set_font("dejavu", size=10)
    y = 64.0
    for _ in range(2):
        y = _text(pdf, COL_X[0], y, paragraph(n)) + 3
        n += 1
    y = _table(pdf, COL_X[0], y, TABLES[0], COL_W)
    _text(pdf, COL_X[0], y, paragraph(n))
    n += 1
    y = 64.0
    for _ in range(2):
        y = _text(pdf, COL_X[1], y, paragraph(n)) + 3
        n += 1
    y = _figure(pdf, COL_X[1], y)
    _text(pdf, COL_X[1], y, paragraph(n))
    return n + 1


def _second_page(pdf: FPDF, n: int) -> int:
    y = _text(pdf, COL_X[0], 26.0, paragraph(n)) + 3
    n += 1
    y = _table(pdf, COL_X[0], y, TABLES[1], COL_W)
    for _ in range(2):
        y = _text(pdf, COL_X[0], y, paragraph(n)) + 3
        n += 1
    y = 26.0
    for _ in range(3):
        y = _text(pdf, COL_X[1], y, paragraph(n)) + 3
        n += 1
    pdf.line(COL_X[1], 262, COL_X[1] + 30, 262)  # a footnote under a short rule: no table
    pdf.set_font("dejavu", size=8)
    pdf.text(COL_X[1], 267, f"1 {FOOTNOTE}")
    pdf.set_font("dejavu", size=10)
    return n


def _third_page(pdf: FPDF, n: int, table: bool = True) -> int:
    y = 26.0
    if table:
        y = _table(pdf, COL_X[0], y, TABLES[2], 166) + 2
    for x in COL_X:
        cy = y
        for _ in range(2 if table else 4):
            cy = _text(pdf, x, cy, paragraph(n)) + 3
            n += 1
    return n


def paper_pdf(path: Path) -> Path:
    """The three-page paper: Table 1 (grid) and Figure 1 on page 1, Table 2 (booktabs) and a
    footnote on page 2, Table 3 (across both columns) on page 3."""
    pdf = _Paper()
    n = 0
    for make in (_first_page, _second_page, _third_page):
        pdf.add_page()
        n = make(pdf, n)
    pdf.output(str(path))
    return path


def long_paper_pdf(path: Path, pages: int) -> int:
    """The paper's pages over and over to `pages` pages, a table on half of them, written to
    `path`; the number of body paragraphs set (paragraph(0) to paragraph(n - 1), in order)."""
    pdf = _Paper()
    n = 0
    for i in range(pages):
        pdf.add_page()
        kind = i % 6
        if kind == 0:
            n = _first_page(pdf, n)
        elif kind == 2:
            n = _second_page(pdf, n)
        elif kind == 4:
            n = _third_page(pdf, n)
        else:
            n = _third_page(pdf, n, table=False)
    pdf.output(str(path))
    return n


def drawn_pdf(path: Path, order: str) -> Path:
    """One page of two columns, three paragraphs each and Table 2 at the foot of the left one,
    drawn in `order`: "columns" (left column, then right), "reversed" (right column first) or
    "across" (row by row across both columns, as some generators write a page)."""
    pdf = _Paper()
    pdf.add_page()
    pdf.set_font("dejavu", size=10)
    columns = []
    for c in range(2):
        rows = []
        y = 26.0
        for i in range(3):
            for line in pdf.multi_cell(COL_W, LINE, paragraph(3 * c + i), dry_run=True, output="LINES"):
                rows.append((COL_X[c], y, line))
                y += LINE
            y += 3
        columns.append(rows)
    if order == "across":
        for pair in zip(*columns, strict=False):
            for x, y, line in pair:
                pdf.text(x, y, line)
        for x, y, line in columns[0][len(columns[1]):] + columns[1][len(columns[0]):]:
            pdf.text(x, y, line)
    else:
        for rows in columns[::-1] if order == "reversed" else columns:
            for x, y, line in rows:
                pdf.text(x, y, line)
    _table(pdf, COL_X[0], 26.0 + LINE * (len(columns[0]) + 2) + 9, TABLES[1], COL_W)
    pdf.output(str(path))
    return path
