"""The REST API next to the chat page: `POST /api/ask`, `GET /api/documents`, `GET /openapi.json`,
and the page view's `GET /api/context` and `GET /api/page` (qa.serve.pages).

Plain Starlette routes put on Gradio's own FastAPI app before it starts (`routes` in launch's
`app_kwargs`, see qa.serve.server), so they sit behind the same middleware as the page: the Host
check (TrustedHostMiddleware) and qa.serve.guard's body limit. They do not go through Gradio's
queue: each question runs in a worker thread of its own, at most `threads` at once (the model and
the index are shared and read-only; Assistant.ask is safe from many threads), and at most `waiting`
more wait for one; past that a request is refused at once with 503.

When the page has a login (`--auth`), every route here needs it too, as HTTP Basic credentials
(the same user and password). The checks and messages are the page's and the CLI's (qa.text,
qa.serve.pagecheck); every error is `{"error": "one line"}`. No gradio here.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from qa.assistant import Assistant
from qa.config import env_whole_number
from qa.errors import InputError, QAError
from qa.serve import openapi, pages
from qa.serve import pagecheck as check
from qa.text import clean_question

log = logging.getLogger("qa.rest")

#: questions answered at once ($QA_API_THREADS)
API_THREADS = 4
#: the most passages a question may ask for (the CLI's and the page API's limit)
K_MAX = 50
#: the most documents a question may be limited to
MAX_DOCS = 1000
FIELDS = ("question", "k", "history", "docs")
#: every route takes any method and answers a wrong one itself, with the API's error shape
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

Handler = Callable[[Request], Awaitable[Response]]


def threads_setting() -> int:
    """How many questions the API answers at once ($QA_API_THREADS, default API_THREADS)."""
    return env_whole_number("QA_API_THREADS", API_THREADS, 1, 64)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The API's error: `{"error": "one line"}`."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def failure(status: int, e: Exception) -> JSONResponse:
    """An error raised by the library, without the server paths it may name."""
    return error(status, check.public(str(e)))


class _Refused(Exception):
    """A request the API answers with an error before doing any work."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RestApi:
    """The API's routes over one Assistant; `login` is the page's (user, password), or None."""

    def __init__(self, assistant: Assistant, login: tuple[str, str] | None = None,
                 threads: int = API_THREADS, waiting: int = 32) -> None:
        self.assistant = assistant
        self.login = login
        self.threads = threads
        self.waiting = waiting
        self.limiter = anyio.CapacityLimiter(threads)
        #: requests admitted (running or waiting for a thread); only touched on the event loop
        self.admitted = 0

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/ask", self._only("POST", self.ask), methods=_METHODS),
            Route("/api/documents", self._only("GET", self.documents), methods=_METHODS),
            Route("/openapi.json", self._only("GET", self.describe), methods=_METHODS),
            Route("/api/context", self._only("GET", self.context), methods=_METHODS),
            Route("/api/page", self._only("GET", self.page), methods=_METHODS),
            Route("/api/{rest:path}", self.unknown, methods=_METHODS),
        ]

    # -- the guards --------------------------------------------------------------------------------

    def _only(self, method: str, handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            refusal = self._login_refusal(request)
            if refusal is not None:
                return refusal
            allowed = (method, "HEAD") if method == "GET" else (method,)
            if request.method not in allowed:
                return error(405, f"Use {method} for {request.url.path}.", headers={"Allow": method})
            return await handler(request)

        return guarded

    def _login_refusal(self, request: Request) -> Response | None:
        if self.login is None:
            return None
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep = user = password = ""
        want_user, want_password = self.login
        same_user = hmac.compare_digest(user.encode(), want_user.encode())
        same_password = hmac.compare_digest(password.encode(), want_password.encode())  # both, always
        if scheme.lower() == "basic" and sep and same_user and same_password:
            return None
        return error(401, "This server needs a login: send the page's user and password as HTTP Basic "
                          "credentials.", headers={"WWW-Authenticate": 'Basic realm="qa", charset="UTF-8"'})

    # -- the routes --------------------------------------------------------------------------------

    async def unknown(self, request: Request) -> Response:
        refusal = self._login_refusal(request)
        return refusal or error(404, f"No such API route: {request.url.path}; see /openapi.json.")

    async def describe(self, _request: Request) -> Response:
        return JSONResponse(openapi.spec(self.assistant.settings.max_question_chars, K_MAX, check.MAX_HISTORY))

    async def documents(self, _request: Request) -> Response:
        try:
            return JSONResponse(self.assistant.documents())
        except QAError as e:
            log.warning("documents: %s", e)
            return failure(503, e)

    async def ask(self, request: Request) -> Response:
        try:
            arguments = self.arguments(await self._body(request))
        except _Refused as e:
            return error(e.status, str(e))
        except InputError as e:
            return failure(422, e)
        if self.admitted >= self.threads + self.waiting:
            return error(503, f"The server is busy ({self.waiting} questions already waiting); try again "
                              "in a moment.", headers={"Retry-After": "1"})
        self.admitted += 1
        try:
            return await anyio.to_thread.run_sync(functools.partial(self._answer, arguments), limiter=self.limiter)
        finally:
            self.admitted -= 1

    async def context(self, request: Request) -> Response:
        try:
            citation = pages.context_arguments(request.query_params)
        except pages.BadRequest as e:
            return error(400, str(e))
        except InputError as e:
            return failure(422, e)
        return await self._in_thread(functools.partial(pages.context_response, self.assistant, citation))

    async def page(self, request: Request) -> Response:
        try:
            doc, page, zoom = pages.page_arguments(request.query_params)
        except pages.BadRequest as e:
            return error(400, str(e))
        except InputError as e:
            return failure(422, e)
        return await self._in_thread(functools.partial(pages.page_response, self.assistant, doc, page, zoom))

    async def _in_thread(self, work: Callable[[], Response]) -> Response:
        """`work` on one of the API's threads, or 503 at once when too many requests wait for one."""
        if self.admitted >= self.threads + self.waiting:
            return error(503, f"The server is busy ({self.waiting} requests already waiting); try again "
                              "in a moment.", headers={"Retry-After": "1"})
        self.admitted += 1
        try:
            return await anyio.to_thread.run_sync(work, limiter=self.limiter)
        finally:
            self.admitted -= 1

    # -- the work ----------------------------------------------------------------------------------

    async def _body(self, request: Request) -> dict[str, Any]:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise _Refused(415, "Send the question as JSON, with Content-Type: application/json.")
        try:
            raw = await request.body()
        except HTTPException as e:  # the guard: the body grew past its limit while streaming in
            raise _Refused(e.status_code, str(e.detail)) from None
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _Refused(400, 'The body must be a JSON object such as {"question": "Who wrote it?"}.')
        return body

    def arguments(self, body: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of Assistant.ask from a request body, checked as the page checks
        them; InputError (422) for a bad value, _Refused (400) for a field it does not know."""
        unknown = sorted(set(body) - set(FIELDS))
        if unknown:
            raise _Refused(400, f"Unknown field {json.dumps(unknown[0])}; the body takes "
                                f"{', '.join(FIELDS[:-1])} and {FIELDS[-1]}.")
        max_chars = self.assistant.settings.max_question_chars
        question = clean_question(body.get("question"), max_chars)
        k = body.get("k")
        out: dict[str, Any] = {
            "question": question,
            "k": self.assistant.settings.k if k is None else check.k(k, K_MAX),
            "history": check.history(body.get("history"), max_chars),
        }
        docs = body.get("docs")
        if docs is not None:
            if (not isinstance(docs, list) or not docs or len(docs) > MAX_DOCS
                    or not all(isinstance(d, str) and 0 < len(d) <= 4096 for d in docs)):
                raise InputError(f"docs must be a list of 1 to {MAX_DOCS} document names (strings).")
            out["docs"] = docs
        return out

    def _answer(self, arguments: dict[str, Any]) -> Response:
        """Runs in a worker thread: the question's JSON, exactly as `qa ask --json` prints it."""
        try:
            return JSONResponse(self.assistant.ask(**arguments).to_json())
        except InputError as e:
            return failure(422, e)
        except QAError as e:  # the index or the corpus: the log keeps the whole story
            log.warning("ask: %s", e, exc_info=True)
            return failure(503, e)
        except Exception:
            log.exception("ask failed")
            return error(500, "Something went wrong on the server; its log has the details.")
