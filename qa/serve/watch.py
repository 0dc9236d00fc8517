"""A watched corpus folder (`qa watch`, `qa serve --watch`): what is added to, changed in or removed
from the corpus folder is indexed once the folder has settled, one refresh per burst of changes,
with one log line per document added, updated, removed or refused.

watchfiles reports the changes (inotify, or polling where a file system has no events). Only a
change to a file the corpus reads counts (not an editor's or a download's temporary file, nor a
hidden one, nor an unsupported type). The folder must then stay quiet for `settle` seconds, no
file still growing or changing, before the index is refreshed, so a file still being copied in is
never read half-written (a copy that stalls for longer than that is read as it is, and read again
once it grows). The refresh is `Assistant.reload`: the generation being served lends what did not
change (only new or changed text is embedded) and keeps answering until the new one is complete
(`qa.index.store` writes each generation whole before pointing CURRENT at it).

Without gradio: `qa.serve.ui` runs a `Watcher` on a thread beside the page, and `qa watch` in the
foreground.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from qa.assistant import Assistant
from qa.config import Settings
from qa.errors import CorpusError, InputError, QAError
from qa.index import indexer
from qa.ingest.documents import corpus_files
from qa.ingest.formats import format_of

#: seconds the folder must stay quiet (no watched file changing) before the index is refreshed
SETTLE = 2.0

#: names that are never documents: hidden files, editors' lock, backup, swap and autosave files
#: (".#x", "~$x.docx", "x~", ".x.swp", "#x#") and partial downloads or copies
_TEMPORARY = re.compile(r"^[.]|^~[$]|^#.*#$|~$|[.](tmp|temp|part|partial|crdownload|download|swp|swx)$",
                        re.IGNORECASE)

#: what the indexer says of a refresh the watcher itself started: not news in its log
_THIS_REFRESH = ("the index is out of date", "no index in ")

Log = Callable[[str], None]
#: a file as the index last saw it: (size, mtime_ns, inode, mode)
Stamp = tuple[int, int, int, int]


def ignored(name: str) -> bool:
    """True for a file name whose changes are never indexed: a temporary or hidden file, or a type
    the corpus does not read."""
    return bool(_TEMPORARY.search(name)) or format_of(Path(name).suffix) is None


def snapshot(corpus_dir: Path) -> dict[str, Stamp]:
    """Size, modification time, inode and mode of every file the index reads (the corpus walk's
    files: hidden ones, Word's owner files and unsupported types are not read); empty when the
    folder is gone."""
    try:
        files = corpus_files(corpus_dir)
    except CorpusError:
        return {}
    out: dict[str, Stamp] = {}
    for path in files:
        with contextlib.suppress(OSError):  # gone since the walk: it is not there
            st = path.stat()
            out[str(path)] = (st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode)
    return out


class _Relevant:
    """watchfiles' filter: the changes that may matter to the index. A false alarm only costs a
    look at the folder (`snapshot`); nothing is indexed unless what the index reads changed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, change: Any, path: str) -> bool:
        from watchfiles import Change

        p = Path(path)
        with contextlib.suppress(ValueError):
            if any(part.startswith(".") for part in p.relative_to(self.root).parts[:-1]):
                return False  # inside a hidden folder, which the corpus walk skips
        if _TEMPORARY.search(p.name):
            return False
        if format_of(p.suffix) is not None:
            return True
        # a folder moved in or out: the files inside bring no events of their own
        return change == Change.deleted or p.is_dir()


class Watcher:
    """Keeps an Assistant's index in step with its corpus folder until stopped.

    Make it before the assistant opens its index: what the folder holds then is what the index is
    taken to reflect, so a change made while the index loads is picked up too.
    """

    def __init__(self, settings: Settings, log: Log, settle: float = SETTLE,
                 progress: indexer.Progress | None = None) -> None:
        if not 0 < settle <= 3600:
            raise InputError(f"--settle must be more than 0 and at most 3600 seconds (got {settle}).")
        self.settings = settings
        self.log = log
        self.settle = settle
        self.progress = progress
        #: refreshes run so far (one per burst of changes), counted as each one ends
        self.rebuilds = 0
        #: set once changes are being watched
        self.watching = threading.Event()
        #: set to stop `run` (after the refresh under way, if any)
        self.stop = threading.Event()
        self._indexed = snapshot(settings.corpus_dir)
        self._named: dict[str, str | None] = {}  # refused files already named, with the hash they had
        self._thread: threading.Thread | None = None

    # -- the loop ----------------------------------------------------------------------------------

    def run(self, assistant: Assistant) -> None:
        """Watches the corpus folder and refreshes `assistant`'s index after each burst of changes,
        until `self.stop` is set."""
        import watchfiles

        self._remember_refusals(assistant)
        root = self.settings.corpus_dir.resolve()
        tick = max(50, min(1000, int(self.settle * 250)))  # ms: a few looks per settle period
        last_change: float | None = None  # when the latest change came, while one waits to be indexed
        for changes in watchfiles.watch(root, watch_filter=_Relevant(root), step=50, stop_event=self.stop,
                                        rust_timeout=tick, yield_on_timeout=True, raise_interrupt=False):
            now = time.monotonic()
            if not self.watching.is_set():  # watched from now on: anything changed before?
                self.watching.set()
                if snapshot(self.settings.corpus_dir) != self._indexed:
                    last_change = now
            if changes:
                last_change = now
                continue
            if last_change is None or now - last_change < self.settle or self.stop.is_set():
                continue
            last_change = None
            self.refresh(assistant)

    def start(self, assistant: Assistant, log: logging.Logger) -> threading.Thread:
        """Runs the loop on a daemon thread (the server's); an unexpected error is logged with its
        trace and ends the watching, never the server."""

        def loop() -> None:
            try:
                self.run(assistant)
            except Exception:
                log.exception("stopped watching %s for changes", self.settings.corpus_dir)

        self._thread = threading.Thread(target=loop, name="qa-watch", daemon=True)
        self._thread.start()
        return self._thread

    def close(self, timeout: float = 30.0) -> None:
        """Stops the loop and waits (at most `timeout` seconds) for a refresh under way to end."""
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- one refresh -------------------------------------------------------------------------------

    def refresh(self, assistant: Assistant) -> bool:
        """Refreshes the index when what it reads changed since the last refresh, and logs each
        document added, updated, removed or refused; returns whether it looked at the corpus again.
        A refresh that fails is one log line, and the previous generation stays in service."""
        seen = snapshot(self.settings.corpus_dir)
        if seen == self._indexed:
            return False  # a temporary file came and went, or a change was put back
        self._indexed = seen
        before = _documents(assistant)
        notes: list[str] = []
        try:
            assistant.reload(progress=self.progress, warn=notes.append)
        except QAError as e:
            self._report(before, before, notes, None)
            kept = "; the previous one is still served" if before else ""
            self.log(f"could not refresh the index ({e}){kept}")
        else:
            sources = assistant.index.manifest.get("sources") or {}
            self._report(before, _documents(assistant), notes, sources)
        self.rebuilds += 1
        return True

    def _report(self, before: dict[str, Any], after: dict[str, Any], notes: list[str],
                sources: dict[str, str] | None) -> None:
        refused: dict[str, str] = {}
        for note in notes:
            doc, sep, why = note.removeprefix("skipped ").partition(": ")
            if note.startswith("skipped ") and sep:
                refused[doc] = why
            elif not note.startswith(_THIS_REFRESH):
                self.log(note)
        if sources is None:  # the refresh failed: the files as they are now
            sources = indexer.source_hashes(self.settings.corpus_dir, self.settings.max_file_bytes)
        self._named = {doc: h for doc, h in self._named.items() if os.path.lexists(self._path(doc))}
        for doc in sorted({*before, *after, *refused}):
            name = doc.split("/", 1)[-1]
            if doc in refused:
                if self._named.get(doc, "") == sources.get(doc) or not self._path(doc).exists():
                    continue  # named already, unchanged since; or deleted while it was read
                self._named[doc] = sources.get(doc)
                self.log(f"refused {name}: {refused[doc]}")
                continue
            self._named.pop(doc, None)
            if doc not in before:
                self.log(f"added {name} ({_size(after[doc])})")
            elif doc not in after:
                self.log(f"removed {name}")
            elif before[doc].get("sha256") != after[doc].get("sha256"):
                self.log(f"updated {name} ({_size(after[doc])})")

    def _remember_refusals(self, assistant: Assistant) -> None:
        """The files the index being served refused: named when it was built, not again."""
        try:
            manifest = assistant.index.manifest
        except InputError:  # nothing indexed yet (`qa watch` on a folder without documents)
            return
        sources = manifest.get("sources") or {}
        for entry in (manifest.get("ingest") or {}).get("skipped") or []:
            doc = entry.get("doc") if isinstance(entry, dict) else None
            if isinstance(doc, str):
                self._named[doc] = sources.get(doc)

    def _path(self, doc: str) -> Path:
        return self.settings.corpus_dir.joinpath(*PurePosixPath(doc).parts[1:])


def _documents(assistant: Assistant) -> dict[str, dict[str, Any]]:
    """The documents the assistant serves, by cited name (none before it has an index)."""
    try:
        return {d["doc"]: d for d in assistant.documents()}
    except InputError:
        return {}


def _size(entry: dict[str, Any]) -> str:
    return ", ".join(_count(entry.get(k), k) for k in ("pages", "passages") if entry.get(k) is not None)


def _count(n: Any, what: str) -> str:
    return f"{n} {what[:-1] if n == 1 else what}"
