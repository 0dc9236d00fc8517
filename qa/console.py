"""What every `qa` command shares: settings from the flags, one-line warnings on stderr, a progress
bar while indexing, and an assistant with its index open."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any


def settings(args: argparse.Namespace) -> Any:
    from qa.config import Settings

    return Settings.for_corpus(args.corpus, args.index)


def warn(message: str) -> None:
    from qa.text import for_terminal

    print(f"qa: {for_terminal(message)}", file=sys.stderr)


def assistant(args: argparse.Namespace) -> Any:
    from qa.assistant import Assistant

    a = Assistant(settings(args), warn=warn, load=False)
    with progress() as callback:
        a.reload(progress=callback)
    return a


@contextlib.contextmanager
def progress() -> Iterator[Any]:
    """A progress callback for indexing: a tqdm bar on a terminal, shown only once the work has
    taken more than a moment; nothing when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    started = time.monotonic()
    bar: list[Any] = []

    def show(fraction: float, message: str) -> None:
        if not bar and time.monotonic() - started < 1.0:
            return
        if not bar:
            bar.append(tqdm(total=100, unit="%", file=sys.stderr, leave=False, dynamic_ncols=True))
        bar[0].set_description_str(message[:60])
        bar[0].update(max(0, round(fraction * 100) - bar[0].n))

    try:
        yield show
    finally:
        if bar:
            bar[0].close()
