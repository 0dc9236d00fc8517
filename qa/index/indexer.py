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
from typing import Any, Protocol

import numpy as np

from qa.config import Settings
from qa.errors import CorpusError, StoreError
from qa.index import lexical, store
from qa.index import reuse as reuse_
from qa.index import vectors as vector_index
from qa.ingest.chunks import Passage, passages_of
from qa.ingest.documents import Ingest, Skip, corpus_files, doc_name, ingest, open_regular
from qa.models.embedder import Embedder

Warn = Callable[[str], None]
Progress = Callable[[float, str], None]


class SentenceScorer(Protocol):
    """What a build needs of the answer scorer (qa.models.scorer.Scorer) to keep its sentence vectors."""

    @property
    def fingerprint(self) -> str: ...

    def index_vectors(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray: ...


def scorer_fingerprint(scorer: object | None) -> str | None:
    """The fingerprint of a scorer whose sentence vectors an index can keep; None for none (or a
    stand-in without `fingerprint` and `index_vectors`, as unit tests pass)."""
    if scorer is None or not hasattr(scorer, "index_vectors"):
        return None
    fingerprint = getattr(scorer, "fingerprint", None)
    return fingerprint if isinstance(fingerprint, str) else None


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


def scorer_mismatch(manifest: dict[str, Any], scorer: SentenceScorer | None) -> str | None:
    """Why an index does not keep the sentence vectors of this answer scorer (None: it does, or
    there is no scorer to keep them for)."""
    want = scorer_fingerprint(scorer)
    if want is None:
        return None
    have = manifest.get("scorer")
    if not isinstance(have, dict):
        return "it keeps no sentence vectors of the answer scorer"
    if have.get("fingerprint") != want:
        return "its sentence vectors were made by another answer scorer"
    return None


def stale_reason(manifest: dict[str, Any], settings: Settings, embedder: Embedder,
                 scorer: SentenceScorer | None = None) -> str | None:
    """Why an index no longer fits the corpus, settings or models; None when it does. With a
    `scorer`, an index without its sentence vectors is stale too (a refresh computes only those)."""
    mismatch = settings_mismatch(manifest, settings, embedder)
    if mismatch:
        return mismatch
    have_sources = manifest.get("sources") or {}
    now = source_hashes(settings.corpus_dir, settings.max_file_bytes)
    changed = sorted(d for d in set(now) | set(have_sources) if now.get(d) != have_sources.get(d))
    if changed:
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        return f"the corpus changed: {shown}"
    return scorer_mismatch(manifest, scorer)


def build(settings: Settings, embedder: Embedder, warn: Warn = _quiet, progress: Progress = _no_progress,
          reuse: bool = True, current: store.Index | None = None, scorer: SentenceScorer | None = None) -> store.Index:
    """Reads the corpus, cuts passages, embeds them and their sentences, and saves a new generation.

    With `reuse` (the default) the previous generation, when it was built with the same model and
    chunking, lends what is unchanged (`qa.index.reuse`): unchanged documents are not read again
    and only new or changed passages are embedded. The result is what a full rebuild gives.
    `current`: the generation the caller holds in memory (an Assistant's), used instead of reading
    it again when it is still the current one. With a `scorer` (qa.models.scorer.Scorer) the
    generation keeps its vector of every sentence too, so that no question waits for them.
    """
    started = time.perf_counter()
    progress(0.0, "reading documents")
    sources = source_hashes(settings.corpus_dir, settings.max_file_bytes)
    previous = _previous(settings, embedder, warn, current) if reuse else None
    read = ingest(settings.corpus_dir, settings.max_file_bytes, warn,
                  keep=previous.unchanged(sources) if previous else None,
                  seconds=settings.file_seconds, progress=lambda done, what: progress(0.05 * done, what),
                  page_seconds=settings.page_seconds)
    progress(0.05, f"read the corpus: {read.summary()}" + (f", {len(read.kept)} unchanged" if read.kept else ""))
    entries, cut = _documents(read, previous, settings.max_words, list(sources))
    passages, repeats = unique_and_repeats(cut)
    if not passages:
        raise CorpusError(f"no indexable text in {settings.corpus_dir} ({read.summary()}; add .pdf, .docx, .html, .md or .txt files)")
    scoring = scorer_fingerprint(scorer)
    vectors, sentence_vectors, per_sentence = _embed(passages, embedder, previous, progress, 0.6 if scoring else 0.9)
    scored = _score(passages, scorer, scoring, previous, progress, 0.6, 0.9) if scoring and scorer else None
    progress(0.9, "indexing words")
    tables = lexical.tables(passages, per_sentence, settings.headings)
    per_doc, cuts = Counter(p.doc for p in passages), Counter(p.doc for p in cut)
    for entry in entries:
        entry["passages"], entry["cut"] = per_doc[entry["doc"]], cuts[entry["doc"]]
    how = vector_index.plan(len(passages), settings.exact_limit)
    manifest = {
        **identity(settings, embedder),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        # which backend embedded it ("onnx" or "torch"): informative only, both give the same vectors
        "backend": getattr(embedder, "backend", None),
        # what it embedded passages with: the float model, or its int8 copy (qa.models.export), whose
        # vectors are within a cosine of ~0.99 of the float ones; informative too: passages kept
        # from an earlier generation keep theirs, and questions are embedded by whichever model the
        # answering process uses (the copy by default, float with QA_INDEX_INT8=0), an index built by
        # either serving both
        "vectors": getattr(embedder, "vectors", "float32"),
        "sources": sources,
        "ingest": {"summary": read.summary(), "skipped": [{"doc": d, "reason": r} for d, r in read.skipped]},
        "vector_index": how,
        "documents": entries,
    }
    if scored is not None:
        manifest["scorer"] = {"fingerprint": scoring, "dim": int(scored.shape[1])}
    progress(0.95, "saving the index")
    index = store.save(settings.index_dir, manifest, passages, vector_index.build(vectors, embedder.dim, how),
                       sentence_vectors, tables, per_sentence, repeats, scorer_vectors=scored)
    progress(1.0, f"indexed {len(passages)} passages from {len(entries)} documents "
                  f"in {time.perf_counter() - started:.1f} s")
    return index


def _previous(settings: Settings, embedder: Embedder, warn: Warn,
              current: store.Index | None = None) -> reuse_.Previous | None:
    """The current generation, opened for reuse when it was built with this model and chunking
    (`current` when it is that generation, already in memory; else read from disk)."""
    try:
        gen = store.current_generation(settings.index_dir)
        if gen is None:
            return None
        if current is not None and current.path == gen:
            if settings_mismatch(current.manifest, settings, embedder):
                return None
            return reuse_.Previous.of(current)
        manifest = store.read_manifest(gen)
        if settings_mismatch(manifest, settings, embedder):
            return None
        return reuse_.Previous.of(store.load(gen, manifest))
    except StoreError as e:
        warn(f"the previous index cannot be reused ({e}); embedding every passage")
        return None


def _documents(read: Ingest, previous: reuse_.Previous | None, max_words: int,
               order: list[str]) -> tuple[list[dict[str, Any]], list[Passage]]:
    """The manifest entry and the passages of every document, in corpus order: kept documents'
    from the previous generation, the others' cut afresh (ids are renumbered afterwards)."""
    held = previous.entries() if previous else {}
    fresh = {d.doc: d for d in read.documents}
    rank = {doc: i for i, doc in enumerate(order)}
    entries: list[dict[str, Any]] = []
    cut: list[Passage] = []
    for doc in sorted([*fresh, *read.kept], key=lambda d: rank.get(d, len(rank))):
        if doc in fresh:
            d = fresh[doc]
            entries.append({"doc": d.doc, "title": d.title, "author": d.author, "sha256": d.sha256,
                            "content_sha256": d.content_sha256, "encoding": d.encoding, "characters": len(d.raw),
                            "format": d.format, "pages": d.pages})
            cut.extend(passages_of(d, max_words, first_id=len(cut)))
        else:
            assert previous is not None  # only a previous generation keeps documents
            entries.append(held[doc])
            cut.extend(previous.passages_of(doc))
    return entries, cut


def _score(passages: list[Passage], scorer: SentenceScorer, fingerprint: str | None, previous: reuse_.Previous | None,
           progress: Progress, lo: float, hi: float) -> np.ndarray:
    """The answer scorer's vector of each sentence (of the text the answer models read,
    `Passage.reading_text`): the previous generation's where it holds the same passage read the same
    way by the same scorer, computed for the others."""
    texts = [[p.reading_text(i) for i in range(len(p.sentences))] for p in passages]
    kept = [previous.scorer_vectors(p, t, fingerprint) if previous else None for p, t in zip(passages, texts, strict=True)]
    new = [x for t, k in zip(texts, kept, strict=True) if k is None for x in t]
    progress(lo, f"reading {len(new)} sentences for the answer scorer")
    done = [0]

    def told(n: int) -> None:
        done[0] += n
        progress(lo + (hi - lo) * done[0] / max(1, len(new)), f"read {done[0]}/{len(new)} sentences for the answer scorer")

    fresh = iter(scorer.index_vectors(new, told)) if new else iter(())
    rows = [v for t, k in zip(texts, kept, strict=True) for v in (k if k is not None else [next(fresh) for _ in t])]
    return np.vstack(rows).astype(np.float32) if rows else np.zeros((0, 384), np.float32)


def _embed(passages: list[Passage], embedder: Embedder, previous: reuse_.Previous | None,
           progress: Progress, hi: float = 0.9) -> tuple[np.ndarray, np.ndarray, list[list[list[str]]]]:
    """Each passage's vector, each sentence's vector and each passage's sentences' tokens: taken
    from the previous generation where it holds the same passage, computed for the others."""
    rows = [previous.row(p) if previous else None for p in passages]
    new = [p for p, r in zip(passages, rows, strict=True) if r is None]
    progress(0.1, f"embedding {len(new)} passages" + (f" ({len(passages) - len(new)} unchanged)" if previous else ""))
    vectors = np.zeros((len(passages), embedder.dim), dtype=np.float32)
    bounds = np.zeros(len(passages) + 1, dtype=np.int64)
    bounds[1:] = np.cumsum([len(p.sentences) for p in passages])
    sentence_vectors = np.zeros((int(bounds[-1]), embedder.dim), dtype=np.float32)
    per_sentence: list[list[list[str]]] = []
    for p, r in zip(passages, rows, strict=True):
        if r is not None and previous is not None:
            vectors[p.id] = previous.vectors[r]
            sentence_vectors[bounds[p.id] : bounds[p.id + 1]] = previous.sentence_vectors(r)
            per_sentence.append(previous.tokens[r])
        else:
            per_sentence.append(lexical.sentence_tokens(p))
    if not new:
        return vectors, sentence_vectors, per_sentence
    bulk = getattr(embedder, "bulk", contextlib.nullcontext)
    with bulk():
        fresh, fresh_sentences = embed(new, embedder, progress, 0.1, hi)
    vectors[[p.id for p in new]] = fresh
    sentence_vectors[np.concatenate([np.arange(bounds[p.id], bounds[p.id + 1]) for p in new])] = fresh_sentences
    return vectors, sentence_vectors, per_sentence


def embed(passages: list[Passage], embedder: Embedder, progress: Progress = _no_progress, lo: float = 0.0,
          hi: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Each passage's vector, and each of its sentences' (rows in passage order), as an index holds them.

    Where the embedder can (`encode_with_spans`: the int8 copy inside `bulk()`), a passage's
    sentences are pooled from the same encoder pass as the passage, each from its own tokens' states;
    a sentence it could not pool (past the model's length, or a titled role's passage, whose
    embedded text is not its text) is embedded alone, as every sentence is with the float model.
    A one-sentence passage's sentence vector is its passage vector.
    """
    texts = [p.search_text() for p in passages]
    spans = [[(s.start, s.end) for s in p.sentences] if len(p.sentences) > 1 and texts[i] == p.text else []
             for i, p in enumerate(passages)]
    vectors = np.zeros((len(passages), embedder.dim), dtype=np.float32)
    found: list[list[np.ndarray | None]] = [[None] * len(p.sentences) for p in passages]
    pooled = getattr(embedder, "encode_with_spans", None)
    step, mid = 64, lo + (hi - lo) * 0.6
    for i in range(0, len(passages), step):
        got = pooled(texts[i : i + step], spans[i : i + step]) if pooled else None
        if got is None:
            vectors[i : i + step] = embedder.encode(texts[i : i + step])
        else:
            vectors[i : i + step] = got[0]
            for j, each in enumerate(got[1]):
                found[i + j][: len(each)] = each
        done = min(i + step, len(passages))
        progress(lo + (mid - lo) * done / len(passages), f"embedded {done}/{len(passages)} passages")
    for j, p in enumerate(passages):
        if len(p.sentences) == 1:
            found[j][0] = vectors[j]
    alone = [(j, k) for j, row in enumerate(found) for k, v in enumerate(row) if v is None]
    if alone:
        progress(mid, f"embedding {len(alone)} sentences")
        encoded = _encode_in_batches(embedder, [passages[j].sentence_text(k) for j, k in alone], progress, mid, hi)
        for (j, k), v in zip(alone, encoded, strict=True):
            found[j][k] = v
    rows = [v for row in found for v in row if v is not None]  # every one is set by now
    sentence_vectors = np.vstack(rows).astype(np.float32) if rows else np.zeros((0, embedder.dim), np.float32)
    return vectors, sentence_vectors


def unique_passages(passages: list[Passage]) -> list[Passage]:
    """The passages without repeats (a boilerplate paragraph, a copied section): the first one stays,
    so a search never returns two identical passages. Ids are renumbered 0..n-1."""
    return unique_and_repeats(passages)[0]


def unique_and_repeats(passages: list[Passage]) -> tuple[list[Passage], list[tuple[int, Passage]]]:
    """`unique_passages`, and the repeats it dropped, each with its place among its document's
    passages (kept with the generation, so the next build need not read that document again)."""
    seen: set[str] = set()
    out: list[Passage] = []
    repeats: list[tuple[int, Passage]] = []
    place: Counter[str] = Counter()
    for p in passages:
        at = place[p.doc]
        place[p.doc] += 1
        key = " ".join(unicodedata.normalize("NFC", p.search_text()).split())
        if key in seen:
            repeats.append((at, p))
            continue
        seen.add(key)
        out.append(p if p.id == len(out) else dataclasses.replace(p, id=len(out)))
    return out, repeats


def _encode_in_batches(embedder: Embedder, texts: list[str], progress: Progress, lo: float, hi: float) -> np.ndarray:
    out = []
    step = 64
    for i in range(0, len(texts), step):
        out.append(embedder.encode(texts[i : i + step]))
        progress(lo + (hi - lo) * min(1.0, (i + step) / len(texts)), f"embedded {min(i + step, len(texts))}/{len(texts)}")
    return np.vstack(out) if out else np.zeros((0, embedder.dim), dtype=np.float32)


def require_corpus(settings: Settings) -> None:
    """Refuses (CorpusError) when there is no index to load and no corpus folder to build one from:
    the first thing an assistant checks, before its models load."""
    if not settings.corpus_dir.is_dir() and store.current_generation(settings.index_dir) is None:
        raise CorpusError(f"corpus folder not found: {settings.corpus_dir} (give one with --corpus DIR)")


def open_index(
    settings: Settings,
    embedder: Embedder,
    warn: Warn = _quiet,
    force: bool = False,
    progress: Progress = _no_progress,
    current: store.Index | None = None,
    scorer: SentenceScorer | None = None,
) -> store.Index:
    """The index for these settings: loaded and checked, or (re)built when absent, stale or forced.

    A corrupt or foreign-format index is refused (StoreError) rather than silently replaced.
    `current` (the generation the caller serves) lends what is unchanged to a refresh without
    being read again; an index that is not refreshed is always loaded and checked afresh.
    `scorer`: the answer scorer whose sentence vectors a build keeps (an index without them, or
    with another scorer's, is refreshed: only those are computed).
    """
    index_dir = settings.index_dir
    if force:  # from scratch: nothing is taken from the previous generation
        return build(settings, embedder, warn, progress, reuse=False, scorer=scorer)
    store.collect_garbage(index_dir)
    for attempt in range(2):
        gen = store.current_generation(index_dir)
        if gen is None:
            require_corpus(settings)
            warn(f"no index in {index_dir}/ yet; building it")
            return build(settings, embedder, warn, progress, scorer=scorer)
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
            reason = stale_reason(manifest, settings, embedder, scorer)
            if reason:
                warn(f"the index is out of date ({reason}); rebuilding")
                return build(settings, embedder, warn, progress, current=current, scorer=scorer)
            return store.load(gen, manifest)
        except store.OldFormat as e:
            if not settings.corpus_dir.is_dir():
                raise StoreError(f"{e} (and --corpus DIR, since {settings.corpus_dir} is missing)") from e
            warn(f"the index is out of date (it was written in format {e.version}, this qa writes "
                 f"{store.FORMAT_VERSION}); rebuilding")
            return build(settings, embedder, warn, progress, reuse=False, scorer=scorer)
        except StoreError:
            # A writer may have replaced the generation while we read it: look again once.
            if attempt == 0 and store.current_generation(index_dir) != gen:
                continue
            raise
    raise StoreError(f"the index in {index_dir} keeps changing; try again")  # pragma: no cover
