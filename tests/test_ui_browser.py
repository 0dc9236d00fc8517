"""The chat page in a real browser: Debian's Chromium, driven by playwright, against `qa serve`.

Every page records the requests it makes and the dialogs it opens; after each test none may have
left loopback and none may have opened.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.uiserver import Server, start, stop

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
TREATY = "What treaty did China and North Korea sign in 1961?"
ARTICLE_TITLE = "China and North Korea: The Uneasy Partnership"
WAIT = 90_000  # ms; a generous ceiling for any one step, not a performance check

LIGHTHOUSE = """The Zorbleck Lighthouse

The Zorbleck lighthouse stands on a basalt spit at the mouth of the Varrow estuary. It was painted green in \
1887 by the keeper Ada Fenwick, who wanted ships to tell it apart from the white tower at Kessel Point. Its \
lamp burned whale oil until 1921, when an electric lamp replaced it.
"""

HOSTILE = """Harbour notes

The harbour office filed a report about the Quillon ferry. The report said <script>alert(1)</script> was \
found painted on the hull of the Quillon ferry. A second mark read <img src=x onerror=alert(1)> beside a \
link [x](javascript:alert(1)) and an image ![p](http://10.0.0.1/p.png) and <img src=http://10.0.0.1/p.png>.

Inspectors also found <form action=http://10.0.0.1/><button>Go</button></form> and \
<div style="position:fixed;top:0;left:0;width:100%;height:100%">cover</div> on the pier, with notes \
pointing to http://10.0.0.1/x and www.example.com and x@example.com.
"""


@dataclass
class Page:
    """A playwright page with what it did: requests, dialogs and script errors."""

    page: Any
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def server(article_assistant, tmp_path_factory) -> Server:
    s = start(tmp_path_factory.mktemp("ui"), article_assistant.settings.corpus_dir,
              article_assistant.settings.index_dir)
    yield s
    stop(s)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/setup --browser installs it)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


def _loopback(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("data", "blob", "about") or parsed.hostname in ("127.0.0.1", "localhost", "::1")


@pytest.fixture
def page(browser, server) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    p = Page(context.new_page())
    p.page.set_default_timeout(WAIT)
    p.page.on("request", lambda r: p.requests.append(r.url))
    p.page.on("dialog", lambda d: (p.dialogs.append(d.message), d.dismiss()))
    p.page.on("pageerror", lambda e: p.errors.append(str(e)))
    p.page.goto(server.url)
    p.page.wait_for_selector("#qa-question textarea")
    yield p
    context.close()
    assert p.dialogs == [], "a dialog opened: something ran"
    assert [u for u in p.requests if not _loopback(u)] == []


def bots(p: Page) -> Any:
    return p.page.locator('#qa-chat [data-testid="bot"]')


def ask(p: Page, question: str) -> Any:
    """Types a question, presses Ask and returns the new reply once it is there."""
    before = bots(p).count()
    p.page.locator("#qa-question textarea").fill(question)
    p.page.locator("#qa-ask").click()
    p.page.wait_for_function(
        """n => document.querySelectorAll('#qa-chat [data-testid="bot"]').length > n
               && document.querySelector('#qa-question textarea').value === ''""", arg=before)
    return bots(p).nth(before)


def upload(p: Page, name: str, content: str) -> tuple[str, list[str]]:
    """Adds a file through the Corpus tab; returns the final status and the progress messages seen."""
    p.page.get_by_role("tab", name="Corpus").click()
    p.page.evaluate("""() => {
        window.__progress = [];
        const tab = document.querySelector('#qa-corpus-tab');
        new MutationObserver(() => window.__progress.push(tab.innerText)).observe(
            tab, {subtree: true, childList: true, characterData: true});
    }""")
    p.page.locator("#qa-upload input[type=file]").set_input_files(
        {"name": name, "mimeType": "text/plain", "buffer": content.encode()})
    p.page.wait_for_function("document.querySelector('#qa-status').innerText.includes('Added')")
    return p.page.locator("#qa-status").inner_text(), p.page.evaluate("window.__progress")


def show_context(p: Page, nth: int | None = None) -> Any:
    p.page.get_by_role("tab", name="Sources").click()
    if nth is not None:
        p.page.locator("#qa-citation label").nth(nth).click()
    p.page.locator("#qa-context-btn").click()
    p.page.wait_for_function("""n => { const t = document.querySelector('#qa-context').innerText;
                                       return t.includes('cited:') && (n === null || t.startsWith(`[${n}]`)); }""",
                             arg=(nth + 1) if nth is not None else None)
    return p.page.locator("#qa-context")


def _flat(s: str) -> str:
    return " ".join(s.split())


def test_answer_quotes_the_sentence_with_its_citation(page, article_assistant):
    reply = ask(page, TREATY)
    text = _flat(reply.inner_text())
    assert "Treaty on Friendship, Cooperation, and Mutual Assistance" in text
    assert re.search(r"” \[\d\]", text), "the quote carries a numbered marker"
    assert re.search(rf"\[\d\] {re.escape(ARTICLE_TITLE)} · paragraph \d+ · characters \d+–\d+", text)
    quote = _flat(reply.locator("blockquote mark").inner_text()).strip("“”")
    assert quote == _flat(article_assistant.ask(TREATY).answer.text)
    # the answer sentence is highlighted inside its passage too
    assert any(quote in _flat(m) for m in reply.locator("p mark").all_inner_texts())
    sources = page.page.locator("#qa-sources").inner_text()
    assert TREATY in sources and ARTICLE_TITLE in sources
    assert page.errors == []


def test_show_in_context(page):
    reply = ask(page, TREATY)
    quote = _flat(reply.locator("blockquote mark").inner_text()).strip("“”")
    number = re.search(r"” \[(\d)\]", _flat(reply.inner_text())).group(1)
    ctx = show_context(page, int(number) - 1)
    text = _flat(ctx.inner_text())
    assert "before:" in text and "after:" in text
    assert quote in _flat(ctx.locator("mark").inner_text())
    other = 1 if number == "1" else 0  # another citation
    ctx = show_context(page, other)
    assert ctx.locator("mark").count() == 1
    assert ctx.inner_text().startswith(f"[{other + 1}]")


def test_follow_up_uses_the_conversation(page):
    first = ask(page, TREATY)
    assert "Searched for" not in first.inner_text()
    reply = ask(page, "When was it renewed?")
    text = _flat(reply.inner_text())
    assert f"Searched for: {TREATY} When was it renewed?" in text
    assert "renew" in text.lower()
    assert "Searched for" in page.page.locator("#qa-sources").inner_text()
    # clicking an earlier reply shows its sources
    first.locator("blockquote").click()
    page.page.wait_for_function("!document.querySelector('#qa-sources').innerText.includes('Searched for')")
    assert f"Question: {TREATY}" in _flat(page.page.locator("#qa-sources").inner_text())


def test_off_topic_question_abstains(page):
    reply = ask(page, "What is the capital of Australia?")
    text = reply.inner_text()
    assert "The documents do not answer this. Nothing in them seems to be about this question." in _flat(text)
    assert ARTICLE_TITLE in text, "the nearest passages are still offered"
    assert reply.locator("mark").count() == 0
    assert "none" in page.page.locator("#qa-sources").inner_text()


def test_examples_setting_export_and_clear(page):
    page.page.locator("#qa-k input[type=number]").fill("2")
    page.page.locator("#qa-k input[type=number]").press("Enter")
    before = bots(page).count()
    page.page.get_by_text("Who wrote the article?", exact=True).click()
    page.page.wait_for_function("n => document.querySelectorAll('#qa-chat [data-testid=\"bot\"]').length > n",
                                arg=before)
    reply = bots(page).last
    assert "Hossein Ebrahim Khani" in reply.inner_text()
    assert "Other top passages (1)" in reply.inner_text()

    with page.page.expect_download() as md:
        page.page.locator("#qa-export-md").click()
    exported = Path(md.value.path()).read_text(encoding="utf-8")
    assert "## 1. Who wrote the article?" in exported and "[^1-1]:" in exported and ARTICLE_TITLE in exported
    with page.page.expect_download() as js:
        page.page.locator("#qa-export-json").click()
    turns = json.loads(Path(js.value.path()).read_text(encoding="utf-8"))["turns"]
    assert [set(t) for t in turns] == [{"question", "query", "answer", "reason", "passages"}]
    assert len(turns[0]["passages"]) == 2

    page.page.locator("#qa-clear").click()
    page.page.wait_for_function("document.querySelectorAll('#qa-chat [data-testid=\"bot\"]').length === 0")
    assert "Ask a question" in page.page.locator("#qa-sources").inner_text()


def test_the_page_stays_on_loopback(page):
    ask(page, TREATY)
    show_context(page)
    assert len(page.requests) > 5
    assert all(_loopback(u) for u in page.requests), [u for u in page.requests if not _loopback(u)]


def test_upload_a_document_and_ask_about_it(page):
    status, seen = upload(page, "lighthouse.txt", LIGHTHOUSE)
    assert "The Zorbleck Lighthouse" in status
    assert any(re.search(r"(reading documents|embedding|saving the index).*%", s) for s in seen), "progress shown"
    assert "lighthouse.txt" in page.page.locator("#qa-corpus").inner_text()
    reply = ask(page, "Who painted the Zorbleck lighthouse green?")
    assert "Ada Fenwick" in _flat(reply.locator("blockquote").inner_text())
    assert "The Zorbleck Lighthouse" in reply.inner_text()
    # a reader who opens the page afterwards sees the new document too
    other = page.page.context.browser.new_context().new_page()
    try:
        other.goto(page.page.url)
        other.get_by_role("tab", name="Corpus").click()
        other.wait_for_function("document.querySelector('#qa-corpus').innerText.includes('lighthouse.txt')",
                                timeout=WAIT)
    finally:
        other.context.close()


def test_markup_in_a_document_is_shown_never_run(page):
    upload(page, "<svg onload=alert(1)>.txt", HOSTILE)
    corpus = page.page.locator("#qa-corpus").inner_text()
    assert "Harbour notes" in corpus
    reply = ask(page, "What was found painted on the hull of the Quillon ferry?")
    text = _flat(reply.inner_text())
    assert "<script>alert(1)</script>" in text
    context = _flat(show_context(page).inner_text())
    assert "<img src=x onerror=alert(1)>" in context
    assert "[x](javascript:alert(1))" in context and "![p](http://10.0.0.1/p.png)" in context
    question = "Was <img src=x onerror=alert(2)> or [x](javascript:alert(2)) or **this** on the Quillon ferry?"
    ask(page, question)
    assert question in _flat(page.page.locator('#qa-chat [data-testid="user"]').last.inner_text())
    page.page.get_by_text("More nearby passages").or_(page.page.get_by_text("Other top passages")).first.click()
    page.page.wait_for_timeout(300)  # let any injected handler fire, if one existed
    found = page.page.evaluate("""() => {
        const scope = [...document.querySelectorAll('#qa-chat, #qa-sources, #qa-context, #qa-corpus, #qa-status')];
        const all = scope.flatMap(el => [el, ...el.querySelectorAll('*')]);
        return {
          scripts: all.filter(e => e.tagName === 'SCRIPT').length,
          handlers: all.filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).map(e => e.tagName),
          images: all.filter(e => e.tagName === 'IMG').map(e => e.getAttribute('src')),
          links: all.filter(e => e.tagName === 'A').map(e => e.getAttribute('href')),
          forms: all.filter(e => ['FORM', 'BUTTON', 'SVG'].includes(e.tagName.toUpperCase())
                                 && e.closest('#qa-chat .message-content, #qa-context, #qa-corpus')).length,
          styled: all.filter(e => (e.getAttribute('style') || '').includes('fixed')).length,
        };
    }""")
    assert found == {"scripts": 0, "handlers": [], "images": [], "links": [], "forms": 0, "styled": 0}
