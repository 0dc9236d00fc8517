"""Exposing the page beyond the machine: only with a login (CASES.md 13).

The server listens on every address (`--host 0.0.0.0`) with `--auth`; its non-loopback address is
reached with the C-level socket, since the test network guard refuses anything but loopback.
"""

from __future__ import annotations

import _socket
import socket
import subprocess
import sys

import httpx
import psutil
import pytest

from tests.uiserver import Server, free_port, start, stop

TREATY = "What treaty did China and North Korea sign in 1961?"
USER, PASSWORD = "reader", "s3cret-pw"


def _address() -> str | None:
    found = sorted(a.address for nic in psutil.net_if_addrs().values() for a in nic
                   if a.family == socket.AF_INET and not a.address.startswith("127."))
    return found[0] if found else None


@pytest.fixture(scope="module")
def server(article_assistant, tmp_path_factory) -> Server:
    address = _address() or "127.0.0.2"
    s = start(tmp_path_factory.mktemp("auth"), article_assistant.settings.corpus_dir,
              article_assistant.settings.index_dir, args=["--host", "0.0.0.0", "--auth", f"{USER}:{PASSWORD}"],
              env={"QA_ALLOWED_HOSTS": address})
    yield s
    stop(s)


def _raw_get(address: str, port: int, path: str, host: str) -> bytes:
    s = _socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(10)
        s.connect((address, port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out
    finally:
        s.close()


def test_every_route_needs_the_login(server):
    with httpx.Client(timeout=30) as me:  # a file the server handed out to a logged-in user
        assert me.post(server.url + "login", data={"username": USER, "password": PASSWORD}).status_code == 200
        mine = me.post(server.url + "gradio_api/upload", files={"files": ("mine.txt", b"private")}).json()[0]
        assert me.get(server.url + "gradio_api/file=" + mine).text == "private"
    with httpx.Client(timeout=10) as c:
        assert c.get(server.url + "gradio_api/file=" + mine).status_code == 401
        assert c.get(server.url + "gradio_api/file=/etc/hostname").status_code in (401, 403)
        for path in ("config", "gradio_api/info", "gradio_api/queue/status",
                     "gradio_api/queue/data?session_hash=x"):
            assert c.get(server.url + path).status_code == 401, path
        assert c.post(server.url + "gradio_api/upload", files={"files": ("a.txt", b"hi")}).status_code == 401
        join = {"data": [TREATY, 3, None], "fn_index": 1, "session_hash": "x"}
        assert c.post(server.url + "gradio_api/queue/join", json=join).status_code == 401
        assert c.post(server.url + "gradio_api/call/ask", json={"data": [TREATY]}).status_code == 401
        page = c.get(server.url).text  # the app shell, which shows the login form: no config, no documents
        assert '"components":[]' in page and '"dependencies":[]' in page and "china" not in page.lower()


def test_a_wrong_password_gets_nothing(server):
    with httpx.Client(timeout=10) as c:
        for user, password in ((USER, "wrong"), ("admin", PASSWORD), (USER, ""), (USER, PASSWORD + " "),
                               (USER.upper(), PASSWORD)):
            r = c.post(server.url + "login", data={"username": user, "password": password})
            # Gradio answers 400 "Incorrect credentials." (its login form shows that message only on a 400)
            assert r.status_code in (400, 401, 422), (user, password, r.status_code)
            assert "access-token" not in "".join(r.headers.get_list("set-cookie"))
            assert c.get(server.url + "config").status_code == 401
            assert c.post(server.url + "gradio_api/call/ask", json={"data": [TREATY]}).status_code == 401


def test_the_right_password_opens_everything(server):
    from gradio_client import Client

    with httpx.Client(timeout=30) as c:
        assert c.post(server.url + "login", data={"username": USER, "password": PASSWORD}).status_code == 200
        assert c.get(server.url + "config").status_code == 200
        assert c.post(server.url + "gradio_api/call/ask", json={"data": [TREATY]}).status_code == 200
    got = Client(server.url, auth=(USER, PASSWORD), verbose=False).predict(TREATY, api_name="/ask")
    assert got["answer"]["text"]


def test_the_rest_api_needs_the_same_login_as_http_basic(server):
    """/api/* and /openapi.json take the page's user and password as HTTP Basic credentials; the
    page's session cookie is not enough, and nothing is answered without them."""
    wrong = [None, (USER, "wrong"), ("admin", PASSWORD), (USER, PASSWORD + " "), (USER.upper(), PASSWORD)]
    for auth in wrong:
        with httpx.Client(timeout=30, auth=auth) as c:
            for r in (c.post(server.url + "api/ask", json={"question": TREATY}), c.get(server.url + "api/documents"),
                      c.get(server.url + "openapi.json"), c.get(server.url + "api/nothing-here")):
                assert r.status_code == 401, (auth, r.request.url)
                assert r.headers["www-authenticate"].startswith("Basic ")
                assert list(r.json()) == ["error"] and "china" not in r.text.lower()
    garbled = httpx.get(server.url + "api/documents", headers={"authorization": "Basic %%%not-base64"}, timeout=30)
    assert garbled.status_code == 401
    with httpx.Client(timeout=30) as c:  # logged in to the page: its cookie does not open the API
        assert c.post(server.url + "login", data={"username": USER, "password": PASSWORD}).status_code == 200
        assert c.get(server.url + "api/documents").status_code == 401
    with httpx.Client(timeout=30, auth=(USER, PASSWORD)) as c:
        answer = c.post(server.url + "api/ask", json={"question": TREATY})
        assert answer.status_code == 200 and answer.json()["answer"]["text"]
        assert c.get(server.url + "api/documents").json()[0]["passages"] > 0
        assert "/api/ask" in c.get(server.url + "openapi.json").json()["paths"]


def test_reachable_from_the_network_only_behind_the_login(server):
    address = _address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    reply = _raw_get(address, server.port, "/config", f"{address}:{server.port}")
    assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
    reply = _raw_get(address, server.port, "/config", "rebind.evil.example")
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]  # foreign Host: refused before the login


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5"])
def test_a_non_loopback_address_needs_a_login(tmp_path, host):
    run = subprocess.run([sys.executable, "-m", "qa", "serve", "--host", host, "--port", str(free_port()),
                          "--corpus", str(tmp_path), "--index", str(tmp_path / "index")],
                         capture_output=True, text=True, timeout=120, env={"QA_HOME": str(tmp_path / "home"),
                                                                           "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1
    assert "--auth" in run.stderr and "Traceback" not in run.stderr
