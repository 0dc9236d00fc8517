"""The cost of keeping rotated and margin text out of a PDF's text (`qa.ingest.formats.pdfmargin`)
and of reading the title from the first page's type: `read_pdf` as it is, against the same reader
with the margin filter turned off (`pdfmargin.not_body` keeping everything), on the same files,
interleaved; for each engine (PDFium, where the filter sees words, and pdfminer for every page,
where it sees characters).

Files: the bundled article printed to PDF four times over, and the two-column test paper of
`tests/test_pdf_clean.py` (line numbers, an arXiv stamp) repeated to 20 pages. Figures are
medians of repeated runs, reported as pages/s and as a ratio to the baseline measured in the run.

    .venv/bin/python benchmarks/pdf_clean.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.ingest.formats import pdf as pdf_reader  # noqa: E402
from qa.ingest.formats import pdfmargin  # noqa: E402
from tests.pdfmaker import text_pdf  # noqa: E402
from tests.test_pdf_clean import paper_pdf  # noqa: E402

ARTICLE = ROOT / "corpus" / "china-and-north-korea-the-uneasy-partnership.txt"


def _keep_all(chars: Any, page_x0: float, page_x1: float) -> set[int]:
    return set()


def make(folder: Path) -> dict[str, bytes]:
    blocks = [" ".join(b.split()) for b in ARTICLE.read_text(encoding="utf-8").split("\n\n") if b.strip()] * 4
    article = text_pdf(folder / "article.pdf", blocks, header="Benchmark · running header").read_bytes()
    paper = paper_pdf(folder / "paper20.pdf", pages=20)
    return {"article": article, "paper": paper.read_bytes()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    real = pdfmargin.not_body
    with tempfile.TemporaryDirectory() as tmp:
        files = make(Path(tmp))
        pages = {name: pdf_reader.read_pdf(data).pages or 1 for name, data in files.items()}
        seconds: dict[tuple[str, str, str], list[float]] = {}
        for _ in range(args.repeat):  # interleaved, so a noisy moment touches both alike
            for name, data in files.items():
                for engine in pdf_reader.ENGINES:
                    for way, keep in (("baseline", _keep_all), ("clean", real)):
                        pdfmargin.not_body = keep  # type: ignore[assignment]
                        t0 = time.perf_counter()
                        pdf_reader.read_pdf(data, engine)
                        seconds.setdefault((name, engine, way), []).append(time.perf_counter() - t0)
        pdfmargin.not_body = real
    print(f"{'file':8} {'engine':9} {'pages':>5} {'baseline p/s':>13} {'clean p/s':>10} {'clean/baseline time':>20}")
    for name in files:
        for engine in pdf_reader.ENGINES:
            base = statistics.median(seconds[(name, engine, "baseline")])
            clean = statistics.median(seconds[(name, engine, "clean")])
            print(f"{name:8} {engine:9} {pages[name]:5d} {pages[name] / base:13.1f} {pages[name] / clean:10.1f} "
                  f"{clean / base:20.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
