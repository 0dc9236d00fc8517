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
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(n: int, kind: str = "documents", seed: int = 0, dim: int = DIM) -> np.ndarray:
    rng = np.random.default_rng(seed)
    topics = _unit(rng.standard_normal((max(1, n // 1000), dim)).astype(np.float32))
    if kind == "documents":
        centres = _unit(topics[rng.integers(0, len(topics), max(1, n // 20))]
                        + 0.08 * rng.standard_normal((max(1, n // 20), dim)).astype(np.float32))
        spread = 0.06
    elif kind == "isotropic":
        centres, spread = topics, 0.08
    else:
        raise ValueError(f"kind must be 'documents' or 'isotropic' (got {kind!r})")
    out = np.empty((n, dim), np.float32)
    for a in range(0, n, 100_000):  # in blocks: 1M rows never need a second 1.5 GB buffer
        b = min(n, a + 100_000)
        noise = spread * rng.standard_normal((b - a, dim)).astype(np.float32)
        out[a:b] = _unit(centres[rng.integers(0, len(centres), b - a)] + noise)
    return out
