"""The corpus folder as a library: files checked, safely named, added and removed atomically.

`qa add`, `qa remove` and the chat page's upload all come here (through `Assistant.add` and
`Assistant.remove`): a file is read with its format's reader before it is copied, so a file that
cannot be read never enters the corpus; it is written to a temporary name, fsynced and renamed.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import InputError
from qa.ingest import timelimit
from qa.ingest.chunks import Passage
from qa.ingest.documents import SUFFIXES, Skip, read_document
from qa.ingest.formats import format_of
from qa.text import is_invisible

MAX_NAME = 100
_UNSAFE = re.compile(r"[^\w.\- ()]+")


@dataclass(frozen=True)
class Checked:
    """An upload that passed the checks: its bytes, their hash and the name it will be saved under."""

    data: bytes
    sha256: str
    name: str


def safe_name(name: str) -> str:
    """A plain file name for the corpus folder: no folders, no control or odd characters, not hidden."""
    base = unicodedata.normalize("NFC", str(name).replace("\\", "/").rsplit("/", 1)[-1])
    base = "".join(ch for ch in base if not is_invisible(ch))
    base = _UNSAFE.sub("_", base).strip(" ._") or "document"
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem.strip(" ._")[: MAX_NAME - len(suffix) - 1] or "document"
    return f"{stem}.{suffix.lower()}" if suffix else stem


def check(path: Path, name: str, max_bytes: int, seconds: float | None = None,
          progress: Callable[[float, str], None] | None = None, page_seconds: float = timelimit.PAGE_SECONDS
          ) -> Checked:
    """Reads and checks a file to add under `name`, or raises InputError saying, in a few words
    and without the name (the caller names the file as the user knows it), what is wrong with it.
    `seconds`: the limit on reading a PDF (`qa.ingest.timelimit`), and `page_seconds` more for
    each scanned page OCR begins; `progress(fraction, message)` hears of each page OCR reads."""
    name = safe_name(name)
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"unsupported file type (supported: {', '.join(SUFFIXES)})")
    try:
        size = path.stat().st_size
    except OSError:
        raise InputError("not found, or it cannot be read") from None
    if size > max_bytes:
        raise InputError(f"too large ({size:,} bytes; the limit is {max_bytes:,})")
    try:
        told = (lambda f, what: progress(f, f"{what} in {name}")) if progress else None
        with timelimit.reading(seconds, told, page_seconds):
            read_document(path, f"upload/{name}", max_bytes, fmt=format_of(suffix))
        data = path.read_bytes()
    except Skip as e:
        raise InputError(str(e)) from None
    except OSError:
        raise InputError("it cannot be read") from None
    return Checked(data, hashlib.sha256(data).hexdigest(), name)


def duplicate_of(checked: Checked, documents: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The indexed document with the same bytes, if any."""
    return next((d for d in documents if d.get("sha256") == checked.sha256), None)


def save(checked: Checked, corpus_dir: Path) -> Path:
    """Writes the file into the corpus folder under a free name (temp file, fsync, rename)."""
    corpus_dir.mkdir(parents=True, exist_ok=True)
    stem, suffix = Path(checked.name).stem, Path(checked.name).suffix
    target = corpus_dir / checked.name
    n = 2
    while target.exists():
        target = corpus_dir / f"{stem}-{n}{suffix}"
        n += 1
    tmp = corpus_dir / f".upload-{os.getpid()}-{checked.sha256[:12]}.tmp"
    try:
        with tmp.open("wb") as f:
            f.write(checked.data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        fd = os.open(corpus_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InputError(f"Could not save {checked.name} into the corpus ({e.strerror or 'write failed'}).") from None
    return target


def remove(path: Path) -> Path:
    """Moves a corpus file aside (a hidden name in its folder, which the corpus walk skips), so the
    removal can be undone with `restore`; `forget` deletes it once the index no longer needs it."""
    aside = path.with_name(f".removed-{os.getpid()}-{path.name}")
    try:
        os.replace(path, aside)
    except OSError as e:
        raise InputError(f"Could not remove {path.name} ({e.strerror or 'rename failed'}).") from None
    return aside


def restore(aside: Path, path: Path) -> None:
    os.replace(aside, path)


def forget(aside: Path) -> None:
    aside.unlink(missing_ok=True)


def resolve(names: Sequence[str], documents: Sequence[dict[str, Any]]) -> set[str]:
    """The cited names ("corpus/report.pdf") of the documents a reader named: by cited name, by
    file name or path inside the corpus, or by title (letter case aside); InputError for a name
    that fits none, or several."""
    chosen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise InputError("A document name must be a non-empty string.")
        want = unicodedata.normalize("NFC", name.strip()).casefold()
        fits = [d["doc"] for d in documents if want in {
            str(d.get("doc", "")).casefold(), str(d.get("doc", "")).split("/", 1)[-1].casefold(),
            str(d.get("doc", "")).rsplit("/", 1)[-1].casefold(), str(d.get("title", "")).casefold()}]
        if not fits:
            raise InputError(f"No document is called {name!r}; `qa list` shows them.")
        if len(set(fits)) > 1:
            raise InputError(f"Several documents are called {name!r} ({', '.join(sorted(fits))}); give the file name.")
        chosen.add(fits[0])
    return chosen


def passage_rows(passages: Sequence[Passage], docs: set[str]) -> np.ndarray:
    """The ids of the passages of some documents, to search among them only."""
    return np.array([p.id for p in passages if p.doc in docs], dtype=np.int64)
