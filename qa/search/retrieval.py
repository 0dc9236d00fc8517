"""Hybrid retrieval: dense (FAISS inner product) and lexical (BM25) evidence, on passages and their sentences.

A passage is scored twice, as a whole and by its best sentence, each time by meaning (cosine) and by
words (BM25 on the query's own scale); the two levels cross-check each other, so a passage wins when
the whole of it is on topic *and* one sentence in it says what was asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qa.index.lexical import tokens
from qa.index.store import Index

#: how many candidates each ranking contributes before fusion
DEPTH = 50


@dataclass(frozen=True)
class Candidate:
    """A passage found for a query, with the evidence for it (the passage itself stays score-free)."""

    row: int  # passage id
    score: float  # fused
    dense: float  # cosine similarity of the passage to the query
    lexical: float  # passage BM25 on the query's scale (about 1 when every query word occurs once)
    sentences: tuple[float, ...] = ()  # each sentence's own evidence, fused the same way
    unknown: tuple[str, ...] = ()  # names in the query that the corpus never uses


@dataclass(frozen=True)
class Fusion:
    """How the evidence combines: 'convex' (weighted scores) or 'rrf' (reciprocal ranks)."""

    method: str = "convex"
    #: share of meaning (cosine) against words (BM25), at both levels
    dense_weight: float = 0.6
    #: share of the best sentence's evidence in a passage's score (0: the passage alone)
    sentence_weight: float = 0.5
    rrf_k: int = 60

    def __post_init__(self) -> None:
        if self.method not in ("convex", "rrf"):
            raise ValueError("Fusion.method must be 'convex' or 'rrf'.")
        for name in ("dense_weight", "sentence_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Fusion.{name} must be between 0 and 1.")


class Retriever:
    """Searches one immutable index; safe to share between threads."""

    def __init__(self, index: Index, fusion: Fusion | None = None) -> None:
        self.index = index
        self.fusion = fusion or Fusion()
        self.lexical = index.lexical  # built at index time, loaded with the generation
        self.sentence_lexical = index.sentence_lexical

    def dense(self, qvec: np.ndarray, depth: int = DEPTH, only: np.ndarray | None = None) -> dict[int, float]:
        """The `depth` passages closest to the query; with `only`, among those passage ids alone
        (compared exactly, block by block, whatever kind of index holds the vectors)."""
        if only is not None:
            scores = np.concatenate([self.index.vectors.reconstruct_batch(np.ascontiguousarray(only[i : i + 8192]))
                                     @ qvec for i in range(0, len(only), 8192)]) if len(only) else np.zeros(0)
            top = np.argsort(-scores)[:depth]
            return {int(only[i]): float(scores[i]) for i in top}
        n = self.index.vectors.ntotal
        if not n:
            return {}
        scores, rows = self.index.vectors.search(qvec.reshape(1, -1).astype(np.float32), min(depth, n))
        return {int(r): float(s) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0}

    def first_doc(self, query: str, encode: Callable[[list[str]], np.ndarray], mode: str = "hybrid") -> str | None:
        """The document of the passage a search for `query` ranks first (None when nothing is found)."""
        found = self.search(query, encode([query])[0], k=1, mode=mode)
        return self.index.passages[found[0].row].doc if found else None

    def search(self, query: str, qvec: np.ndarray, k: int, mode: str = "hybrid",
               only: np.ndarray | None = None) -> list[Candidate]:
        """The top k passages; mode 'dense' or 'lexical' uses one kind of evidence alone (for evaluation).
        `only`: the passage ids to search among (the passages of some documents); None for all."""
        qtokens = tokens(query)
        dense = self.dense(qvec, only=only)
        lex = self.lexical.scores(qtokens)
        if only is not None:
            allowed = np.zeros(len(lex), dtype=bool)
            allowed[only] = True
            lex = np.where(allowed, lex, 0.0)
        rows = set(dense) | {int(r) for r in np.argsort(-lex)[:DEPTH] if lex[r] > 0}
        if not rows:
            return []
        ordered = sorted(rows)
        # a passage outside the dense top gets its true cosine, so its evidence is complete
        missing = [r for r in ordered if r not in dense]
        if missing:
            vecs = np.vstack([self.index.vectors.reconstruct(r) for r in missing])
            dense.update({r: float(s) for r, s in zip(missing, vecs @ qvec, strict=True)})
        slex = self.sentence_lexical.scores(qtokens)
        w = self.fusion.dense_weight if mode == "hybrid" else 1.0 if mode == "dense" else 0.0
        bounds = self.index.sentence_rows
        sentences: dict[int, np.ndarray] = {}
        evidence: dict[str, dict[int, float]] = {"dense": dense, "lexical": {r: float(lex[r]) for r in ordered},
                                                 "sentence_dense": {}, "sentence_lexical": {}}
        for r in ordered:
            lo, hi = int(bounds[r]), int(bounds[r + 1])
            cos, words = self.index.sentence_vectors[lo:hi] @ qvec, slex[lo:hi]
            sentences[r] = w * cos + (1 - w) * words
            evidence["sentence_dense"][r] = float(cos.max()) if hi > lo else dense[r]
            evidence["sentence_lexical"][r] = float(words.max()) if hi > lo else float(lex[r])
        fused = self._fuse(ordered, evidence, w, sentences)
        top = sorted(ordered, key=lambda r: (-fused[r], r))[:k]
        unknown = self.lexical.unknown_names(query)
        return [Candidate(r, fused[r], dense[r], float(lex[r]), tuple(float(x) for x in sentences[r]), unknown)
                for r in top]

    def _fuse(self, rows: list[int], evidence: dict[str, dict[int, float]], w: float,
              sentences: dict[int, np.ndarray]) -> dict[int, float]:
        f = self.fusion
        s = f.sentence_weight
        if f.method == "rrf":
            kinds = [k for k, share in (("dense", w * (1 - s)), ("lexical", (1 - w) * (1 - s)),
                                        ("sentence_dense", w * s), ("sentence_lexical", (1 - w) * s)) if share > 0]
            fused = {r: 0.0 for r in rows}
            for kind in kinds:
                scores = evidence[kind]
                for i, r in enumerate(sorted(rows, key=lambda r: -scores[r])):
                    fused[r] += (f.rrf_k + 1) / (f.rrf_k + i + 1) / len(kinds)
        else:
            fused = {
                r: (1 - s) * (w * evidence["dense"][r] + (1 - w) * evidence["lexical"][r])
                + s * (float(sentences[r].max()) if len(sentences[r]) else 0.0)
                for r in rows
            }
        return fused
