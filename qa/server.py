"""How the chat page is served: environment hygiene, HTTP guards and the hardened launch settings.

Gradio reads several GRADIO_* variables at import time, and some launch() arguments fall back to
the environment when they are None *or falsy* (`allowed_paths=[]` reads GRADIO_ALLOWED_PATHS).
`prepare_environment()` therefore runs before gradio is imported (qa.ui calls it first). This
module never imports gradio itself; `launch()` receives the built page.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import shutil
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from qa.errors import InputError, QAError

log = logging.getLogger("qa.server")

#: largest JSON request body (a question, the API's history)
MAX_BODY_BYTES = 1 << 20
#: largest uploaded document
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: queued requests beyond which a new one is told "queue is full" at once
QUEUE_SIZE = 32
#: temporary files (uploads, exports) older than this are deleted, hourly and at start-up
CACHE_AGE = 24 * 3600

# Variables that widen Gradio's surface (paths, sharing, binding, MCP, dev modes, reloaders).
_UNSAFE_EXTRA = ("SPACE_ID", "SYSTEM")
_OURS = ("GRADIO_ANALYTICS_ENABLED", "GRADIO_TEMP_DIR")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def data_dir() -> Path:
    """Where the app keeps its own files ($QA_HOME, by default ~/.qa)."""
    return Path(os.environ.get("QA_HOME") or Path.home() / ".qa").expanduser().resolve()


def prepare_environment(warn: Callable[[str], None] | None = None) -> Path:
    """Clears every GRADIO_* variable we did not set, turns analytics off, gives Gradio a private
    temp dir (mode 0700) under the data dir, and keeps the model libraries offline.

    Must run before gradio is imported; returns the temp dir. Idempotent.
    """
    say = warn or (lambda m: print(f"qa: {m}", file=sys.stderr))
    if "gradio" in sys.modules and os.environ.get("QA_GRADIO_PREPARED") != "1":
        say("warning: gradio was imported before the environment was prepared")
    tmp = data_dir() / "gradio_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    os.chmod(tmp.parent, stat.S_IRWXU)
    os.chmod(tmp, stat.S_IRWXU)
    for key in sorted(os.environ):
        if (key.startswith("GRADIO_") and key not in _OURS) or key in _UNSAFE_EXTRA:
            say(f"warning: ignoring {key} from the environment")
            del os.environ[key]
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_TEMP_DIR"] = str(tmp)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["QA_GRADIO_PREPARED"] = "1"
    return tmp


def sweep(folder: Path, max_age: float = CACHE_AGE) -> int:
    """Deletes what earlier runs left in Gradio's temp dir, once older than `max_age` seconds
    (younger entries may belong to another server sharing the data dir). Returns how many."""
    removed = 0
    cutoff = time.time() - max_age
    for entry in folder.iterdir():
        try:
            if entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except OSError as e:
            log.warning("could not remove %s from the temp dir: %s", entry.name, e.strerror)
    return removed


# -- who may connect ------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_auth(host: str, auth: str | None) -> tuple[str, str] | None:
    """(user, password) from "USER:PASSWORD"; refuses a non-loopback address without one."""
    if auth is not None:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise InputError("--auth must look like USER:PASSWORD (both non-empty).")
        return user, password
    if not is_loopback(host):
        raise InputError(f"refusing to listen on {host} without a login; add --auth USER:PASSWORD "
                         "(or stay on 127.0.0.1)")
    return None


def allowed_hosts(host: str) -> list[str]:
    """Host headers accepted (anti DNS rebinding): loopback names, plus the bind address when exposed."""
    hosts = ["127.0.0.1", "localhost", "[::1]"]
    if not is_loopback(host):
        if host in ("0.0.0.0", "::", "[::]"):
            hosts.append(socket.gethostname())
        else:
            hosts.append(host)
        hosts += [h.strip() for h in os.environ.get("QA_ALLOWED_HOSTS", "").split(",") if h.strip()]
    return hosts


# -- the HTTP guard -------------------------------------------------------------------------------


class Guard:
    """ASGI middleware: 413 past a request-body limit (uploads get their own, larger one), and 403
    for `/file=<url>`, which would make the server fetch from the network."""

    def __init__(self, app: Callable[..., Awaitable[None]], max_bytes: int = MAX_BODY_BYTES,
                 upload_bytes: int = MAX_UPLOAD_BYTES + (1 << 20)) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        raw = unquote(unquote((scope.get("raw_path") or b"").decode("latin-1")))
        if "/file=" in path or "/file=" in raw:
            target = (path + " " + raw).split("/file=", 1)[1].lstrip().lower()
            if "://" in target or target.startswith(("http:", "https:", "//")):
                await _respond(send, 403, "Remote files are not served.")
                return
        limit = self.upload_bytes if path.endswith("/upload") else self.max_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    await _respond(send, 400, "Invalid Content-Length.")
                    return
                if size > limit:
                    await _respond(send, 413, f"Request body too large (limit {limit} bytes).")
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await _respond(send, 413, f"Request body too large (limit {limit} bytes).")


class _TooLarge(HTTPException):
    """Raised while the body streams in: the app's own exception handling answers 413 with it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body too large (limit {limit} bytes).")


async def _respond(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


# -- launching ------------------------------------------------------------------------------------


def launch_kwargs(host: str, port: int, auth: tuple[str, str] | None, blocked: list[Path]) -> dict[str, Any]:
    """The hardened keyword arguments of `Blocks.launch()` (see CASES.md c5)."""
    return {
        "server_name": host,
        "server_port": port,
        "share": False,
        "allowed_paths": [],
        "blocked_paths": [str(p.resolve()) for p in blocked],
        "max_file_size": MAX_UPLOAD_BYTES,
        "show_error": False,
        "enable_monitoring": False,
        "strict_cors": True,
        "ssr_mode": False,
        "mcp_server": False,
        "run_history": False,
        "footer_links": [],
        "pwa": False,
        "max_threads": 40,
        "auth": auth,
        "app_kwargs": {"middleware": [
            Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(host)),
            Middleware(Guard),
        ]},
        "quiet": True,
        "prevent_thread_lock": True,
    }


def run(demo: Any, host: str, port: int, auth: tuple[str, str] | None, blocked: list[Path],
        theme: Any = None, css: str | None = None) -> int:
    """Queues, launches and serves `demo` until SIGINT/SIGTERM; returns the exit status."""
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1, api_open=False)
    kwargs = launch_kwargs(host, port, auth, blocked)
    try:
        demo.launch(theme=theme, css=css, **kwargs)
    except OSError as e:
        raise QAError(f"cannot listen on {host}:{port} ({e.strerror or 'address in use'}); "
                      "choose another with --port") from None
    problems = [name for name, bad in (
        ("allowed_paths", demo.allowed_paths != []),
        ("share", demo.share is not False),
        ("vibe_mode", getattr(demo, "vibe_mode", False)),
        ("mcp_server", getattr(demo, "mcp_server", False)),
        ("monitoring", getattr(demo, "enable_monitoring", False)),
    ) if bad]
    if problems:
        demo.close()
        raise QAError(f"refusing to serve: unsafe launch settings ({', '.join(problems)})")
    url = f"http://{host if ':' not in host else f'[{host}]'}:{demo.server_port}/"
    print(f"qa: serving on {url} (Ctrl+C to stop)", file=sys.stderr, flush=True)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    finally:
        demo.close()
    print("qa: stopped", file=sys.stderr, flush=True)
    return 0
