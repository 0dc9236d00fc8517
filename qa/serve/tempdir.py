"""Gradio's temporary folder: one private folder per server process, swept when its process is gone.

    <data dir>/gradio_tmp/                   mode 0700
      run-<pid>-<rand>/                      uploads and exports of one process (its GRADIO_TEMP_DIR)
      run-<pid>-<rand>.lock                  held (flock) for as long as that process lives

A restart therefore starts with an empty cache: the start-up sweep removes every run folder whose
lock nobody holds, however young, and anything else older than the cache age (CASES.md 14). The
folder of a running server (another one sharing the data dir included) is never touched; within
it, Gradio's `delete_cache` removes old files.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import secrets
import shutil
import stat
import time
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("qa.server")

#: temporary files (uploads, exports) older than this are deleted, hourly and at start-up
CACHE_AGE = 24 * 3600

# This process's own temp folder and the open, locked file that tells other processes it is alive.
_run: dict[str, Any] = {}


def claim(root: Path) -> Path:
    """This process's temp folder under `root` (created once, locked, removed at exit)."""
    if "dir" in _run:
        return Path(_run["dir"])
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, stat.S_IRWXU)
    name = f"run-{os.getpid()}-{secrets.token_hex(4)}"
    pending = root / f".{name}.lock"
    lock: IO[str] = pending.open("w")  # noqa: SIM115 (held open, and locked, for the life of the process)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.replace(pending, root / f"{name}.lock")  # appears already locked: a sweep never sees it free
    run = root / name
    run.mkdir(mode=stat.S_IRWXU)
    _run.update(dir=run, lock=lock, root=root)
    atexit.register(release)
    return run


def release() -> None:
    """Deletes this process's temp folder (at exit, or when the server stops)."""
    run, lock = _run.get("dir"), _run.get("lock")
    if run is None or lock is None or lock.closed:
        return
    shutil.rmtree(run, ignore_errors=True)
    Path(f"{run}.lock").unlink(missing_ok=True)
    lock.close()


def _owner_alive(lock_path: Path) -> bool:
    try:
        with lock_path.open("rb") as f:  # never creates it
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False


def sweep(folder: Path, max_age: float = CACHE_AGE) -> int:
    """Deletes what earlier runs left in Gradio's temp root: the folder of every server process
    that is gone, and any other entry older than `max_age` seconds. The folders of running
    servers (this one included) are left alone. Returns how many entries were removed."""
    removed = 0
    cutoff = time.time() - max_age
    for entry in sorted(folder.iterdir()):
        try:
            if entry.name.startswith("run-"):
                stem = entry.name.removesuffix(".lock")
                if _owner_alive(folder / f"{stem}.lock"):
                    continue
            elif entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
        except OSError as e:
            log.warning("could not remove %s from the temp dir: %s", entry.name, e.strerror)
    return removed


def root() -> Path | None:
    """The folder holding every process's temp folder, once this process has claimed its own."""
    return Path(_run["root"]) if "root" in _run else None
