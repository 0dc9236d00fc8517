"""Documents in every format, made by the tests themselves: a PDF of several pages with a running
header and page numbers (fpdf2), a Word file with headings (python-docx), an HTML page with
navigation, script and hidden text, and a Markdown file. Each states facts no other one does."""

from __future__ import annotations

from pathlib import Path

import docx

from tests.pdfmaker import lines_pdf

PDF_PAGES = [
    ["Varrow Water Board: annual report", "",
     "The board rebuilt the Kessel pumping station in 2019 after the spring flood had",
     "damaged its two old diesel engines beyond repair.", "",
     "The new station pumps nine thousand litres a second and cost the",
     "board fourteen million euros, paid from the flood reserve and a loan from the"],
    ["regional bank. Its engines run on electricity from the river turbines, which the board",
     "bought from a firm in Aalborg.", "",
     "A second project dredged the harbour channel to a depth of eleven metres so that",
     "grain ships could reach the Quillon quay at low tide. The dredging took four months and the",
     "engineers worked mostly at night to keep the channel open for the ferries and the sanc-"],
    ["tioned cargo barges that had waited in the outer roads since March.", "",
     "The board's chair, Ilse Marrow, retired in December after twenty years in office. The",
     "members elected the hydro-", "logist Tomas Wendt to succeed her."],
]
PDF_HEADER = "Varrow Water Board · Annual report 2021"

DOCX_BLOCKS = [
    ("title", "Kessel Parish Council minutes"),
    ("h1", "Results"),
    ("p", "The council counted four hundred votes for the new library on the Marl Street site."),
    ("h2", "Costs"),
    ("p", "The library will cost three million crowns, shared between the parish and the county."),
    ("h1", "Next steps"),
    ("p", "The architect Petra Lund will present the final drawings to the council in April."),
]

HTML_PAGE = """<!doctype html>
<html><head><title>Quillon harbour news</title><meta name="author" content="Edda Voss">
<style>body { font-family: serif } .x { color: red }</style>
<script>window.tracking = "the script mentions the lighthouse keeper Bram Hollis";</script></head>
<body>
<header class="site"><a href="/">Home</a> <a href="/news">News</a> <a href="/contact">Contact the harbour</a></header>
<nav><ul><li><a href="/a">Ferry timetable</a></li><li><a href="/b">Harbour fees</a></li></ul></nav>
<main><article>
<h1>Quillon harbour news</h1>
<h2>Results</h2>
<p>The harbour master counted <b>two hundred</b> grain ships at the quay in 2022.</p>
<div hidden>The hidden text names the smuggler Otto Brask.</div>
<p aria-hidden="true">Decorative text about the seagull Pim.</p>
<p style="display: none">Invisible text about the tugboat Marta.</p>
<h3>Costs</h3>
<p>Repairing the north breakwater cost six million crowns after the storm of January.</p>
</article></main>
<footer>Copyright 2024 Quillon harbour office · Privacy · Cookies</footer>
<script>document.write("more script text about the pirate Jorun");</script>
</body></html>
"""

MARKDOWN = """# Tumen river survey

## Results

The **survey team** counted [70 otters](http://example.com/otters) along the Tumen river in 2020.

### Costs

- The survey cost ninety thousand crowns.
- The boats were lent by the Rason fishing cooperative.
"""


def make_pdf(folder: Path, name: str = "board-report.pdf") -> Path:
    return lines_pdf(folder / name, PDF_PAGES, header=PDF_HEADER, title="Varrow Water Board annual report")


def make_docx(folder: Path, name: str = "council-minutes.docx") -> Path:
    d = docx.Document()
    d.core_properties.title = "Kessel Parish Council minutes"
    d.core_properties.author = "Greta Holm"
    for kind, text in DOCX_BLOCKS:
        if kind == "title":
            d.add_heading(text, 0)
        elif kind.startswith("h"):
            d.add_heading(text, int(kind[1]))
        else:
            d.add_paragraph(text)
    path = folder / name
    d.save(str(path))
    return path


def make_html(folder: Path, name: str = "harbour-news.html") -> Path:
    path = folder / name
    path.write_text(HTML_PAGE, encoding="utf-8")
    return path


def make_markdown(folder: Path, name: str = "river-survey.md") -> Path:
    path = folder / name
    path.write_text(MARKDOWN, encoding="utf-8")
    return path


def make_all(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {"pdf": make_pdf(folder), "docx": make_docx(folder), "html": make_html(folder),
            "md": make_markdown(folder)}
