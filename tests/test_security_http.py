"""Gradio's HTTP surface of the real server (CASES.md 1-8).

One server for the module, started with every environment variable that widens Gradio's surface
set to an unsafe value; the network guard runs inside it, so any outbound connection or name
lookup it attempts is refused and written to its log.
"""

from __future__ import annotations

import _socket
import http.client
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import TREATY
from tests.uiserver import HOSTILE_ENV, Server, call, config, join, start, stop

ROOT = Path(__file__).resolve().parents[1]
OUTBOUND = ("blocked an outbound connection", "blocked a name lookup")


@pytest.fixture(scope="module")
def server(article_assistant, tmp_path_factory) -> Server:
    tmp = tmp_path_factory.mktemp("http")
    (tmp / ".env").write_text("SECRET=do-not-serve\n")  # the server's working directory
    s = start(tmp, article_assistant.settings.corpus_dir, article_assistant.settings.index_dir, env=HOSTILE_ENV)
    yield s
    stop(s)


def raw_get(server: Server, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """GET with the path sent exactly as given (httpx would normalise `..` and percent-escapes)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


def non_loopback_addresses() -> list[str]:
    return sorted({a.address for nic in psutil.net_if_addrs().values() for a in nic
                   if a.family == socket.AF_INET and not a.address.startswith("127.")})


def real_connect_ex(address: str, port: int) -> int:
    """connect_ex with the C-level socket: the test network guard would refuse it without trying."""
    s = _socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(3)
        return s.connect_ex((address, port))
    finally:
        s.close()


# -- 1. loopback only -----------------------------------------------------------------------------


def test_listens_on_loopback_only(server):
    """GRADIO_SERVER_NAME=0.0.0.0 and GRADIO_SHARE=True are ignored (CASES.md 1)."""
    proc = psutil.Process(server.proc.pid)
    listening = {c.laddr.ip for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
    assert listening == {"127.0.0.1"}
    assert real_connect_ex("127.0.0.1", server.port) == 0
    for address in non_loopback_addresses():
        assert real_connect_ex(address, server.port) != 0, address
    out = server.output()
    assert "public URL" not in out and "gradio.live" not in out and "share link" not in out.lower()
    family = [p.name() + " " + " ".join(p.cmdline()) for p in proc.children(recursive=True)]
    assert not [f for f in family if "frp" in f.lower()], family
    assert not [p for p in psutil.process_iter(["name"]) if "frpc" in (p.info["name"] or "")]


# -- 2. environment hygiene -----------------------------------------------------------------------


def test_environment_is_neutralised(server):
    out = server.output()
    for name in HOSTILE_ENV:
        if name != "GRADIO_ANALYTICS_ENABLED":
            assert f"ignoring {name} from the environment" in out
    c = config(server)
    assert c["vibe_mode"] is False and c["dev_mode"] is False and c["mcp_server"] is False
    assert c["analytics_enabled"] is False and c["show_error"] is False
    assert httpx.get(server.url + "gradio_api/file=/etc/passwd", timeout=10).status_code == 403
    assert httpx.get(server.url + "gradio_api/vibe-code", timeout=10).status_code in (403, 404)
    assert httpx.post(server.url + "gradio_api/vibe-edit/", json={"prompt": "x"}, timeout=10).status_code in (403, 404, 405)
    for mcp in ("gradio_api/mcp/", "gradio_api/mcp/sse", "gradio_api/mcp/schema", "gradio_api/mcp/messages/"):
        assert httpx.get(server.url + mcp, timeout=10).status_code == 404, mcp
    assert "access-control-allow-origin" not in httpx.get(server.url + "config", headers={"Origin": "null"},
                                                          timeout=10).headers


# -- 3. /file= traversal --------------------------------------------------------------------------


def test_file_traversal_matrix(server):
    """Nothing outside what the app itself handed out is served, through either file route (CASES.md 3)."""
    temp = server.temp
    (temp / "planted").mkdir()
    (temp / "planted" / "passwd.txt").symlink_to("/etc/passwd")
    (temp / "link.txt").symlink_to("/etc/passwd")
    (temp / "up").symlink_to(server.index)
    gen = next(server.index.glob("gen-*"))
    doc = next(server.corpus.iterdir())
    targets = [
        "/etc/passwd", "../../../../etc/passwd", "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "..%2f..%2f..%2f..%2fetc%2fpasswd", "%252e%252e%252fetc%252fpasswd", "/proc/self/environ",
        f"{server.index}/CURRENT", f"{gen}/manifest.json", f"{gen}/passages.jsonl", f"{gen}/passages.faiss",
        str(ROOT / "qa" / "server.py"), str(ROOT / "qa" / "ui.py"), str(ROOT / "pyproject.toml"),
        str(server.home.parent / ".env"), ".env", "server.log", str(doc), str(server.corpus),
        f"{temp}/../../../corpus/{doc.name}", f"{temp}/link.txt", f"{temp}/planted/passwd.txt",
        f"{temp}/up/CURRENT", str(temp), f"{temp}/../{temp.name}.lock", str(server.log),
    ]
    for target in targets:
        for route in ("gradio_api/file=", "gradio_api/file/"):
            status, body = raw_get(server, f"/{route}{target}")
            assert status in (403, 404), (route, target, status)
            assert "root:" not in body and "SECRET" not in body and "format_version" not in body
    # what the app handed out is served: an upload, and the conversation export of an answer
    uploaded = httpx.post(server.url + "gradio_api/upload", files={"files": ("mine.txt", b"my own words")},
                          timeout=10).json()[0]
    assert httpx.get(server.url + "gradio_api/file=" + uploaded, timeout=10).text == "my own words"
    done = join(server, "respond", [TREATY, 3, None])
    exports = [v["value"] for v in done["output"]["data"]
               if isinstance(v, dict) and isinstance(v.get("value"), dict) and "path" in v["value"]]
    assert exports, done
    for export in exports:
        r = httpx.get(server.url + "gradio_api/file=" + export["path"], timeout=10)
        assert r.status_code == 200 and "China" in r.text


# -- 4. SSRF ----------------------------------------------------------------------------------------


def test_file_urls_are_never_fetched(server):
    """The server attempts no connection for a URL in either file route (CASES.md 4)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    trap = listener.getsockname()[1]
    before = server.output()
    urls = [f"http://127.0.0.1:{server.port}/config", f"http://127.0.0.1:{trap}/x", f"http://localhost:{trap}/",
            "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://localhost/", "http://93.184.216.34/",
            "https://example.com/", "HTTP://93.184.216.34/", "//93.184.216.34/x", "http%3A%2F%2F93.184.216.34%2F",
            "http:/93.184.216.34/", "ftp://93.184.216.34/"]
    try:
        for url in urls:
            for route in ("gradio_api/file=", "gradio_api/file/"):
                status, _ = raw_get(server, f"/{route}{url}")
                assert status in (403, 404), (route, url)
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    after = server.output()[len(before):]
    assert not [line for line in after.splitlines() if any(o in line for o in OUTBOUND)]


# -- 5, 6. Host header and CORS -----------------------------------------------------------------


def test_foreign_host_headers_are_refused(server):
    assert raw_get(server, "/config", {"Host": "rebind.evil.example"})[0] == 400
    assert raw_get(server, "/config", {"Host": "evil", "Origin": "http://evil"})[0] == 400
    assert raw_get(server, "/gradio_api/info", {"Host": f"rebind.evil.example:{server.port}"})[0] == 400
    assert raw_get(server, "/config", {"Host": f"127.0.0.1:{server.port}"})[0] == 200
    assert raw_get(server, "/config", {"Host": f"localhost:{server.port}"})[0] == 200


def test_cors_reflects_only_loopback_origins(server):
    get = httpx.Client(timeout=10)
    for origin in ("https://evil.example", "null", "http://127.0.0.1.evil.example", "http://localhost.evil.example"):
        r = get.get(server.url + "config", headers={"Origin": origin})
        assert "access-control-allow-origin" not in r.headers, origin
        pre = get.options(server.url + "gradio_api/queue/join",
                          headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in pre.headers, origin
    for origin in (f"http://localhost:{server.port}", f"http://127.0.0.1:{server.port}"):
        assert get.get(server.url + "config", headers={"Origin": origin}).headers["access-control-allow-origin"] == origin


# -- 7. no route around the queue ---------------------------------------------------------------


def test_no_route_around_the_queue(server):
    """64 parallel POST /gradio_api/run/ask: 404 each; the queued routes still answer (CASES.md 7)."""
    from gradio_client import Client

    def run(_: int) -> int:
        return httpx.post(server.url + "gradio_api/run/ask", json={"data": [TREATY]}, timeout=30).status_code

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(run, range(64))) == {404}
    assert httpx.post(server.url + "gradio_api/run/predict", json={"data": [TREATY]}, timeout=10).status_code == 404
    status, event, data = call(server, "ask", {"data": [TREATY]})
    assert (status, event) == (200, "complete") and data[0]["answer"]["text"]
    assert Client(server.url, verbose=False).predict(TREATY, api_name="/ask")["answer"]["text"]
    done = join(server, "respond", [TREATY, 3, None])  # what the page's Ask button sends
    assert done["success"] is True


# -- 8. side endpoints and private handlers ----------------------------------------------------------


def test_side_endpoints_are_closed(server):
    get = httpx.Client(timeout=10)
    for side in ("monitoring", "monitoring/summary", "monitoring/abc", "gradio_api/monitoring", "gradio_api/vibe-code",
                 "gradio_api/mcp/sse", "gradio_api/mcp/", "gradio_api/run/ask", "gradio_api/dev/reload"):
        assert get.get(server.url + side).status_code in (403, 404, 405), side
    info = get.get(server.url + "gradio_api/info").json()
    assert list(info["named_endpoints"]) == ["/ask"] and info["unnamed_endpoints"] == {}
    c = config(server)
    assert c["footer_links"] == [] and c["run_history"] is False
    assert all(d["api_visibility"] == "private" for d in c["dependencies"] if d["api_name"] != "ask")


def _error(done: dict) -> str:
    assert done["success"] is False, done
    message = done["output"].get("error") or ""
    assert "Traceback" not in message and "/" not in message.replace("/ask", ""), message
    return message


def test_private_handlers_check_their_input(server):
    """A raw queue/join runs a private handler by its fn_index: each refuses bad input on its own."""
    for file in ("/etc/passwd", {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}},
                 {"path": str(next(server.corpus.iterdir())), "meta": {"_type": "gradio.FileData"}},
                 {"path": f"{server.temp}/../../../index/CURRENT", "meta": {"_type": "gradio.FileData"}}, 12, None):
        message = _error(join(server, "ingest", [file]))
        assert message == "" or message.startswith("Choose a file to add ("), message
    assert sorted(p.name for p in server.corpus.iterdir()) == [next(server.corpus.iterdir()).name]
    session = "private-checks"
    assert _error(join(server, "show_context", ["1", None, None], session=session))  # no answer yet
    assert "999" in _error(join(server, "respond", [TREATY, 999, None], session=session))
    _error(join(server, "respond", [TREATY, "5; rm -rf /", None], session=session))  # Gradio's own check
    assert join(server, "respond", [TREATY, 2, None], session=session)["success"] is True
    assert _error(join(server, "show_context", ["99", None, None], session=session))
    assert _error(join(server, "show_context", [{"x": 1}, None, 10**9], session=session))
    assert "Pick a message" in _error(join(server, "select_turn", [None, None], session=session,
                                           event_data={"index": 10**6, "value": "x"}))
    assert join(server, "show_context", ["1", None, None], session=session)["success"] is True
    assert server.proc.poll() is None

