"""The short answer inside the quote through a real `qa serve`: `POST /api/ask` carries it (as its
OpenAPI schema says) and the chat page shows its words in bold inside the quote (a browser test);
none for a why-question."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.test_span import WHEN, WHY
from tests.test_ui_browser import ask, browser, page  # noqa: F401  (fixtures, and the page's own helper)
from tests.uiserver import Server, start, stop


@pytest.fixture(scope="module")
def server(article_assistant, tmp_path_factory) -> Server:
    s = start(tmp_path_factory.mktemp("span"), article_assistant.settings.corpus_dir, article_assistant.settings.index_dir)
    yield s
    stop(s)


def _flat(s: str) -> str:
    return " ".join(s.split())


def test_the_api_returns_the_span_its_schema_describes(server, article_assistant):
    r = httpx.post(server.url + "api/ask", json={"question": WHEN}, timeout=60)
    assert r.status_code == 200
    answer = r.json()["answer"]
    assert answer["span"] == article_assistant.ask(WHEN).to_json()["answer"]["span"]
    assert answer["text"][answer["span"]["start"] : answer["span"]["end"]] == answer["span"]["text"]
    schemas = httpx.get(server.url + "openapi.json", timeout=30).json()["components"]["schemas"]
    assert set(schemas["Span"]["properties"]) == set(answer["span"])
    described = schemas["Result"]["properties"]["answer"]["oneOf"][1]["properties"]
    assert described["span"]["oneOf"][1] == {"$ref": "#/components/schemas/Span"}
    why = httpx.post(server.url + "api/ask", json={"question": WHY}, timeout=60).json()
    assert why["answer"] is not None and why["answer"]["span"] is None


@pytest.mark.browser
def test_the_page_shows_the_short_answer_in_bold_inside_the_quote(page, article_assistant):  # noqa: F811
    expected = article_assistant.ask(WHEN).answer
    reply = ask(page, WHEN)
    quote = reply.locator("blockquote mark")
    assert _flat(quote.inner_text()).strip("“”") == _flat(expected.text)  # the quote is still the sentence
    bold = quote.locator("strong")
    assert bold.count() == 1 and _flat(bold.inner_text()) == expected.span.text
    weight = bold.evaluate("e => getComputedStyle(e).fontWeight")
    assert int(weight) >= 600
    why = ask(page, WHY)
    assert why.locator("blockquote mark").count() == 1 and why.locator("blockquote strong").count() == 0
    assert re.search(r"” \[\d\]", _flat(why.inner_text()))
    assert page.errors == []
