"""Synthetic passage vectors for the vector-index figures and tests: unit float32 rows of 384 dims.

`documents`: topics of documents of passages, as a corpus is (about 20 passages a document near
their document's centre, 50 documents a topic): a passage's nearest neighbours are mostly its own
document's. `isotropic`: clusters of 1,000 with no finer structure, so the nearest neighbours of
a point are anywhere in its cluster (the hard case for an inverted file).
"""

from __future__ import annotations

import numpy as np

DIM = 384


def _unit(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _normal(rng: np.random.Generator, shape: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """Gaussian float32 drawn as float32 (numpy's float32 generator: 4x faster than float64 then a cast)."""
    x = rng.standard_normal(shape, dtype=np.float32)
    x *= np.float32(scale)
    return x


def clustered(n: int, kind: str = "documents", seed: int = 0, dim: int = DIM) -> np.ndarray:
    rng = np.random.default_rng(seed)
    topics = _unit(_normal(rng, (max(1, n // 1000), dim)))
    if kind == "documents":
        centres = _unit(topics[rng.integers(0, len(topics), max(1, n // 20))] + _normal(rng, (max(1, n // 20), dim), 0.08))
        spread = 0.06
    elif kind == "isotropic":
        centres, spread = topics, 0.08
    else:
        raise ValueError(f"kind must be 'documents' or 'isotropic' (got {kind!r})")
    out = np.empty((n, dim), np.float32)
    for a in range(0, n, 100_000):  # in blocks: 1M rows never need a second 1.5 GB buffer
        b = min(n, a + 100_000)
        block = _normal(rng, (b - a, dim), spread)
        block += centres[rng.integers(0, len(centres), b - a)]
        out[a:b] = _unit(block)
    return out
