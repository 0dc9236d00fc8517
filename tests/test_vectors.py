"""The FAISS index chosen by size: exact up to the limit, IVF above it, with recall checked against exact."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from benchmarks.synthetic import clustered
from qa import Assistant
from qa.errors import StoreError
from qa.index import vectors as vector_index
from qa.index.store import current_generation


def test_the_plan_is_exact_up_to_the_limit_then_an_inverted_file():
    assert vector_index.plan(50_000, 50_000) == {"kind": "flat"}
    assert vector_index.plan(50_001, 50_000) == {"kind": "ivf", "nlist": 256, "nprobe": 16}
    assert vector_index.plan(1_000_000, 50_000) == {"kind": "ivf", "nlist": 1024, "nprobe": 64}


def test_ivf_recall_at_10_against_exact_on_20k_clustered_vectors():
    x = clustered(20_200, seed=1)
    queries, x = x[:200], x[200:]
    how = vector_index.plan(len(x), exact_limit=1_000)
    assert how["kind"] == "ivf"
    ivf = vector_index.build(x, x.shape[1], how)
    exact = faiss.IndexFlatIP(x.shape[1])
    exact.add(x)
    _, want = exact.search(queries, 10)
    _, got = ivf.search(queries, 10)
    assert vector_index.recall_at(got, want) >= 0.95
    np.testing.assert_array_equal(vector_index.all_vectors(ivf), x)  # whole vectors: exact cosines
    np.testing.assert_array_equal(ivf.reconstruct(123), x[123])


def test_a_corpus_above_the_limit_gets_an_ivf_recorded_checked_and_searched(settings, fake_embedder, tmp_path):
    flat = Assistant(settings.with_(index_dir=tmp_path / "flat"), embedder=fake_embedder)
    a = Assistant(settings.with_(exact_limit=10), embedder=fake_embedder)
    how = a.index.manifest["vector_index"]
    n = len(a.index.passages)
    assert how == {"kind": "ivf", "nlist": 2 ** round(np.log2(np.sqrt(n))), "nprobe": how["nlist"]}
    again = Assistant(settings, embedder=fake_embedder)  # loaded as recorded, whatever the limit now
    assert isinstance(again.index.vectors, faiss.IndexIVFFlat) and again.index.vectors.nprobe == how["nprobe"]
    for q in ["When was the treaty renewed?", "Who wrote the article?", "coal imports suspended"]:
        # every list probed: the same passages and scores as exact search
        assert again.ask(q).to_json() == flat.ask(q).to_json()
    gen = current_generation(settings.index_dir)
    manifest = (gen / "manifest.json").read_text()
    (gen / "manifest.json").write_text(manifest.replace('"nlist": ', '"nlist": 1'))
    with pytest.raises(StoreError, match="passages.faiss cannot be read by FAISS as its manifest says"):
        Assistant(settings, embedder=fake_embedder)
