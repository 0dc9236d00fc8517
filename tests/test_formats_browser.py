"""The page with the reader's own documents, in a real Chromium: several files uploaded at once (a
PDF with running headers among them), a question about the PDF answered with its page, the
document picker limiting the search, and a document removed."""

from __future__ import annotations

import pytest

from tests.fixtures_formats import make_docx, make_pdf
from tests.test_ui_browser import WAIT, ask, browser, page  # noqa: F401  (fixtures)
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

    # the picker limits the next question to the Word document
    p.locator("#qa-docs input").click()
    p.get_by_role("option", name="Kessel Parish Council minutes · council-minutes.docx").click()
    p.keyboard.press("Escape")
    reply = ask(page, "How much will it cost?")
    text = reply.inner_text()
    assert "three million crowns" in text and "Results > Costs" in text, text
    assert "Varrow" not in text

    # and a document is removed from the Corpus tab
    p.get_by_role("tab", name="Corpus").click()
    p.locator("#qa-remove-doc input").click()
    p.get_by_role("option", name="Kessel Parish Council minutes · council-minutes.docx").click()
    p.locator("#qa-remove").click()
    p.wait_for_function("document.querySelector('#qa-status').innerText.includes('Removed')", timeout=WAIT)
    assert "council-minutes.docx" not in p.locator("#qa-corpus").inner_text()
