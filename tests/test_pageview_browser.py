"""The page view in a real Chromium, behind the page's login (`--auth`): a question whose answer is
in a PDF, its [1] clicked once, and the cited page shown as an image with a mark over each line of
the quoted sentence, where pdfplumber finds that line's characters; previous and next page, back
to the citation, zoom, and the text one tab away. A sentence that runs across a page break is
marked on both pages.

A screenshot of the page view goes to $QA_SCREENSHOTS when it is set (else the test's temporary
folder); scripts/screenshot.py makes the README's.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTICLE
from tests.fixtures_formats import make_pdf
from tests.test_pageview import near, plumber_lines
from tests.test_ui_browser import WAIT, Page, _flat, _loopback, ask, browser, selected_view, view  # noqa: F401
from tests.uiserver import Server, start, stop

pytestmark = pytest.mark.browser

USER, PASSWORD = "reader", "page-v1ew-pw"
DREDGED = "How deep was the harbour channel dredged?"
COST = "How much did the new pumping station cost?"

#: each mark's place over the page image, as fractions of the image (origin top left)
MARKS = """() => {
    const image = document.querySelector('#qa-pageview img.qa-page-image').getBoundingClientRect();
    return [...document.querySelectorAll('#qa-pageview .qa-box')].map(b => {
        const r = b.getBoundingClientRect();
        return [(r.left - image.left) / image.width, (r.top - image.top) / image.height,
                (r.right - image.left) / image.width, (r.bottom - image.top) / image.height];
    });
}"""
#: the first mark lies inside the scrolled box of the page view
IN_VIEW = """() => {
    const box = document.querySelector('#qa-pageview .qa-view'), mark = box && box.querySelector('.qa-box');
    if (!mark) return false;
    const m = mark.getBoundingClientRect(), v = box.getBoundingClientRect();
    return m.top >= v.top && m.bottom <= v.bottom && m.left >= v.left - 1;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    root = tmp_path_factory.mktemp("pageview-browser")
    incoming = root / "incoming"
    incoming.mkdir()
    shutil.copy(ARTICLE, incoming / ARTICLE.name)
    make_pdf(incoming)
    s = start(root / "run", incoming, args=["--auth", f"{USER}:{PASSWORD}"])
    yield s
    stop(s)


@pytest.fixture
def page(browser, server) -> Page:  # noqa: F811  (the browser fixture)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = Page(context.new_page())
    p.page.set_default_timeout(WAIT)
    p.page.on("request", lambda r: p.requests.append(r.url))
    p.page.on("dialog", lambda d: (p.dialogs.append(d.message), d.dismiss()))
    p.page.on("pageerror", lambda e: p.errors.append(str(e)))
    p.page.goto(server.url)  # the login form, then the page
    p.page.get_by_label("username").fill(USER)
    p.page.get_by_label("password").fill(PASSWORD)
    p.page.get_by_role("button", name="Login").click()
    p.page.wait_for_selector("#qa-question textarea")
    yield p
    context.close()
    assert p.dialogs == [] and p.errors == []
    assert [u for u in p.requests if not _loopback(u)] == []


def _page_shown(p: Page, page: int, pages: int, marks: int) -> list[Any]:
    """Waits for page `page` of `pages` with `marks` marks, its image drawn; returns the marks' places."""
    p.page.wait_for_function("""([n, total, marks]) => {
        const v = document.querySelector('#qa-pageview'), i = v && v.querySelector('img.qa-page-image');
        return i && i.complete && i.naturalWidth > 0 && v.innerText.includes(`Page ${n} of ${total}`)
               && v.querySelectorAll('.qa-box').length === marks; }""", arg=[page, pages, marks])
    return p.page.evaluate(MARKS)


def test_1_opens_the_cited_page_with_the_sentence_marked_where_its_characters_are(page, server, tmp_path):
    p = page.page
    reply = ask(page, DREDGED)
    quote = _flat(reply.locator("blockquote mark").inner_text()).strip("“”")
    assert quote.startswith("A second project dredged the harbour channel") and "page 2" in reply.inner_text()
    reply.locator("blockquote .qa-cite").click()  # the only click
    marks = _page_shown(page, 2, 3, 2)
    assert selected_view(page) == "Page"  # the most faithful view first
    lines = dict(plumber_lines(server.corpus / "board-report.pdf", 2))
    first = lines["A second project dredged the harbour channel to a depth of eleven metres so that"]
    second = lines["grain ships could reach the Quillon quay at low tide. The dredging took four months and the"]
    assert near(tuple(marks[0]), first, 0.005), (marks, first)  # a pixel of the drawn page is 0.002
    assert near((marks[1][0], marks[1][1], marks[1][3]), (second[0], second[1], second[3]), 0.005)
    assert marks[1][2] < second[2] - 0.2  # the second line's mark ends where the sentence does
    p.wait_for_function(IN_VIEW)  # scrolled to it
    p.locator("#qa-pageview").scroll_into_view_if_needed()
    p.screenshot(path=str(_shots(tmp_path) / "page-view.png"))

    # previous and next page, back to the citation, zoom
    p.locator("#qa-next").click()
    _page_shown(page, 3, 3, 0)
    assert "the citation is on page 2" in p.locator("#qa-pageview").inner_text()
    p.locator("#qa-prev").click()
    p.locator("#qa-prev").click()
    _page_shown(page, 1, 3, 0)
    p.locator("#qa-cited").click()
    _page_shown(page, 2, 3, 2)
    width = p.locator("#qa-pageview .qa-sheet").bounding_box()["width"]
    p.locator("#qa-zoom-in").click()
    p.wait_for_function("document.querySelector('#qa-pageview').innerText.includes('150%')")
    zoomed = _page_shown(page, 2, 3, 2)
    assert abs(p.locator("#qa-pageview .qa-sheet").bounding_box()["width"] / width - 1.5) < 0.02
    assert all(near(tuple(a), tuple(b), 0.004) for a, b in zip(zoomed, marks, strict=True))  # the same places
    p.wait_for_function(IN_VIEW)

    # the text views, a click away
    paragraphs = view(page, "Paragraphs")
    assert _flat(paragraphs.locator("mark").inner_text()) == quote and "cited:" in paragraphs.inner_text()
    assert not p.locator("#qa-pageview").is_visible()
    document = view(page, "Document")
    assert _flat(document.locator(".qa-doc mark").inner_text()) == quote


def test_a_sentence_across_a_page_break_is_marked_on_both_pages(page, server):
    reply = ask(page, COST)
    quote = _flat(reply.locator("blockquote mark").inner_text()).strip("“”")
    assert "fourteen million euros" in quote and "regional bank" in quote, quote
    reply.locator("blockquote .qa-cite").click()
    marks = _page_shown(page, 1, 3, 2)
    assert "the citation goes on to page 2" in page.page.locator("#qa-pageview").inner_text()
    lines = dict(plumber_lines(server.corpus / "board-report.pdf", 1))
    last = lines["board fourteen million euros, paid from the flood reserve and a loan from the"]
    assert near(tuple(marks[1]), last, 0.005)
    page.page.locator("#qa-next").click()
    (mark,) = _page_shown(page, 2, 3, 1)
    first = dict(plumber_lines(server.corpus / "board-report.pdf", 2))[
        "regional bank. Its engines run on electricity from the river turbines, which the board"]
    assert near((mark[0], mark[1], mark[3]), (first[0], first[1], first[3]), 0.005) and mark[2] < first[2] - 0.3


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("QA_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
