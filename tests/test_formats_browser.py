"""The page with the reader's own documents, in a real Chromium: several files uploaded at once (a
PDF with running headers among them), a question about the PDF answered with its page, its [1]
opening the cited page as an image with the sentence's lines marked (the page view's own test is
test_pageview_browser.py), the document view scrolled to the cited place, the document picker
limiting the search, and a document removed.

Screenshots go to $QA_SCREENSHOTS when it is set (else the test's temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures_formats import make_docx, make_pdf
from tests.test_ui_browser import WAIT, _flat, ask, browser, page, selected_view, upload, view  # noqa: F401
from tests.uiserver import Server, start, stop

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(article_assistant, tmp_path_factory) -> Server:
    s = start(tmp_path_factory.mktemp("ui-formats"), article_assistant.settings.corpus_dir,
              article_assistant.settings.index_dir)
    yield s
    stop(s)


def test_upload_a_pdf_and_a_docx_ask_pick_and_remove(page, tmp_path):  # noqa: F811  (the fixture)
    files = [make_pdf(tmp_path), make_docx(tmp_path)]
    p = page.page
    p.get_by_role("tab", name="Corpus").click()
    p.locator("#qa-upload input[type=file]").set_input_files([str(f) for f in files])
    p.wait_for_function("document.querySelector('#qa-status').innerText.includes('Ask about it')", timeout=WAIT)
    status = p.locator("#qa-status").inner_text()
    assert "Varrow Water Board annual report" in status and "Kessel Parish Council minutes" in status
    assert "board-report.pdf" in p.locator("#qa-corpus").inner_text()

    reply = ask(page, "How deep was the harbour channel dredged?")
    text = reply.inner_text()
    assert "eleven metres" in text and "page 2" in text, text

    # its [1] opens the cited page as an image, the quoted sentence's lines marked; the text a tab away
    quote = _flat(reply.locator("blockquote mark").inner_text()).strip("“”")
    reply.locator("blockquote .qa-cite").click()
    p.wait_for_selector("#qa-pageview img.qa-page-image", timeout=WAIT)
    assert selected_view(page) == "Page"
    assert "Page 2 of 3" in _flat(p.locator("#qa-pageview").inner_text())
    assert p.locator("#qa-pageview .qa-box").count() == 2  # the sentence's two lines
    p.locator("#qa-pageview").scroll_into_view_if_needed()
    p.screenshot(path=str(_shots(tmp_path) / "pdf-page-view.png"))
    document = view(page, "Document")
    assert _flat(document.locator(".qa-doc mark").inner_text()) == quote and "the whole text" in document.inner_text()

    # the picker limits the next question to the Word document
    p.locator("#qa-docs input").click()
    p.get_by_role("option", name="Kessel Parish Council minutes · council-minutes.docx").click()
    p.keyboard.press("Escape")
    reply = ask(page, "How much will it cost?")
    text = reply.inner_text()
    assert "three million crowns" in text and "Results > Costs" in text, text
    assert "Varrow" not in text
    reply.locator(".qa-cite").first.click()  # a Word document has no pages; its document view
    p.wait_for_function("document.querySelector('#qa-document .qa-doc mark')?.innerText.includes('crowns')",
                        timeout=WAIT)
    assert selected_view(page) == "Document" and p.locator("#qa-views").get_by_role("tab", name="Page").count() == 0

    # and a document is removed from the Corpus tab
    p.get_by_role("tab", name="Corpus").click()
    p.locator("#qa-remove-doc input").click()
    p.get_by_role("option", name="Kessel Parish Council minutes · council-minutes.docx").click()
    p.locator("#qa-remove").click()
    p.wait_for_function("document.querySelector('#qa-status').innerText.includes('Removed')", timeout=WAIT)
    assert "council-minutes.docx" not in p.locator("#qa-corpus").inner_text()


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("QA_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


#: the highlight inside the document view's box, which has been scrolled to it
SCROLLED = """() => {
    const view = document.querySelector('#qa-document .qa-doc'), mark = view && view.querySelector('mark');
    if (!mark) return false;
    const m = mark.getBoundingClientRect(), v = view.getBoundingClientRect();
    return view.scrollTop > 0 && m.top >= v.top && m.bottom <= v.bottom;
}"""


def test_the_document_view_scrolls_to_the_cited_place(page, tmp_path):  # noqa: F811  (the fixture)
    notes = [f"Note {i}. The survey of field {i} counted {i + 3} hedges and a stone wall on its north side."
             for i in range(160)]
    notes[120] = "The Zorbleck granary was painted violet in 1893 by the miller Oskar Brandt."
    status, _ = upload(page, "field-notes.txt", "Field survey notes\n\n" + "\n\n".join(notes) + "\n")
    assert "Field survey notes" in status
    assert "TXT · " in page.page.locator("#qa-corpus").inner_text()  # the corpus lists the format
    assert "PDF, 3 pages" in page.page.locator("#qa-corpus").inner_text()
    reply = ask(page, "Who painted the Zorbleck granary violet?")
    assert "Oskar Brandt" in reply.inner_text()
    reply.locator("blockquote .qa-cite").click()
    p = page.page
    p.wait_for_function(SCROLLED, timeout=WAIT)
    view = p.locator("#qa-document")
    assert "Oskar Brandt" in view.locator(".qa-doc mark").inner_text()
    # 161 paragraphs: a window of them around the citation, and the view says so
    assert "paragraphs 82–161 of 161, around the citation (the document is long" in _flat(view.inner_text())
    assert selected_view(page) == "Document"  # a text file: its document, no page view
    view.scroll_into_view_if_needed()
    p.screenshot(path=str(_shots(tmp_path) / "document-view.png"))
    # another citation of the same reply scrolls the box to its own place
    reply.get_by_text("Other top passages").click()
    other = reply.locator("details .qa-cite").first
    other.click()
    p.wait_for_function("() => !document.querySelector('#qa-document .qa-doc mark')?.innerText.includes('Oskar')",
                        timeout=WAIT)
    p.wait_for_function(SCROLLED.replace("view.scrollTop > 0 && ", ""), timeout=WAIT)
    assert page.errors == []
