"""What the evaluation is built from: in-memory indexes, a vector cache, the naive baseline, and scores.

Evaluation never touches an index on disk: each corpus (the article, or one SQuAD document) is
chunked and embedded into a `store.Index` held in memory, and questions go through `ask`, which
takes the same steps as `Assistant.ask` (a test checks that both agree).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from qa.answer import followup
from qa.answer.compose import Rules, compose
from qa.answer.judge import Judge, Reads, Spots
from qa.answer.result import Result
from qa.index import indexer, lexical
from qa.index.indexer import unique_passages
from qa.index.store import Index
from qa.ingest import library
from qa.ingest.chunks import Passage, chunk, fixed_windows
from qa.ingest.documents import Document
from qa.models.embedder import Embedder
from qa.search.retrieval import Fusion, Retriever

#: the naive baseline's window, in words
BASELINE_WORDS = 200


class CachedEmbedder:
    """Wraps an embedder and remembers the vectors of indexed texts, so chunkings share the work.

    Only texts encoded inside `indexing()` are cached: questions are always encoded afresh, so
    their latency is real. `QA_EVAL_CACHE=DIR` keeps the cache on disk between runs.
    """

    def __init__(self, inner: Embedder, folder: Path | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.fingerprint = getattr(inner, "fingerprint", None)
        self.vectors = getattr(inner, "vectors", "float32")
        self._cache: dict[str, np.ndarray] = {}
        self._indexing = False
        self._folder = folder
        self._dirty = False
        if folder is not None and (folder / "vectors.npy").exists():
            keys = (folder / "keys.txt").read_text().split()
            vectors = np.load(folder / "vectors.npy")
            if len(keys) == len(vectors) and vectors.shape[1:] == (self.dim,):
                self._cache = dict(zip(keys, vectors, strict=True))

    @classmethod
    def from_env(cls, inner: Embedder) -> CachedEmbedder:
        folder = os.environ.get("QA_EVAL_CACHE")
        return cls(inner, Path(folder) if folder else None)

    def _key(self, text: str) -> str:
        # the float model's vectors keep their old keys; the int8 copy's are told apart
        vectors = "" if self.vectors == "float32" else f"|{self.vectors}"
        return hashlib.sha1(f"{self.name}|{self.fingerprint}{vectors}|{text}".encode()).hexdigest()

    @contextlib.contextmanager
    def indexing(self) -> Iterator[None]:
        """Texts encoded inside are indexed texts: cached, and embedded as the indexer embeds them
        (inside the model's `bulk()`: every core, and the int8 copy where the model has one)."""
        self._indexing = True
        try:
            with getattr(self.inner, "bulk", contextlib.nullcontext)():
                yield
        finally:
            self._indexing = False

    def encode(self, texts: list[str]) -> np.ndarray:
        if not self._indexing:
            return self.inner.encode(texts)
        keys = [self._key(t) for t in texts]
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._cache}
        if todo:
            for start in range(0, len(todo), 512):
                batch = list(todo.items())[start : start + 512]
                vectors = self.inner.encode([t for _, t in batch])
                self._cache.update({k: v for (k, _), v in zip(batch, vectors, strict=True)})
            self._dirty = True
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._cache[k] for k in keys]).astype(np.float32)

    def encode_with_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]
                          ) -> tuple[np.ndarray, list[list[np.ndarray | None]]] | None:
        """The inner model's `encode_with_spans` (None when it has none, or outside `indexing()`),
        each text's vector and its spans' pooled ones cached under the text and its spans."""
        inner = getattr(self.inner, "encode_with_spans", None)
        if not self._indexing or inner is None:
            return None
        keys = [self._key(f"spans {json.dumps(s)}|{t}") for t, s in zip(texts, spans, strict=True)]
        todo = [i for i, k in enumerate(keys) if k not in self._cache]
        if todo:
            got = inner([texts[i] for i in todo], [spans[i] for i in todo])
            if got is None:
                return None
            missing = np.full(self.dim, np.nan, dtype=np.float32)  # a span pooled as None
            for n, i in enumerate(todo):
                self._cache[keys[i]] = got[0][n]
                for j, v in enumerate(got[1][n]):
                    self._cache[f"{keys[i]}.{j}"] = missing if v is None else v
            self._dirty = True
        vectors = np.vstack([self._cache[k] for k in keys]).astype(np.float32)
        pooled: list[list[np.ndarray | None]] = []
        for key, wanted in zip(keys, spans, strict=True):
            rows = [self._cache[f"{key}.{j}"] for j in range(len(wanted))]
            pooled.append([None if np.isnan(v).any() else v for v in rows])
        return vectors, pooled

    def save(self) -> None:
        if self._folder is None or not self._dirty:
            return
        self._folder.mkdir(parents=True, exist_ok=True)
        keys = list(self._cache)
        np.save(self._folder / "vectors.npy.tmp.npy", np.vstack([self._cache[k] for k in keys]))
        (self._folder / "keys.txt.tmp").write_text("\n".join(keys) + "\n")
        os.replace(self._folder / "vectors.npy.tmp.npy", self._folder / "vectors.npy")
        os.replace(self._folder / "keys.txt.tmp", self._folder / "keys.txt")
        self._dirty = False


def memory_index(passages: list[Passage], embedder: CachedEmbedder, headings: bool = True) -> Index:
    """An index held in memory, embedded as the indexer embeds (qa.index.indexer.embed); `headings`:
    as `Settings.headings`."""
    import faiss

    with embedder.indexing():
        vectors, sentence_vectors = indexer.embed(passages, embedder)
    flat = faiss.IndexFlatIP(embedder.dim)
    if len(vectors):
        flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    bounds = np.zeros(len(passages) + 1, dtype=np.int64)
    bounds[1:] = np.cumsum([len(p.sentences) for p in passages])
    tables = lexical.tables(passages, [lexical.sentence_tokens(p) for p in passages], headings)
    # the documents it holds, as a built index's manifest lists them (compose asks how many there are)
    manifest = {"documents": [{"doc": doc} for doc in dict.fromkeys(p.doc for p in passages)]}
    return Index(Path("<memory>"), manifest, tuple(passages), flat, sentence_vectors, bounds, *tables)


def keeping_scorer_vectors(index: Index, scorer: indexer.SentenceScorer) -> Index:
    """`index` keeping the answer scorer's vector of every sentence, as a build with it does
    (qa.index.indexer: an answer then reads them instead of computing them)."""
    texts = [p.reading_text(i) for p in index.passages for i in range(len(p.sentences))]
    kept = scorer.index_vectors(texts)
    manifest = {**index.manifest, "scorer": {"fingerprint": scorer.fingerprint, "dim": int(kept.shape[1])}}
    return replace(index, manifest=manifest, scorer_vectors=kept)


def system_index(documents: Sequence[Document], max_words: int, embedder: CachedEmbedder,
                 headings: bool = True) -> Index:
    return memory_index(unique_passages(chunk(documents, max_words)), embedder, headings)


def baseline_index(documents: Sequence[Document], embedder: CachedEmbedder) -> Index:
    passages: list[Passage] = []
    for d in documents:
        for p in fixed_windows(d, BASELINE_WORDS):
            passages.append(Passage(len(passages), p.doc, p.title, p.paragraph, p.start, p.end, p.text, p.sentences))
    return memory_index(passages, embedder, headings=False)  # dense only: BM25 is never asked


@dataclass
class Engine:
    """An index with its retriever and answer rules: what `ask` runs on."""

    index: Index
    retriever: Retriever
    rules: Rules
    scorer: Judge | None = None
    reader: Reads | None = None
    span: Spots | None = None

    @classmethod
    def of(cls, index: Index, fusion: Fusion | None = None, rules: Rules | None = None,
           scorer: Judge | None = None, reader: Reads | None = None, span: Spots | None = None) -> Engine:
        return cls(index, Retriever(index, fusion or Fusion()), rules or Rules(), scorer, reader, span)


def ask(engine: Engine, embedder: Embedder, question: str, history: Sequence[str] = (), k: int = 10,
        mode: str = "hybrid", docs: Sequence[str] | None = None) -> Result:
    """What `Assistant.ask` does, on an in-memory engine (the question is assumed clean); `docs`:
    the cited names of the documents to search among (None: all), as `Assistant.ask(docs=...)`."""
    t0 = time.perf_counter()
    earlier = list(history)[-5:]
    within = None if docs else followup.conversation_document(
        question, earlier, len(engine.index.manifest.get("documents", ())),
        lambda text: engine.retriever.first_doc(text, embedder.encode, mode))
    docs = [within] if within else docs
    only = library.passage_rows(engine.index.passages, set(docs)) if docs else None
    query = followup.resolve(question, earlier)
    begin = getattr(engine.scorer, "begin", None)  # the scorer's question vector, beside the embedder's
    if begin is not None:
        begin(query if engine.rules.scorer_reads_query else question)
    qvec = embedder.encode([query])[0]
    candidates = engine.retriever.search(query, qvec, k=engine.rules.pool(k), mode=mode, only=only)
    result = compose(question, query, engine.index, candidates, k, engine.rules, engine.scorer, engine.reader,
                     searched_docs=len(set(docs)) if docs else None, span=engine.span)
    return replace(result, timings={"total": time.perf_counter() - t0}, conversation_document=within)


@dataclass(frozen=True)
class Bare:
    """The naive baseline's reply: passages ranked by cosine alone, and the top passage's closest sentence."""

    rows: list[int]
    answer: tuple[int, int]  # (passage row, sentence index)
    seconds: float  # encode + search only (the sentence pick is not timed)


def bare_dense(index: Index, embedder: Embedder, question: str, k: int = 10, docs: Sequence[str] | None = None) -> Bare:
    """`docs`: the documents to search among (None: all), compared exactly as the retriever does."""
    t0 = time.perf_counter()
    qvec = embedder.encode([question])[0]
    if docs:
        only = library.passage_rows(index.passages, set(docs))
        scores = index.vectors.reconstruct_batch(only) @ qvec
        found = only[np.argsort(-scores)[:k]].reshape(1, -1)
    else:
        _, found = index.vectors.search(qvec.reshape(1, -1), min(k, index.vectors.ntotal))
    seconds = time.perf_counter() - t0
    rows = [int(r) for r in found[0] if r >= 0]
    top = rows[0]
    lo, hi = int(index.sentence_rows[top]), int(index.sentence_rows[top + 1])
    return Bare(rows, (top, int(np.argmax(index.sentence_vectors[lo:hi] @ qvec))), seconds)


# -- scores ---------------------------------------------------------------------------------------


def two_sentences(result: Any) -> bool:
    """Does the answer quote two sentences of its passage?"""
    a = result.answer
    p = result.hits[a.citation.id - 1].passage
    return sum(1 for s in p.sentences if a.citation.start <= s.raw_start and s.raw_end <= a.citation.end) > 1


def two_sentence_share(rows: Sequence[dict[str, Any]]) -> float:
    """Of the answered questions (rows with "answered" and "pair"), the share quoting two sentences."""
    answered = [r for r in rows if r["answered"]]
    return sum(1 for r in answered if r["pair"]) / max(1, len(answered))


def first_rank(hits: Sequence[bool]) -> int | None:
    """1-based rank of the first hit, or None."""
    return next((i + 1 for i, h in enumerate(hits) if h), None)


def ranking_figures(ranks: Sequence[int | None]) -> dict[str, float]:
    n = max(1, len(ranks))
    return {
        "hit@1": sum(1 for r in ranks if r is not None and r <= 1) / n,
        "hit@3": sum(1 for r in ranks if r is not None and r <= 3) / n,
        "hit@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr@10": sum(1 / r for r in ranks if r is not None and r <= 10) / n,
    }


def latency_figures(seconds: Sequence[float]) -> dict[str, float]:
    if not seconds:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "mean_ms": 0.0}
    a = np.asarray(seconds) * 1000
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)), "mean_ms": float(a.mean())}


def round_all(obj: Any, digits: int = 4) -> Any:
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {k: round_all(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [round_all(v, digits) for v in obj]
    return obj
