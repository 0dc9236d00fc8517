"""Builds the index from the corpus, and opens it: checked, refreshed when the corpus or settings changed."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import Settings
from qa.errors import CorpusError, StoreError
from qa.index import store
from qa.index.embeddings import Embedder
from qa.ingest.chunks import Passage, chunk
from qa.ingest.documents import Skip, corpus_files, doc_name, ingest, open_regular

Warn = Callable[[str], None]
Progress = Callable[[float, str], None]


def _quiet(_message: str) -> None:
    pass


def _no_progress(_fraction: float, _message: str) -> None:
    pass


def source_hashes(corpus_dir: Path, max_bytes: int | None = None) -> dict[str, str]:
    """SHA-256 of every candidate file in the corpus, loadable or not, keyed by its cited name.

    Files are hashed in blocks; a file above `max_bytes` is never read (its size stands in).
    """
    out = {}
    for path in corpus_files(corpus_dir):
        doc = doc_name(corpus_dir, path)
        try:
            fd = open_regular(path)
        except Skip as e:
            out[doc] = f"unreadable: {e}"
            continue
        try:
            size = os.fstat(fd).st_size
            if max_bytes is not None and size > max_bytes:
                out[doc] = f"too large: {size} bytes"  # never read
                continue
            h = hashlib.sha256()
            with os.fdopen(fd, "rb", closefd=False) as f:
                while block := f.read(1 << 20):
                    h.update(block)
            out[doc] = h.hexdigest()
        except OSError:
            out[doc] = "unreadable"
        finally:
            os.close(fd)
    return out


def identity(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    """What an index must have been built with to serve these settings and this model."""
    return {
        "model": {
            "name": embedder.name,
            "dim": embedder.dim,
            "normalize": True,
            "fingerprint": getattr(embedder, "fingerprint", None),
        },
        "chunking": settings.chunking(),
    }


def _describe(model: Any) -> str:
    if not isinstance(model, dict):
        return "an unknown model"
    return (f"{model.get('name')!r} (dimension {model.get('dim')}, normalize {model.get('normalize')}, "
            f"weights {str(model.get('fingerprint'))[:12]})")


def settings_mismatch(manifest: dict[str, Any], settings: Settings, embedder: Embedder) -> str | None:
    """How the model or chunking an index was built with differs from this qa's; None when they agree."""
    want = identity(settings, embedder)
    have_model = manifest.get("model")
    if have_model != want["model"]:
        if isinstance(have_model, dict) and have_model.get("name") == embedder.name:
            diff = [k for k in ("dim", "normalize", "fingerprint") if have_model.get(k) != want["model"].get(k)]
            shown = ", ".join(f"{k} {have_model.get(k)!r}" for k in diff)
            wanted = ", ".join(f"{k} {want['model'].get(k)!r}" for k in diff)
            return f"it was built with the model {embedder.name!r} with {shown}, this qa uses {wanted}"
        have = have_model.get("name") if isinstance(have_model, dict) else None
        return f"it was built with the model {have!r}, this qa uses {_describe(want['model'])}"
    if manifest.get("chunking") != want["chunking"]:
        return f"it was built with chunking {manifest.get('chunking')}, this qa uses {want['chunking']}"
    return None


def stale_reason(manifest: dict[str, Any], settings: Settings, embedder: Embedder) -> str | None:
    """Why an index no longer fits the corpus, settings or model; None when it does."""
    mismatch = settings_mismatch(manifest, settings, embedder)
    if mismatch:
        return mismatch
    have_sources = manifest.get("sources") or {}
    now = source_hashes(settings.corpus_dir, settings.max_file_bytes)
    changed = sorted(d for d in set(now) | set(have_sources) if now.get(d) != have_sources.get(d))
    if changed:
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        return f"the corpus changed: {shown}"
    return None


def build(settings: Settings, embedder: Embedder, warn: Warn = _quiet, progress: Progress = _no_progress) -> store.Index:
    """Reads the corpus, cuts passages, embeds them and their sentences, and saves a new generation."""
    started = time.perf_counter()
    progress(0.0, "reading documents")
    sources = source_hashes(settings.corpus_dir, settings.max_file_bytes)
    read = ingest(settings.corpus_dir, settings.max_file_bytes, warn)
    documents = read.documents
    progress(0.05, f"read the corpus: {read.summary()}")
    passages = unique_passages(chunk(documents, settings.max_words))
    if not passages:
        raise CorpusError(f"no indexable text in {settings.corpus_dir} ({read.summary()}; add .txt or .md files)")
    progress(0.1, f"embedding {len(passages)} passages")
    bulk = getattr(embedder, "bulk", contextlib.nullcontext)
    with bulk():
        vectors = _encode_in_batches(embedder, [p.search_text() for p in passages], progress, 0.1, 0.5)
        texts, rows = _sentence_texts(passages)
        sentence_vectors = np.zeros((len(rows), embedder.dim), dtype=np.float32)
        to_encode = [i for i, r in enumerate(rows) if r < 0]
        if to_encode:
            progress(0.5, f"embedding {len(to_encode)} sentences")
            encoded = _encode_in_batches(embedder, [texts[i] for i in to_encode], progress, 0.5, 0.9)
            sentence_vectors[to_encode] = encoded
    for i, r in enumerate(rows):
        if r >= 0:  # a one-sentence passage: its sentence vector is the passage vector
            sentence_vectors[i] = vectors[r]
    per_doc = Counter(p.doc for p in passages)
    manifest = {
        **identity(settings, embedder),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        # which backend embedded it ("onnx" or "torch"): informative only, both give the same vectors
        "backend": getattr(embedder, "backend", None),
        "sources": sources,
        "ingest": {"summary": read.summary(), "skipped": [{"doc": d, "reason": r} for d, r in read.skipped]},
        "documents": [
            {
                "doc": d.doc,
                "title": d.title,
                "author": d.author,
                "sha256": d.sha256,
                "encoding": d.encoding,
                "characters": len(d.raw),
                "passages": per_doc[d.doc],
            }
            for d in documents
        ],
    }
    progress(0.9, "saving the index")
    index = store.save(settings.index_dir, manifest, passages, vectors, sentence_vectors)
    progress(1.0, f"indexed {len(passages)} passages from {len(documents)} documents "
                  f"in {time.perf_counter() - started:.1f} s")
    return index


def unique_passages(passages: list[Passage]) -> list[Passage]:
    """The passages without repeats (a boilerplate paragraph, a copied section): the first one stays,
    so a search never returns two identical passages. Ids are renumbered 0..n-1."""
    seen: set[str] = set()
    out: list[Passage] = []
    for p in passages:
        key = " ".join(unicodedata.normalize("NFC", p.search_text()).split())
        if key in seen:
            continue
        seen.add(key)
        out.append(p if p.id == len(out) else dataclasses.replace(p, id=len(out)))
    return out


def _sentence_texts(passages: list[Passage]) -> tuple[list[str], list[int]]:
    """Each sentence's text, and for sentences that are a whole passage, that passage's row (else -1)."""
    texts: list[str] = []
    rows: list[int] = []
    for p in passages:
        for i in range(len(p.sentences)):
            texts.append(p.sentence_text(i))
            rows.append(p.id if len(p.sentences) == 1 else -1)
    return texts, rows


def _encode_in_batches(embedder: Embedder, texts: list[str], progress: Progress, lo: float, hi: float) -> np.ndarray:
    out = []
    step = 64
    for i in range(0, len(texts), step):
        out.append(embedder.encode(texts[i : i + step]))
        progress(lo + (hi - lo) * min(1.0, (i + step) / len(texts)), f"embedded {min(i + step, len(texts))}/{len(texts)}")
    return np.vstack(out) if out else np.zeros((0, embedder.dim), dtype=np.float32)


def open_index(
    settings: Settings,
    embedder: Embedder,
    warn: Warn = _quiet,
    force: bool = False,
    progress: Progress = _no_progress,
) -> store.Index:
    """The index for these settings: loaded and checked, or (re)built when absent, stale or forced.

    A corrupt or foreign-format index is refused (StoreError) rather than silently replaced.
    """
    index_dir = settings.index_dir
    if force:
        return build(settings, embedder, warn, progress)
    store.collect_garbage(index_dir)
    for attempt in range(2):
        gen = store.current_generation(index_dir)
        if gen is None:
            if not settings.corpus_dir.is_dir():
                raise CorpusError(f"corpus folder not found: {settings.corpus_dir} (give one with --corpus DIR)")
            warn(f"no index in {index_dir}/ yet; building it")
            return build(settings, embedder, warn, progress)
        try:
            manifest = store.read_manifest(gen)
            if not settings.corpus_dir.is_dir():
                # nothing to rebuild from: an index built for another model or chunking is refused,
                # never searched (a vector of the wrong size is a FAISS assertion at query time)
                mismatch = settings_mismatch(manifest, settings, embedder)
                if mismatch:
                    raise StoreError(
                        f"index {gen / store.MANIFEST} does not fit: {mismatch}; {store.REBUILD} "
                        f"(and --corpus DIR, since {settings.corpus_dir} is missing)"
                    )
                return store.load(gen, manifest)
            reason = stale_reason(manifest, settings, embedder)
            if reason:
                warn(f"the index is out of date ({reason}); rebuilding")
                return build(settings, embedder, warn, progress)
            return store.load(gen, manifest)
        except StoreError:
            # A writer may have replaced the generation while we read it: look again once.
            if attempt == 0 and store.current_generation(index_dir) != gen:
                continue
            raise
    raise StoreError(f"the index in {index_dir} keeps changing; try again")  # pragma: no cover
