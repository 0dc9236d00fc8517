"""PDF text extraction: PDFium (pypdfium2) against pdfminer.six on the same files, in one run.

Files, made here (none is committed): the made-up two-column paper of tests/papermaker.py
repeated to 300 pages (`--pages`; a table on half of them), its three-page version (three
tables, a figure, a footnote), the two-column paper of tests/test_pdf_clean.py at 20 pages and at
2 (an arXiv stamp, line numbers in both margins; the 20 pages repeat two, whose like last lines
read as running footers, so its body is checked on the 2) and the three-page report of
tests/fixtures_formats.py (words hyphenated across a line and across a page break).

Speed, pages/s, the median of `--repeat` interleaved runs, and time against the baseline's:
  pdfminer text    pdfminer.six's extract_text: its layout analysis, the text in one string
  pypdfium2 text   get_text_range on every page: PDFium's text in the order the page draws it
  qa, pdfminer     qa's reader with pdfminer reading every page, no tables: the reader as it
                   was before PDFium (`read_pdf(engine="pdfminer")`): the baseline
  qa               qa's reader as it is: PDFium, tables, pdfminer for pages it cannot order
  qa, no tables    the same without reading the rules or looking for tables
What comes out, for qa's reader with each engine (read through `assemble`, as `qa add` does):
  body             the paragraphs the file was made of, found whole and in reading order / all
  tables           tables found, every row read across / tables in the file
  in body          body paragraphs holding a table's caption or one of its figures (should be 0)
  hyphens          "sanctioned" (across a page break) and "hydrologist" (across a line) rejoined
  title            the title right (from the first page's type: no metadata)
and pdfplumber's table finder on the three-page paper, for comparison: its default ("lines")
and text columns between ruled rows, tables with every row right / tables, and its time.

    .venv/bin/python benchmarks/pdf_speed.py [--repeat 3] [--pages 300] [--also REAL.pdf ...]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.ingest.assemble import assemble  # noqa: E402
from qa.ingest.formats import pdf as reader  # noqa: E402
from qa.ingest.formats import pdfwords  # noqa: E402
from tests import papermaker  # noqa: E402
from tests.fixtures_formats import make_pdf  # noqa: E402
from tests.test_pdf_clean import COLUMNS, TITLE, paper_pdf  # noqa: E402


def pdfminer_text(data: bytes) -> None:
    import io

    from pdfminer.high_level import extract_text

    extract_text(io.BytesIO(data))


def pypdfium2_text(data: bytes) -> None:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(data)
    for i in range(len(document)):
        page = document[i]
        textpage = page.get_textpage()
        textpage.get_text_range()
        textpage.close()
        page.close()
    document.close()


def qa_without_tables(data: bytes) -> Any:
    real = pdfwords.read_rules
    pdfwords.read_rules = lambda page: []  # type: ignore[assignment]
    try:
        return reader.read_pdf(data)
    finally:
        pdfwords.read_rules = real  # type: ignore[assignment]


WAYS: dict[str, Callable[[bytes], Any]] = {
    "pdfminer text": pdfminer_text,
    "pypdfium2 text": pypdfium2_text,
    "qa, pdfminer": lambda data: reader.read_pdf(data, engine="pdfminer"),
    "qa": reader.read_pdf,
    "qa, no tables": qa_without_tables,
}
BASELINE = "qa, pdfminer"


class File:
    def __init__(self, name: str, path: Path, body: list[str], tables: list[papermaker.Table], title: str | None):
        self.name, self.data, self.body, self.tables, self.title = name, path.read_bytes(), body, tables, title


def make(folder: Path, pages: int) -> list[File]:
    n = papermaker.long_paper_pdf(folder / "long.pdf", pages)
    kinds = [i % 6 for i in range(pages)]
    long_tables = [papermaker.TABLES[k // 2] for k in kinds if k in (0, 2, 4)]
    paper = papermaker.paper_pdf(folder / "paper.pdf")
    clean = paper_pdf(folder / "clean.pdf", pages=20)  # its pages repeat: the body is checked on two
    clean2 = paper_pdf(folder / "clean2.pdf", pages=2)
    title = " ".join(papermaker.TITLE)
    return [
        File(f"made-up paper, {pages} pages", folder / "long.pdf", [papermaker.paragraph(i) for i in range(n)],
             long_tables, title),
        File("made-up paper, 3 pages", paper, [papermaker.paragraph(i) for i in range(16)], list(papermaker.TABLES),
             title),
        File("test_pdf_clean paper, 20 pages", clean, [], [], " ".join(TITLE)),
        File("test_pdf_clean paper, 2 pages", clean2, [t for c in COLUMNS for t in c], [], " ".join(TITLE)),
        File("report, 3 pages (hyphens)", make_pdf(folder), [], [], None),
    ]


def _in_order(found: list[str], wanted: list[str]) -> int:
    """How many of `wanted` are in `found`, whole and in order (a longest common subsequence)."""
    import difflib

    matcher = difflib.SequenceMatcher(None, found, wanted, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks())


def _figures(table: papermaker.Table) -> list[str]:
    return [cell for row in table.rows[1:] for cell in row[1:]]


def quality(file: File, engine: str) -> dict[str, str]:
    assembled = assemble(reader.read_pdf(file.data, engine))
    paragraphs = [p for p in assembled.paragraphs if p.text]
    tables = [p.text for p in paragraphs if p.role == "table"]
    prose = [p.text for p in paragraphs if p.role != "table"]
    out = {}
    if file.body:
        wanted = set(file.body)
        out["body"] = f"{_in_order([t for t in prose if t in wanted], file.body)}/{len(file.body)}"
    if file.tables:
        remaining = list(tables)
        found = 0
        for table in file.tables:
            rows = [" | ".join(r) for r in table.rows[1:]]
            at = next((i for i, t in enumerate(remaining) if all(r in t.split("\n") for r in rows)), None)
            if at is not None:
                found += 1
                remaining.pop(at)
        leaks = sum(1 for t in prose if any(table.caption in t or any(
            re.search(rf"(?<![\w.]){re.escape(f)}(?![\w.])", t) for f in _figures(table)) for table in file.tables))
        out["tables"] = f"{found}/{len(file.tables)}"
        out["in body"] = str(leaks)
    if "hyphens" in file.name:
        text = assembled.text
        out["hyphens"] = "yes" if "sanctioned cargo" in text and "hydrologist Tomas" in text else "no"
    if file.title:
        out["title"] = "yes" if assembled.title == file.title else f"no ({assembled.title})"
    return out


def agreement(data: bytes) -> str:
    """How far the two engines agree on a real PDF, and which pages PDFium left to pdfminer."""
    import difflib

    auto = reader.read_pdf(data)
    new, old = ([p.text for p in assemble(x).paragraphs] for x in (auto, reader.read_pdf(data, "pdfminer")))
    same = sum(b.size for b in difflib.SequenceMatcher(None, old, new, autojunk=False).get_matching_blocks())
    words = [len(" ".join(x).split()) for x in (new, old)]
    return (f"{same} paragraphs the same, in the same order, of {len(new)} (qa) and {len(old)} (qa, pdfminer); "
            f"words {words[0]} and {words[1]}; {'; '.join(auto.notes) or 'no page left to pdfminer'}")


def pdfplumber_tables(file: File) -> list[str]:
    try:
        import pdfplumber
    except ImportError:
        return ["pdfplumber is not installed (pip install 'pdfplumber>=0.11,<0.11.11')"]
    import io

    out = []
    for label, settings in (("lines", {}), ("text columns, ruled rows",
                                            {"vertical_strategy": "text", "horizontal_strategy": "lines"})):
        t0 = time.perf_counter()
        found, extracted = 0, []
        with pdfplumber.open(io.BytesIO(file.data)) as pdf:
            for page in pdf.pages:
                extracted.extend(t.extract() for t in page.find_tables(settings))
        seconds = time.perf_counter() - t0
        for table in file.tables:
            rows = [list(r) for r in table.rows[1:]]
            found += any(all([c or "" for c in row] in [[(c or "") for c in r] for r in got]
                             for row in rows) for got in extracted)
        out.append(f"pdfplumber ({label}): {len(extracted)} found, {found}/{len(file.tables)} with every row right, "
                   f"{3 / seconds:.1f} pages/s (its own parse included)")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--also", nargs="*", type=Path, default=[],
                    help="real PDFs to time too (their text is not known: the engines' paragraphs are compared)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = make(Path(tmp), args.pages) + [File(p.name, p, [], [], None) for p in args.also]
        pages = {f.name: reader.read_pdf(f.data).pages or 1 for f in files}
        seconds: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeat):  # interleaved, so a noisy moment touches every way alike
            for f in files:
                for way, run in WAYS.items():
                    t0 = time.perf_counter()
                    run(f.data)
                    seconds.setdefault((f.name, way), []).append(time.perf_counter() - t0)
        print(f"pages/s, median of {args.repeat} interleaved runs; time against '{BASELINE}' (the reader before) in the same run")
        print("| file | pages | " + " | ".join(WAYS) + " |")
        print("|---|---|" + "---|" * len(WAYS))
        for f in files:
            base = statistics.median(seconds[(f.name, BASELINE)])
            cells = []
            for way in WAYS:
                m = statistics.median(seconds[(f.name, way)])
                cells.append(f"{pages[f.name] / m:,.1f} ({m / base:.2f}x)")
            print(f"| {f.name} | {pages[f.name]} | " + " | ".join(cells) + " |")
        print()
        print("what comes out of qa's reader with each engine")
        for f in files[: len(files) - len(args.also)]:
            for engine in ("pdfminer", "auto"):
                q = quality(f, engine)
                name = "qa, pdfminer" if engine == "pdfminer" else "qa"
                print(f"  {f.name} | {name}: " + ", ".join(f"{k} {v}" for k, v in q.items()))
        for path in args.also:
            print(f"  {path.name}: {agreement(path.read_bytes())}")
        print()
        for line in pdfplumber_tables(files[1]):
            print(f"  {files[1].name} | {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
