"""The serving layer without a browser: environment hygiene, the HTTP guard, binding and login rules."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from qa import server
from qa.errors import InputError


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"bytes": len(await request.body())})


def _client(max_bytes: int = 100, upload_bytes: int = 1000) -> TestClient:
    app = Starlette(routes=[Route("/echo", _echo, methods=["POST"]), Route("/gradio_api/upload", _echo, methods=["POST"]),
                            Route("/gradio_api/file={rest:path}", _echo, methods=["GET", "POST"])])
    return TestClient(server.Guard(app, max_bytes=max_bytes, upload_bytes=upload_bytes))


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
                                  "/gradio_api/file=http%3A%2F%2Fexample.com", "/gradio_api/file=//example.com/x"])
def test_guard_refuses_remote_files(path):
    assert _client().get(path).status_code == 403


def test_guard_lets_local_file_paths_through_to_gradio():
    assert _client().get("/gradio_api/file=/tmp/x.txt").status_code == 200


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


def test_launch_settings_are_hardened(tmp_path):
    kw = server.launch_kwargs("127.0.0.1", 7860, None, [tmp_path / "index"])
    assert kw["share"] is False and kw["allowed_paths"] == [] and kw["show_error"] is False
    assert kw["mcp_server"] is False and kw["ssr_mode"] is False and kw["enable_monitoring"] is False
    assert kw["strict_cors"] is True and kw["footer_links"] == [] and kw["run_history"] is False
    assert kw["blocked_paths"] == [str((tmp_path / "index").resolve())]
    assert [m.cls.__name__ for m in kw["app_kwargs"]["middleware"]] == ["TrustedHostMiddleware", "Guard"]


def test_prepare_environment_runs_before_gradio(tmp_path):
    """In a fresh interpreter: unsafe variables are dropped, ours set, the temp dir private."""
    env = {**os.environ, "QA_HOME": str(tmp_path / "home"), "GRADIO_ALLOWED_PATHS": "/etc", "GRADIO_SHARE": "True",
           "GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_ANALYTICS_ENABLED": "True", "GRADIO_TEMP_DIR": "/tmp/elsewhere"}
    code = ("import os, sys; from qa import server; t = server.prepare_environment(); "
            "print(t); print(sorted(k for k in os.environ if k.startswith('GRADIO_'))); "
            "print(os.environ['GRADIO_ANALYTICS_ENABLED'], os.environ['GRADIO_TEMP_DIR'] == str(t)); "
            "print('gradio' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    lines = run.stdout.splitlines()
    assert lines[0] == str(tmp_path / "home" / "gradio_tmp")
    assert lines[1] == "['GRADIO_ANALYTICS_ENABLED', 'GRADIO_TEMP_DIR']"
    assert lines[2] == "False True" and lines[3] == "False"
    assert "ignoring GRADIO_ALLOWED_PATHS" in run.stderr and "ignoring GRADIO_SHARE" in run.stderr
    assert stat.S_IMODE((tmp_path / "home" / "gradio_tmp").stat().st_mode) == 0o700


def test_ui_prepares_the_environment_before_importing_gradio():
    source = (server.Path(server.__file__).with_name("ui.py")).read_text(encoding="utf-8")
    assert source.index("prepare_environment()") < source.index("import gradio")
    for name in ("server.py", "render.py", "uploads.py", "assistant.py"):
        assert "import gradio" not in server.Path(server.__file__).with_name(name).read_text(encoding="utf-8")


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
