"""The per-file time limit: PDFs are read in a worker process, which is killed once one takes longer.

pdfminer, PDFium and Tesseract run code that nothing can interrupt from outside its thread, and one
hostile page keeps them busy for long with its memory growing (a million tiny glyphs in a 2.8 KB
file: pdfminer 9 s and 740 MB; ten million, ten times both; CASES.md 40), so a deadline checked
between pages does not cover it. A PDF is therefore read in a worker process (`readworker`): it
tells of each page OCR reads, and when the limit passes it is killed with everything it started
(it leads a process group of its own, so Tesseract goes too) and the next PDF gets a new one. Its
memory is capped, so a bomb cannot take the machine's; its temporary files (Tesseract's page
images) live in a folder of its own, removed whatever happened; what it prints goes to stderr,
never into an MCP stream; it speaks JSON, so nothing is unpickled. A worker is started with
`python -m` (not multiprocessing, whose children import the caller's main module again: a script
without a `__main__` guard, or `python -m qa`, would run twice), and kept while it behaves: a warm
worker adds nothing measurable to a PDF's reading, a new one takes about a second to start, which
no file's limit pays (`python -m benchmarks.ocr`). Other formats are read in process: their readers'
work grows with the file's size, which `Settings.max_file_bytes` bounds. Without POSIX pipes and
process groups (Windows) PDFs are read in process too, without a limit.

Callers set the limit and where progress goes with `reading(seconds, progress, page_seconds)` around
`read_document` (`ingest`, `library.check`, `Assistant`); `qa.ingest.readpdf` reads a PDF under
it; readers tell of each page with `report`, OCR grants each scanned page it begins `page_seconds`
more (`grant_page`: the worker's deadline and its parent's both move), and Tesseract gets
`remaining()` seconds. A long scan is thus read, and a page that stalls is still stopped.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any

from qa.ingest.formats import Skip

#: the default limit on reading one file, in seconds (Settings.file_seconds, $QA_FILE_SECONDS)
DEFAULT_SECONDS = 120
#: the default time each scanned page adds to its file's limit as OCR starts it (Settings.page_seconds,
#: $QA_PAGE_SECONDS): Tesseract reads a page at 300 dpi in 5-12 s on two busy cores
#: (docs/benchmarks.md), so a long scan is read, while one hostile page still meets the limit
PAGE_SECONDS = 30
#: (fraction of this file done, what is being done: "OCR of page 3 (1 of 30 scanned)")
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Limits:
    """How a file is read: within `seconds` (None: in this process, without a limit), telling
    `progress` of each page."""

    seconds: float | None = None
    progress: Progress | None = None
    #: time.monotonic() past which reading is over (set where the reading runs)
    deadline: float | None = None
    #: seconds each scanned page adds to the limit as OCR starts it (`grant_page`)
    page_seconds: float = PAGE_SECONDS
    #: told of each grant (in the worker: tells the parent, which moves its own deadline)
    granted: Callable[[float], None] | None = None


_limits: ContextVar[Limits] = ContextVar("qa_reading_limits", default=Limits())  # noqa: B039 (frozen)


@contextlib.contextmanager
def reading(seconds: float | None, progress: Progress | None = None, page_seconds: float = PAGE_SECONDS
            ) -> Iterator[None]:
    """Files read inside (`read_document`) are read within `seconds` each, and `page_seconds` more
    for each page OCR reads; they tell `progress`."""
    with within(Limits(seconds, progress, page_seconds=page_seconds)):
        yield


@contextlib.contextmanager
def within(limits: Limits) -> Iterator[None]:
    """Reading under `limits` (in the worker: with the deadline and the progress pipe)."""
    token = _limits.set(limits)
    try:
        yield
    finally:
        _limits.reset(token)


def limits() -> Limits:
    """The limits of the reading under way."""
    return _limits.get()


def seconds() -> float:
    """The limit in force (`reading`), else the default: $QA_FILE_SECONDS, else DEFAULT_SECONDS."""
    value = _limits.get().seconds
    if value is not None:
        return value
    given = os.environ.get("QA_FILE_SECONDS", "").strip()
    return float(given) if given.isdigit() and 0 < int(given) <= 86_400 else float(DEFAULT_SECONDS)


def report(fraction: float, what: str) -> None:
    """Tells the caller of the reading under way how far it is (a reader calls this per page)."""
    progress = _limits.get().progress
    if progress is not None:
        progress(min(1.0, max(0.0, fraction)), what)


def grant_page() -> None:
    """OCR starts a scanned page: the reading under way gets the page's allowance more time."""
    limits = _limits.get()
    if limits.page_seconds <= 0:
        return
    if limits.deadline is not None:
        _limits.set(replace(limits, deadline=limits.deadline + limits.page_seconds))
    if limits.granted is not None:
        limits.granted(limits.page_seconds)


def remaining() -> float | None:
    """Seconds left to the reading under way; None when it has no limit."""
    deadline = _limits.get().deadline
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def too_slow(seconds: float, pages: int = 0, page_seconds: float = 0) -> Skip:
    """The refusal of a file that took too long: `seconds`, and `page_seconds` for each of `pages`
    scanned pages begun."""
    if not pages:
        return Skip(f"took longer than {seconds:g} s to read (the per-file limit; QA_FILE_SECONDS sets it)", "too slow")
    begun = "the scanned page begun" if pages == 1 else f"each of the {pages} scanned pages begun"
    return Skip(f"took longer than {seconds + pages * page_seconds:g} s to read (the per-file limit, {seconds:g} s, "
                f"and {page_seconds:g} s for {begun}; QA_FILE_SECONDS and QA_PAGE_SECONDS set them)", "too slow")


# -- the worker process -----------------------------------------------------------------------------


def isolated() -> bool:
    """Whether PDFs are read in a worker process here (POSIX), else in process."""
    return os.name == "posix"


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    send: Connection
    receive: Connection
    folder: str

    @classmethod
    def start(cls) -> _Worker:
        folder = tempfile.mkdtemp(prefix="qa-read-")
        to_worker, from_parent = os.pipe()
        from_worker, to_parent = os.pipe()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "qa.ingest.readworker", str(to_worker), str(to_parent)],
                pass_fds=(to_worker, to_parent), start_new_session=True, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, env={**os.environ, "TMPDIR": folder})
        except BaseException:
            for fd in (to_worker, from_parent, from_worker, to_parent):
                os.close(fd)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        os.close(to_worker)
        os.close(to_parent)
        worker = cls(process, Connection(from_parent, readable=False), Connection(from_worker, writable=False), folder)
        try:  # its imports take a second or so, which no file's limit should pay for
            ready = worker.receive.poll(STARTUP) and json.loads(worker.receive.recv_bytes()).get("ready")
        except (EOFError, OSError, ValueError):
            ready = False
        if not ready:
            worker.stop()
            raise Skip("not read (the PDF reader process did not start)", "not read")
        return worker

    def stop(self) -> None:
        """Kills the worker and what it started, and removes its temporary folder."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.process.pid, signal.SIGKILL)  # its group: Tesseract too
            with contextlib.suppress(OSError):
                self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self.send.close()
        self.receive.close()
        shutil.rmtree(self.folder, ignore_errors=True)


#: seconds a new worker may take to start (import its libraries) before it is given up
STARTUP = 60
#: workers waiting for the next PDF (one per thread that reads at the same time, a few kept)
_idle: list[_Worker] = []
_idle_lock = threading.Lock()
IDLE = 2


def _take() -> _Worker:
    with _idle_lock:
        while _idle:
            worker = _idle.pop()
            if worker.process.poll() is None:
                return worker
            worker.stop()
    return _Worker.start()


def _give_back(worker: _Worker) -> None:
    with _idle_lock:
        if len(_idle) < IDLE and worker.process.poll() is None:
            _idle.append(worker)
            return
    worker.stop()


@atexit.register
def stop_workers() -> None:
    """Stops the idle workers (and removes their temporary folders); the next PDF starts one."""
    with _idle_lock:
        while _idle:
            _idle.pop().stop()


def run(task: str, data: bytes, args: list[Any], seconds: float, progress: Progress | None,
        page_seconds: float = 0) -> Any:
    """Task `task` of `readworker.TASKS` on a PDF's bytes, in a worker; Skip when it takes more
    than `seconds`, and `page_seconds` more for each scanned page its OCR begins, dies, or fails.
    The worker is killed (and its temporary files removed) unless it answered in time."""
    header = {"task": task, "args": args, "seconds": seconds, "page_seconds": page_seconds, "environ": dict(os.environ)}
    worker = _take()
    healthy = False
    pages = 0
    try:
        deadline = time.monotonic() + seconds
        try:
            worker.send.send_bytes(json.dumps(header).encode())
            worker.send.send_bytes(data)
        except OSError:
            raise Skip(_died(worker.process.poll()), "not a readable PDF") from None
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not worker.receive.poll(left):
                raise too_slow(seconds, pages, page_seconds)
            try:
                answer = json.loads(worker.receive.recv_bytes())
            except (EOFError, OSError):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.process.wait(1)
                raise Skip(_died(worker.process.poll()), "not a readable PDF") from None
            if "progress" in answer:
                if progress is not None:
                    progress(*answer["progress"])
                continue
            if "grant" in answer:  # a scanned page begun: its allowance, never more than was asked for
                pages += 1
                deadline += min(float(answer["grant"]), page_seconds)
                continue
            healthy = "error" not in answer and not answer.get("retire")  # else a new worker for the next
            if "ok" in answer:
                return answer["ok"]
            if "skip" in answer:
                raise Skip(*answer["skip"])
            raise Skip(f"not a readable PDF ({answer['error']})", "not a readable PDF")
    finally:
        if healthy:
            _give_back(worker)
        else:
            worker.stop()


def _died(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"not a readable PDF (its reader died: {signal.Signals(-code).name})"
    return "not a readable PDF (its reader died)"
