"""OCR of scanned PDFs, and what reading PDFs in a worker process costs, each against a baseline.

Files, made here: the bundled article printed to PDF (tests/pdfmaker.article_pdf, 4 pages of 11
point type) and the same text in 8 point type, each scanned three ways (tests/pdfscans.page_images):
  clean     rendered at 200 dpi in grey
  noisy     rendered at 300 dpi, turned 0.7 degrees, blurred, grey noise added (sigma 25), and
            thresholded to black and white, as a cheap fax-like scanner gives
  grey      the same turn, blur and a little noise (sigma 10), kept in grey
OCR is qa's (`pdfocr`: PDFium's rendering, Tesseract through pytesseract) at each resolution and
with and without the 3x3 median filter; "recovered" is the share of the original's words (with
their counts, letters and digits, case ignored) found in what OCR read. Speed: qa's settings on
the clean 11 point scan, pages/s, the median of `--repeat` runs, against qa's reader on the
born-digital original (its text layer) in the same run.

The worker process (`qa.ingest.timelimit`): reading the born-digital article through it (warm,
the worker reused) against reading it in process, median of `--repeat` runs each, interleaved; and
the time a new worker takes to start (its imports).

    .venv/bin/python -m benchmarks.ocr [--repeat 3] [--dpi 150,300]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ARTICLE = ROOT / "corpus" / "china-and-north-korea-the-uneasy-partnership.txt"

from qa.ingest import readpdf, timelimit  # noqa: E402
from qa.ingest.formats import extract, pdfocr  # noqa: E402
from tests.pdfmaker import article_pdf, text_pdf  # noqa: E402
from tests.pdfscans import page_images  # noqa: E402


def words(text: str) -> Counter[str]:
    return Counter(re.findall(r"[a-z0-9]+", text.lower()))


def scan(source: Path, path: Path, how: str) -> Path:
    import numpy as np
    from PIL import Image, ImageFilter

    dpi = 200 if how == "clean" else 300
    images = page_images(source, dpi)
    if how != "clean":
        rng = np.random.default_rng(1)
        out = []
        for image in images:
            image = image.rotate(0.7, resample=Image.BICUBIC, fillcolor=255).filter(ImageFilter.GaussianBlur(1.0))
            noisy = np.asarray(image).astype(np.float32) + rng.normal(0, 25 if how == "noisy" else 10, image.size[::-1])
            image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
            out.append(image.convert("1") if how == "noisy" else image)
        images = out
    images[0].save(path, "PDF", save_all=True, append_images=images[1:], resolution=dpi, title="")
    return path


def ocr(data: bytes, pages: int, dpi: int, median: bool) -> str:
    """The text OCR reads on every page at `dpi`, with or without the median filter."""
    pdfocr.DPI, pdfocr.MEDIAN = dpi, 3 if median else 0
    try:
        return "\n".join(w.text for n in range(1, pages + 1) for w in pdfocr.page_words(data, n))
    finally:
        pdfocr.DPI, pdfocr.MEDIAN = 300, 3


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dpi", default="150,300")
    args = ap.parse_args()
    if pdfocr.tesseract() is None:
        print(f"no Tesseract: {pdfocr.INSTALL}")
        return 1
    os.environ["OMP_THREAD_LIMIT"] = "1"
    dpis = [int(d) for d in args.dpi.split(",")]
    with tempfile.TemporaryDirectory(prefix="qa-ocr-bench-") as tmp:
        folder = Path(tmp)
        blocks = [" ".join(b.split()) for b in ARTICLE.read_text(encoding="utf-8").split("\n\n") if b.strip()]
        sources = {"11 pt": article_pdf(ARTICLE, folder / "article.pdf"),
                   "8 pt": text_pdf(folder / "small.pdf", blocks, header="IPIS Journal", size=8)}
        print("OCR: the share of the original's words recovered (OCR's output is the same at every run), "
              "and pages/s of one run; the baseline: qa's reader on the born-digital original")
        print("| type | scan | dpi | median filter | recovered | pages/s |")
        print("|---|---|---|---|---|---|")
        speed: dict[str, tuple[float, float, int]] = {}
        for size, source in sources.items():
            data = source.read_bytes()
            original = extract("pdf", data, None, 10**8)
            truth = words(" ".join(b.text for b in original.blocks))
            pages = original.pages or 1
            print(f"| {size} | born-digital (baseline) | - | - | 1.0000 | "
                  f"{pages / timed(lambda d=data: extract('pdf', d, None, 10**8), 1)[0]:.1f} |")
            for how in ("clean", "grey", "noisy"):
                scanned = scan(source, folder / f"{how}.pdf", how).read_bytes()
                for dpi in dpis:
                    for median in (True, False):
                        seconds, text = timed(lambda s=scanned, p=pages, d=dpi, m=median: ocr(s, p, d, m), 1)
                        share = sum((truth & words(text)).values()) / sum(truth.values())
                        print(f"| {size} | {how} | {dpi} | {'yes' if median else 'no'} | {share:.4f} | "
                              f"{pages / seconds:.2f} |", flush=True)
            if size == "11 pt":  # qa's settings, repeated, against the text layer in the same run
                base, _ = timed(lambda d=data: extract("pdf", d, None, 10**8), args.repeat)
                clean = (folder / "clean.pdf").read_bytes()
                seconds, _ = timed(lambda c=clean, p=pages: ocr(c, p, 300, True), args.repeat)
                speed[size] = (pages / seconds, pages / base, pages)
        for size, (ocr_rate, text_rate, _pages) in speed.items():
            print(f"\nqa's OCR (300 dpi, median filter) on the clean {size} scan, median of {args.repeat}: "
                  f"{ocr_rate:.2f} pages/s; its text layer read by qa's reader: {text_rate:.1f} pages/s "
                  f"({text_rate / ocr_rate:.0f}x faster)")
        print()
        data = sources["11 pt"].read_bytes()
        timelimit.stop_workers()
        started = time.perf_counter()
        worker = timelimit._Worker.start()
        print(f"a new worker starts (imports its libraries) in {time.perf_counter() - started:.2f} s")
        worker.stop()
        in_process, through = [], []
        for _ in range(args.repeat):
            in_process.append(timed(lambda: extract("pdf", data, None, 10**8), 1)[0])
            readpdf.forget()

            def worker_read() -> None:
                with timelimit.reading(120):
                    readpdf.read("pdf", data, 10**8)

            worker_read()  # a warm worker: its start is not what a file pays
            readpdf.forget()
            through.append(timed(worker_read, 1)[0])
        a, b = statistics.median(in_process), statistics.median(through)
        print(f"the article's PDF (4 pages): in process {a * 1000:.0f} ms, through the worker {b * 1000:.0f} ms "
              f"({b / a:.2f}x; {1000 * (b - a):+.0f} ms a file)")
        timelimit.stop_workers()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
