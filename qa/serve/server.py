"""How the chat page is served: environment hygiene, the private temp dir and the hardened launch.

Gradio reads several GRADIO_* variables at import time, and some launch() arguments fall back to
the environment when they are None *or falsy* (`allowed_paths=[]` reads GRADIO_ALLOWED_PATHS).
`prepare_environment()` therefore runs before gradio is imported (qa.serve.ui calls it first). This
module never imports gradio itself; `launch()` receives the built page. The HTTP guard (body
limits, what `/file=` serves) is in qa.serve.guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.machinery
import importlib.util
import ipaddress
import logging
import os
import signal
import socket
import stat
import sys
import threading
import time
import types
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from starlette.middleware import Middleware

from qa.config import env_whole_number, home
from qa.errors import InputError, QAError
from qa.serve import tempdir
from qa.serve.guard import MAX_BODY_BYTES, MAX_UPLOAD_BYTES, Guard, Hosts
from qa.serve.tempdir import CACHE_AGE, sweep

__all__ = ["CACHE_AGE", "MAX_BODY_BYTES", "MAX_UPLOAD_BYTES", "Guard", "prepare_environment", "run", "sweep"]

log = logging.getLogger("qa.server")

#: how long, in seconds, the result of a finished request waits for a client that went away
#: (CASES.md 38; $QA_PENDING_GRACE)
PENDING_GRACE = 60.0
#: queued requests beyond which a new one is told "queue is full" at once ($QA_QUEUE_SIZE)
QUEUE_SIZE = 32

# Variables that widen Gradio's surface (paths, sharing, binding, MCP, dev modes, reloaders).
_UNSAFE_EXTRA = ("SPACE_ID", "SYSTEM")
# Gradio's queue keeps its last 10,000 events for the monitoring page (off here) and rebuilds a
# pandas summary of all of them after every event: CPU and memory that grow with the number of
# requests served, for a page nobody can open. One event kept, the summary never recomputed.
_QUIET_QUEUE = {"GRADIO_ANALYTICS_MAX_EVENTS": "1", "GRADIO_ANALYTICS_CACHE_FREQUENCY": str(10**12)}
_OURS = ("GRADIO_ANALYTICS_ENABLED", "GRADIO_TEMP_DIR", *_QUIET_QUEUE)


def data_dir() -> Path:
    """Where the app keeps its own files (`qa.config.home()`), symlinks resolved: uploads are
    checked against the real path of its temp folder."""
    return home().resolve()


def prepare_environment(warn: Callable[[str], None] | None = None) -> Path:
    """Clears every GRADIO_* variable we did not set, turns analytics off, gives Gradio a private
    temp dir (mode 0700) of its own under the data dir, keeps the model libraries offline, and
    spares gradio's import its type-stub writing (`skip_component_stubs`).

    Must run before gradio is imported; returns the temp dir. Idempotent within a process.
    """
    say = warn or (lambda m: print(f"qa: {m}", file=sys.stderr))
    if tempdir.root() is not None:
        return tempdir.claim(tempdir.root())  # type: ignore[arg-type]
    if "gradio" in sys.modules:
        say("warning: gradio was imported before the environment was prepared")
    root = data_dir() / "gradio_tmp"
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root.parent, stat.S_IRWXU)
    tmp = tempdir.claim(root)
    for key in sorted(os.environ):
        if (key.startswith("GRADIO_") and key not in _OURS) or key in _UNSAFE_EXTRA:
            say(f"warning: ignoring {key} from the environment")
            del os.environ[key]
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.update(_QUIET_QUEUE)
    os.environ["GRADIO_TEMP_DIR"] = str(tmp)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read when gradio imports huggingface_hub
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    skip_component_stubs()
    return tmp


#: gradio's module whose metaclass writes each component class's type stub as the class is made
STUB_WRITER_MODULE = "gradio.component_meta"
STUB_WRITER = "create_or_modify_pyi"


def _no_stub(component_class: type, class_name: str, events: list[Any]) -> None:
    """What gradio's stub writer does in a process that serves: nothing (see `skip_component_stubs`)."""


class _StubWriterOff:
    """An import hook for one module: loads it as Python would, then, before anything else can run
    its code, replaces its stub writer with `_no_stub`; removes itself once used."""

    def __init__(self, module: str) -> None:
        self.module = module

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != self.module:
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec  # not a plain file: loaded as it is, stubs and all
        run = loader.exec_module

        def exec_module(module: types.ModuleType) -> None:
            run(module)
            if hasattr(module, STUB_WRITER):
                setattr(module, STUB_WRITER, _no_stub)

        loader.exec_module = exec_module
        return spec


def skip_component_stubs(module: str = STUB_WRITER_MODULE) -> None:
    """Gradio's components go without their type stubs in this process.

    Gradio 6.31's component metaclass writes a type stub (.pyi) for every component class as the
    class is made, gradio's own ~80 at its import: it reads and parses the class's source, renders
    a template, parses the stub beside it and rewrites that file in site-packages when it differs.
    That is material for type checkers in gradio's own development, never read at run time, and it
    was 3.2 s of the 8.9 s `import gradio` took here (5.8 s without it; every `qa serve` start pays
    the import). Before gradio is imported, an import hook swaps the writer for one that does
    nothing as its module loads; where gradio is already loaded, its writer is swapped in place (the
    classes made later skip it). Idempotent; a gradio without that writer is left as it is."""
    loaded = sys.modules.get(module)
    if loaded is not None:
        if hasattr(loaded, STUB_WRITER):
            setattr(loaded, STUB_WRITER, _no_stub)
        return
    if not any(isinstance(f, _StubWriterOff) and f.module == module for f in sys.meta_path):
        sys.meta_path.insert(0, _StubWriterOff(module))


#: libraries the server never needs but that others pull in when installed: pandas (which gradio
#: imports) loads pyarrow whenever it can, 33 MiB of the server's memory (pyarrow is installed only
#: for `datasets`, which qa/models/training/scorer.py needs); gradio imports the MCP SDK whenever
#: it can, 22 MiB, for an MCP server of its own that `qa serve` keeps off ("mcp_server": False;
#: `qa mcp`, a process of its own, is qa's MCP server)
_NEVER_SERVED = ("pyarrow", "mcp")


class _Deferred(types.ModuleType):
    """Stands in for a library imported at the top of a module that uses it only in functions qa
    never calls (gradio.caching's `import pandas as pd`): the real library is imported on the first
    attribute asked of it, then takes its place in sys.modules, and every later attribute is the
    real one's. Until then it costs nothing."""

    _lock = threading.Lock()

    def __init__(self, name: str, spec: Any = None) -> None:
        super().__init__(name)
        self.__spec__ = spec or importlib.util.find_spec(name)  # what `import name` checks: no load for that

    def __getattr__(self, attribute: str) -> Any:
        name = self.__name__
        with self._lock:
            real = sys.modules.get(name)
            if real is None or real is self:  # not loaded yet: the stand-in may still be in sys.modules
                if real is self:
                    del sys.modules[name]
                try:
                    real = importlib.import_module(name)
                except BaseException:
                    if sys.modules.get(name) is None and real is self:
                        sys.modules[name] = self
                    raise
        return getattr(real, attribute)


#: imported by gradio at its top (gradio.caching) for functions qa never calls: 41 MiB
_DEFERRED = ("pandas",)


@contextlib.contextmanager
def lean_imports() -> Iterator[None]:
    """For the `qa serve` process only, around the import of the server's modules (gradio's among
    them): pandas is imported only when something first uses it (`_Deferred`; measured: 41 MiB, and
    in the server nothing does), then without pyarrow, and gradio goes without the MCP SDK (gradio's
    import 163 -> 130 -> 107 -> 65 MiB). Nothing the page or the API does needs them; gradio imports
    the last two only when it can, and goes on when not.

    The stand-in is in sys.modules only inside the block, for the modules imported there to bind:
    after it, a library that asks whether pandas is already loaded (rapidfuzz asks
    `hasattr(sys.modules.get("pandas"), "NA")` at every match, the lexical index's spelling check)
    hears no, as it would without pandas, instead of loading it by asking."""
    if "pandas" in sys.modules:
        yield
        return
    for name in _NEVER_SERVED:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]  # an import of it fails at once
    stand_ins: dict[str, _Deferred] = {}
    for name in _DEFERRED:
        spec = importlib.util.find_spec(name)
        if spec is not None:
            sys.modules[name] = stand_ins[name] = _Deferred(name, spec)
    try:
        yield
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]  # those who imported it keep it; a later `import` loads the real one


# -- who may connect ------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _extra_hosts() -> list[str]:
    return [h.strip() for h in os.environ.get("QA_ALLOWED_HOSTS", "").split(",") if h.strip()]


def parse_auth(host: str, auth: str | None) -> tuple[str, str] | None:
    """(user, password) from "USER:PASSWORD"; refuses to go without one when the page can be reached
    from elsewhere: a non-loopback address, or other names in $QA_ALLOWED_HOSTS (a reverse proxy)."""
    if auth is not None:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise InputError("--auth must look like USER:PASSWORD (both non-empty).")
        return user, password
    if not is_loopback(host):
        raise InputError(f"refusing to listen on {host} without a login; add --auth USER:PASSWORD "
                         "(or stay on 127.0.0.1)")
    if _extra_hosts():
        raise InputError("QA_ALLOWED_HOSTS lets the page be reached by other names; add --auth USER:PASSWORD")
    return None


def allowed_hosts(host: str) -> list[str]:
    """Host headers accepted (anti DNS rebinding): loopback names, the bind address when exposed, and
    the names in $QA_ALLOWED_HOSTS (e.g. a reverse proxy's public name)."""
    hosts = ["127.0.0.1", "localhost", "[::1]"]
    if not is_loopback(host):
        hosts.append(socket.gethostname() if host in ("0.0.0.0", "::", "[::]") else host)
    return hosts + [h for h in _extra_hosts() if h not in hosts]


# -- the queue's memory of clients that left ---------------------------------------------------------


def prune_pending(queue: Any, first_seen: dict[str, float], now: float, grace: float = PENDING_GRACE) -> int:
    """Forgets what Gradio's queue keeps for clients that went away; returns how many ids it dropped.

    Gradio 6.31 keeps, per session, the ids of events whose result has not been delivered
    (`pending_event_ids_session`, a plain dict): a client that hangs up mid-request leaves its id
    there for good, and every session leaves an empty set behind. Empty sets are dropped at once (a
    new request makes a fresh one); the id of an event that is no longer live is dropped once it
    has waited `grace` seconds for its client. Runs on the server's event loop, between awaits.
    """
    live = queue.event_ids_to_events
    pending = queue.pending_event_ids_session
    dropped = 0
    for session, ids in list(pending.items()):
        for event_id in [i for i in ids if i not in live]:
            if now - first_seen.setdefault(event_id, now) >= grace:
                ids.discard(event_id)
                first_seen.pop(event_id, None)
                dropped += 1
        if not ids:
            pending.pop(session, None)
    waiting = {i for ids in pending.values() for i in ids}
    for event_id in [i for i in first_seen if i not in waiting]:
        del first_seen[event_id]
    return dropped


def queue_janitor(demo: Any, every: float = 5.0, grace: float = PENDING_GRACE) -> Callable[[Any], Any]:
    """A lifespan for the app: runs prune_pending on `demo`'s queue every `every` seconds."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        async def loop() -> None:
            first_seen: dict[str, float] = {}
            while True:
                await asyncio.sleep(every)
                try:
                    prune_pending(demo._queue, first_seen, time.monotonic(), grace)
                except Exception:  # never let the janitor take the server down
                    log.exception("could not prune the queue")

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()

    return lifespan


# -- launching ------------------------------------------------------------------------------------


def queue_size() -> int:
    """How many requests may wait ($QA_QUEUE_SIZE, default QUEUE_SIZE); more are refused at once."""
    return env_whole_number("QA_QUEUE_SIZE", QUEUE_SIZE, 1, 10_000)


def pending_grace() -> float:
    """How long a finished result waits for its client ($QA_PENDING_GRACE, default PENDING_GRACE)."""
    return float(env_whole_number("QA_PENDING_GRACE", int(PENDING_GRACE), 1, 3600, "seconds"))


def launch_kwargs(host: str, port: int, auth: tuple[str, str] | None, blocked: list[Path],
                  files_root: Path | None = None, handlers: dict[Any, Any] | None = None,
                  lifespan: Any = None, routes: list[Any] | None = None) -> dict[str, Any]:
    """The hardened keyword arguments of `Blocks.launch()` (see CASES.md c5); `/file=` serves only
    from `files_root` (the app's temp dir); `handlers` are the app's extra exception handlers;
    `routes` (the REST API, qa.serve.rest) come before Gradio's own, behind the same middleware, and
    replace FastAPI's generated /openapi.json."""
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
            Middleware(Hosts, allowed_hosts=allowed_hosts(host)),
            Middleware(Guard, files_root=files_root),
        ], "exception_handlers": dict(handlers or {}), "lifespan": lifespan,
            "routes": list(routes or []), "openapi_url": None},
        "quiet": True,
        "prevent_thread_lock": True,
    }


def run(demo: Any, host: str, port: int, auth: tuple[str, str] | None, blocked: list[Path],
        theme: Any = None, css: str | None = None, files_root: Path | None = None,
        handlers: dict[Any, Any] | None = None, js: str | None = None, routes: list[Any] | None = None,
        waiting: int | None = None, grace: float | None = None) -> int:
    """Queues, launches and serves `demo` (and `routes` beside it) until SIGINT/SIGTERM; returns the
    exit status. `waiting` and `grace`: the queue's size and the pending grace, as already read by
    the caller (by default from the environment, queue_size() and pending_grace())."""
    demo.queue(max_size=queue_size() if waiting is None else waiting, default_concurrency_limit=1, api_open=False)
    grace = pending_grace() if grace is None else grace
    kwargs = launch_kwargs(host, port, auth, blocked, files_root, handlers,
                           lifespan=queue_janitor(demo, grace=grace), routes=routes)
    try:
        demo.launch(theme=theme, css=css, js=js, **kwargs)
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
        demo.close(verbose=False)
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
        demo.close(verbose=False)
        tempdir.release()
    print("qa: stopped", file=sys.stderr, flush=True)
    return 0
