"""The FAISS index chosen by size: exact up to the limit, an inverted file with an HNSW coarse quantizer
above it, with recall checked against exact; the earlier kind ("ivf") still loads."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from benchmarks.synthetic import clustered
from qa import Assistant
from qa.errors import StoreError
from qa.index import vectors as vector_index
from qa.index.store import current_generation

QUESTIONS = ["When was the treaty renewed?", "Who wrote the article?", "coal imports suspended"]


def test_the_plan_is_exact_up_to_the_limit_then_an_inverted_file_of_4_sqrt_n_lists():
    assert vector_index.plan(50_000, 50_000) == {"kind": "flat"}
    assert vector_index.plan(50_001, 50_000) == {"kind": "ivf_hnsw", "nlist": 1024, "nprobe": 64, "m": 32, "ef_search": 128}
    assert vector_index.plan(1_000_000, 50_000) == {"kind": "ivf_hnsw", "nlist": 4096, "nprobe": 256, "m": 32, "ef_search": 128}
    assert vector_index.plan(5, 0)["nlist"] == 4  # never more lists than vectors to train them
    assert vector_index.plan(1, 0)["nlist"] == 1


@pytest.mark.parametrize("kind", ["documents", "isotropic"])
def test_recall_at_10_against_exact_on_20k_clustered_vectors(kind):
    x = clustered(20_200, kind=kind, seed=1)
    queries, x = x[:200], x[200:]
    how = vector_index.plan(len(x), exact_limit=1_000)
    assert how["kind"] == "ivf_hnsw" and how["nlist"] == 512
    index = vector_index.build(x, x.shape[1], how)
    exact = faiss.IndexFlatIP(x.shape[1])
    exact.add(x)
    _, want = exact.search(queries, 10)
    _, got = index.search(queries, 10)
    assert vector_index.recall_at(got, want) >= 0.95
    np.testing.assert_array_equal(vector_index.all_vectors(index), x)  # whole vectors: exact cosines
    np.testing.assert_array_equal(index.reconstruct(123), x[123])
    if kind == "documents":  # the same rows give the same index, whatever the thread count
        before = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            again = vector_index.build(x, x.shape[1], how)
        finally:
            faiss.omp_set_num_threads(before)
        assert np.array_equal(faiss.serialize_index(again), faiss.serialize_index(index))
        assert np.array_equal(again.search(queries, 10)[1], got)


def test_a_corpus_above_the_limit_gets_an_ivf_hnsw_recorded_checked_and_searched(settings, fake_embedder, tmp_path):
    flat = Assistant(settings.with_(index_dir=tmp_path / "flat"), embedder=fake_embedder)
    a = Assistant(settings.with_(exact_limit=10), embedder=fake_embedder)
    how = a.index.manifest["vector_index"]
    n = len(a.index.passages)
    assert how == vector_index.plan(n, 10) and how["kind"] == "ivf_hnsw" and how["nprobe"] == how["nlist"]
    again = Assistant(settings, embedder=fake_embedder)  # loaded as recorded, whatever the limit now
    ivf = again.index.vectors
    assert isinstance(ivf, faiss.IndexIVFFlat) and ivf.nprobe == how["nprobe"]
    assert faiss.downcast_index(ivf.quantizer).hnsw.efSearch == how["ef_search"]
    for q in QUESTIONS:
        # every list probed: the same passages and scores as exact search
        assert again.ask(q).to_json() == flat.ask(q).to_json()


@pytest.mark.parametrize(("field", "value", "message"), [
    ("nlist", 7, "passages.faiss cannot be read by FAISS as its manifest says"),
    ("m", 16, "passages.faiss cannot be read by FAISS as its manifest says"),
    ("ef_search", None, "no valid vector index kind"),
    ("nprobe", 0, "no valid vector index kind"),
    ("kind", "hnsw", "no valid vector index kind"),
    ("kind", "flat", "passages.faiss cannot be read by FAISS as its manifest says"),
])
def test_a_manifest_whose_index_parameters_disagree_is_refused(settings, fake_embedder, field, value, message):
    Assistant(settings.with_(exact_limit=10), embedder=fake_embedder)
    gen = current_generation(settings.index_dir)
    assert gen is not None
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["vector_index"][field] = value
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match=message):
        Assistant(settings, embedder=fake_embedder)


def _old_ivf(vectors: np.ndarray, dim: int, how: dict) -> faiss.Index:
    """What qa built above the limit before the HNSW quantizer: IndexIVFFlat over an exact quantizer."""
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, how["nlist"], faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    index.add(vectors)
    return index


def test_an_index_of_the_earlier_kind_ivf_still_loads_and_searches(settings, fake_embedder, tmp_path, monkeypatch):
    flat = Assistant(settings.with_(index_dir=tmp_path / "flat"), embedder=fake_embedder)
    with monkeypatch.context() as m:  # an index as the earlier qa wrote it
        m.setattr(vector_index, "plan", lambda n, limit: {"kind": "ivf", "nlist": 8, "nprobe": 8})
        m.setattr(vector_index, "build", lambda x, dim, how: vector_index.opened(_old_ivf(x, dim, how), how))
        Assistant(settings.with_(exact_limit=10), embedder=fake_embedder)
    old = Assistant(settings, embedder=fake_embedder)
    assert old.index.manifest["vector_index"] == {"kind": "ivf", "nlist": 8, "nprobe": 8}
    assert isinstance(faiss.downcast_index(old.index.vectors.quantizer), faiss.IndexFlatIP)
    for q in QUESTIONS:
        assert old.ask(q).to_json() == flat.ask(q).to_json()
