"""The `/ask` API endpoint through gradio_client.

The server is started with the environment variables that widen Gradio's surface set to unsafe
values (CASES.md 1, 2): it must ignore them. The hardening itself is tested in test_security_*.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TREATY
from tests.uiserver import HOSTILE_ENV, start, stop


@pytest.fixture(scope="module")
def server(article_assistant, tmp_path_factory):
    s = start(tmp_path_factory.mktemp("api"), article_assistant.settings.corpus_dir,
              article_assistant.settings.index_dir, env=HOSTILE_ENV)
    yield s
    stop(s)


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server.url, verbose=False)


def _shape(value):
    """The keys of a JSON value, recursively (lists by their first element)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__ if value is not None else None


def test_ask_returns_the_cli_json(client, article_assistant):
    got = client.predict(TREATY, api_name="/ask")
    want = article_assistant.ask(TREATY).to_json()
    assert set(got) == {"question", "query", "answer", "reason", "conversation_document", "passages"}
    assert _shape(got) == _shape(want)
    assert got["answer"]["text"] == want["answer"]["text"]
    assert got["answer"]["citation"] == want["answer"]["citation"]
    assert [p["citation"] for p in got["passages"]] == [p["citation"] for p in want["passages"]]
    assert [p["score"] for p in got["passages"]] == pytest.approx([p["score"] for p in want["passages"]], abs=1e-3)


def test_ask_takes_k_and_history(client, article_assistant):
    got = client.predict("When was it renewed?", 2, [TREATY], api_name="/ask")
    want = article_assistant.ask("When was it renewed?", k=2, history=[TREATY]).to_json()
    assert len(got["passages"]) == 2
    assert got["query"] == want["query"] != got["question"]
    assert got["answer"]["text"] == want["answer"]["text"]
    assert got["answer"]["citation"] == want["answer"]["citation"]
    assert got["answer"]["score"] == pytest.approx(want["answer"]["score"], abs=1e-3)


def test_ask_abstains_off_topic(client):
    got = client.predict("What is the capital of Australia?", api_name="/ask")
    assert got["answer"] is None
    assert got["passages"]


@pytest.mark.parametrize(("args", "message"), [
    (("",), "Please type a question."),
    (("   \x00\x1b  ",), "Please type a question."),
    (("a" * 100_000,), "Question is too long"),
    ((TREATY, 0), "number of passages"),
    ((TREATY, 5, "not a list"), "history must be a list"),
])
def test_bad_input_is_one_clear_error(client, args, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as e:
        client.predict(*args, api_name="/ask")
    assert message in str(e.value)
    assert "Traceback" not in str(e.value) and "site-packages" not in str(e.value) and "/work" not in str(e.value)
    assert client.predict(TREATY, api_name="/ask")["answer"] is not None  # still serving


def test_only_ask_is_listed(server):
    info = httpx.get(server.url + "gradio_api/info", timeout=10).json()
    assert list(info["named_endpoints"]) == ["/ask"]
    assert info["unnamed_endpoints"] == {}
