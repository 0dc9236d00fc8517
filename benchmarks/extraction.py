"""Extraction speed per format: the same text (the bundled article, four times over) as PDF, Word,
HTML, Markdown and plain text, each read by `read_document` (reader + layout repair), repeated.

A "page" is a page of the PDF made from the text, so every format's pages/s counts the same text.
Figures are medians of repeated runs; the ratio to .txt is measured in the same run.

    .venv/bin/python benchmarks/extraction.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.ingest.documents import read_document  # noqa: E402
from tests.pdfmaker import text_pdf  # noqa: E402

ARTICLE = ROOT / "corpus" / "china-and-north-korea-the-uneasy-partnership.txt"


def make(folder: Path, copies: int) -> dict[str, Path]:
    import docx

    blocks = [" ".join(b.split()) for b in ARTICLE.read_text(encoding="utf-8").split("\n\n") if b.strip()] * copies
    files = {"pdf": text_pdf(folder / "a.pdf", blocks, header="Benchmark · running header")}
    d = docx.Document()
    for i, b in enumerate(blocks):
        d.add_heading(b, 1) if i % 20 == 0 else d.add_paragraph(b)
    d.save(str(folder / "a.docx"))
    files["docx"] = folder / "a.docx"
    html = "".join(f"<h2>{b}</h2>" if i % 20 == 0 else f"<p>{b}</p>" for i, b in enumerate(blocks))
    (folder / "a.html").write_text(f"<html><body><nav>menu</nav><main>{html}</main></body></html>", encoding="utf-8")
    files["html"] = folder / "a.html"
    (folder / "a.md").write_text("\n\n".join(f"## {b}" if i % 20 == 0 else b for i, b in enumerate(blocks)),
                                 encoding="utf-8")
    files["md"] = folder / "a.md"
    (folder / "a.txt").write_text("\n\n".join(blocks), encoding="utf-8")
    files["txt"] = folder / "a.txt"
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--copies", type=int, default=4, help="copies of the article in each document")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = make(Path(tmp), args.copies)
        pages = read_document(files["pdf"], "bench/a.pdf", 10**9)[0].pages or 1
        seconds: dict[str, list[float]] = {fmt: [] for fmt in files}
        for _ in range(args.repeat):  # interleaved, so a noisy moment touches every format alike
            for fmt, path in files.items():
                t0 = time.perf_counter()
                read_document(path, f"bench/{path.name}", 10**9)
                seconds[fmt].append(time.perf_counter() - t0)
    txt = statistics.median(seconds["txt"])
    print(f"{pages} pages ({args.copies} copies of the article), median of {args.repeat} runs")
    print("| format | median ms | pages/s | time vs .txt |")
    print("|---|---|---|---|")
    for fmt, runs in seconds.items():
        m = statistics.median(runs)
        print(f"| {fmt} | {m * 1000:.1f} | {pages / m:,.0f} | {m / txt:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
