#!/usr/bin/env python3
"""Writes docs/screenshot.png: the chat page answering a question about the bundled article.

    .venv/bin/python scripts/screenshot.py [OUTPUT] [WIDTH]
    .venv/bin/python scripts/screenshot.py --pdf [OUTPUT] [WIDTH]     # docs/pageview.png

Starts `qa serve` on a free loopback port over a temporary copy of corpus/, asks a question in
Debian's Chromium (playwright), clicks the answer's [n] to open it in context, and saves the page
(WIDTH pixels wide, 1360 by default; a narrow one is saved whole, from top to bottom). With
`--pdf` the corpus is the article printed to PDF (tests/pdfmaker.py, fpdf2), and the picture shows
the page view: the cited page with the quoted sentence's lines marked.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "What treaty did China and North Korea sign in 1961?"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def main() -> int:
    args = sys.argv[1:]
    pdf = "--pdf" in args
    args = [a for a in args if a != "--pdf"]
    out = Path(args[0]) if args else ROOT / "docs" / ("pageview.png" if pdf else "screenshot.png")
    width = int(args[1]) if len(args) > 1 else 1360
    with tempfile.TemporaryDirectory() as tmp, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if pdf:  # the article printed to PDF, as a reader's own document would be
            sys.path.insert(0, str(ROOT))
            from tests.pdfmaker import article_pdf

            (Path(tmp) / "corpus").mkdir()
            article = next((ROOT / "corpus").glob("*.txt"))
            article_pdf(article, Path(tmp) / "corpus" / article.with_suffix(".pdf").name)
        else:
            shutil.copytree(ROOT / "corpus", Path(tmp) / "corpus")
        env = {**os.environ, "QA_HOME": str(Path(tmp) / "home")}
        server = subprocess.Popen([sys.executable, "-m", "qa", "serve", "--port", str(port),
                                   "--corpus", str(Path(tmp) / "corpus"), "--index", str(Path(tmp) / "index")],
                                  env=env, cwd=tmp)
        try:
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                if server.poll() is not None:
                    return 1
                try:
                    if httpx.get(url, timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
                page = browser.new_page(viewport={"width": width, "height": 1180 + 280 * pdf}, device_scale_factor=1)
                page.set_default_timeout(120_000)
                page.goto(url)
                page.locator("#qa-question textarea").fill(QUESTION)
                page.locator("#qa-ask").click()
                page.wait_for_selector('#qa-chat [data-testid="bot"] blockquote mark')
                page.locator('#qa-chat [data-testid="bot"] blockquote .qa-cite').click()
                page.wait_for_function("document.querySelector('#qa-viewer')?.offsetParent !== null")
                if pdf:
                    page.wait_for_function("document.querySelector('#qa-pageview img')?.complete === true")
                page.mouse.move(0, 0)  # no hover styling in the picture
                page.wait_for_timeout(800)
                page.evaluate("window.scrollTo(0, 0)")
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), full_page=width < 800)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
