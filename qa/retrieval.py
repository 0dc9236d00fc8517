"""Hybrid retrieval: dense (FAISS inner product) and lexical (BM25) rankings, fused."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.lexical import Lexical
from qa.store import Index

#: how many candidates each ranking contributes before fusion
DEPTH = 50


@dataclass(frozen=True)
class Candidate:
    """A passage found for a query, with the evidence for it (the passage itself stays score-free)."""

    row: int  # passage id
    score: float  # fused, in [0, 1]
    dense: float  # cosine similarity to the query
    lexical: float  # BM25, divided by the best BM25 score for this query


@dataclass(frozen=True)
class Fusion:
    """How the two rankings combine: 'rrf' (reciprocal rank) or 'convex' (weighted scores)."""

    method: str = "convex"
    dense_weight: float = 0.6
    rrf_k: int = 60


class Retriever:
    """Searches one immutable index; safe to share between threads."""

    def __init__(self, index: Index, fusion: Fusion | None = None) -> None:
        self.index = index
        self.fusion = fusion or Fusion()
        self.lexical = Lexical([p.search_text() for p in index.passages])

    def dense(self, qvec: np.ndarray, depth: int = DEPTH) -> dict[int, float]:
        n = self.index.vectors.ntotal
        if not n:
            return {}
        scores, rows = self.index.vectors.search(qvec.reshape(1, -1).astype(np.float32), min(depth, n))
        return {int(r): float(s) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0}

    def search(self, query: str, qvec: np.ndarray, k: int, mode: str = "hybrid") -> list[Candidate]:
        """The top k passages; mode 'dense' or 'lexical' uses one ranking alone (for evaluation)."""
        dense = self.dense(qvec)
        bm25 = self.lexical.scores(query)
        top = float(bm25.max()) if len(bm25) else 0.0
        lex_norm = bm25 / top if top > 0 else bm25
        lexical = {int(r): float(lex_norm[r]) for r in np.argsort(-bm25)[:DEPTH] if bm25[r] > 0}
        rows = set(dense) | set(lexical)
        # a passage outside the dense top gets its true cosine, so its evidence is complete
        missing = [r for r in rows if r not in dense]
        if missing:
            vecs = np.vstack([self.index.vectors.reconstruct(r) for r in missing])
            dense.update({r: float(s) for r, s in zip(missing, vecs @ qvec, strict=True)})
        fused = self._fuse(dense, lexical, mode)
        best = sorted(rows, key=lambda r: (-fused[r], r))[:k]
        return [Candidate(r, fused[r], dense[r], float(lex_norm[r]) if top > 0 else 0.0) for r in best]

    def _fuse(self, dense: dict[int, float], lexical: dict[int, float], mode: str) -> dict[int, float]:
        rows = set(dense) | set(lexical)
        if mode == "dense":
            return {r: dense[r] for r in rows}
        if mode == "lexical":
            return {r: lexical.get(r, 0.0) for r in rows}
        f = self.fusion
        if f.method == "rrf":
            d_rank = {r: i for i, r in enumerate(sorted(dense, key=lambda r: -dense[r]))}
            l_rank = {r: i for i, r in enumerate(sorted(lexical, key=lambda r: -lexical[r]))}
            raw = {
                r: (1 / (f.rrf_k + d_rank[r] + 1) if r in d_rank else 0.0)
                + (1 / (f.rrf_k + l_rank[r] + 1) if r in l_rank else 0.0)
                for r in rows
            }
            scale = 2 / (f.rrf_k + 1)
            return {r: v / scale for r, v in raw.items()}
        w = f.dense_weight
        return {r: w * max(dense[r], 0.0) + (1 - w) * lexical.get(r, 0.0) for r in rows}
