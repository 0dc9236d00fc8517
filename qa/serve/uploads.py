"""Adding a document to the corpus from the chat page: checked, safely named, written atomically.

No gradio here: the page hands over the path of the uploaded temporary file and its name.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import InputError
from qa.ingest.documents import TEXT_SUFFIXES, Skip, read_document
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


def check(path: Path, name: str, max_bytes: int) -> Checked:
    """Reads and checks an uploaded file, or raises InputError saying what is wrong with it."""
    name = safe_name(name)
    suffix = Path(name).suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        kinds = ", ".join(TEXT_SUFFIXES)
        raise InputError(f"Only text and Markdown files can be added ({kinds}); {name} is not one.")
    try:
        size = path.stat().st_size
    except OSError:
        raise InputError("The upload did not arrive; try again.") from None
    if size > max_bytes:
        raise InputError(f"{name} is too large ({size:,} bytes; the limit is {max_bytes:,}).")
    try:
        read_document(path, f"upload/{name}", max_bytes)
        data = path.read_bytes()
    except Skip as e:
        raise InputError(f"Cannot add {name}: {e}.") from None
    except OSError:
        raise InputError("The upload could not be read; try again.") from None
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
