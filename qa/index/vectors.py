"""The passage vectors' FAISS index, chosen by size: exact up to a measured limit, IVF above it.

Up to `Settings.exact_limit` passages the search is exact (IndexFlatIP: every vector compared). Above it an
inverted file (IndexIVFFlat, inner product) compares only the vectors of the `nprobe` lists whose
centroids are nearest the query; the vectors themselves are kept whole, so a passage's cosine is
exact once found. The choice and its parameters are recorded in the manifest and checked at load.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: training sample per IVF list (FAISS warns below 39)
TRAIN_PER_LIST = 64


def plan(n: int, exact_limit: int) -> dict[str, Any]:
    """How to index `n` vectors: {"kind": "flat"}, or {"kind": "ivf", "nlist", "nprobe"}.

    nlist is the power of two nearest sqrt(n) (about 1000 vectors a list at 1M); nprobe is a
    sixteenth of the lists, at least 16: recall@10 >= 0.95 against exact on clustered data.
    """
    if n <= exact_limit:
        return {"kind": "flat"}
    nlist = 2 ** round(math.log2(math.sqrt(n)))
    return {"kind": "ivf", "nlist": nlist, "nprobe": min(nlist, max(16, nlist // 16))}


def _faiss() -> Any:
    import faiss

    return faiss


def build(vectors: np.ndarray, dim: int, how: dict[str, Any]) -> Any:
    """A FAISS index over `vectors` (L2-normalised float32 rows) as `how` says."""
    faiss = _faiss()
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if how["kind"] == "flat":
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, int(how["nlist"]), faiss.METRIC_INNER_PRODUCT)
        sample = min(len(x), int(how["nlist"]) * TRAIN_PER_LIST)
        rows = np.sort(np.random.default_rng(0).choice(len(x), size=sample, replace=False))
        index.train(x[rows])
    if len(x):
        index.add(x)
    return opened(index, how)


def opened(index: Any, how: dict[str, Any]) -> Any:
    """The index ready to search as `how` says (nprobe, a map from row to vector); ValueError when
    it is not the kind the manifest records."""
    faiss = _faiss()
    if how.get("kind") == "flat" and isinstance(index, faiss.IndexFlatIP):
        return index
    if how.get("kind") == "ivf":
        ivf = faiss.extract_index_ivf(index) if isinstance(index, faiss.IndexIVF) else None
        if ivf is not None and ivf.nlist == how.get("nlist") and isinstance(how.get("nprobe"), int):
            ivf.nprobe = how["nprobe"]
            if ivf.direct_map.type == faiss.DirectMap.NoMap:  # reconstruct(row): a cosine for a word match
                ivf.make_direct_map()
            return index
    raise ValueError(f"not a {how.get('kind')!r} index with the manifest's parameters")


def all_vectors(index: Any) -> np.ndarray:
    """Every stored vector, row order."""
    if not index.ntotal:
        return np.zeros((0, index.d), dtype=np.float32)
    return np.asarray(index.reconstruct_n(0, index.ntotal), dtype=np.float32)


def recall_at(found: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact top-k rows (one row of ids per query) that the approximate search found."""
    hits = sum(len(set(f.tolist()) & set(e.tolist())) for f, e in zip(found, exact, strict=True))
    return hits / max(1, exact.size)
