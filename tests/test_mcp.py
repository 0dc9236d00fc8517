"""`qa mcp`, driven as an MCP client drives it: the SDK's own client (`stdio_client` + `ClientSession`)
starts `python -m qa mcp` as a subprocess over a real index of the bundled article, and calls its
tools and reads its resources over stdio. CASES.md 41: every tool called with missing, wrong-typed,
oversize and control-character arguments, `../` names, questions during a rebuild; each bad call an
MCP error of one line, stdout nothing but protocol messages, and the server answering afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from mcp import MCPError
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.types import CallToolResult

from qa.text import skeleton
from tests.conftest import ARTICLE, ROOT, TREATY

ARTICLE_URI = f"qa://documents/{ARTICLE.name}"
ARTICLE_DOC = f"corpus/{ARTICLE.name}"
#: what the child needs of this run's environment: the shared model cache and the network guard
PASSED_ON = ("QA_MODEL_CACHE", "PYTHONPATH", "QA_TEST_NETGUARD", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
HARBOUR = """# Varrow harbour works

The harbour channel was dredged to a depth of 14 metres in the spring of 2023.

The works were paid for by the Varrow Water Board.
"""


def child_env() -> dict[str, str]:
    return {k: os.environ[k] for k in PASSED_ON if k in os.environ} | {"QA_TORCH_THREADS": "1"}


def server_args(root: Path, *extra: str) -> list[str]:
    return ["-m", "qa", "mcp", "--corpus", str(root / "corpus"), "--index", str(root / "index"), *extra]


def article_folder(root: Path) -> Path:
    (root / "corpus").mkdir(parents=True)
    shutil.copy(ARTICLE, root / "corpus" / ARTICLE.name)
    return root


class Client:
    """The SDK's client over stdio, used from plain (synchronous) tests through an anyio portal."""

    def __init__(self, args: list[str], errlog: Any) -> None:
        self._stack = contextlib.ExitStack()
        try:
            self.portal = self._stack.enter_context(start_blocking_portal())
            params = StdioServerParameters(command=sys.executable, args=args, env=child_env(), cwd=str(ROOT))
            streams = self._stack.enter_context(self.portal.wrap_async_context_manager(stdio_client(params, errlog)))
            self.session = self._stack.enter_context(self.portal.wrap_async_context_manager(ClientSession(*streams)))
            self.portal.call(self.session.initialize)
        except BaseException:
            self._stack.close()
            raise

    def call(self, tool: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
        result = self.portal.call(self.session.call_tool, tool, arguments)
        assert isinstance(result, CallToolResult)
        return result

    def ok(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        result = self.call(tool, arguments)
        assert not result.is_error, result.content
        assert result.structured_content is not None
        return result.structured_content

    def read(self, uri: str) -> Any:
        return json.loads(self.portal.call(self.session.read_resource, uri).contents[0].text)

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return article_folder(tmp_path_factory.mktemp("mcp"))


@pytest.fixture(scope="module")
def client(folder: Path) -> Iterator[Client]:
    """One server for the module, started with --allow-add (it builds the index as it starts)."""
    with open(folder / "server.log", "w") as errlog:
        c = Client(server_args(folder, "--allow-add"), errlog)
        yield c
        c.close()


def assert_one_line_error(result: CallToolResult, *fragments: str) -> None:
    assert result.is_error, result.content
    assert len(result.content) == 1
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.strip() and "\n" not in text and "\r" not in text and len(text) <= 300, text
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment in text, text


def test_qa_mcp_has_help_with_an_example():
    done = subprocess.run([sys.executable, "-m", "qa", "mcp", "--help"], capture_output=True, text=True,
                          timeout=120, env={**os.environ}, cwd=ROOT)
    assert done.returncode == 0 and "example: qa mcp" in done.stdout and "--allow-add" in done.stdout
    top = subprocess.run([sys.executable, "-m", "qa", "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert "mcp" in top.stdout


def test_the_tools_are_listed_with_their_schemas(client: Client):
    tools = {t.name: t for t in client.portal.call(client.session.list_tools).tools}
    assert set(tools) == {"ask", "list_documents", "show_context", "add_document"}
    for t in tools.values():
        assert t.description and "\n        " not in t.description
    assert tools["ask"].input_schema["required"] == ["question"]
    assert set(tools["ask"].input_schema["properties"]) == {"question", "documents", "k", "history"}
    assert {"quote", "citation", "confidence", "abstained", "passages"} <= set(tools["ask"].output_schema["properties"])
    assert tools["show_context"].input_schema["required"] == ["document", "start", "end"]


def test_ask_quotes_the_treaty_and_cites_its_characters(client: Client):
    result = client.call("ask", {"question": TREATY})
    out = result.structured_content
    assert not result.is_error and out is not None
    assert out["abstained"] is False and out["reason"] is None
    assert "Treaty on Friendship, Cooperation, and Mutual Assistance" in out["quote"]
    assert out["span"] is None or isinstance(out["span"], dict | str)
    citation = out["citation"]
    assert citation == out["answer"]["citation"]
    assert citation["doc"] == ARTICLE_DOC and citation["title"] == "China and North Korea: The Uneasy Partnership"
    assert 0 < out["confidence"] <= 1
    # the offsets, applied to the document's text as `qa show` gives it, are the quote
    text = client.read(ARTICLE_URI)["text"]
    assert skeleton(text[citation["start"] : citation["end"]]) == skeleton(out["quote"])
    assert text == ARTICLE.read_text(encoding="utf-8")  # a .txt: offsets into the file as read from disk
    assert [p["rank"] for p in out["passages"]] == list(range(1, 6))
    assert out["passages"][0]["citation"]["id"] == 1
    # the same answer as readable text, with its [n] markers
    readable = result.content[0].text  # type: ignore[union-attr]
    assert readable.startswith(f"“{out['quote']}” [{citation['id']}]")
    assert f"[1] China and North Korea: The Uneasy Partnership, paragraph {citation['paragraph']}" in readable
    assert f"»{out['quote']}«" in readable


def test_ask_takes_documents_k_and_history(client: Client):
    out = client.ok("ask", {"question": "When was it renewed?", "history": [TREATY], "k": 2,
                            "documents": [ARTICLE.name]})
    assert out["query"] != out["question"] and "1961" in out["query"]
    assert len(out["passages"]) == 2
    assert {p["citation"]["doc"] for p in out["passages"]} == {ARTICLE_DOC}


def test_ask_abstains_with_its_reason(client: Client):
    out = client.ok("ask", {"question": "Who won the FIFA World Cup?"})
    assert out["abstained"] is True and out["quote"] is None and out["citation"] is None
    assert out["reason"] and out["passages"]


def test_list_documents_is_what_qa_list_json_prints(client: Client, folder: Path, capsys):
    from qa.cli import main

    out = client.ok("list_documents")
    capsys.readouterr()
    assert main(["list", "--json", "--corpus", str(folder / "corpus"), "--index", str(folder / "index")]) == 0
    cli = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d for d in out["documents"] if d["doc"] == ARTICLE_DOC] == [d for d in cli if d["doc"] == ARTICLE_DOC]


def test_show_context_gives_the_paragraphs_around_a_citation(client: Client):
    citation = client.ok("ask", {"question": TREATY})["citation"]
    result = client.call("show_context", {"document": citation["doc"], "start": citation["start"],
                                          "end": citation["end"]})
    out = result.structured_content
    assert not result.is_error and out is not None
    assert out["doc"] == ARTICLE_DOC and out["paragraph"] == citation["paragraph"]
    a, b = out["highlight"]
    assert out["quote"] == out["text"][a:b] and "Treaty on Friendship" in out["quote"]
    assert out["before"] and out["after"] and out["before_paragraph"] < out["paragraph"] < out["after_paragraph"]
    assert f"»{out['quote']}«" in result.content[0].text  # type: ignore[union-attr]
    # by file name too, as list_documents and ask's `documents` take it
    assert client.ok("show_context", {"document": ARTICLE.name, "start": citation["start"],
                                      "end": citation["end"]})["quote"] == out["quote"]


def test_documents_are_resources(client: Client):
    resources = {str(r.uri): r for r in client.portal.call(client.session.list_resources).resources}
    assert {"qa://documents", ARTICLE_URI} <= set(resources)
    assert resources[ARTICLE_URI].title == "China and North Korea: The Uneasy Partnership"
    listed = client.read("qa://documents")["documents"]
    assert ARTICLE_URI in {d["uri"] for d in listed}
    document = client.read(ARTICLE_URI)
    assert document["title"] == "China and North Korea: The Uneasy Partnership" and document["format"] == "txt"
    templates = client.portal.call(client.session.list_resource_templates).resource_templates
    assert [t.uri_template for t in templates] == ["qa://documents/{name}"]


HUGE = "x" * 100_000
CONTROL = "\x00\x01\x1b[31m\u202e\r\n\u2028"
BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("ask", {}, "ask needs the argument 'question'"),
    ("ask", {"question": 1961}, "bad argument 'question'"),
    ("ask", {"question": None}, "bad argument 'question'"),
    ("ask", {"question": ["a", "list"]}, "bad argument 'question'"),
    ("ask", {"question": HUGE}, "Question is too long (100000 characters; the limit is 2000)."),
    ("ask", {"question": CONTROL}, "Please type a question."),
    ("ask", {"question": TREATY, "k": "many"}, "bad argument 'k'"),
    ("ask", {"question": TREATY, "k": 0}, "The number of passages must be a whole number from 1 to 50."),
    ("ask", {"question": TREATY, "k": 10**12}, "The number of passages must be a whole number from 1 to 50."),
    ("ask", {"question": TREATY, "documents": ARTICLE.name}, "bad argument 'documents'"),
    ("ask", {"question": TREATY, "documents": [7]}, "bad argument 'documents[0]'"),
    ("ask", {"question": TREATY, "documents": ["../../../etc/passwd"]}, "No document is called '../../../etc/passwd'"),
    ("ask", {"question": TREATY, "documents": [f"../{ARTICLE.name}"]}, "No document is called"),
    ("ask", {"question": TREATY, "documents": [HUGE]}, "A document name is too long (100,000 characters"),
    ("ask", {"question": TREATY, "documents": [CONTROL]}, "No document is called"),
    ("ask", {"question": TREATY, "documents": ["a"] * 1001}, "at most 1000 document names"),
    ("ask", {"question": TREATY, "history": HUGE}, "bad argument 'history'"),
    ("ask", {"question": TREATY, "history": [HUGE]}, "history must be a list of at most 50 earlier questions"),
    ("ask", {"question": TREATY, "history": [TREATY] * 51}, "history must be a list of at most 50"),
    ("list_documents", {"unused": HUGE}, ""),  # an argument it does not take is ignored, not an error
    ("show_context", {}, "show_context needs the argument 'document'"),
    ("show_context", {"document": ARTICLE_DOC, "start": 1329}, "show_context needs the argument 'end'"),
    ("show_context", {"document": ARTICLE_DOC, "start": "a", "end": 3}, "bad argument 'start'"),
    ("show_context", {"document": ARTICLE_DOC, "start": -5, "end": 3}, "bad argument 'start'"),
    ("show_context", {"document": ARTICLE_DOC, "start": 1544, "end": 1329}, "start must be less than end"),
    ("show_context", {"document": ARTICLE_DOC, "start": 10**9, "end": 10**9 + 9}, "That citation is not in the current index"),
    ("show_context", {"document": "../../../etc/passwd", "start": 0, "end": 9}, "No document is called"),
    ("show_context", {"document": HUGE, "start": 0, "end": 9}, "A document name is too long"),
    ("show_context", {"document": CONTROL, "start": 0, "end": 9}, "No document is called"),
    ("show_context", {"document": 42, "start": 0, "end": 9}, "bad argument 'document'"),
    ("add_document", {}, "add_document needs the argument 'path'"),
    ("add_document", {"path": 7}, "bad argument 'path'"),
    ("add_document", {"path": HUGE}, "path must be a file's path"),
    ("add_document", {"path": f"/tmp/a{CONTROL}.md"}, "path must be a file's path"),
    ("add_document", {"path": "../../../../../../etc/passwd"}, "skipped passwd: unsupported file type"),
    ("add_document", {"path": "/nonexistent/folder/report.pdf"}, "skipped report.pdf: not found"),
    ("no_such_tool", {"question": TREATY}, "Unknown tool: no_such_tool"),
]


@pytest.mark.parametrize(("tool", "arguments", "fragment"), BAD_CALLS,
                         ids=[f"{t}-{i}" for i, (t, _a, _f) in enumerate(BAD_CALLS)])
def test_a_bad_call_is_an_mcp_error_of_one_line(client: Client, tool: str, arguments: dict[str, Any], fragment: str):
    result = client.call(tool, arguments)
    if not fragment:
        assert not result.is_error
    else:
        assert_one_line_error(result, fragment)


@pytest.mark.parametrize("uri", [
    "qa://documents/..%2F..%2F..%2Fetc%2Fpasswd", "qa://documents/%2Fetc%2Fpasswd", "qa://documents/no-such.txt",
    "qa://documents/" + "y" * 100_000, "qa://documents/%00%1B%5B31m", "file:///etc/passwd", "qa://elsewhere",
])
def test_a_bad_resource_is_an_mcp_error_of_one_line(client: Client, uri: str):
    with pytest.raises(MCPError) as caught:
        client.read(uri)
    message = caught.value.error.message
    assert message and "\n" not in message and len(message) <= 300 and "root:" not in message


def test_the_server_keeps_answering_after_bad_calls(client: Client):
    for tool, arguments, _fragment in BAD_CALLS[:8]:
        client.call(tool, arguments)
    assert "Treaty on Friendship" in client.ok("ask", {"question": TREATY})["quote"]


def test_add_document_while_questions_are_answered(client: Client, tmp_path: Path):
    """A rebuild while questions run: every question answered from a whole index, the file added once."""
    report = tmp_path / "harbour.md"
    report.write_text(HARBOUR, encoding="utf-8")
    adds = [client.portal.start_task_soon(client.session.call_tool, "add_document", {"path": str(report)})
            for _ in range(2)]
    asks = [client.portal.start_task_soon(client.session.call_tool, "ask", {"question": TREATY}) for _ in range(6)]
    for future in asks:
        result = future.result(timeout=300)
        assert not result.is_error, result.content
        assert "Treaty on Friendship" in result.structured_content["quote"]
    added = [f.result(timeout=300) for f in adds]
    good = [r for r in added if not r.is_error]
    assert len(good) == 1, [r.content for r in added]  # one rebuild at a time: the second finds it there
    assert good[0].structured_content["added"][0]["doc"] == "corpus/harbour.md"
    assert_one_line_error(next(r for r in added if r.is_error), "already in the corpus")

    out = client.ok("ask", {"question": "How deep was the harbour channel dredged?", "documents": ["harbour.md"]})
    assert "14 metres" in out["quote"] and out["citation"]["doc"] == "corpus/harbour.md"
    text = client.read("qa://documents/harbour.md")["text"]
    assert skeleton(text[out["citation"]["start"] : out["citation"]["end"]]) == skeleton(out["quote"])
    assert {d["doc"] for d in client.ok("list_documents")["documents"]} == {ARTICLE_DOC, "corpus/harbour.md"}
    assert "Treaty on Friendship" in client.ok("ask", {"question": TREATY})["quote"]


def test_a_server_that_cannot_start_says_why_in_one_line_on_stderr(tmp_path: Path):
    done = subprocess.run([sys.executable, *server_args(tmp_path)], input="", capture_output=True, text=True,
                          timeout=300, env=child_env(), cwd=ROOT)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qa: error: ") and "corpus folder not found" in lines[0], lines


# -- the raw stream ------------------------------------------------------------------------------------


def request(n: int, method: str, params: dict[str, Any] | None = None) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": n, "method": method} | ({"params": params} if params else {}))


def call(n: int, tool: str, arguments: Any) -> str:
    return request(n, "tools/call", {"name": tool, "arguments": arguments})


def conversation(args: list[str], lines: list[str], log: Path, last: int) -> list[str]:
    """Writes `lines` to a server's stdin and returns every line of its stdout, once the reply to
    request `last` has come (closing stdin earlier would cancel the requests still running)."""
    import queue
    import threading

    with open(log, "w") as errlog:
        proc = subprocess.Popen([sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=errlog, text=True, env=child_env(), cwd=ROOT)
    assert proc.stdin is not None and proc.stdout is not None
    out: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [out.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    got: list[str] = []
    try:
        proc.stdin.write("\n".join(lines) + "\n")
        proc.stdin.flush()
        while f'"id":{last},' not in "".join(got[-1:]).replace(" ", ""):
            got.append(out.get(timeout=300))
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    while not out.empty():
        got.append(out.get())
    return [line.rstrip("\n") for line in got]


def test_stdout_carries_protocol_messages_only_and_add_is_refused_by_default(tmp_path: Path):
    """A server without --allow-add, on a fresh index (built as it starts, its messages on stderr),
    fed a raw conversation with bad calls and broken lines: every line of its stdout is a JSON-RPC
    message answering one of ours, each error of one line, and it answers the last question."""
    root = article_folder(tmp_path)
    lines = [
        request(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                  "clientInfo": {"name": "raw-test", "version": "0"}}),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        request(2, "tools/list"),
        call(3, "add_document", {"path": str(ARTICLE)}),
        call(4, "ask", {"question": HUGE}),
        call(5, "ask", {"question": CONTROL}),
        call(6, "ask", ["not", "an", "object"]),
        call(7, "show_context", {"document": "../../etc/passwd", "start": 0, "end": 5}),
        request(8, "resources/read", {"uri": "qa://documents/..%2F..%2Fetc%2Fpasswd"}),
        request(9, "no/such/method"),
        "this line is not JSON",
        json.dumps({"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": "nonsense"}),
        call(11, "ask", {"question": TREATY, "k": 1}),
    ]
    stdout = conversation(server_args(root), lines, tmp_path / "server.log", last=11)
    stderr = (tmp_path / "server.log").read_text()
    assert "building it" in stderr  # the index was built, and said so on stderr
    replies: dict[int, dict[str, Any]] = {}
    anonymous: list[dict[str, Any]] = []
    for line in stdout:
        message = json.loads(line)  # every line of stdout is a protocol message
        assert message["jsonrpc"] == "2.0" and ("result" in message or "error" in message), line[:200]
        if message.get("id") is not None:
            replies[message["id"]] = message
        else:
            anonymous.append(message)
    # every request has its reply, 10 too (its params are not an object: JSON-RPC's invalid request,
    # with its id), and the line that is not JSON JSON-RPC's parse error (no id to answer)
    assert set(replies) == set(range(1, 12)), sorted(replies)
    assert replies[10]["error"]["code"] == -32600 and "params" in replies[10]["error"]["message"]
    assert [m["error"]["code"] for m in anonymous] == [-32700], anonymous
    assert "not a JSON-RPC message" in stderr

    assert "add_document" not in {t["name"] for t in replies[2]["result"]["tools"]}
    refused = replies[3]["result"]
    assert refused["isError"] and "qa mcp --allow-add" in refused["content"][0]["text"]
    assert [p.name for p in (root / "corpus").iterdir()] == [ARTICLE.name]
    for n in (3, 4, 5, 7):
        text = replies[n]["result"]["content"][0]["text"]
        assert replies[n]["result"]["isError"] and "\n" not in text and len(text) <= 300, text
    for n in (6, 8, 9, 10):  # malformed requests: JSON-RPC errors
        text = replies[n]["error"]["message"]
        assert "\n" not in text and len(text) <= 300, text
    answer = replies[11]["result"]
    assert not answer.get("isError") and "Treaty on Friendship" in answer["structuredContent"]["quote"]
    assert "Traceback" not in stderr
