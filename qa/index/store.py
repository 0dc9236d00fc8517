"""The index on disk: immutable generations of open-format files, checked before use.

    index/
      CURRENT              names the generation in use (replaced atomically)
      gen-<time>-<rand>/   manifest.json, passages.jsonl, sentence_rows.npy, passages.faiss,
                           sentences.npy, tokens.jsonl, passages.bm25/, sentences.bm25/,
                           and scorer.npy when built with the answer scorer

A generation is written completely (each file fsynced) before CURRENT points at it, so a crash at
any moment leaves the previous index usable. It holds everything a question needs, so loading
reads and checks files and never tokenises, embeds or parses a passage record (`qa.index.records`:
each is parsed on first use). The manifest records the format version, the
model, the chunking settings, the FAISS index kind, the SHA-256 of every source document and of
every index file; loading checks all of it before FAISS, numpy or bm25s reads a byte.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.disk import fsync_dir as _fsync_dir
from qa.disk import npy_reading
from qa.disk import writer_lock as writer_lock  # re-exported: the store's callers name it store.writer_lock
from qa.errors import StoreError
from qa.index import vectors as vector_index
from qa.index.lexical import Lexical
from qa.index.manifest import FILES, FORMAT_VERSION, LEXICAL, SCORER_FILE, checked, verified
from qa.index.manifest import MANIFEST as MANIFEST  # re-exported: callers name them as store.X
from qa.index.manifest import REBUILD as REBUILD
from qa.index.manifest import OldFormat as OldFormat
from qa.index.manifest import read_manifest as read_manifest
from qa.index.records import Passages
from qa.ingest.chunks import Passage

CURRENT = "CURRENT"
_FAISS_READ = threading.Lock()


@dataclass(frozen=True)
class Index:
    """A loaded generation: never modified; a rebuild makes a new one and swaps the reference."""

    path: Path
    manifest: dict[str, Any]
    passages: Sequence[Passage]  # a `records.Passages`: each record parsed on first use
    vectors: Any  # FAISS index over the passages' vectors (flat or IVF: manifest["vector_index"])
    sentence_vectors: np.ndarray  # one row per sentence, passages in order (memory-mapped)
    sentence_rows: np.ndarray  # passage i's sentences are rows sentence_rows[i]:sentence_rows[i+1]
    lexical: Lexical  # BM25 over the passages
    sentence_lexical: Lexical  # BM25 over the sentences
    #: the answer scorer's vector of each sentence, rows as sentence_vectors (memory-mapped), made
    #: by the scorer manifest["scorer"]["fingerprint"] names; None when built without one
    scorer_vectors: np.ndarray | None = None

    def scorer_rows(self, fingerprint: str | None) -> np.ndarray | None:
        """The answer scorer's sentence vectors when the scorer with this fingerprint made them, else None."""
        made_by = self.manifest.get("scorer")
        if self.scorer_vectors is None or fingerprint is None or not isinstance(made_by, dict):
            return None
        return self.scorer_vectors if made_by.get("fingerprint") == fingerprint else None


def _write(path: Path, data: bytes) -> str:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return hashlib.sha256(data).hexdigest()


def _fsync_file(path: Path) -> str:
    """SHA-256 of a file another library wrote, once it is on disk."""
    with path.open("rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
        os.fsync(f.fileno())
    return digest


def _npy(array: np.ndarray, dtype: type = np.float32) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=dtype), allow_pickle=False)
    return buffer.getvalue()


def _faiss() -> Any:
    import faiss

    return faiss


def save(
    index_dir: Path,
    manifest: dict[str, Any],
    passages: list[Passage],
    vectors: Any,
    sentence_vectors: np.ndarray,
    tables: tuple[Lexical, Lexical],
    tokens: list[list[list[str]]],
    repeats: Sequence[tuple[int, Passage]] = (),
    scorer_vectors: np.ndarray | None = None,
) -> Index:
    """Writes a new generation and points CURRENT at it; the previous one stays until collected.

    `vectors` is the passages' FAISS index (see `qa.index.vectors`), `tables` the passages' and
    the sentences' BM25, `tokens` each passage's sentences' token lists, `repeats` the passages
    dropped as repeats of earlier ones with their place in their document (both kept for the next
    build, never read to answer), `scorer_vectors` the answer scorer's vector of each sentence
    (kept when given, with the manifest's "scorer" entry naming the scorer that made them).
    """
    if (scorer_vectors is None) != ("scorer" not in manifest):
        raise ValueError("the answer scorer's sentence vectors and the manifest's 'scorer' entry go together")
    faiss = _faiss()
    held = Passages.held(passages)
    gen = index_dir / f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    committed = False
    try:
        with writer_lock(index_dir):
            gen.mkdir()
            lines = "".join(json.dumps(p.to_record(), ensure_ascii=False) + "\n" for p in passages)
            token_lines = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in tokens)
            repeat_lines = "".join(json.dumps({"at": at, "passage": p.to_record()}, ensure_ascii=False) + "\n"
                                   for at, p in repeats)
            files = {
                "passages.jsonl": _write(gen / "passages.jsonl", lines.encode()),
                "sentence_rows.npy": _write(gen / "sentence_rows.npy", _npy(held.rows, np.int64)),
                "passages.faiss": _write(gen / "passages.faiss", faiss.serialize_index(vectors).tobytes()),
                "sentences.npy": _write(gen / "sentences.npy", _npy(sentence_vectors)),
                "tokens.jsonl": _write(gen / "tokens.jsonl", token_lines.encode()),
                "repeats.jsonl": _write(gen / "repeats.jsonl", repeat_lines.encode()),
            }
            if scorer_vectors is not None:
                files[SCORER_FILE] = _write(gen / SCORER_FILE, _npy(scorer_vectors))
            for folder, table in zip(LEXICAL, tables, strict=True):
                for path in table.save(gen / folder):
                    files[f"{folder}/{path.name}"] = _fsync_file(path)
                _fsync_dir(gen / folder)
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
    with npy_reading():
        sentences = np.load(gen / "sentences.npy", mmap_mode="r")
        scored = np.load(gen / SCORER_FILE, mmap_mode="r") if scorer_vectors is not None else None
    return _assemble(gen, manifest, held, vectors, sentences, tables, scored)


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


def read_tokens(index: Index) -> list[list[list[str]]]:
    """Each passage's sentences' token lists, as the build that wrote the generation made them."""
    path = index.path / "tokens.jsonl"
    data = checked(index.path, index.manifest["files"], "tokens.jsonl")
    try:
        out = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    except ValueError as e:
        raise StoreError(f"index file {path} is not valid JSON lines; {REBUILD}") from e
    per_passage = np.diff(index.sentence_rows).tolist()
    if len(out) != len(per_passage) or any(len(t) != n for t, n in zip(out, per_passage, strict=True)):
        raise StoreError(f"index file {path} does not match its passages; {REBUILD}")
    return out


def read_repeats(index: Index) -> list[tuple[int, Passage]]:
    """The passages the build dropped as repeats, each with its place among its document's passages."""
    path = index.path / "repeats.jsonl"
    data = checked(index.path, index.manifest["files"], "repeats.jsonl")
    try:
        out = []
        for line in data.decode("utf-8").splitlines():
            r = json.loads(line)
            out.append((int(r["at"]), Passage.from_record(r["passage"])))
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise StoreError(f"index file {path} is not valid repeat records; {REBUILD}") from e
    return out


def load(gen: Path, manifest: dict[str, Any]) -> Index:
    """Reads a generation after checking every file against the manifest's SHA-256 (the manifest
    comes from `read_manifest`, which has checked its shape). The sentence vectors and the BM25
    matrices are memory-mapped once checked; nothing is tokenised or embedded, and no passage
    record is parsed (each is, and is checked, on first use: `qa.index.records`)."""
    faiss = _faiss()
    files, counts, dim = manifest["files"], manifest["counts"], int(manifest["model"]["dim"])
    read = ("passages.jsonl", "sentence_rows.npy", "passages.faiss")
    data = {name: checked(gen, files, name) for name in read}
    for name in (*FILES, SCORER_FILE) if "scorer" in manifest else FILES:  # the others are read by numpy,
        if name not in read:  # bm25s or the next build: checked, not kept
            verified(gen, files, name)
    try:
        with npy_reading():
            rows = np.load(io.BytesIO(data["sentence_rows.npy"]), allow_pickle=False)
    except (OSError, ValueError) as e:
        raise StoreError(f"index file {gen / 'sentence_rows.npy'} is not an array; {REBUILD}") from e
    passages = Passages.of_file(gen / "passages.jsonl", data["passages.jsonl"], rows, counts["passages"],
                                counts["sentences"])
    name = "passages.faiss"
    try:
        # never let a damaged header make FAISS allocate more than the manifest promises; the
        # limit is process-wide, so two loads in two threads must not interleave
        with _FAISS_READ:
            faiss.set_deserialization_vector_byte_limit(2 * 4 * dim * int(counts["passages"]) + (1 << 20))
            index = faiss.deserialize_index(np.frombuffer(data[name], dtype=np.uint8))
        index = vector_index.opened(index, manifest["vector_index"])
    except (RuntimeError, MemoryError, ValueError) as e:
        raise StoreError(f"index file {gen / name} cannot be read by FAISS as its manifest says; {REBUILD}") from e
    if index.d != dim or index.ntotal != counts["passages"] or index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise StoreError(f"index file {gen / name} does not match its manifest; {REBUILD}")
    del data
    try:
        with npy_reading():
            sentences = np.load(gen / "sentences.npy", mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise StoreError(f"index file {gen / 'sentences.npy'} is not a vector array; {REBUILD}") from e
    if sentences.dtype != np.float32 or sentences.shape != (counts["sentences"], dim):
        raise StoreError(f"index file {gen / 'sentences.npy'} does not match its manifest; {REBUILD}")
    scored = None
    if "scorer" in manifest:
        try:
            with npy_reading():
                scored = np.load(gen / SCORER_FILE, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise StoreError(f"index file {gen / SCORER_FILE} is not a vector array; {REBUILD}") from e
        if scored.dtype != np.float32 or scored.shape != (counts["sentences"], manifest["scorer"]["dim"]):
            raise StoreError(f"index file {gen / SCORER_FILE} does not match its manifest; {REBUILD}")
    tables = []
    for folder, n in zip(LEXICAL, (counts["passages"], counts["sentences"]), strict=True):
        try:
            tables.append(Lexical.load(gen / folder, n))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise StoreError(f"index files in {gen / folder} cannot be read as its manifest says; {REBUILD}") from e
    return _assemble(gen, manifest, passages, index, sentences, (tables[0], tables[1]), scored)


def _assemble(gen: Path, manifest: dict[str, Any], passages: Passages, pindex: Any, svecs: np.ndarray,
              tables: tuple[Lexical, Lexical], scored: np.ndarray | None = None) -> Index:
    rows = passages.rows
    if int(rows[-1]) != len(svecs) or (scored is not None and len(scored) != len(svecs)):
        raise StoreError(f"index in {gen} has {len(svecs)} sentence vectors for {int(rows[-1])} sentences; {REBUILD}")
    return Index(gen, manifest, passages, pindex, svecs, rows, tables[0], tables[1], scored)
