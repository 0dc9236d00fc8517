"""The index on disk: immutable generations of open-format files, checked before use.

    index/
      CURRENT              names the generation in use (replaced atomically)
      gen-<time>-<rand>/   manifest.json, passages.jsonl, passages.faiss, sentences.faiss

A generation is written completely (each file fsynced) before CURRENT points at it, so a crash at
any moment leaves the previous index usable. The manifest records the format version, the model,
the chunking settings, the SHA-256 of every source document and of every index file; loading
checks all of it before FAISS reads a byte.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.chunks import Passage
from qa.errors import StoreError

FORMAT_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
FILES = ("passages.jsonl", "passages.faiss", "sentences.faiss")
REBUILD = "rebuild it with `qa index --force`"


@dataclass(frozen=True)
class Index:
    """A loaded generation: never modified; a rebuild makes a new one and swaps the reference."""

    path: Path
    manifest: dict[str, Any]
    passages: tuple[Passage, ...]
    vectors: Any  # faiss.IndexFlatIP over the passages' vectors
    sentence_vectors: np.ndarray  # one row per sentence, passages in order
    sentence_rows: np.ndarray  # passage i's sentences are rows sentence_rows[i]:sentence_rows[i+1]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path: Path, data: bytes) -> str:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return hashlib.sha256(data).hexdigest()


def _faiss() -> Any:
    import faiss

    return faiss


def _flat(vectors: np.ndarray, dim: int) -> Any:
    index = _faiss().IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


@contextlib.contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """One writer at a time per index folder (readers never wait)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def save(
    index_dir: Path,
    manifest: dict[str, Any],
    passages: list[Passage],
    vectors: np.ndarray,
    sentence_vectors: np.ndarray,
) -> Index:
    """Writes a new generation and points CURRENT at it; the previous one stays until collected."""
    dim = int(manifest["model"]["dim"])
    faiss = _faiss()
    gen = index_dir / f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    try:
        with writer_lock(index_dir):
            gen.mkdir()
            lines = "".join(json.dumps(p.to_record(), ensure_ascii=False) + "\n" for p in passages)
            pindex, sindex = _flat(vectors, dim), _flat(sentence_vectors, dim)
            files = {
                "passages.jsonl": _write(gen / "passages.jsonl", lines.encode()),
                "passages.faiss": _write(gen / "passages.faiss", faiss.serialize_index(pindex).tobytes()),
                "sentences.faiss": _write(gen / "sentences.faiss", faiss.serialize_index(sindex).tobytes()),
            }
            manifest = {**manifest, "format_version": FORMAT_VERSION, "files": files}
            manifest["counts"] = {"passages": len(passages), "sentences": int(len(sentence_vectors))}
            _write(gen / MANIFEST, (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode())
            _fsync_dir(gen)
            _write(index_dir / f"{CURRENT}.tmp", (gen.name + "\n").encode())
            os.replace(index_dir / f"{CURRENT}.tmp", index_dir / CURRENT)
            _fsync_dir(index_dir)
            _collect(index_dir, keep=gen.name)
    except OSError as e:
        shutil.rmtree(gen, ignore_errors=True)
        with contextlib.suppress(OSError):
            (index_dir / f"{CURRENT}.tmp").unlink()
        raise StoreError(f"could not save the index in {index_dir}: {e.strerror or e}") from e
    return _assemble(gen, manifest, passages, pindex, np.asarray(sentence_vectors, dtype=np.float32))


def _collect(index_dir: Path, keep: str) -> None:
    """Removes generations other than `keep` (the caller holds the writer lock)."""
    for child in index_dir.iterdir():
        if child.name.startswith("gen-") and child.name != keep and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)


def collect_garbage(index_dir: Path) -> None:
    """Removes generations left behind by a crashed writer, unless a writer is at work now."""
    try:
        name = (index_dir / CURRENT).read_text().strip()
        with (index_dir / ".lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                _collect(index_dir, keep=name)
                with contextlib.suppress(FileNotFoundError):
                    (index_dir / f"{CURRENT}.tmp").unlink()
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        pass  # busy, read-only or absent: nothing to collect now


def current_generation(index_dir: Path) -> Path | None:
    """The generation CURRENT points at, or None when no index was ever built here."""
    pointer = index_dir / CURRENT
    if not pointer.exists():
        return None
    try:
        name = pointer.read_text().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise StoreError(f"index pointer {pointer} is unreadable; {REBUILD}") from e
    if not name.startswith("gen-") or "/" in name or not (index_dir / name).is_dir():
        raise StoreError(f"index pointer {pointer} names a missing generation; {REBUILD}")
    return index_dir / name


def read_manifest(gen: Path) -> dict[str, Any]:
    path = gen / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise StoreError(f"index manifest missing: {path}; {REBUILD}") from e
    except (OSError, ValueError) as e:
        raise StoreError(f"index manifest {path} is not valid JSON; {REBUILD}") from e
    if not isinstance(manifest, dict):
        raise StoreError(f"index manifest {path} is not a JSON object; {REBUILD}")
    version = manifest.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise StoreError(
            f"index manifest {path} has format version {version}, newer than this qa reads "
            f"({FORMAT_VERSION}): upgrade qa, or {REBUILD}"
        )
    if version != FORMAT_VERSION:
        raise StoreError(
            f"index manifest {path} has format version {version!r}; this qa reads version "
            f"{FORMAT_VERSION}; {REBUILD}"
        )
    return manifest


def load(gen: Path, manifest: dict[str, Any]) -> Index:
    """Reads a generation after checking every file against the manifest's SHA-256."""
    faiss = _faiss()
    try:
        files, counts, dim = manifest["files"], manifest["counts"], int(manifest["model"]["dim"])
        data = {}
        for name in FILES:
            path = gen / name
            try:
                data[name] = path.read_bytes()
            except OSError as e:
                raise StoreError(f"index file {path} is missing or unreadable; {REBUILD}") from e
            if hashlib.sha256(data[name]).hexdigest() != files.get(name):
                raise StoreError(f"index corrupt (checksum mismatch in {path}); {REBUILD}")
        records = [json.loads(line) for line in data["passages.jsonl"].decode("utf-8").splitlines()]
        passages = tuple(Passage.from_record(r) for r in records)
        indexes = []
        for name, expected in (("passages.faiss", counts["passages"]), ("sentences.faiss", counts["sentences"])):
            faiss.set_deserialization_vector_byte_limit(max(1 << 16, 2 * 4 * dim * int(expected) + (1 << 16)))
            try:
                index = faiss.deserialize_index(np.frombuffer(data[name], dtype=np.uint8))
            except RuntimeError as e:
                raise StoreError(f"index file {gen / name} cannot be read by FAISS; {REBUILD}") from e
            if index.d != dim or index.ntotal != int(expected):
                raise StoreError(f"index file {gen / name} does not match its manifest; {REBUILD}")
            indexes.append(index)
    except (KeyError, TypeError, ValueError) as e:
        raise StoreError(f"index in {gen} is inconsistent ({type(e).__name__}: {e}); {REBUILD}") from e
    if len(passages) != counts["passages"] or any(p.id != i for i, p in enumerate(passages)):
        raise StoreError(f"index file {gen / 'passages.jsonl'} does not match its manifest; {REBUILD}")
    sentences = indexes[1].reconstruct_n(0, indexes[1].ntotal) if indexes[1].ntotal else np.zeros((0, dim), np.float32)
    return _assemble(gen, manifest, list(passages), indexes[0], sentences)


def _assemble(gen: Path, manifest: dict[str, Any], passages: list[Passage], pindex: Any, svecs: np.ndarray) -> Index:
    rows = np.zeros(len(passages) + 1, dtype=np.int64)
    rows[1:] = np.cumsum([len(p.sentences) for p in passages])
    if int(rows[-1]) != len(svecs):
        raise StoreError(f"index in {gen} has {len(svecs)} sentence vectors for {int(rows[-1])} sentences; {REBUILD}")
    return Index(gen, manifest, tuple(passages), pindex, svecs, rows)
