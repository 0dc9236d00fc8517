"""`qa watch`: keeps the index in step with the corpus folder until Ctrl+C (the parser and `main` are
in qa.cli; the watching itself is qa.serve.watch)."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from qa import console


def cmd_watch(args: argparse.Namespace) -> int:
    from qa.assistant import Assistant
    from qa.errors import CorpusError, InputError
    from qa.serve.watch import Watcher

    settings = console.settings(args)
    watcher = Watcher(settings, console.warn, settle=args.settle)  # before the index is opened
    # nothing is asked here: the answer scorer and reader are not loaded
    a = Assistant(settings.with_(scorer=False, reader=False), warn=console.warn, load=False)
    try:
        with console.progress() as progress:
            a.reload(progress=progress)
    except CorpusError as e:
        if not settings.corpus_dir.is_dir():
            raise
        console.warn(f"nothing to index yet ({e})")  # an empty folder waits for its first documents
    try:
        n = len(a.documents())
    except InputError:  # no index yet
        n = 0
    console.warn(f"watching {settings.corpus_dir}/ ({n} document{'' if n == 1 else 's'} indexed); Ctrl+C to stop")
    with _stopped_by_signals(watcher.stop):
        watcher.run(a)
    console.warn("stopped watching")
    return 0


class _stopped_by_signals:
    """SIGINT and SIGTERM set `stop` (the refresh under way ends first, so nothing is left half
    done); a second Ctrl+C interrupts at once."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.saved: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop.set()

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved[sig] = signal.signal(sig, self._handle)

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
