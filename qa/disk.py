"""Writing folders safely: one writer at a time per folder, and a folder's entries made durable; and
reading .npy files one thread at a time (`npy_reading`).

The index store (`qa.index.store`), the model cache (`qa.models.export`) and the per-user corpus
(`qa.places`) use these; readers never take the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def writer_lock(folder: Path) -> Iterator[None]:
    """One writer at a time per folder, across threads and processes (an advisory `flock` on
    `folder/.lock`); readers never wait."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def fsync_dir(folder: Path) -> None:
    """Makes a folder's entries (a file created or renamed in it) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: numpy reads a .npy file's header with ast.literal_eval, which CPython 3.11 breaks when two threads
#: parse at once ("AST constructor recursion depth mismatch"): every .npy read of an index, numpy's
#: own or a library's (bm25s), holds this process-wide lock (reentrant: a read may nest in another's)
_NPY = threading.RLock()


@contextlib.contextmanager
def npy_reading() -> Iterator[None]:
    """Holds the process-wide .npy reading lock (header parse and mapping only: fast)."""
    with _NPY:
        yield
