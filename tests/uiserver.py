"""Starts the real `qa serve` in a subprocess for the UI, API and security tests (not a test module).

Also: raw clients for Gradio's queue protocol (`queue/join` + `queue/data`, the two-step
`call/<api>`), and test-only hooks installed inside the server process (an encode spy, an injected
fault), the way the network guard is.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
#: GRADIO_* settings that would widen what Gradio serves; the server must neutralise every one
HOSTILE_ENV = {
    "GRADIO_ALLOWED_PATHS": "/etc",
    "GRADIO_SHARE": "True",
    "GRADIO_SERVER_NAME": "0.0.0.0",
    "GRADIO_MCP_SERVER": "True",
    "GRADIO_VIBE_MODE": "1",
    "GRADIO_LOCAL_DEV_MODE": "1",
    "GRADIO_ANALYTICS_ENABLED": "True",
}
# Runs `qa serve` after installing the hooks named in $QA_TEST_HOOKS (see install_hooks).
_BOOT = ("import sys; sys.path.insert(0, {root!r}); from tests.uiserver import install_hooks; install_hooks(); "
         "from qa.cli import main; sys.exit(main(sys.argv[1:]))")


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen
    home: Path
    corpus: Path
    index: Path
    log: Path
    spy: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def temp_root(self) -> Path:
        return self.home / "gradio_tmp"

    @property
    def temp(self) -> Path:
        """This server's own Gradio temp dir (GRADIO_TEMP_DIR inside the process)."""
        runs = [p for p in self.temp_root.glob(f"run-{self.proc.pid}-*") if p.is_dir()]
        assert len(runs) == 1, runs
        return runs[0]

    @property
    def fault_flag(self) -> Path:
        return self.spy.with_name("fault.flag")

    @property
    def slow_flag(self) -> Path:
        return self.spy.with_name("slow.flag")

    def most_in_flight(self) -> int:
        """The most Assistant.ask calls that ever ran at once in the server (with the "probe" hook)."""
        probe = self.spy.with_name("probe.json")
        return int(json.loads(probe.read_text())["most"]) if probe.exists() else 0

    def stats(self) -> dict[str, Any]:
        """The latest figures of the "stats" hook (threads, queued and pending events)."""
        return json.loads(self.spy.with_name("stats.json").read_text())

    def encodes(self) -> list[tuple[int, int]]:
        """(texts, threads) of every model.encode call so far (with the "spy" hook)."""
        if not self.spy.exists():
            return []
        return [(int(a), int(b)) for a, b in (line.split() for line in self.spy.read_text().splitlines())]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(tmp: Path, corpus: Path, index: Path | None = None, env: dict[str, str] | None = None,
          args: list[str] | None = None, wait: float = 240.0, hooks: tuple[str, ...] = (),
          copy_corpus: bool = True) -> Server:
    """Copies the corpus (and a built index, so start-up does not rebuild it) under `tmp` and
    serves them on a free loopback port; returns once the page answers."""
    work = tmp / "corpus"
    if copy_corpus:
        shutil.copytree(corpus, work)
    else:
        work = corpus
    built = tmp / "index"
    if index is not None and not built.exists():
        shutil.copytree(index, built)
    home = tmp / "home"
    spy = tmp / "encode-spy.log"
    environ = {**os.environ, "QA_HOME": str(home), "GRADIO_TEMP_DIR": str(home / "gradio_tmp"),
               "QA_TORCH_THREADS": "1", "QA_TEST_HOOKS": ",".join(hooks), "QA_TEST_SPY_LOG": str(spy),
               **(env or {})}
    environ = {k: v for k, v in environ.items() if v is not None}
    port = free_port()
    log = tmp / f"server-{port}.log"
    serve = ["serve", "--port", str(port), "--corpus", str(work), "--index", str(built), *(args or [])]
    command = ([sys.executable, "-c", _BOOT.format(root=str(ROOT)), *serve] if hooks
               else [sys.executable, "-m", "qa", *serve])
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environ, cwd=tmp)
    server = Server(f"http://127.0.0.1:{port}/", port, proc, home, work, built, log, spy)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"qa serve exited with {proc.returncode}:\n{server.output()}")
        try:
            if httpx.get(server.url, timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop(server)
    raise RuntimeError(f"qa serve did not come up:\n{server.output()}")


def stop(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


# -- raw clients of Gradio's queue ----------------------------------------------------------------


def config(server: Server) -> dict[str, Any]:
    return httpx.get(server.url + "config", timeout=10).json()


def fn_index(server: Server, name: str) -> tuple[int, int | None]:
    """(fn_index, trigger_id) of the event handler whose function is `name` (private ones too)."""
    for i, dep in enumerate(config(server)["dependencies"]):
        if dep.get("api_name") == name:
            targets = dep.get("targets") or [[None]]
            return i, targets[0][0]
    raise LookupError(name)


def join(server: Server, name: str, data: list[Any], event_data: Any = None, session: str | None = None,
         timeout: float = 60.0) -> dict[str, Any]:
    """Runs a handler the way the page does (`queue/join`, then the `queue/data` stream) and returns
    its `process_completed` message (or the `error`/`unexpected_error` one)."""
    index, trigger = fn_index(server, name)
    session = session or uuid.uuid4().hex[:12]
    body = {"data": data, "fn_index": index, "trigger_id": trigger, "session_hash": session, "event_data": event_data}
    r = httpx.post(server.url + "gradio_api/queue/join", timeout=timeout, headers={"content-type": "application/json"},
                   content=json.dumps(body).encode())  # ASCII escapes: lone surrogates travel as in a browser
    if r.status_code != 200:
        return {"msg": "http_error", "status": r.status_code, "text": r.text}
    with httpx.stream("GET", server.url + "gradio_api/queue/data", params={"session_hash": session},
                      timeout=timeout) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") in ("process_completed", "unexpected_error"):
                return message
    raise AssertionError("the queue stream ended without a result")


def call(server: Server, api: str, body: bytes | dict[str, Any], timeout: float = 60.0) -> tuple[int, str, Any]:
    """The two-step HTTP API: `POST /gradio_api/call/<api>`, then its event stream.

    Returns (status of the POST, the final event's name, its data); a refused POST gives
    (status, "", response text)."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = httpx.post(f"{server.url}gradio_api/call/{api}", content=content, timeout=timeout,
                   headers={"content-type": "application/json"})
    if r.status_code != 200:
        return r.status_code, "", r.text
    event, data = "", None
    with httpx.stream("GET", f"{server.url}gradio_api/call/{api}/{r.json()['event_id']}", timeout=timeout) as s:
        for line in s.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = json.loads(line[5:])
                break
    return r.status_code, event, data


# -- hooks inside the server process (test only) ------------------------------------------------------


def install_hooks() -> None:
    """Installed by the server's start-up command when $QA_TEST_HOOKS names them:

    - spy: every model.encode call appends "<texts> <threads>" to $QA_TEST_SPY_LOG (the threads
      of the backend in use, onnxruntime's or torch's);
    - stats: four times a second, the server's thread count and its queue's pending events are
      written to `stats.json` next to the spy log (Server.stats());
    - fault: while the file `fault.flag` exists next to the spy log (Server.fault_flag), showing a
      citation in context raises an unexpected error carrying a path and a secret;
    - probe: Assistant.ask records the most calls ever in flight at once in `probe.json` next to
      the spy log (Server.most_in_flight()), and while `slow.flag` exists (Server.slow_flag) each
      call holds its place for half a second, so calls that can overlap do.
    """
    hooks = set(filter(None, os.environ.get("QA_TEST_HOOKS", "").split(",")))
    if "spy" in hooks:
        from qa.models.embedder import MiniLM

        real = MiniLM.encode
        log = os.environ["QA_TEST_SPY_LOG"]

        def encode(self: Any, texts: list[str]) -> Any:
            out = real(self, texts)
            with open(log, "a") as f:
                f.write(f"{len(texts)} {self.threads_in_use}\n")
            return out

        MiniLM.encode = encode  # type: ignore[method-assign]
    if "stats" in hooks:
        _report_stats(Path(os.environ["QA_TEST_SPY_LOG"]).with_name("stats.json"))
    if "fault" in hooks:
        from qa.assistant import Assistant

        real_context = Assistant.context
        flag = Path(os.environ["QA_TEST_SPY_LOG"]).with_name("fault.flag")

        def context(self: Any, citation: Any) -> Any:
            if flag.exists():
                raise RuntimeError("injected fault: /srv/secret/store/passages.jsonl has token s3cr3t-t0ken")
            return real_context(self, citation)

        Assistant.context = context  # type: ignore[method-assign]
    if "probe" in hooks:
        _probe_ask(Path(os.environ["QA_TEST_SPY_LOG"]))


def _probe_ask(spy: Path) -> None:
    import threading

    from qa.assistant import Assistant

    real_ask = Assistant.ask
    lock = threading.Lock()
    now = {"in_flight": 0, "most": 0}

    @functools.wraps(real_ask)  # the REST layer reads ask's signature (does it take `docs`?)
    def ask(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            now["in_flight"] += 1
            now["most"] = max(now["most"], now["in_flight"])
            tmp = spy.with_name("probe.tmp")
            tmp.write_text(json.dumps({"most": now["most"]}))
            os.replace(tmp, spy.with_name("probe.json"))
        try:
            if spy.with_name("slow.flag").exists():
                time.sleep(0.5)
            return real_ask(self, *args, **kwargs)
        finally:
            with lock:
                now["in_flight"] -= 1

    Assistant.ask = ask  # type: ignore[method-assign]


def _report_stats(out: Path) -> None:
    import threading

    import qa.serve.server

    real_run = qa.serve.server.run

    def run(demo: Any, *args: Any, **kwargs: Any) -> Any:
        def report() -> None:
            while True:
                try:
                    q = demo._queue
                    data = {"threads": threading.active_count(), "queued": len(q),
                            "pending_sessions": len(q.pending_event_ids_session),
                            "pending_events": sum(len(v) for v in q.pending_event_ids_session.values()),
                            "events": len(q.event_ids_to_events), "time": time.time()}
                    tmp = out.with_suffix(".tmp")
                    tmp.write_text(json.dumps(data))
                    os.replace(tmp, out)
                except Exception as e:  # the app is not up yet, or shutting down
                    out.with_suffix(".err").write_text(repr(e))
                time.sleep(0.25)

        threading.Thread(target=report, name="qa-test-stats", daemon=True).start()
        return real_run(demo, *args, **kwargs)

    qa.serve.server.run = run  # type: ignore[assignment]
