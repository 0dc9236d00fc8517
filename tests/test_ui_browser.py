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

import httpx
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


def new_page(browser: Any, width: int = 1400, height: int = 1000) -> Page:
    """A page in a context of its own that records its requests, dialogs and script errors."""
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    p = Page(context.new_page())
    p.page.set_default_timeout(WAIT)
    p.page.on("request", lambda r: p.requests.append(r.url))
    p.page.on("dialog", lambda d: (p.dialogs.append(d.message), d.dismiss()))
    p.page.on("pageerror", lambda e: p.errors.append(str(e)))
    return p


@pytest.fixture
def page(browser, server) -> Page:
    p = new_page(browser)
    context = p.page.context
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


def wait_context(p: Page, rank: int) -> Any:
    """The line over the context's views once it names citation [rank] and the views are open."""
    p.page.wait_for_function("""n => { const t = document.querySelector('#qa-context').innerText;
                                       const v = document.querySelector('#qa-viewer');
                                       return t.startsWith(`[${n}]`) && v && v.offsetParent !== null; }""", arg=rank)
    return p.page.locator("#qa-context")


#: each view of an open citation: its tab's name and its panel
VIEWS = {"Page": "#qa-pageview", "Paragraphs": "#qa-paragraphs", "Document": "#qa-document"}


def selected_view(p: Page) -> str:
    return p.page.locator('#qa-views [role="tab"][aria-selected="true"]').inner_text().strip()


def view(p: Page, name: str) -> Any:
    """The panel of the view `name` of the open citation, its tab clicked first."""
    p.page.locator("#qa-views").get_by_role("tab", name=name, exact=True).click()
    panel = p.page.locator(VIEWS[name])
    panel.wait_for(state="visible")
    return panel


def show_context(p: Page, nth: int = 0) -> Any:
    """Clicks the nth source of the Sources list; returns the context panel once it shows it."""
    p.page.get_by_role("tab", name="Sources").click()
    source = p.page.locator("#qa-sources li .qa-cite").nth(nth)
    rank = int(re.match(r"\[(\d+)\]", source.inner_text()).group(1))
    source.click()
    return wait_context(p, rank)


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


def test_one_label_per_source_and_no_raw_scores(page):
    reply = ask(page, TREATY)
    reply.get_by_text("Other top passages").click()  # unfold the other sources
    lines = [_flat(line) for line in reply.inner_text().splitlines() if line.strip()]
    labels = [line for line in lines if re.match(r"\[\d+\] ", line)]
    ranks = [re.match(r"\[(\d+)\]", line).group(1) for line in labels]
    assert sorted(ranks) == [str(n) for n in range(1, 6)], labels  # each of the 5 sources, once
    number = re.search(r"” \[(\d)\]", _flat(reply.inner_text())).group(1)
    label = next(line for line in labels if line.startswith(f"[{number}] "))
    assert re.search(r"characters \d+–\d+, quoted sentence \d+–\d+$", label), label
    assert "score" not in reply.inner_text() and "score" not in page.page.locator("#qa-sources").inner_text()
    confidence = reply.locator(".qa-confidence")  # the scorer's calibrated confidence, in words
    assert confidence.count() == 1 and re.fullmatch(r"Confidence: (high|medium|low)", confidence.inner_text())
    assert re.match(r"confidence 0\.\d\d: ", confidence.get_attribute("title"))  # the number on hover


def test_clicking_a_marker_opens_its_context_at_once(page):
    reply = ask(page, TREATY)
    quote = _flat(reply.locator("blockquote mark").inner_text()).strip("“”")
    marker = reply.locator("blockquote .qa-cite")
    number = int(marker.inner_text().strip("[]"))
    marker.click()  # the only click
    head = wait_context(page, number)
    assert "the quoted sentence" in head.inner_text()
    # one view at a time, the most faithful first: a text file's document, scrolled to the sentence
    assert selected_view(page) == "Document" and page.page.locator("#qa-views").get_by_role("tab", name="Page").count() == 0
    page.page.wait_for_selector("#qa-document .qa-doc mark")
    assert _flat(page.page.locator("#qa-document .qa-doc mark").inner_text()) == quote
    paragraphs = view(page, "Paragraphs")  # the other view, one click away
    text = _flat(paragraphs.inner_text())
    assert "before:" in text and "after:" in text and not page.page.locator("#qa-document").is_visible()
    assert _flat(paragraphs.locator("mark").inner_text()) == quote  # the sentence highlighted in its paragraph
    assert "qa-open" in page.page.locator(f"#qa-sources li .qa-cite-0-{number}").get_attribute("class")
    head = show_context(page, 1 if number == 1 else 0)  # another source, from the list
    page.page.wait_for_function("q => !document.querySelector('#qa-paragraphs mark')?.innerText.includes(q)",
                                arg=quote[:40])
    assert paragraphs.locator("mark").count() == 1 and "the quoted sentence" not in head.inner_text()
    # a [n] inside the folded passages, by keyboard: focus it and press Enter
    reply.get_by_text("Other top passages").click()
    folded = reply.locator("details .qa-cite").last
    rank = int(folded.inner_text().strip("[]"))
    folded.focus()
    folded.press("Enter")
    wait_context(page, rank)
    assert page.errors == []


def test_a_source_of_an_earlier_reply_opens_its_own_context(page, article_assistant):
    first = ask(page, TREATY)
    ask(page, "When did Pyongyang test a nuclear device?")
    assert "Pyongyang" in page.page.locator("#qa-sources").inner_text()
    label = first.locator(".qa-cite").nth(1)  # after the quote's marker: the label of its source
    number = int(label.inner_text().strip("[]"))
    page.page.get_by_role("tab", name="Corpus").click()  # the Sources tab comes back by itself
    page.page.wait_for_function("!document.querySelector('#qa-context').checkVisibility()")
    label.click()
    ctx = wait_context(page, number)
    assert ctx.is_visible()
    # the worst order, made certain: the Corpus tab clicked and the label at once, in one task, before the
    # page has switched tabs (under load a real click can land there): the context still shows
    first.locator(".qa-cite").nth(0).click()  # another citation first, so the label's opening is seen anew
    wait_context(page, int(first.locator(".qa-cite").nth(0).inner_text().strip("[]")))
    label.evaluate("""el => { [...document.querySelectorAll('#qa-side [role=tab]')]
                                  .find(b => b.textContent.trim() === 'Corpus').click();
                              el.click(); }""")
    ctx = wait_context(page, number)
    assert ctx.is_visible()
    assert f"Question: {TREATY}" in _flat(page.page.locator("#qa-sources").inner_text())
    c = article_assistant.ask(TREATY).answer.citation  # the earlier answer's sentence, in its paragraph
    assert f"the quoted sentence, characters {c.start}–{c.end}" in _flat(ctx.inner_text())
    # a source in the list of the earlier reply (after clicking that reply) opens too
    ask(page, "Who wrote the article?")
    first.locator("blockquote").click(position={"x": 10, "y": 10})
    page.page.wait_for_function(f"document.querySelector('#qa-sources').innerText.includes({json.dumps(TREATY)})")
    ctx = show_context(page, 0)
    assert ctx.inner_text().startswith("[1]") and "Question: " + TREATY in _flat(
        page.page.locator("#qa-sources").inner_text())
    assert page.errors == []


def test_enter_asks_shift_enter_breaks_the_line_focus_comes_back(page):
    box = page.page.locator("#qa-question textarea")
    box.click()
    box.press_sequentially("What treaty did China")
    box.press("Shift+Enter")
    box.press_sequentially("and North Korea sign in 1961?")
    assert box.input_value() == "What treaty did China\nand North Korea sign in 1961?"
    assert bots(page).count() == 0  # Shift+Enter did not ask
    box.press("Enter")
    page.page.wait_for_function("""() => document.querySelectorAll('#qa-chat [data-testid="bot"]').length === 1
                                          && document.querySelector('#qa-question textarea').value === ''""")
    assert "Treaty on Friendship" in bots(page).first.inner_text()
    # after an answer asked with the button, the box has the focus again
    page.page.locator("#qa-question textarea").fill(TREATY)
    page.page.locator("#qa-ask").click()
    page.page.wait_for_function("""() => document.querySelectorAll('#qa-chat [data-testid="bot"]').length === 2
        && document.activeElement === document.querySelector('#qa-question textarea')""")


def test_a_narrow_window_stacks_the_sources_and_nothing_overflows(browser, server):
    p = new_page(browser, 400, 800)
    context = p.page.context
    try:
        p.page.goto(server.url)
        p.page.wait_for_selector("#qa-question textarea")
        reply = ask(p, TREATY)
        reply.locator("blockquote .qa-cite").click()
        wait_context(p, int(reply.locator("blockquote .qa-cite").inner_text().strip("[]")))
        p.page.wait_for_selector("#qa-document .qa-doc mark")  # the document view is open too
        reply.get_by_text("Other top passages").click()
        sizes = p.page.evaluate("""() => {
            const box = s => document.querySelector(s).getBoundingClientRect();
            return {scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
                    chat: box('#qa-chat').bottom, sources: box('#qa-sources').top,
                    wide: [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 401
                          && e.getClientRects().length && !e.closest('.hidden')).map(e => e.tagName + '.' + e.className)};
        }""")
        assert sizes["scroll"] <= sizes["client"], sizes
        assert sizes["sources"] > sizes["chat"], "the sources sit under the chat"
        assert sizes["wide"] == [], sizes["wide"]
    finally:
        context.close()
    assert [u for u in p.requests if not _loopback(u)] == []


def test_the_server_log_is_quiet_while_answering(page, server):
    start = server.output()
    assert re.search(r"INFO qa\.ui: index .*: \d+ passages from 1 document\(s\)", start)
    assert "serving on" in start
    questions = [TREATY, "When did Pyongyang test a nuclear device?", "Who wrote the article?",
                 "Why did Russia decide not to renew the treaty?", "What is the capital of Australia?"] * 4
    for q in questions:  # 20 questions through the page
        ask(page, q)
    show_context(page, 0)
    during = server.output()[len(start):]
    assert during == "", during  # no line per question, no progress bar
    assert not re.search(r"\r|it/s|\d+%\||Loading weights|Batches", start), start
    httpx.get(server.url, headers={"Host": "evil.example"})  # a refused request: one line
    logged = server.output()[len(start):].splitlines()
    assert len(logged) == 1 and "refused GET" in logged[0] and "evil.example" in logged[0], logged


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
    assert [set(t) for t in turns] == [{"question", "query", "answer", "reason", "conversation_document", "passages"}]
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
    show_context(page)
    context = _flat(view(page, "Paragraphs").inner_text())
    assert "<img src=x onerror=alert(1)>" in context
    assert "[x](javascript:alert(1))" in context and "![p](http://10.0.0.1/p.png)" in context
    question = "Was <img src=x onerror=alert(2)> or [x](javascript:alert(2)) or **this** on the Quillon ferry?"
    ask(page, question)
    assert question in _flat(page.page.locator('#qa-chat [data-testid="user"]').last.inner_text())
    page.page.get_by_text("More nearby passages").or_(page.page.get_by_text("Other top passages")).first.click()
    page.page.wait_for_timeout(300)  # let any injected handler fire, if one existed
    # what is counted is the page once every panel shows its last reply: Gradio draws its own spinner
    # (an SVG in a status tracker) over a panel while its output is on its way, on a busy machine
    # still after the reply is there; that spinner is the page's, never the document's
    page.page.wait_for_function("""() => ![...document.querySelectorAll('[data-testid="status-tracker"]')]
                                               .some(t => t.querySelector('svg'))""")
    found = page.page.evaluate("""() => {
        const scope = [...document.querySelectorAll(
            '#qa-chat, #qa-sources, #qa-context, #qa-paragraphs, #qa-document, #qa-corpus, #qa-status')];
        const all = scope.flatMap(el => [el, ...el.querySelectorAll('*')]);
        return {
          scripts: all.filter(e => e.tagName === 'SCRIPT').length,
          handlers: all.filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).map(e => e.tagName),
          images: all.filter(e => e.tagName === 'IMG').map(e => e.getAttribute('src')),
          links: all.filter(e => e.tagName === 'A').map(e => e.getAttribute('href')),
          forms: all.filter(e => ['FORM', 'BUTTON', 'SVG'].includes(e.tagName.toUpperCase())
                                 && e.closest('#qa-chat .message-content, #qa-context, #qa-paragraphs, #qa-document, '
                                              + '#qa-corpus')
                                 && !e.closest('[data-testid="status-tracker"]'))
                    .map(e => `${e.tagName} in ${e.parentElement.tagName}.${e.parentElement.className}`),
          styled: all.filter(e => (e.getAttribute('style') || '').includes('fixed')).length,
        };
    }""")
    assert found == {"scripts": 0, "handlers": [], "images": [], "links": [], "forms": [], "styled": 0}


def test_a_watched_folder_is_listed_while_the_page_is_open(browser, article_assistant, tmp_path):
    """`qa serve --watch`: a file dropped into the corpus shows in the open page's Corpus panel and
    document picker within seconds, no question asked; the checks leave the log quiet."""
    s = start(tmp_path, article_assistant.settings.corpus_dir, article_assistant.settings.index_dir, args=["--watch"])
    p = new_page(browser)
    context = p.page.context
    try:
        p.page.goto(s.url)
        p.page.get_by_role("tab", name="Corpus").click()
        p.page.wait_for_function("document.querySelector('#qa-corpus').innerText.includes('Uneasy Partnership')")
        p.page.wait_for_timeout(6_000)  # a check or two with nothing new
        quiet = s.output()
        (s.corpus / "lighthouse.txt").write_text(LIGHTHOUSE, encoding="utf-8")
        p.page.wait_for_function("document.querySelector('#qa-corpus').innerText.includes('lighthouse.txt')")
        p.page.locator("#qa-docs input").click()
        p.page.get_by_role("option", name=re.compile("lighthouse")).wait_for()
        logged = s.output()[len(quiet):]
        assert "added lighthouse.txt" in logged
        assert [line for line in logged.splitlines() if "lighthouse" not in line and "refresh" not in line] == [], logged
    finally:
        context.close()
        stop(s)
    assert p.dialogs == [] and [u for u in p.requests if not _loopback(u)] == []
