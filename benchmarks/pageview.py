"""The page view's costs (issue 26): drawing a PDF page and finding a quote's boxes, and the
server's memory over 1,000 page requests.

- Drawing: `pdfrender.render` (PDFium's progressive rendering with its time limit, then PNG) at the
  default zoom, each page drawn afresh, against the baseline measured in the same run:
  pypdfium2's own `page.render(scale=...)` and a PNG with Pillow's defaults (RGB, zlib level 6). Reported: ms per page (p50),
  the ratio to the baseline, and the PNG's size and pixels.
- Boxes: `pdfboxes.quote_boxes` for one sentence of each page, against the baseline of reading
  the document's text (`read_document`, which `Assistant.context` does for every citation anyway).
- Memory: a real `qa serve` (tests/uiserver.py) asked for 1,000 page images from four threads, 3
  pages x 40 zooms (more than its cache keeps); the server's RSS after 150 warm-up requests and
  after the 1,000.

Files: the bundled article printed to PDF (4 pages, fpdf2, tests/pdfmaker.py). Medians of
repeated runs.

    .venv/bin/python benchmarks/pageview.py [--repeat 7] [--no-server]
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.ingest.documents import read_document  # noqa: E402
from qa.ingest.formats import pdfboxes, pdfrender  # noqa: E402
from qa.ingest.formats.pdfium import LOCK  # noqa: E402
from tests.pdfmaker import article_pdf  # noqa: E402

ARTICLE = ROOT / "corpus" / "china-and-north-korea-the-uneasy-partnership.txt"


def _baseline_render(data: bytes, page: int, zoom: float) -> bytes:
    import pypdfium2 as pdfium

    with LOCK:
        pdf = pdfium.PdfDocument(data)
        try:
            handle = pdf[page - 1]
            bitmap = handle.render(scale=zoom, rev_byteorder=True)
            image = bitmap.to_pil().copy()
            bitmap.close()
            handle.close()
        finally:
            pdf.close()
    out = io.BytesIO()
    image.save(out, format="PNG")  # Pillow's defaults
    return out.getvalue()


def _median_ms(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def drawing(data: bytes, repeat: int) -> None:
    pages = pdfrender.page_count(data)
    ours, base = [], []
    for page in range(1, pages + 1):  # interleaved, page by page
        base.append(_median_ms(lambda p=page: _baseline_render(data, p, pdfrender.DEFAULT_ZOOM), repeat))
        ours.append(_median_ms(lambda p=page: pdfrender.render(data, p), repeat))
    image = pdfrender.render(data, 1)
    sizes = [len(pdfrender.render(data, p).png) for p in range(1, pages + 1)]
    print(f"drawing a page at zoom {pdfrender.DEFAULT_ZOOM} ({image.width} x {image.height} px), {pages} pages, "
          f"median of {repeat}:")
    print(f"  pdfrender.render    p50 {statistics.median(ours):6.1f} ms/page")
    print(f"  baseline (pypdfium2 render + Pillow's default PNG)  {statistics.median(base):6.1f} ms/page  "
          f"ratio {statistics.median(ours) / statistics.median(base):.2f}")
    print(f"  PNG size p50 {statistics.median(sizes) / 1024:.0f} KiB (min {min(sizes) / 1024:.0f}, "
          f"max {max(sizes) / 1024:.0f})")


def boxes(path: Path, repeat: int) -> None:
    data = path.read_bytes()
    document, _ = read_document(path, f"corpus/{path.name}", 10**8)
    quotes = []
    for n, first in enumerate(document.page_starts):  # a sentence from the middle of each page
        last = document.page_starts[n + 1] if n + 1 < len(document.page_starts) else len(document.raw)
        middle = document.raw.find(". ", (first + last) // 2) + 2
        quotes.append((middle, document.raw.find(".", middle + 40) + 1))
    found = [pdfboxes.quote_boxes(data, pdfboxes.parts(document.raw, document.page_starts, a, b)) for a, b in quotes]
    ms = _median_ms(lambda: [pdfboxes.quote_boxes(data, pdfboxes.parts(document.raw, document.page_starts, a, b))
                             for a, b in quotes], repeat) / len(quotes)
    base = _median_ms(lambda: read_document(path, f"corpus/{path.name}", 10**8), repeat)
    print(f"finding a quote's boxes, {len(quotes)} quotes ({sum(1 for f in found if f)} found, "
          f"{sum(len(b.boxes) for f in found for b in f)} lines):")
    print(f"  pdfboxes.quote_boxes p50 {ms:6.1f} ms/quote")
    print(f"  baseline (read_document, done for every context)  {base:6.1f} ms  ratio {ms / base:.2f}")


def memory(folder: Path) -> None:
    import httpx
    import psutil

    from tests.uiserver import start, stop

    incoming = folder / "incoming"
    incoming.mkdir()
    shutil.copy(folder / "article.pdf", incoming / "article.pdf")
    server = start(folder / "run", incoming)
    try:
        process = psutil.Process(server.proc.pid)
        asks = [{"doc": "article.pdf", "page": str(1 + i % 3), "zoom": f"{0.5 + (i // 3 % 40) * 0.025:.3f}"}
                for i in range(1000)]

        def fetch(params: dict[str, str]) -> int:
            return httpx.get(server.url + "api/page", params=params, timeout=60).status_code

        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(fetch, asks[:150])) == {200}
            before = process.memory_info().rss
            t = time.perf_counter()
            assert set(pool.map(fetch, asks)) == {200}
            took = time.perf_counter() - t
            after = process.memory_info().rss
        print(f"1,000 page requests (4 threads, 120 different images): {took:.1f} s; server RSS "
              f"{before / 2**20:.1f} MiB before, {after / 2**20:.1f} MiB after ({(after - before) / 2**20:+.1f} MiB)")
    finally:
        stop(server)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--no-server", action="store_true", help="skip the 1,000 requests to a real server")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = article_pdf(ARTICLE, folder / "article.pdf")
        drawing(path.read_bytes(), args.repeat)
        boxes(path, args.repeat)
        if not args.no_server:
            memory(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
