"""What the real server accepts: questions through the API and the page's own handler, hostile
document text on its way back, and uploads (CASES.md 10-12, 15-17, 19).

One server for the module, over the article and a document full of markup whose file name is
markup too. A spy inside the server records every model.encode call, so "no work was done" is
checked, not assumed. The upload tests change the corpus and come last.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import psutil
import pytest

from qa.ingest.documents import SUFFIXES
from qa.serve.guard import MAX_UPLOAD_BYTES
from tests.uiserver import Server, call, join, start, stop

TREATY = "What treaty did China and North Korea sign in 1961?"
LIMIT = 2000
EMPTY = "Please type a question."
HOSTILE_NAME = "<svg onload=alert(1)>.txt"
HOSTILE = """Harbour notes

The harbour office filed a report about the Quillon ferry. The report said <script>alert(1)</script> was \
found painted on the hull of the Quillon ferry. A second mark read <img src=x onerror=alert(1)> beside a \
link [x](javascript:alert(1)) and an image ![p](http://10.0.0.1/p.png) and <img src=http://10.0.0.1/p.png>.

Inspectors also found <form action=http://10.0.0.1/><button>Go</button></form> and \
<div style="position:fixed;top:0;left:0;width:100%;height:100%">cover</div> on the pier.
"""
FERRY = "What was found painted on the hull of the Quillon ferry?"
# the only markup the page itself writes (render.py); everything else must arrive escaped
OURS = re.compile(r'</?mark>|</?strong>|</?details>|</?summary>|<div class="qa-around">|<div class="qa-(page|doc) qa-view">|</div>|</span>'
                  r'|<span class="qa-cite qa-cite-\d+-\d+( qa-open)?" role="button" tabindex="0" '
                  r'title="Show \[\d+\] in its context">|<span class="qa-confidence" title="confidence [\d.]+: [a-z ;]+">')


@pytest.fixture(scope="module")
def server(article_corpus, tmp_path_factory) -> Server:
    tmp = tmp_path_factory.mktemp("input")
    corpus = tmp / "docs"
    corpus.mkdir()
    for doc in article_corpus.iterdir():
        (corpus / doc.name).write_bytes(doc.read_bytes())
    (corpus / HOSTILE_NAME).write_text(HOSTILE, encoding="utf-8")
    s = start(tmp, corpus, hooks=("spy",))
    yield s
    stop(s)


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server.url, verbose=False)


def _strings(value) -> list[str]:
    """Every string inside a component value, except the download buttons' file records."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        if "path" in value and "url" in value:
            return []
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _error(done: dict) -> str:
    assert done["success"] is False, done
    return done["output"].get("error") or ""


def _still_serving(server: Server) -> None:
    assert server.proc.poll() is None
    status, event, data = call(server, "ask", {"data": [TREATY]})
    assert event == "complete" and data[0]["answer"]["text"]


# -- 15. empty questions --------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["", "   \n\t ", "\x00\x01\x1b", None, "\u200b\u202e\ufeff", "\x1b[31m"])
def test_empty_question_is_refused_before_any_work(server, client, question):
    from gradio_client.exceptions import AppError

    before = len(server.encodes())
    t0 = time.monotonic()
    status, event, data = call(server, "ask", {"data": [question]})
    assert (status, event, data["error"]) == (200, "error", EMPTY)
    assert _error(join(server, "respond", [question, 3, None])) == EMPTY  # the page's own handler
    with pytest.raises(AppError, match=re.escape(EMPTY)):
        client.predict(question, api_name="/ask")
    assert time.monotonic() - t0 < 5  # three round trips; "at once", generously
    assert len(server.encodes()) == before, "the model ran for an empty question"


# -- 16. huge input -------------------------------------------------------------------------------


def test_huge_question_is_refused_at_once(server, client):
    from gradio_client.exceptions import AppError

    before = len(server.encodes())
    t0 = time.monotonic()
    with pytest.raises(AppError) as e:
        client.predict("a" * 100_000, api_name="/ask")
    assert time.monotonic() - t0 < 5
    assert f"Question is too long (100000 characters; the limit is {LIMIT})." in str(e.value)
    message = _error(join(server, "respond", ["b" * 100_000, 3, None]))
    assert message == f"Question is too long (100000 characters; the limit is {LIMIT})."
    _, event, data = call(server, "ask", {"data": ["word " * 600]})  # long after clean-up too
    assert event == "error" and data["error"] == f"Question is too long (2999 characters; the limit is {LIMIT})."
    assert len(server.encodes()) == before


def test_big_bodies_get_413_and_memory_stays_flat(server):
    proc = psutil.Process(server.proc.pid)
    _still_serving(server)
    baseline = proc.memory_info().rss
    big = b'{"data": ["' + b"a" * (5 << 20) + b'"]}'

    def chunks():
        for _ in range(40):
            yield b"a" * (128 << 10)

    with httpx.Client(timeout=30) as c:
        for _ in range(5):
            for route in ("gradio_api/call/ask", "gradio_api/queue/join"):
                r = c.post(server.url + route, content=big, headers={"content-type": "application/json"})
                assert r.status_code == 413 and "Request body too large" in r.text
            r = c.post(server.url + "gradio_api/call/ask", content=chunks(), headers={"content-type": "application/json"})
            assert r.status_code == 413  # no Content-Length: counted as it streams in
            _, event, data = call(server, "ask", {"data": ["q" * 900_000]})  # just under the body limit
            assert event == "error" and "Question is too long (900000 characters" in data["error"]
    _still_serving(server)
    assert proc.memory_info().rss - baseline < 50 * 2**20


# -- 17. hostile Unicode --------------------------------------------------------------------------


def test_hostile_unicode_is_stripped_before_search_and_display(server):
    clean = call(server, "ask", {"data": [TREATY]})[2][0]
    for raw in [b'{"data": ["\\ud800What treaty did China and North Korea sign in 1961?\\udfff"]}',
                b'{"data": ["What \\u0000treaty\\u001b[31m did \\u202eChina\\u2066 and\\u2069 North\\u200b Korea'
                b'\\u200c sign\\u200d in \\ufeff1961?"]}']:
        status, event, data = call(server, "ask", raw)
        assert (status, event) == (200, "complete"), data
        got = data[0]
        assert got["question"] == TREATY and got["query"] == TREATY
        assert got["answer"]["text"] == clean["answer"]["text"]
    done = join(server, "respond", ["\ud800What \x1b[31mtreaty\u202e did China and North Korea sign in 1961?", 3, None])
    assert done["success"] is True
    shown = " ".join(_strings(done["output"]["data"][1]))
    assert TREATY in shown
    assert not re.search("[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069\u200b-\u200d\ufeff]", shown)


# -- 19. wrong shapes -----------------------------------------------------------------------------


def test_wrong_shapes_get_clear_answers_never_a_500(server):
    log_start = len(server.output())
    status, event, data = call(server, "ask", {"data": [12345]})
    assert (status, event) == (200, "complete") and data[0]["question"] == "12345"
    for body, message in [({"data": [None]}, EMPTY), ({"data": []}, EMPTY), ({"data": [[TREATY]]}, EMPTY),
                          ({"data": [{"q": TREATY}]}, EMPTY), ({"data": [True]}, EMPTY),
                          ({"data": ["a", "extra"]}, "The number of passages must be a whole number from 1 to 50."),
                          ({"data": [TREATY, 5, None, "extra"]}, "This endpoint takes at most 3 values; got 4."),
                          ({"data": [TREATY, 5, "not a list"]}, "history must be a list")]:
        status, event, data = call(server, "ask", body)
        assert (status, event) == (200, "error") and data["error"].startswith(message), (body, data)
    for raw in (b'{"data": [', b"not json", b'{"data": "a string"}', b"{}", b'{"data": ["\\x"]}', b""):
        status, _, text = call(server, "ask", raw)
        assert status == 422, raw
        assert "Traceback" not in text
    assert call(server, "nonexistent", {"data": [TREATY]})[0] == 404
    r = httpx.post(server.url + "gradio_api/queue/join", json={"data": [TREATY], "fn_index": 999, "session_hash": "x"})
    assert r.status_code == 400
    for text in ("{0}", "%s%n%x", "(((", "' OR 1=1 --", "\\d+[a-", "${7*7}", "{{7*7}}", "*" * 1999, "*" * 10_000):
        status, event, data = call(server, "ask", {"data": [text]})
        if len(text) > LIMIT:
            assert event == "error" and data["error"].startswith(f"Question is too long ({len(text)} characters")
        else:
            assert event == "complete", (text, data)
            assert data[0]["question"] == text
    log = server.output()[log_start:]  # only the malformed queue/join left a trace: logged, as a warning
    assert log.count("Traceback") == log.count("WARNING qa.server: malformed request") == 1
    _still_serving(server)


# -- 12. document text is never markup ----------------------------------------------------------------


def _no_foreign_markup(strings: list[str]) -> None:
    for s in strings:
        rest = OURS.sub("", s)
        assert "<" not in rest, rest[max(0, rest.find("<") - 80): rest.find("<") + 80]


def test_every_value_the_page_shows_is_escaped(server):
    session = "xss"
    question = f"<img src=x onerror=alert(1)> {FERRY}"
    done = join(server, "respond", [question, 5, None], session=session)
    assert done["success"] is True
    values = done["output"]["data"]
    strings = _strings(values)
    _no_foreign_markup(strings)
    shown = "\n".join(strings)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown  # the document's text is there, as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in shown  # the echoed question too
    assert "&lt;svg onload=alert(1)&gt;" in shown  # and the file name
    picks = re.findall(r'class="qa-cite qa-cite-(\d+-\d+)"', values[4])  # the sources panel's citations
    assert picks
    for pick in picks:
        ctx = join(server, "show_context", [pick.replace("-", ":"), None, None], session=session)
        assert ctx["success"] is True, ctx
        _no_foreign_markup(_strings(ctx["output"]["data"]))
    corpus = join(server, "lambda", [])
    _no_foreign_markup(_strings(corpus["output"]["data"]))
    assert "&lt;svg onload=alert(1)&gt;" in _strings(corpus["output"]["data"])[0]


def test_the_api_returns_the_raw_text_as_json(server):
    """JSON is not HTML: the API gives the document's exact words (as `qa ask --json` does)."""
    _, event, data = call(server, "ask", {"data": [FERRY]})
    assert event == "complete"
    assert any("<script>alert(1)</script>" in p["text"] for p in data[0]["passages"])


# -- 10, 11. uploads (these change the corpus: last) ------------------------------------------------


def _files(server: Server) -> set[str]:
    return {str(p.relative_to(server.temp)) for p in server.temp.rglob("*") if p.is_file()}


def test_upload_size_is_capped(server):
    before = _files(server)
    with httpx.Client(timeout=60) as c:
        r = c.post(server.url + "gradio_api/upload", files={"files": ("big.txt", b"x" * (MAX_UPLOAD_BYTES + 1))})
        assert r.status_code == 413 and r.text == f"File size exceeded maximum allowed size of {MAX_UPLOAD_BYTES} bytes."
        r = c.post(server.url + "gradio_api/upload", files={"files": ("big.txt", b"x" * (MAX_UPLOAD_BYTES * 2))})
        assert r.status_code == 413
    assert _files(server) == before
    _still_serving(server)


def test_ten_thousand_files_in_one_request_are_capped(server):
    before = _files(server)
    t0 = time.monotonic()
    r = httpx.post(server.url + "gradio_api/upload", files=[("files", (f"f{i}.txt", b"x")) for i in range(10_000)],
                   timeout=120)
    assert r.status_code == 400 and "Too many files" in r.text
    assert time.monotonic() - t0 < 60
    assert _files(server) == before
    _still_serving(server)


def _upload(server: Server, name: str, data: bytes) -> str:
    r = httpx.post(server.url + "gradio_api/upload", files={"files": (name, data)}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()[0]


def _ingest(server: Server, path: str) -> dict:
    return join(server, "ingest", [[{"path": path, "meta": {"_type": "gradio.FileData"}}]], timeout=120)


def test_upload_names_are_stored_safely(server, tmp_path):
    names = ["../../x.txt", "a\x00b.txt", "name\nwith newline.txt", "n" * 300 + ".txt", "page.html", "pic.svg",
             "tool.exe", "..\\..\\win.md"]
    before_corpus = {p.name for p in server.corpus.iterdir()}
    root = server.temp.parent.parent.parent  # the server's working folder: nothing may appear outside
    outside = {p for p in root.rglob("*") if server.temp not in p.parents and server.corpus not in p.parents}
    stored = {}
    for n, name in enumerate(names):
        path = Path(_upload(server, name, f"Upload {n} tells about the Varrow estuary.\n".encode()))
        assert path.parent.parent == server.temp and len(path.parent.name) == 64  # <hash>/<basename>
        assert "/" not in path.name and "\x00" not in path.name and "\n" not in path.name
        stored[name] = path
    for name in ("page.html", "pic.svg"):
        r = httpx.get(server.url + "gradio_api/file=" + str(stored[name]), timeout=10)
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"].startswith("attachment")
    for name in ("pic.svg", "tool.exe"):
        message = _error(_ingest(server, str(stored[name])))  # Gradio's check of file_types, then ours
        assert message.startswith(("Invalid file type.", f"skipped {stored[name].name}: unsupported file type")), message
        assert all(suffix in message for suffix in SUFFIXES)
    for name in ("../../x.txt", "n" * 300 + ".txt"):
        done = _ingest(server, str(stored[name]))
        assert done["success"] is True, done
        _no_foreign_markup(_strings(done["output"]["data"]))
    added = {p.name for p in server.corpus.iterdir()} - before_corpus
    assert "x.txt" in added and len(added) == 2
    assert all(len(n) <= 100 and "/" not in n and not n.startswith(".") for n in added)
    after = {p for p in root.rglob("*") if server.temp not in p.parents and server.corpus not in p.parents}
    new = {p for p in after - outside if "index" not in p.relative_to(root).parts[:1] and p.suffix != ".log"}
    assert new == set(), new
    _still_serving(server)
