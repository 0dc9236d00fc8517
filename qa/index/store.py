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
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import StoreError
from qa.ingest.chunks import Passage

FORMAT_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
FILES = ("passages.jsonl", "passages.faiss", "sentences.faiss")
_FAISS_READ = threading.Lock()
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
    committed = False
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
            committed = True
            with contextlib.suppress(OSError):  # CURRENT is replaced: the new generation is the index
                _fsync_dir(index_dir)
            _collect(index_dir, keep=gen.name)
    except OSError as e:
        if not committed:
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
    if not index_dir.is_dir():
        return
    try:
        with (index_dir / ".lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                # read under the lock: a writer that just finished may have moved CURRENT
                try:
                    name = (index_dir / CURRENT).read_text().strip()
                except FileNotFoundError:
                    name = ""  # never committed: every generation here is an orphan
                except UnicodeDecodeError:
                    return  # a damaged pointer: leave everything for `qa index --force`
                if name and not name.startswith("gen-"):
                    return  # a damaged pointer: leave everything for `qa index --force`
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
    """The generation's manifest, checked for shape; StoreError naming the file otherwise."""
    path = gen / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise StoreError(f"index manifest missing: {path}; {REBUILD}") from e
    except OSError as e:
        raise StoreError(f"index manifest {path} is unreadable ({e.strerror or e}); {REBUILD}") from e
    except ValueError as e:
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
    problem = _manifest_problem(manifest)
    if problem:
        raise StoreError(f"index manifest {path} is damaged ({problem}); {REBUILD}")
    return manifest


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _manifest_problem(m: dict[str, Any]) -> str | None:
    """What is wrong with a manifest's shape (the fields load and the interfaces rely on), or None."""
    model, files, counts = m.get("model"), m.get("files"), m.get("counts")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str):
        return "no model name"
    if not _is_int(model.get("dim")) or not 0 < model["dim"] <= 65536:
        return "no valid model dimension"
    if not isinstance(files, dict) or any(not isinstance(files.get(n), str) for n in FILES):
        return "no checksum for every index file"
    if not isinstance(counts, dict) or any(not _is_int(counts.get(k)) or counts[k] < 0 for k in ("passages", "sentences")):
        return "no valid passage and sentence counts"
    if not isinstance(m.get("chunking"), dict):
        return "no chunking settings"
    documents = m.get("documents", [])
    if not isinstance(documents, list) or not all(
        isinstance(d, dict)
        and isinstance(d.get("doc"), str)
        and isinstance(d.get("title"), str)
        and _is_int(d.get("passages"))
        and _is_int(d.get("characters"))
        for d in documents
    ):
        return "a malformed document entry"
    if not isinstance(m.get("sources", {}), dict):
        return "malformed sources"
    return None


def _passages(path: Path, data: bytes) -> tuple[Passage, ...]:
    """The passage records of passages.jsonl, each checked so no query can index out of range."""
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise StoreError(f"index file {path} is not UTF-8; {REBUILD}") from e
    out = []
    for n, line in enumerate(lines, 1):
        try:
            p = Passage.from_record(json.loads(line))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise StoreError(f"index file {path} line {n} is not a valid passage record; {REBUILD}") from e
        ok = (
            p.id == n - 1
            and 0 <= p.start < p.end
            and p.sentences
            and all(0 <= s.start < s.end <= len(p.text) and p.start <= s.raw_start < s.raw_end <= p.end for s in p.sentences)
        )
        if not ok:
            raise StoreError(f"index file {path} line {n} has out-of-range ids or offsets; {REBUILD}")
        out.append(p)
    return tuple(out)


def load(gen: Path, manifest: dict[str, Any]) -> Index:
    """Reads a generation after checking every file against the manifest's SHA-256 (the manifest
    comes from `read_manifest`, which has checked its shape)."""
    faiss = _faiss()
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
    passages = _passages(gen / "passages.jsonl", data["passages.jsonl"])
    if len(passages) != counts["passages"]:
        raise StoreError(
            f"index file {gen / 'passages.jsonl'} does not match its manifest ({len(passages)} passages, "
            f"the manifest says {counts['passages']}); {REBUILD}"
        )
    indexes = []
    for name, expected in (("passages.faiss", counts["passages"]), ("sentences.faiss", counts["sentences"])):
        try:
            # never let a damaged header make FAISS allocate more than the manifest promises; the
            # limit is process-wide, so two loads in two threads must not interleave
            with _FAISS_READ:
                faiss.set_deserialization_vector_byte_limit(2 * 4 * dim * int(expected) + (1 << 16))
                index = faiss.deserialize_index(np.frombuffer(data[name], dtype=np.uint8))
        except (RuntimeError, MemoryError, ValueError) as e:
            raise StoreError(f"index file {gen / name} cannot be read by FAISS; {REBUILD}") from e
        if index.d != dim or index.ntotal != int(expected) or index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise StoreError(f"index file {gen / name} does not match its manifest; {REBUILD}")
        indexes.append(index)
    sentences = indexes[1].reconstruct_n(0, indexes[1].ntotal) if indexes[1].ntotal else np.zeros((0, dim), np.float32)
    return _assemble(gen, manifest, list(passages), indexes[0], sentences)


def _assemble(gen: Path, manifest: dict[str, Any], passages: list[Passage], pindex: Any, svecs: np.ndarray) -> Index:
    rows = np.zeros(len(passages) + 1, dtype=np.int64)
    rows[1:] = np.cumsum([len(p.sentences) for p in passages])
    if int(rows[-1]) != len(svecs):
        raise StoreError(f"index in {gen} has {len(svecs)} sentence vectors for {int(rows[-1])} sentences; {REBUILD}")
    return Index(gen, manifest, tuple(passages), pindex, svecs, rows)
