"""The REST API next to the chat page (`POST /api/ask`, `GET /api/documents`, `/openapi.json`).

One real server for the module, with two worker threads and room for two waiting questions, and
the "probe" hook: it records how many Assistant.ask calls ever ran at once inside the server, and
slows each call down while its flag is set, so parallelism is observed, not timed. The login is
tested against test_security_auth's server (tests/test_security_auth.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import TREATY
from tests.uiserver import Server, start, stop

THREADS, WAITING = 2, 2
FOLLOW_UP = "When was it renewed?"


@pytest.fixture(scope="module")
def server(article_assistant, tmp_path_factory) -> Server:
    s = start(tmp_path_factory.mktemp("rest"), article_assistant.settings.corpus_dir,
              article_assistant.settings.index_dir, hooks=("probe",),
              env={"QA_API_THREADS": str(THREADS), "QA_QUEUE_SIZE": str(WAITING)})
    yield s
    stop(s)


def ask(server: Server, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(server.url + "api/ask", json=body, timeout=60, **kwargs)


def cli_json(server: Server, *args: str) -> dict[str, Any]:
    """`qa ask --json` over the server's own corpus and index, in a process of its own."""
    run = subprocess.run([sys.executable, "-m", "qa", "ask", "--json", "--corpus", str(server.corpus),
                          "--index", str(server.index), *args],
                         capture_output=True, text=True, timeout=240, env={**os.environ, "QA_TORCH_THREADS": "1"})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_ask_returns_exactly_the_cli_json(server):
    r = ask(server, {"question": TREATY})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == cli_json(server, TREATY)


def test_a_follow_up_uses_the_history(server):
    r = ask(server, {"question": FOLLOW_UP, "k": 2, "history": [TREATY]})
    assert r.status_code == 200
    got = r.json()
    assert got == cli_json(server, FOLLOW_UP, "-k", "2", "--history", TREATY)
    assert got["query"] != got["question"] and TREATY in got["query"] and len(got["passages"]) == 2


def test_documents_are_the_assistants(server, article_assistant):
    r = httpx.get(server.url + "api/documents", timeout=30)
    assert r.status_code == 200 and r.json() == article_assistant.documents()


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"question": ""}, 422, "Please type a question."),
    ({"question": "   \x00\x1b\u200b  "}, 422, "Please type a question."),
    ({}, 422, "Please type a question."),
    ({"question": ["a list"]}, 422, "Please type a question."),
    ({"question": "a" * 2001}, 422, "Question is too long (2001 characters; the limit is 2000)."),
    ({"question": TREATY, "k": 0}, 422, "The number of passages must be a whole number from 1 to 50."),
    ({"question": TREATY, "k": 51}, 422, "The number of passages must be a whole number from 1 to 50."),
    ({"question": TREATY, "k": "5"}, 422, "The number of passages must be a whole number from 1 to 50."),
    ({"question": TREATY, "k": True}, 422, "The number of passages must be a whole number from 1 to 50."),
    ({"question": TREATY, "history": "not a list"}, 422,
     "history must be a list of at most 50 earlier questions (strings)."),
    ({"question": TREATY, "history": ["q"] * 51}, 422,
     "history must be a list of at most 50 earlier questions (strings)."),
    ({"question": TREATY, "history": [1]}, 422, "history must be a list of at most 50 earlier questions (strings)."),
    ({"question": TREATY, "hisotry": []}, 400, 'Unknown field "hisotry"; the body takes question, k, history and docs.'),
    ([TREATY], 400, 'The body must be a JSON object such as {"question": "Who wrote it?"}.'),
    ("just a string", 400, 'The body must be a JSON object such as {"question": "Who wrote it?"}.'),
])
def test_bad_input_is_one_line_with_its_status(server, body, status, message):
    r = ask(server, body)
    assert (r.status_code, r.json()) == (status, {"error": message})


def test_bad_requests_are_one_line_too(server):
    url = server.url + "api/ask"
    cases = [
        (httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}), 400, "JSON object"),
        (httpx.post(url, content=b"\xff\xfe", headers={"content-type": "application/json"}), 400, "JSON object"),
        (httpx.post(url, data={"question": TREATY}), 415, "Content-Type: application/json"),
        (httpx.get(url), 405, "Use POST for /api/ask."),
        (httpx.post(server.url + "api/documents"), 405, "Use GET for /api/documents."),
        (httpx.get(server.url + "api/nothing-here"), 404, "No such API route"),
    ]
    for r, status, message in cases:
        assert r.status_code == status, (r.request.url, r.text)
        error = r.json()["error"]
        assert message in error and "\n" not in error and "Traceback" not in error


def test_docs_limits_the_question_and_is_validated(server):
    """`docs` (ask within some documents) is checked, and limits the search to the named ones."""
    from qa.serve import rest

    assert ask(server, {"question": TREATY, "docs": "all"}).json() == {
        "error": f"docs must be a list of 1 to {rest.MAX_DOCS} document names (strings)."}
    doc = httpx.get(server.url + "api/documents", timeout=30).json()[0]["doc"]
    r = ask(server, {"question": TREATY, "docs": [doc.rsplit("/", 1)[-1]]})
    assert r.status_code == 200 and {p["citation"]["doc"] for p in r.json()["passages"]} == {doc}
    r = ask(server, {"question": TREATY, "docs": ["no-such-document.pdf"]})
    assert r.status_code == 422 and "No document is called 'no-such-document.pdf'" in r.json()["error"]


def test_the_host_and_size_guards_apply(server):
    r = httpx.post(server.url + "api/ask", json={"question": TREATY}, headers={"host": "evil.example"})
    assert r.status_code == 400
    big = json.dumps({"question": "a" * (2 << 20)}).encode()
    r = httpx.post(server.url + "api/ask", content=big, headers={"content-type": "application/json"}, timeout=30)
    assert (r.status_code, r.json()) == (413, {"error": "Request body too large (limit 1048576 bytes)."})

    def chunks():  # no Content-Length: the limit applies while the body streams in
        for _ in range(40):
            yield b"a" * 65536

    r = httpx.post(server.url + "api/ask", content=chunks(), headers={"content-type": "application/json"}, timeout=30)
    assert (r.status_code, r.json()) == (413, {"error": "Request body too large (limit 1048576 bytes)."})


def _conforms(value: Any, schema: dict[str, Any], spec: dict[str, Any], where: str = "$") -> None:
    """A small JSON Schema check (type, properties, required, items, oneOf, $ref): enough to hold
    the description to what the server really sends."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "oneOf" in schema:
        failures = 0
        for option in schema["oneOf"]:
            try:
                _conforms(value, option, spec, where)
            except AssertionError:
                failures += 1
        assert failures == len(schema["oneOf"]) - 1, where
        return
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    python = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "null": type(None)}
    if kinds:
        assert any(isinstance(value, python[k]) and not isinstance(value, bool) for k in kinds), (where, value)
    if isinstance(value, dict):
        assert set(schema.get("required", [])) <= set(value), where
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(schema["properties"]), where
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                _conforms(value[key], sub, spec, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _conforms(item, schema["items"], spec, f"{where}[{i}]")


def test_openapi_describes_the_api(server):
    spec = httpx.get(server.url + "openapi.json", timeout=30).json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {"/api/ask", "/api/documents", "/api/context", "/api/page"}  # page view: test_pageview_api
    post = spec["paths"]["/api/ask"]["post"]
    request = post["requestBody"]["content"]["application/json"]["schema"]
    assert set(spec["components"]["schemas"]["AskRequest"]["properties"]) == {"question", "k", "history", "docs"}
    assert {"200", "400", "413", "422", "503"} <= set(post["responses"])
    _conforms({"question": TREATY, "k": 3, "history": [TREATY]}, request, spec)
    for question in (TREATY, "What is the capital of Australia?"):
        result = ask(server, {"question": question, "history": [TREATY]}).json()
        _conforms(result, post["responses"]["200"]["content"]["application/json"]["schema"], spec)
    _conforms(ask(server, {"question": ""}).json(), post["responses"]["422"]["content"]["application/json"]["schema"],
              spec)
    documents = httpx.get(server.url + "api/documents", timeout=30).json()
    _conforms(documents, spec["paths"]["/api/documents"]["get"]["responses"]["200"]["content"]["application/json"]
              ["schema"], spec)
    cited = ask(server, {"question": TREATY}).json()["answer"]["citation"]
    ctx = httpx.get(server.url + "api/context", params={k: cited[k] for k in ("doc", "start", "end")}, timeout=30)
    _conforms(ctx.json(), spec["paths"]["/api/context"]["get"]["responses"]["200"]["content"]["application/json"]
              ["schema"], spec)
    for page in ("docs", "redoc", "docs/oauth2-redirect"):  # no documentation page (it would load a CDN's scripts)
        assert httpx.get(server.url + page, timeout=30).status_code == 404


def _side_by_side(server: Server, n: int) -> list[httpx.Response]:
    barrier = threading.Barrier(n)

    def one(_i: int) -> httpx.Response:
        barrier.wait()
        return ask(server, {"question": TREATY, "k": 3})

    server.slow_flag.write_text("")
    try:
        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(one, range(n)))
    finally:
        server.slow_flag.unlink()


def test_questions_run_side_by_side_up_to_the_thread_count(server):
    """Inside the server, as many Assistant.ask calls run at once as the API has threads, and
    never more; every request gets its answer."""
    answers = _side_by_side(server, THREADS + WAITING)
    assert [r.status_code for r in answers] == [200] * len(answers)
    assert all(r.json()["answer"]["text"] for r in answers)
    assert server.most_in_flight() == THREADS


def test_past_the_waiting_room_a_request_is_refused_at_once(server):
    answers = _side_by_side(server, 3 * (THREADS + WAITING))
    codes = [r.status_code for r in answers]
    assert set(codes) == {200, 503} and codes.count(200) >= THREADS + WAITING, codes
    for r in answers:
        if r.status_code == 503:
            assert r.headers["retry-after"] == "1"
            assert r.json() == {"error": f"The server is busy ({WAITING} questions already waiting); "
                                         "try again in a moment."}
        else:
            assert r.json()["passages"]
    assert server.most_in_flight() == THREADS
    assert ask(server, {"question": TREATY}).status_code == 200  # and then it serves as before


def test_the_page_api_still_answers_beside_it(server):
    from gradio_client import Client

    got = Client(server.url, verbose=False).predict(TREATY, api_name="/ask")
    assert got == ask(server, {"question": TREATY}).json()


@pytest.mark.parametrize(("value", "threads"), [(None, 4), ("", 4), ("1", 1), ("64", 64)])
def test_the_thread_count_comes_from_the_environment(monkeypatch, value, threads):
    from qa.serve import rest

    if value is None:
        monkeypatch.delenv("QA_API_THREADS", raising=False)
    else:
        monkeypatch.setenv("QA_API_THREADS", value)
    assert rest.threads_setting() == threads


@pytest.mark.parametrize("value", ["0", "65", "four", "-1", "2.5"])
def test_a_bad_thread_count_is_one_line(monkeypatch, value):
    from qa.errors import InputError
    from qa.serve import rest

    monkeypatch.setenv("QA_API_THREADS", value)
    with pytest.raises(InputError, match="QA_API_THREADS must be a whole number from 1 to 64"):
        rest.threads_setting()
