"""`qa mcp`: the assistant as a Model Context Protocol server over stdio, for AI assistants.

Built on the official SDK's MCPServer. Tools: `ask`, `list_documents`, `show_context` and, only when
started with `--allow-add`, `add_document`; each indexed document is also a resource,
`qa://documents/<file>` (its extracted text, title and format, as `qa show --json` prints them),
and `qa://documents` lists them. One Assistant is loaded once and answers every call; tools run in
worker threads, so questions go on while `add_document` rebuilds the index (one rebuild at a time).

stdout carries protocol messages only: the SDK points file descriptor 1 at stderr while it serves,
and `stdout_to_stderr` does the same while the index is loaded or built before that. Every bad call
is an MCP error of one line: the arguments are checked as the CLI and the REST API check them (their
messages), pydantic's own complaints are cut to their first problem, and qa.errors.QAError
subclasses become tool errors (or resource errors) with their message.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import anyio
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import (
    ResourceError,
    ResourceNotFoundError,
    ToolError,
    UnexpectedResourceError,
    UnexpectedToolError,
)
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import (
    INVALID_REQUEST,
    PARSE_ERROR,
    CallToolResult,
    ErrorData,
    InputRequiredResult,
    JSONRPCError,
    Resource,
    TextContent,
)
from pydantic import Field, ValidationError

from qa.assistant import Assistant
from qa.errors import InputError, QAError
from qa.ingest import library
from qa.serve import mcpview as view
from qa.serve import pagecheck as check
from qa.text import is_invisible

log = logging.getLogger("qa.mcp")

#: the documents' resources: URI + "/" + the file's path inside the corpus, percent-encoded
URI = "qa://documents"
#: the most passages `ask` returns, the most documents it may be limited to, the longest name or path
K_MAX, MAX_DOCS, MAX_NAME = 50, 1000, 4096
#: an error message is cut to this many characters (a 100,000-character name is not echoed whole)
MAX_MESSAGE = 300
ADD_OFF = "add_document is off: start the server with `qa mcp --allow-add` to let it add files to the corpus."
INSTRUCTIONS = (
    "Answers questions about the user's documents by quoting them: `ask` returns the sentence that "
    "answers (quote) with a numbered citation [n] to its exact characters, or says that the "
    "documents do not answer. Nothing is paraphrased: quote the answer and cite it. `show_context` "
    "gives the paragraphs around a citation; `list_documents` names what can be asked about."
)


def one_line(message: str) -> str:
    """A message as one short line: no line breaks or control characters, at most MAX_MESSAGE long."""
    text = " ".join("".join(" " if ch.isspace() or is_invisible(ch) else ch for ch in message).split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def argument_problem(tool: str, err: ValidationError) -> str:
    """pydantic's complaint about a call's arguments as one line: the first problem, and how many more."""
    problems = err.errors(include_url=False, include_input=False)
    first = problems[0]
    loc = [str(p) for p in first["loc"] if not isinstance(p, int)][:1] or ["arguments"]
    where = loc[0] + "".join(f"[{p}]" for p in first["loc"] if isinstance(p, int))
    if first["type"] == "missing":
        text = f"{tool} needs the argument '{where}'."
    else:
        text = f"{tool}: bad argument '{where}': {str(first['msg']).rstrip('.')}."
    if len(problems) > 1:
        text += f" ({len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    return one_line(text)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Points file descriptor 1 at stderr for a while, so that nothing printed then (by Python, a C
    library or a child process) can reach the protocol's stream."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def doc_uri(doc: str) -> str:
    """The resource URI of a cited document name ("corpus/report.pdf")."""
    return f"{URI}/{quote(doc.split('/', 1)[-1], safe='')}"


def _text(body: str, structured: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=body)], structured_content=structured)


@contextlib.contextmanager
def _edge() -> Iterator[None]:
    """The library's errors become tool errors of one line."""
    try:
        yield
    except QAError as e:
        raise ToolError(one_line(str(e))) from None


class Tools:
    """The tools' bodies over one Assistant. Each runs in a worker thread of its own."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self._adding = threading.Lock()  # one rebuild at a time; questions go on meanwhile

    def _doc(self, name: Any) -> str:
        if not isinstance(name, str) or not name.strip():
            raise InputError("A document name must be a non-empty string.")
        if len(name) > MAX_NAME:
            raise InputError(f"A document name is too long ({len(name):,} characters; the limit is {MAX_NAME}).")
        return next(iter(library.resolve([name], self.assistant.documents())))

    def ask(
        self,
        question: Annotated[str, Field(description="the question, in plain words (at most 2,000 characters)")],
        documents: Annotated[list[str] | None, Field(
            description="search only these documents, each named as list_documents gives it (its doc, file "
                        "name or title); leave out to search them all",
            json_schema_extra={"maxItems": MAX_DOCS})] = None,
        k: Annotated[int | None, Field(description="how many passages to return (1-50, default 5)",
                                       json_schema_extra={"minimum": 1, "maximum": K_MAX})] = None,
        history: Annotated[list[str] | None, Field(
            description="earlier questions of the conversation, oldest first, for a follow-up such as "
                        "'When was it renewed?'", json_schema_extra={"maxItems": check.MAX_HISTORY})] = None,
    ) -> Annotated[CallToolResult, view.AskOutput]:
        """Answers a question about the documents by quoting them: the sentence that answers (quote),
        its citation (document, title, page or section, start/end character offsets), the reader's
        confidence, or, when the documents do not answer, abstained=true and the reason; then the
        passages found, best first, each with its citation. The text form marks citations [n]."""
        a = self.assistant
        with _edge():
            n = None if k is None else check.k(k, K_MAX)
            earlier = check.history(history, a.settings.max_question_chars)
            if documents is not None and len(documents) > MAX_DOCS:
                raise InputError(f"documents must be a list of at most {MAX_DOCS} document names.")
            names = sorted({self._doc(d) for d in documents or []})
            result = a.ask(question, k=n, history=earlier, docs=names or None)
        out = view.ask_output(result)
        return _text(view.ask_text(result, out), out)

    def list_documents(self) -> Annotated[CallToolResult, view.DocumentsOutput]:
        """The indexed documents: doc (the name citations use), title, format, pages, passages,
        characters and when each was indexed (what `qa list --json` prints)."""
        with _edge():
            created = self.assistant.index.manifest.get("created")
            rows = [view.document_row(d, created) for d in self.assistant.documents()]
        return _text(view.documents_text(rows), {"documents": rows})

    def show_context(
        self,
        document: Annotated[str, Field(description="the cited document: citation.doc from ask (or its file name or title)")],
        start: Annotated[int, Field(description="citation.start from ask", ge=0)],
        end: Annotated[int, Field(description="citation.end from ask", ge=0)],
    ) -> Annotated[CallToolResult, view.ContextOutput]:
        """A citation in its place, to check it: the cited paragraph, with the cited characters
        marked, and the paragraphs before and after it, read afresh from the document."""
        with _edge():
            doc = self._doc(document)
            if not start < end:
                raise InputError("start must be less than end (the offsets of a citation from ask).")
            ctx = self.assistant.context({"doc": doc, "start": start, "end": end})
        out = view.context_output(ctx)
        return _text(view.context_text(out), out)

    def add_document(
        self,
        path: Annotated[str, Field(description="the file on this machine: absolute, or relative to the folder "
                                               "the server was started in (PDF, Word, HTML, Markdown or text)")],
    ) -> Annotated[CallToolResult, view.AddOutput]:
        """Adds a file to the corpus and indexes it, after reading it with its format's reader (a file
        that cannot be used is refused with the reason). Questions are answered meanwhile."""
        with _edge():
            if not path.strip() or len(path) > MAX_NAME or any(is_invisible(ch) for ch in path):
                raise InputError(f"path must be a file's path: 1 to {MAX_NAME} characters, no control characters.")
            file = Path(path).expanduser()
            with self._adding:
                done = self.assistant.add([(file, file.name)])
            if not done.added:
                raise InputError(done.refused[0] if done.refused else f"{file.name} was not added.")
            created = self.assistant.index.manifest.get("created")
            rows = [view.document_row(d, created) for d in done.added]
        lines = [f"added {r['doc']}: {r['title']} ({r['passages']} passages)" for r in rows] + done.refused
        return _text("\n".join(lines), {"added": rows, "refused": done.refused})

    def document_list(self) -> str:
        """The resource qa://documents: list_documents' rows, each with its resource's URI."""
        try:
            created = self.assistant.index.manifest.get("created")
            rows = [view.document_row(d, created) | {"uri": doc_uri(d["doc"])} for d in self.assistant.documents()]
        except QAError as e:
            raise ResourceError(one_line(str(e))) from None
        return json.dumps({"documents": rows}, ensure_ascii=False)

    def document(self, name: str) -> str:
        """The resource qa://documents/NAME: what `qa show --json NAME` prints."""
        try:
            document = self.assistant.document(self._doc(name))
        except InputError as e:
            raise ResourceNotFoundError(one_line(str(e))) from None
        except QAError as e:
            raise ResourceError(one_line(str(e))) from None
        return json.dumps({"doc": document.doc, "title": document.title, "author": document.author,
                           "format": document.format, "pages": document.pages,
                           "page_starts": list(document.page_starts), "text": document.raw}, ensure_ascii=False)


def unreadable(err: Exception) -> JSONRPCError:
    """JSON-RPC's reply to a line that is not a message: -32700 for a line that is not JSON, -32600
    for JSON that is not a JSON-RPC message, with the request's id where the line has one (the
    SDK's stdio transport hands the server the validation error, not the line)."""
    if not isinstance(err, ValidationError):
        return JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=INVALID_REQUEST, message="Invalid request"))
    problems = err.errors(include_url=False)
    if any(p["type"] == "json_invalid" for p in problems):
        return JSONRPCError(jsonrpc="2.0", id=None,
                            error=ErrorData(code=PARSE_ERROR, message="Parse error: the line is not JSON"))
    ids = {p["input"].get("id") for p in problems
           if isinstance(p.get("input"), dict) and p["input"].get("jsonrpc") == "2.0"}
    found = [i for i in ids if isinstance(i, (int, str)) and not isinstance(i, bool)]
    # a line with a method is a request (or a notification): say what its fields lack
    shape = "JSONRPCRequest" if found else "JSONRPCNotification"
    where = [f"{'.'.join(str(part) for part in p['loc'][1:])}: {p['msg']}" for p in problems
             if len(p["loc"]) > 1 and p["loc"][0] == shape]
    detail = f" ({one_line('; '.join(where))[:160]})" if where else ""
    return JSONRPCError(jsonrpc="2.0", id=found[0] if len(found) == 1 else None,
                        error=ErrorData(code=INVALID_REQUEST, message=f"Invalid request: not a JSON-RPC message{detail}"))


class QAServer(MCPServer[Any]):
    """The SDK's MCPServer, with one-line errors and a resource for each indexed document."""

    def __init__(self, assistant: Assistant, allow_add: bool = False, version: str = "") -> None:
        super().__init__("qa", version=version, instructions=INSTRUCTIONS)
        self.tools = Tools(assistant)
        self.allow_add = allow_add
        tools: list[Callable[..., Any]] = [self.tools.ask, self.tools.list_documents, self.tools.show_context]
        for tool in tools + ([self.tools.add_document] if allow_add else []):
            self.add_tool(tool, description=inspect.getdoc(tool))

        async def documents() -> str:
            return await anyio.to_thread.run_sync(self.tools.document_list)

        async def document(name: str) -> str:
            return await anyio.to_thread.run_sync(self.tools.document, name)

        self.resource(URI, name="documents", title="The indexed documents", mime_type="application/json",
                      description="doc, title, format, pages, passages, characters, indexed and uri of each")(documents)
        self.resource(f"{URI}/{{name}}", name="document", mime_type="application/json",
                      description="a document's extracted text (what citation offsets index: text[start:end] "
                                  "is the quote), with its doc, title, author, format and page starts")(document)

    async def run_stdio_async(self) -> None:
        """The SDK's stdio loop, but a line that is not a JSON-RPC message gets JSON-RPC's error reply
        (the SDK only logs it, and a client waiting on that request would wait forever)."""
        async with stdio_server() as (read_stream, write_stream):
            relay, inbound = anyio.create_memory_object_stream[SessionMessage | Exception](0)

            async def sort() -> None:
                async with relay, read_stream:
                    async for item in read_stream:
                        if isinstance(item, Exception):
                            reply = unreadable(item)
                            log.warning("answered a line that is not a JSON-RPC message: %s", reply.error.message)
                            await write_stream.send(SessionMessage(reply))
                        else:
                            await relay.send(item)

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(sort)
                await self._lowlevel_server.run(inbound, write_stream,
                                                self._lowlevel_server.create_initialization_options())

    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: Context[Any, Any] | None = None) -> CallToolResult | InputRequiredResult:
        if name == "add_document" and not self.allow_add:
            raise ToolError(ADD_OFF)
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise  # "Error executing tool NAME"; the SDK logs the traceback on stderr
        except ToolError as e:
            cause = e.__cause__
            if isinstance(cause, ValidationError):
                raise ToolError(argument_problem(name, cause)) from None
            raise ToolError(one_line(str(cause if isinstance(cause, ToolError) else e))) from None

    async def list_resources(self) -> list[Resource]:
        listed = await super().list_resources()
        try:
            docs = self.tools.assistant.documents()
        except QAError:
            docs = []
        return listed + [
            Resource(uri=doc_uri(d["doc"]), name=str(d["doc"]).rsplit("/", 1)[-1], title=d["title"],
                     description=f"{d['title']} ({d.get('format') or 'text'}, {d['passages']} passages)",
                     mime_type="application/json")
            for d in docs
        ]

    async def read_resource(self, uri: Any, context: Context[Any, Any] | None = None,
                            ) -> Iterable[ReadResourceContents] | InputRequiredResult:
        try:
            return await super().read_resource(uri, context)
        except UnexpectedResourceError:
            raise
        except ResourceError as e:  # the SDK's "Unknown resource: URI" names what the client sent
            raise type(e)(one_line(str(e))) from None


def serve(assistant: Assistant, allow_add: bool = False, version: str = "") -> int:
    """Answers MCP requests on stdin/stdout until stdin closes. The log (a refused call, a crash's
    traceback) is plain lines on stderr, which MCP clients keep as the server's log."""
    logging.basicConfig(level=logging.INFO, format="qa mcp: %(message)s", stream=sys.stderr)  # before the SDK's
    QAServer(assistant, allow_add=allow_add, version=version).run("stdio")
    return 0
