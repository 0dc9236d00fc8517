"""The HTTP guard in front of the chat page: request-body limits and what `/file=` may serve.

An ASGI middleware, installed through `launch(app_kwargs={"middleware": [...]})` (CASES.md c5). It
answers before Gradio sees the request:
- 413 past a request-body limit (uploads get their own, larger one), whether or not the client sent
  a Content-Length, so a 50 MB JSON "question" is never read into memory;
- 403 for `/gradio_api/file=<url>` and `/gradio_api/file/<url>`, which would make the server fetch
  from the network (SSRF);
- 403 for `/file=<path>` outside the app's own temporary folder, whatever Gradio's allowed_paths
  say (they fall back to the environment), and for symlinks leading out of it;
- 404 for Gradio's development routes (`/gradio_api/dev/reload` is an event stream polling
  20 times a second for as long as a client keeps it open; the app never runs in dev mode);
- 400 instead of a 500 when Gradio fails on a malformed request (an unknown fn_index).
Each refusal is one line in the server's log, and so is Gradio's 503 when its queue is full
(`Hosts` does the same for a foreign Host header).
Its answers are `{"detail": ...}` as Gradio's are, and `{"error": ...}` under the REST API's /api/.
No gradio here.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

log = logging.getLogger("qa.server")

#: largest JSON request body (a question, the API's history)
MAX_BODY_BYTES = 1 << 20
#: largest uploaded document
MAX_UPLOAD_BYTES = 10 * 1024 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Gradio serves files at /gradio_api/file=<path> and at the older /gradio_api/file/<path>.
_FILE_ROUTE = re.compile(r"(?:^|/gradio_api)/file(=|/)")
_CLOSED = ("/gradio_api/dev/",)
_REMOTE = re.compile(r"(?i)^\s*([a-z][a-z0-9+.\-]*:|[/\\]{2})")


def is_remote(target: str) -> bool:
    """A URL (any scheme, or protocol-relative) rather than a local path."""
    return bool(_REMOTE.match(target)) or "://" in target


def serves(target: str, root: Path) -> bool:
    """Whether `/file=<target>` names a file inside `root`, after resolving `..` and symlinks."""
    if not target or "\x00" in target or is_remote(target):
        return False
    path = Path(target)
    if not path.is_absolute():
        path = Path.cwd() / path
    real = Path(os.path.realpath(path))
    return real.is_relative_to(Path(os.path.realpath(root))) and real.is_file()


class Guard:
    """ASGI middleware: body-size limits and the `/file=` rules (see the module docstring).

    `files_root` is the only folder `/file=` may serve from (the app's Gradio temp dir); None leaves
    local paths to Gradio (URLs are always refused).
    """

    def __init__(self, app: Callable[..., Awaitable[None]], max_bytes: int = MAX_BODY_BYTES,
                 upload_bytes: int = MAX_UPLOAD_BYTES + (1 << 20), files_root: Path | str | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes
        self.files_root = Path(files_root) if files_root is not None else None

    def _file_refusal(self, path: str, raw: str) -> str | None:
        for where in (path, raw, unquote(raw)):
            m = _FILE_ROUTE.search(where)
            if m and is_remote(where[m.end():]):
                return "Remote files are not served."
        m = _FILE_ROUTE.search(path)
        if m and self.files_root is not None and not serves(path[m.end():], self.files_root):
            return "File not allowed."
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        raw = unquote((scope.get("raw_path") or b"").decode("latin-1"))
        if "/file" in path or "/file" in raw:
            refusal = self._file_refusal(path, raw)
            if refusal:
                await _refuse(scope, send, 403, refusal)
                return
        if path.startswith(_CLOSED):
            await _refuse(scope, send, 404, "Not Found")
            return
        limit = self.upload_bytes if path.endswith("/upload") else self.max_bytes
        key = "error" if path.startswith("/api/") else "detail"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    await _refuse(scope, send, 400, "Invalid Content-Length.", key)
                    return
                if size > limit:
                    await _refuse(scope, send, 413, f"Request body too large (limit {limit} bytes).", key)
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
                if message.get("status") == 503:  # Gradio's answer when its queue is full
                    refused(scope, 503, "Service unavailable (the queue is full).")
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await _refuse(scope, send, 413, f"Request body too large (limit {limit} bytes).", key)
        except (KeyError, IndexError, ValueError, TypeError):
            # Gradio lets some malformed requests raise (e.g. queue/join with an unknown fn_index:
            # KeyError), which would be a 500. The log keeps the trace; the client gets one line.
            if started:
                raise
            log.warning("malformed request %s %s", scope.get("method"), path, exc_info=True)
            await _respond(send, 400, "Bad request.", key)


class Hosts(TrustedHostMiddleware):
    """Starlette's Host-header check (it stops DNS rebinding), with one log line per refusal."""

    def __init__(self, app: Callable[..., Awaitable[None]], allowed_hosts: list[str]) -> None:
        async def admitted(scope: Scope, receive: Receive, send: Send) -> None:
            scope["qa.host_ok"] = True
            await app(scope, receive, send)

        super().__init__(admitted, allowed_hosts=allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def answer(message: Message) -> None:  # the refusal is logged before it is sent
            if message["type"] == "http.response.start" and not scope.get("qa.host_ok"):
                host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
                refused(scope, int(message["status"]), f"Host {json.dumps(host[:100])} is not one of the page's names.")
            await send(message)

        await super().__call__(scope, receive, answer)


def refused(scope: Scope, status: int, detail: str) -> None:
    """The log line of a refused request: method, path (quoted, so no control character reaches the
    log), client, status and why."""
    path = json.dumps(scope.get("path", "")[:200])
    client = (scope.get("client") or ("?",))[0]
    log.info("refused %s %s from %s: %d %s", scope.get("method", "WS"), path, client, status, detail)


async def _refuse(scope: Scope, send: Send, status: int, detail: str, key: str = "detail") -> None:
    refused(scope, status, detail)
    await _respond(send, status, detail, key)


class _TooLarge(HTTPException):
    """Raised while the body streams in: the app's own exception handling answers 413 with it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body too large (limit {limit} bytes).")


async def _respond(send: Send, status: int, detail: str, key: str = "detail") -> None:
    body = json.dumps({key: detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
