"""The serving layer without a browser: environment hygiene, the HTTP guard, binding and login rules."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from starlette.applications import Starlette
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from qa.errors import InputError
from qa.serve import guard, server


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"bytes": len(await request.body())})


def _client(max_bytes: int = 100, upload_bytes: int = 1000, files_root=None) -> TestClient:
    app = Starlette(routes=[Route("/echo", _echo, methods=["POST"]), Route("/gradio_api/upload", _echo, methods=["POST"]),
                            Route("/gradio_api/file={rest:path}", _echo, methods=["GET", "POST"]),
                            Route("/gradio_api/file/{rest:path}", _echo, methods=["GET"]),
                            Route("/gradio_api/dev/reload", _echo, methods=["GET"])])
    return TestClient(guard.Guard(app, max_bytes=max_bytes, upload_bytes=upload_bytes, files_root=files_root))


def test_guard_limits_bodies():
    c = _client()
    assert c.post("/echo", content=b"x" * 100).json() == {"bytes": 100}
    r = c.post("/echo", content=b"x" * 101)
    assert r.status_code == 413 and "limit 100 bytes" in r.json()["detail"]
    assert c.post("/gradio_api/upload", content=b"x" * 500).status_code == 200  # uploads have their own limit
    assert c.post("/gradio_api/upload", content=b"x" * 1001).status_code == 413


def test_guard_limits_bodies_without_a_length():
    def chunks():
        for _ in range(5):
            yield b"x" * 50

    assert _client().post("/echo", content=chunks()).status_code == 413
    assert _client().post("/echo", content=iter([b"x" * 50])).json() == {"bytes": 50}


@pytest.mark.parametrize("path", ["/gradio_api/file=http://example.com/", "/gradio_api/file=https://10.0.0.1/x",
                                  "/gradio_api/file=http%3A%2F%2Fexample.com", "/gradio_api/file=//example.com/x",
                                  "/gradio_api/file=http%253A%252F%252Fexample.com", "/gradio_api/file=ftp://10.0.0.1/x",
                                  "/gradio_api/file/http://93.184.216.34/", "/gradio_api/file/http:/93.184.216.34/",
                                  "/gradio_api/file/https%3A%2F%2F169.254.169.254%2Flatest"])
def test_guard_refuses_remote_files(path):
    """Both of Gradio's file routes (`file=` and the older `file/`) would fetch a URL (CASES.md 4)."""
    r = _client().get(path)
    assert r.status_code == 403 and r.json() == {"detail": "Remote files are not served."}


def test_guard_serves_only_from_its_folder(tmp_path):
    root = tmp_path / "tmp"
    (root / "abc").mkdir(parents=True)
    (root / "abc" / "ok.txt").write_text("x")
    (root / "out.txt").symlink_to("/etc/passwd")
    (root / "abc" / "up").symlink_to(tmp_path)
    (tmp_path / "secret.txt").write_text("s")
    c = _client(files_root=root)
    assert c.get(f"/gradio_api/file={root}/abc/ok.txt").status_code == 200
    assert c.get(f"/gradio_api/file/{root}/abc/ok.txt").status_code == 200
    for target in ["/etc/passwd", f"{root}/out.txt", f"{root}/abc/up/secret.txt", f"{root}/abc/../../secret.txt",
                   f"{root}/abc", str(tmp_path / "secret.txt"), "secret.txt", f"{root}/abc/ok.txt%00.png"]:
        r = c.get(f"/gradio_api/file={target}")
        assert r.status_code == 403 and r.json() == {"detail": "File not allowed."}, target
        assert target not in r.text
    assert _client().get("/gradio_api/file=/tmp/x.txt").status_code == 200  # no folder given: left to Gradio


def test_guard_closes_development_routes():
    assert _client().get("/gradio_api/dev/reload").status_code == 404


def test_guard_answers_400_when_the_app_fails_on_a_malformed_request():
    """Gradio raises KeyError for an unknown fn_index; that is the client's mistake, not a 500."""
    async def gradio(scope, receive, send):  # inside Gradio's own error middleware, as in the app
        raise KeyError(999)

    r = TestClient(guard.Guard(gradio)).post("/gradio_api/queue/join", content=b"{}")
    assert r.status_code == 400 and r.json() == {"detail": "Bad request."}


def test_serves_resolves_relative_paths_against_the_working_dir(tmp_path, monkeypatch):
    (tmp_path / "f.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    assert guard.serves("f.txt", tmp_path) and not guard.serves("../f.txt", tmp_path / "sub")
    assert not guard.serves("", tmp_path) and not guard.serves("a\x00b", tmp_path)


def test_auth_and_binding_rules():
    assert server.parse_auth("127.0.0.1", None) is None
    assert server.parse_auth("localhost", None) is None
    assert server.parse_auth("::1", None) is None
    assert server.parse_auth("0.0.0.0", "me:pa:ss") == ("me", "pa:ss")
    for host in ("0.0.0.0", "192.168.1.5", "example.org"):
        with pytest.raises(InputError, match="--auth"):
            server.parse_auth(host, None)
    for bad in ("nopassword", ":pw", "user:"):
        with pytest.raises(InputError, match="USER:PASSWORD"):
            server.parse_auth("127.0.0.1", bad)
    assert server.allowed_hosts("127.0.0.1") == ["127.0.0.1", "localhost", "[::1]"]
    assert "192.168.1.5" in server.allowed_hosts("192.168.1.5")


def test_a_proxy_name_needs_a_login(monkeypatch):
    """Behind a reverse proxy the server stays on loopback but is reached by another name: that name
    is accepted in the Host header, and only with a login."""
    monkeypatch.setenv("QA_ALLOWED_HOSTS", "qa.example.lan, other.lan")
    assert server.allowed_hosts("127.0.0.1") == ["127.0.0.1", "localhost", "[::1]", "qa.example.lan", "other.lan"]
    with pytest.raises(InputError, match="QA_ALLOWED_HOSTS.*--auth"):
        server.parse_auth("127.0.0.1", None)
    assert server.parse_auth("127.0.0.1", "me:pw") == ("me", "pw")


def test_each_refusal_is_one_log_line(caplog):
    caplog.set_level("INFO", logger="qa.server")
    c = _client()
    c.post("/echo", content=b"x" * 100)
    assert caplog.records == []  # an admitted request leaves no line
    c.post("/echo", content=b"x" * 101)
    c.get("/gradio_api/file=http://example.com/%0Afake%20line")
    c.get("/gradio_api/dev/reload")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and all(line.startswith("refused ") and "\n" not in line for line in lines), lines
    assert lines[0] == "refused POST \"/echo\" from testclient: 413 Request body too large (limit 100 bytes)."
    assert '"/gradio_api/file=http://example.com/\\nfake line"' in lines[1] and ": 403 Remote files" in lines[1]
    assert ": 404 Not Found" in lines[2]


def test_a_full_queue_is_one_log_line(caplog):
    async def full(request: Request) -> JSONResponse:
        return JSONResponse({"msg": "queue_full"}, status_code=503)

    caplog.set_level("INFO", logger="qa.server")
    c = TestClient(guard.Guard(Starlette(routes=[Route("/gradio_api/queue/join", full, methods=["POST"])])))
    assert c.post("/gradio_api/queue/join", content=b"{}").status_code == 503
    assert [r.getMessage() for r in caplog.records] == [
        'refused POST "/gradio_api/queue/join" from testclient: 503 Service unavailable (the queue is full).']


def test_a_foreign_host_is_refused_with_one_log_line(caplog):
    caplog.set_level("INFO", logger="qa.server")
    c = TestClient(guard.Hosts(Starlette(routes=[Route("/echo", _echo, methods=["POST"])]), ["127.0.0.1"]),
                   base_url="http://127.0.0.1")
    assert c.post("/echo", content=b"x").status_code == 200 and caplog.records == []
    r = c.post("/echo", content=b"x", headers={"host": "evil.example\u202e".encode()})
    assert r.status_code == 400
    (line,) = [rec.getMessage() for rec in caplog.records]
    assert line.startswith('refused POST "/echo" from testclient: 400 Host "evil.example') and "\u202e" not in line


def test_launch_settings_are_hardened(tmp_path):
    kw = server.launch_kwargs("127.0.0.1", 7860, None, [tmp_path / "index"])
    assert kw["share"] is False and kw["allowed_paths"] == [] and kw["show_error"] is False
    assert kw["mcp_server"] is False and kw["ssr_mode"] is False and kw["enable_monitoring"] is False
    assert kw["strict_cors"] is True and kw["footer_links"] == [] and kw["run_history"] is False
    assert kw["blocked_paths"] == [str((tmp_path / "index").resolve())]
    assert [m.cls.__name__ for m in kw["app_kwargs"]["middleware"]] == ["Hosts", "Guard"]
    assert issubclass(guard.Hosts, TrustedHostMiddleware)
    assert kw["app_kwargs"]["middleware"][1].kwargs == {"files_root": None}
    assert kw["app_kwargs"]["exception_handlers"] == {} and kw["app_kwargs"]["lifespan"] is None
    kw = server.launch_kwargs("127.0.0.1", 7860, None, [], files_root=tmp_path)
    assert kw["app_kwargs"]["middleware"][1].kwargs == {"files_root": tmp_path}


def test_queue_size_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("QA_QUEUE_SIZE", raising=False)
    assert server.queue_size() == server.QUEUE_SIZE
    monkeypatch.setenv("QA_QUEUE_SIZE", "3")
    assert server.queue_size() == 3
    for bad in ("0", "-1", "many", "1e3"):
        monkeypatch.setenv("QA_QUEUE_SIZE", bad)
        with pytest.raises(InputError, match="QA_QUEUE_SIZE"):
            server.queue_size()


def test_pending_grace_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("QA_PENDING_GRACE", raising=False)
    assert server.pending_grace() == server.PENDING_GRACE
    monkeypatch.setenv("QA_PENDING_GRACE", "10")
    assert server.pending_grace() == 10.0
    for bad in ("0", "-1", "soon", "1.5", "3601"):
        monkeypatch.setenv("QA_PENDING_GRACE", bad)
        with pytest.raises(InputError, match="QA_PENDING_GRACE"):
            server.pending_grace()


def test_prepare_environment_runs_before_gradio(tmp_path):
    """In a fresh interpreter: unsafe variables are dropped, ours set, the temp dir private and the
    process's own (CASES.md 2, 14); it is gone when the process exits."""
    env = {**os.environ, "QA_HOME": str(tmp_path / "home"), "GRADIO_ALLOWED_PATHS": "/etc", "GRADIO_SHARE": "True",
           "GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_ANALYTICS_ENABLED": "True", "GRADIO_TEMP_DIR": "/tmp/elsewhere",
           "GRADIO_LOCAL_DEV_MODE": "1", "GRADIO_VIBE_MODE": "1", "GRADIO_MCP_SERVER": "True"}
    code = ("import os, sys; from qa.serve import server; t = server.prepare_environment(); "
            "assert server.prepare_environment() == t; "
            "print(t); print(sorted(k for k in os.environ if k.startswith('GRADIO_'))); "
            "print(os.environ['GRADIO_ANALYTICS_ENABLED'], os.environ['GRADIO_TEMP_DIR'] == str(t)); "
            "print('gradio' in sys.modules); print(oct(os.stat(t).st_mode & 0o777)); "
            "print(sorted(p.name for p in t.parent.iterdir()))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    lines = run.stdout.splitlines()
    temp = server.Path(lines[0])
    assert temp.parent == tmp_path / "home" / "gradio_tmp" and temp.name.startswith("run-")
    assert lines[1] == ("['GRADIO_ANALYTICS_CACHE_FREQUENCY', 'GRADIO_ANALYTICS_ENABLED', 'GRADIO_ANALYTICS_MAX_EVENTS', "
                        "'GRADIO_TEMP_DIR']")
    assert lines[2] == "False True" and lines[3] == "False" and lines[4] == "0o700"
    assert lines[5] == f"['{temp.name}', '{temp.name}.lock']"
    for name in ("ALLOWED_PATHS", "SHARE", "SERVER_NAME", "LOCAL_DEV_MODE", "VIBE_MODE", "MCP_SERVER"):
        assert f"ignoring GRADIO_{name}" in run.stderr
    assert stat.S_IMODE((tmp_path / "home" / "gradio_tmp").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "home").stat().st_mode) == 0o700
    assert list((tmp_path / "home" / "gradio_tmp").iterdir()) == []  # removed at exit


def test_ui_prepares_the_environment_before_importing_gradio():
    source = (server.Path(server.__file__).with_name("ui.py")).read_text(encoding="utf-8")
    assert source.index("prepare_environment()") < source.index("import gradio")
    # that no other module imports gradio is tests/test_imports.py's check


def test_sweep_removes_only_old_leftovers(tmp_path):
    old_dir, old_file, new_file = tmp_path / "abc", tmp_path / "tmp123", tmp_path / "fresh.txt"
    old_dir.mkdir()
    (old_dir / "upload.txt").write_text("x")
    old_file.write_text("x")
    new_file.write_text("x")
    for path in (old_dir, old_file):
        os.utime(path, (1, 1))
    assert server.sweep(tmp_path, max_age=3600) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["fresh.txt"]


def test_sweep_removes_the_folders_of_stopped_servers(tmp_path):
    """A restart starts with an empty cache: a run folder whose lock nobody holds is removed
    however young it is; a live one (here another process's) is kept (CASES.md 14)."""
    for name in ("run-1-dead", "run-2-nolock"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "upload.txt").write_text("x")
    (tmp_path / "run-1-dead.lock").write_text("")
    (tmp_path / "run-3-live").mkdir()
    (tmp_path / "run-3-live.lock").write_text("")
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
                               str(tmp_path / "run-3-live.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert server.sweep(tmp_path) == 3
        assert sorted(p.name for p in tmp_path.iterdir()) == ["run-3-live", "run-3-live.lock"]
    finally:
        holder.kill()
        holder.wait()
    assert server.sweep(tmp_path) == 2 and list(tmp_path.iterdir()) == []


def test_prune_pending_forgets_clients_that_left():
    """Gradio keeps undelivered event ids per session forever; the janitor drops them (CASES.md 38)."""
    from types import SimpleNamespace

    q = SimpleNamespace(event_ids_to_events={"running": object()},
                        pending_event_ids_session={"done": set(), "gone": {"e1"}, "busy": {"running"}, "mixed": {"e2", "running"}})
    seen: dict[str, float] = {}
    assert server.prune_pending(q, seen, now=100.0, grace=60) == 0
    assert set(q.pending_event_ids_session) == {"gone", "busy", "mixed"}  # an empty set goes at once
    assert server.prune_pending(q, seen, now=159.0, grace=60) == 0  # a finished event waits for its client
    assert server.prune_pending(q, seen, now=160.0, grace=60) == 2
    assert q.pending_event_ids_session == {"busy": {"running"}, "mixed": {"running"}}
    assert seen == {}
    q.pending_event_ids_session["new"] = {"e3"}
    assert server.prune_pending(q, seen, now=200.0, grace=60) == 0 and seen == {"e3": 200.0}
    q.pending_event_ids_session["new"].discard("e3")  # delivered meanwhile
    assert server.prune_pending(q, seen, now=201.0, grace=60) == 0 and seen == {} and "new" not in q.pending_event_ids_session
