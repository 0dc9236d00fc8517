"""The `/ask` API endpoint through gradio_client, and the hardening of the real server.

The server is started with the environment variables that widen Gradio's surface set to unsafe
values (CASES.md 1, 2): it must ignore them.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.uiserver import free_port, start, stop

TREATY = "What treaty did China and North Korea sign in 1961?"
HOSTILE_ENV = {
    "GRADIO_ALLOWED_PATHS": "/etc",
    "GRADIO_SHARE": "True",
    "GRADIO_SERVER_NAME": "0.0.0.0",
    "GRADIO_MCP_SERVER": "True",
    "GRADIO_VIBE_MODE": "1",
    "GRADIO_ANALYTICS_ENABLED": "True",
}


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
    assert set(got) == {"question", "query", "answer", "passages"}
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


def test_hardening(server):
    url = server.url
    get = httpx.Client(timeout=10)
    assert get.get(url + "gradio_api/file=/etc/passwd").status_code in (403, 404)
    assert get.get(url + "gradio_api/file=../../../../etc/passwd").status_code in (403, 404)
    for doc in server.corpus.iterdir():
        assert get.get(f"{url}gradio_api/file={doc}").status_code in (403, 404)
    for remote in ("http://169.254.169.254/latest", "http://example.com/", "http%3A%2F%2Fexample.com%2F"):
        assert get.get(url + "gradio_api/file=" + remote).status_code == 403
    assert get.get(url + "config", headers={"Host": "rebind.evil.example"}).status_code == 400
    assert get.get(url + "config", headers={"Host": "evil", "Origin": "http://evil"}).status_code == 400
    assert get.get(url + "config", headers={"Host": f"localhost:{server.port}"}).status_code == 200
    for origin in ("https://evil.example", "null"):
        r = get.get(url + "config", headers={"Origin": origin})
        assert "access-control-allow-origin" not in r.headers
    assert get.post(url + "gradio_api/run/ask", json={"data": [TREATY]}).status_code == 404
    for side in ("monitoring", "monitoring/summary", "gradio_api/vibe-code", "gradio_api/mcp/sse", "gradio_api/mcp/"):
        assert get.get(url + side).status_code in (403, 404), side
    big = b'{"data": ["' + b"a" * (5 << 20) + b'"]}'
    assert get.post(url + "gradio_api/call/ask", content=big,
                    headers={"content-type": "application/json"}).status_code == 413
    out = server.output()
    assert "public URL" not in out and "gradio.live" not in out
    assert "ignoring GRADIO_ALLOWED_PATHS" in out and "ignoring GRADIO_SHARE" in out


def test_upload_size_is_capped(server):
    from qa.server import MAX_UPLOAD_BYTES

    before = sorted(p.name for p in (server.home / "gradio_tmp").iterdir())
    r = httpx.post(server.url + "gradio_api/upload", files={"files": ("big.txt", b"x" * (MAX_UPLOAD_BYTES + 1))},
                   timeout=60)
    assert r.status_code == 413 and f"maximum allowed size of {MAX_UPLOAD_BYTES} bytes" in r.text
    r = httpx.post(server.url + "gradio_api/upload", files={"files": ("big.txt", b"x" * (MAX_UPLOAD_BYTES * 2))},
                   timeout=60)
    assert r.status_code == 413
    assert sorted(p.name for p in (server.home / "gradio_tmp").iterdir()) == before


def test_temp_dir_is_private(server):
    tmp = server.home / "gradio_tmp"
    assert tmp.is_dir()
    assert (tmp.stat().st_mode & 0o777) == 0o700


def test_listens_on_loopback_only(server):
    """GRADIO_SERVER_NAME=0.0.0.0 is ignored: the machine's other addresses refuse the connection."""
    import socket

    import psutil

    addresses = {a.address for nic in psutil.net_if_addrs().values() for a in nic
                 if a.family == socket.AF_INET and not a.address.startswith("127.")}
    if not addresses:
        pytest.skip("this machine has no non-loopback IPv4 address")
    for address in addresses:
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((address, server.port)) != 0, address


def test_non_loopback_host_needs_auth(tmp_path):
    run = subprocess.run([sys.executable, "-m", "qa", "serve", "--host", "0.0.0.0", "--port", str(free_port()),
                          "--corpus", str(tmp_path), "--index", str(tmp_path / "index")],
                         capture_output=True, text=True, timeout=120, env={"QA_HOME": str(tmp_path / "home"),
                                                                           "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1
    assert "--auth" in run.stderr and "Traceback" not in run.stderr


def test_login_is_required_when_auth_is_given(article_assistant, tmp_path):
    s = start(tmp_path, article_assistant.settings.corpus_dir, article_assistant.settings.index_dir,
              args=["--auth", "reader:s3cret"])
    try:
        for path in ("config", "gradio_api/info", "gradio_api/file=/etc/hostname"):
            assert httpx.get(s.url + path, timeout=10).status_code == 401, path
        assert httpx.post(s.url + "gradio_api/upload", files={"files": ("a.txt", b"hi")}).status_code == 401
        with httpx.Client(timeout=10) as c:
            assert c.post(s.url + "login", data={"username": "reader", "password": "wrong"}).status_code in (400, 401)
            assert c.get(s.url + "config").status_code == 401
            assert c.post(s.url + "login", data={"username": "reader", "password": "s3cret"}).status_code == 200
            assert c.get(s.url + "config").status_code == 200
    finally:
        stop(s)
