"""The passage vectors' FAISS index, chosen by size: exact up to a measured limit, an inverted file above it.

Up to `Settings.exact_limit` passages the search is exact (IndexFlatIP: every vector compared). Above it an
inverted file (IndexIVFFlat, inner product) of about 4 sqrt(N) lists compares only the vectors of the
`nprobe` lists whose centroids are nearest the query; the centroids themselves are found by a small HNSW
graph (the coarse quantizer), which makes training and assigning 1M vectors to 4,096 lists affordable.
The vectors are kept whole, so a passage's cosine is exact once found. The choice and its parameters are
recorded in the manifest and checked at load. Indexes of the earlier kind "ivf" (the same inverted file
with an exact coarse quantizer, about sqrt(N) lists) still load and search as recorded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

#: training sample per list (FAISS warns below 39)
TRAIN_PER_LIST = 40
#: k-means iterations over the sample
TRAIN_ITERATIONS = 10
#: the share of the lists probed per query, and the fewest: recall@10 >= 0.95 against exact at 100k
#: and 1M synthetic vectors (docs/benchmarks.md: 64 of 1,024 lists, 256 of 4,096)
PROBED_SHARE, MIN_NPROBE = 16, 16
#: the coarse quantizer's HNSW: neighbours per node, and the candidates kept while searching it
HNSW_M = 32
HNSW_EF_SEARCH = 128


def plan(n: int, exact_limit: int) -> dict[str, Any]:
    """How to index `n` vectors: {"kind": "flat"}, or {"kind": "ivf_hnsw", "nlist", "nprobe", "m", "ef_search"}.

    nlist is the power of two nearest 4 sqrt(n) (4,096 lists of about 250 vectors at 1M), at most n;
    nprobe a sixteenth of them, at least 16.
    """
    if n <= exact_limit:
        return {"kind": "flat"}
    nlist = min(2 ** round(math.log2(4 * math.sqrt(n))), 2 ** int(math.log2(n)))  # never more lists than vectors
    nprobe = min(nlist, max(MIN_NPROBE, nlist // PROBED_SHARE))
    return {"kind": "ivf_hnsw", "nlist": nlist, "nprobe": nprobe, "m": HNSW_M, "ef_search": HNSW_EF_SEARCH}


def _faiss() -> Any:
    import faiss

    return faiss


@contextmanager
def _one_thread() -> Iterator[None]:
    """FAISS on one thread for the block: an HNSW graph built by several threads depends on their timing."""
    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def build(vectors: np.ndarray, dim: int, how: dict[str, Any]) -> Any:
    """A FAISS index over `vectors` (L2-normalised float32 rows) as `how` says; the same rows give the
    same index, byte for byte."""
    faiss = _faiss()
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if how["kind"] == "flat":
        index = faiss.IndexFlatIP(dim)
    elif how["kind"] == "ivf_hnsw":
        quantizer = faiss.IndexHNSWFlat(dim, int(how["m"]), faiss.METRIC_INNER_PRODUCT)
        index = faiss.IndexIVFFlat(quantizer, dim, int(how["nlist"]), faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = TRAIN_ITERATIONS
        sample = min(len(x), int(how["nlist"]) * TRAIN_PER_LIST)
        rows = np.sort(np.random.default_rng(0).choice(len(x), size=sample, replace=False))
        with _one_thread():  # k-means rebuilds the graph over the centroids at each iteration
            index.train(x[rows])
    else:
        raise ValueError(f"no index of kind {how['kind']!r} is built any more")
    if len(x):
        index.add(x)  # assignments searched in parallel, listed in row order: the same on any thread count
    return opened(index, how)


def opened(index: Any, how: dict[str, Any]) -> Any:
    """The index ready to search as `how` says (nprobe, a map from row to vector); ValueError when
    it is not the kind the manifest records."""
    faiss = _faiss()
    kind = how.get("kind")
    if kind == "flat" and isinstance(index, faiss.IndexFlatIP):
        return index
    ivf = faiss.extract_index_ivf(index) if kind in ("ivf", "ivf_hnsw") and isinstance(index, faiss.IndexIVF) else None
    if ivf is None or ivf.nlist != how.get("nlist") or not isinstance(how.get("nprobe"), int):
        raise ValueError(f"not a {kind!r} index with the manifest's parameters")
    if kind == "ivf_hnsw":
        quantizer = faiss.downcast_index(ivf.quantizer)
        if not isinstance(quantizer, faiss.IndexHNSWFlat) or quantizer.hnsw.nb_neighbors(1) != how.get("m") \
                or quantizer.ntotal != ivf.nlist or not isinstance(how.get("ef_search"), int):
            raise ValueError("not an 'ivf_hnsw' index with the manifest's parameters")
        quantizer.hnsw.efSearch = how["ef_search"]
    ivf.nprobe = how["nprobe"]
    if ivf.direct_map.type == faiss.DirectMap.NoMap:  # reconstruct(row): a cosine for a word match
        ivf.make_direct_map()
    return index


def all_vectors(index: Any) -> np.ndarray:
    """Every stored vector, row order."""
    if not index.ntotal:
        return np.zeros((0, index.d), dtype=np.float32)
    return np.asarray(index.reconstruct_n(0, index.ntotal), dtype=np.float32)


def recall_at(found: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact top-k rows (one row of ids per query) that the approximate search found."""
    hits = sum(len(set(f.tolist()) & set(e.tolist())) for f, e in zip(found, exact, strict=True))
    return hits / max(1, exact.size)
