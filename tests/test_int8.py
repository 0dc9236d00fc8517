"""Index builds and questions are embedded by the export's int8 copy (each passage once, its sentences
pooled from the same pass): made on first use, checked; the float session is then never opened.

Tests that damage the copy work on a copy of the run's model cache (as tests/test_onnx.py does).
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from qa.errors import ModelError
from qa.models import export
from qa.models.embedder import MiniLM
from tests.conftest import TREATY

TEXTS = [
    "China and North Korea signed a treaty of friendship in 1961.",
    "Pyongyang tested a nuclear device in October 2006, and the Security Council answered with resolution 1718.",
    "coal",
    "In 1993, Beijing altered the terms of its bilateral trade with North Korea from concessional arrangements "
    "and bartering to a cash-based market approach.",
]


@pytest.fixture
def cache(embedder, tmp_path, monkeypatch) -> Path:
    """A copy of the run's float export, without any int8 copy, in use for this test; returns its folder."""
    where = tmp_path / "models" / embedder.export_path.parent.name
    where.mkdir(parents=True)
    for name in (*export.FILES, export.RECORD):
        shutil.copy(embedder.export_path.parent / name, where / name)
    monkeypatch.setenv(export.CACHE_ENV, str(tmp_path / "models"))
    return where


def _bulk(model: MiniLM, texts: list[str]) -> np.ndarray:
    with model.bulk():
        return model.encode(texts)


def test_the_int8_copy_is_made_once_and_embeds_questions_and_index_builds_alike(cache):
    floats = MiniLM(int8=False).encode(TEXTS)
    assert not (cache / export.INT8_FILE).exists()  # the float model alone never makes it
    messages: list[str] = []
    model = MiniLM(warn=messages.append)
    assert model.vectors == "int8"
    asked = model.encode(TEXTS)  # as questions: made on the first load, and read
    assert (cache / export.INT8_FILE).exists()
    quantized = _bulk(model, TEXTS)
    np.testing.assert_allclose(asked, quantized, atol=1e-5)  # the same model, one text a run
    record = json.loads((cache / export.INT8_RECORD).read_text())
    for name in export.INT8_FILES:
        assert export.sha256_file(cache / name) == record["files"][name]
    # the weights lie beside the graph, which names them: onnxruntime maps them instead of parsing them
    assert (cache / export.INT8_DATA).stat().st_size > 50e6 > 1e6 > (cache / export.INT8_FILE).stat().st_size
    assert record["source"] == json.loads((cache / export.RECORD).read_text())["files"]
    cosines = (floats * quantized).sum(axis=1)
    assert np.abs(quantized - floats).max() > 1e-4  # another model did compute them
    assert cosines.min() >= 0.97 and cosines.mean() >= 0.98, cosines
    made = (cache / export.INT8_FILE).stat().st_mtime_ns
    again = _bulk(MiniLM(warn=messages.append), TEXTS)
    assert (cache / export.INT8_FILE).stat().st_mtime_ns == made  # checked and reused, not made again
    np.testing.assert_allclose(again, quantized, atol=1e-6)
    assert messages == []
    np.testing.assert_array_equal(model.encode(TEXTS), asked)  # outside bulk(): its own session again


def test_an_int8_vector_does_not_depend_on_the_texts_beside_it(cache):
    """Its activations are quantized with one scale per run: each text is read alone, so an
    incremental build equals a full one (tests/test_incremental.py)."""
    model = MiniLM()
    with model.bulk():
        alone = np.vstack([model.encode([t]) for t in TEXTS])
        together = model.encode(TEXTS)
        reordered = model.encode(TEXTS[::-1])[::-1]
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(reordered, alone)


def test_a_question_asked_while_another_thread_indexes_keeps_its_own_session(cache):
    model = MiniLM()
    before = model.encode(TEXTS[:1])
    inside, done = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def index() -> None:
        with model.bulk():
            seen["bulk"] = model.encode(TEXTS[:1])
            seen["bulk threads"] = model.threads_in_use
            inside.set()
            done.wait(60)

    worker = threading.Thread(target=index)
    worker.start()
    try:
        assert inside.wait(120)
        asked = model.encode(TEXTS[:1])
        assert model.threads_in_use == model.threads
    finally:
        done.set()
        worker.join()
    np.testing.assert_array_equal(asked, before)
    np.testing.assert_allclose(np.asarray(seen["bulk"]), before, atol=1e-5)
    assert seen["bulk threads"] >= model.threads


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", export.INT8_FILES)
def test_a_damaged_int8_copy_is_made_again(cache, name):
    model = MiniLM()
    first = _bulk(model, TEXTS)
    _flip_a_byte(cache / name)
    messages: list[str] = []
    again = _bulk(MiniLM(warn=messages.append), TEXTS)
    assert len(messages) == 1 and "int8 copy" in messages[0] and "damaged" in messages[0], messages
    np.testing.assert_allclose(again, first, atol=1e-6)


def test_an_int8_copy_of_another_export_is_made_again(cache):
    _bulk(MiniLM(), TEXTS)
    record = json.loads((cache / export.INT8_RECORD).read_text())
    record["source"][export.DATA_FILE] = "0" * 64
    (cache / export.INT8_RECORD).write_text(json.dumps(record))
    messages: list[str] = []
    _bulk(MiniLM(warn=messages.append), TEXTS)
    assert len(messages) == 1 and "another export" in messages[0], messages
    assert json.loads((cache / export.INT8_RECORD).read_text())["source"][export.DATA_FILE] != "0" * 64


def test_an_int8_copy_that_fails_its_canary_is_refused(cache):
    """Its checksum holds but its canary vector is not the model's (here: the expected one is
    another): refused, made again, and refused for good with one line."""
    from qa.models import ortmodel
    from qa.models.bundled import expected, model_dir

    _bulk(MiniLM(), TEXTS)
    int8 = json.loads((cache / export.INT8_RECORD).read_text())
    tok = ortmodel.tokenizer(model_dir(None))
    assert ortmodel._int8_fault(cache / export.INT8_FILE, int8, tok, expected()) == ""
    other = np.random.default_rng(0).standard_normal(384)
    checks = {**expected(), "canary": (other / np.linalg.norm(other)).tolist()}
    assert "canary" in ortmodel._int8_fault(cache / export.INT8_FILE, int8, tok, checks)
    record = json.loads((cache / export.RECORD).read_text())
    with pytest.raises(ModelError, match="int8 copy of the model .* failed its self-check .*QA_INDEX_INT8=0"):
        ortmodel.int8_model(cache, record, tok, checks, lambda _m: None)


def test_qa_index_int8_0_embeds_with_the_float_model(cache, monkeypatch):
    monkeypatch.setenv("QA_INDEX_INT8", "0")
    model = MiniLM()
    assert model.vectors == "float32"
    assert np.abs(_bulk(model, TEXTS) - model.encode(TEXTS)).max() <= 1e-6
    assert not (cache / export.INT8_FILE).exists()
    monkeypatch.setenv("QA_INDEX_INT8", "yes")
    with pytest.raises(ModelError, match="QA_INDEX_INT8 must be 0 or 1"):
        MiniLM()


def test_the_index_records_its_vectors_and_answers_as_before(corpus, tmp_path, embedder):
    from qa import Assistant, Settings

    built = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "int8"), embedder=embedder)
    assert built.index.manifest["vectors"] == "int8"
    floats = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "float"),
                       embedder=MiniLM(int8=False))
    assert floats.index.manifest["vectors"] == "float32"
    stored = built.index.vectors.reconstruct_n(0, len(built.index.passages))
    exact = embedder.encode([p.search_text() for p in built.index.passages])
    assert (stored * exact).sum(axis=1).min() >= 0.97
    assert built.ask(TREATY).answer.text == floats.ask(TREATY).answer.text


def test_a_passages_sentences_are_pooled_from_its_own_pass_and_stay_told_apart(corpus, tmp_path, embedder):
    """Each sentence's vector comes from the passage's own encoder pass (its tokens' states), so a
    build reads every passage once; each stays nearest its own sentence read alone."""
    from qa import Assistant, Settings

    index = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=embedder).index
    bounds, own, nearest, total = index.sentence_rows, [], 0, 0
    for p in index.passages:
        pooled = index.sentence_vectors[bounds[p.id] : bounds[p.id + 1]]
        if len(p.sentences) == 1:
            np.testing.assert_array_equal(pooled[0], index.vectors.reconstruct(p.id))
            continue
        alone = embedder.encode([p.sentence_text(i) for i in range(len(p.sentences))])
        similar = pooled @ alone.T
        assert np.abs(np.linalg.norm(pooled, axis=1) - 1).max() < 1e-5
        assert not np.allclose(pooled, alone, atol=1e-3)  # pooled, not read alone
        own += list(np.diag(similar))
        nearest += int((similar.argmax(axis=1) == np.arange(len(similar))).sum())
        total += len(similar)
    assert total >= 40 and nearest >= 0.9 * total and float(np.median(own)) >= 0.8, (nearest, total, np.median(own))


def test_a_sentence_past_what_the_model_reads_is_embedded_alone(cache):
    """A passage longer than the model's 256 tokens: the sentences it cut off get no pooled vector,
    and the indexer embeds them alone."""
    from qa.index.indexer import embed
    from qa.ingest.chunks import Passage, Sentence

    sentences = [f"Sentence number {i} talks about the harbour of Nampo and its coal trade with Dalian." for i in range(30)]
    text, spans, at = "", [], 0
    for s in sentences:
        spans.append((at, at + len(s)))
        text += s + " "
        at = len(text)
    model = MiniLM()
    with model.bulk():
        got = model.encode_with_spans([text], [spans])
        assert got is not None
        vectors, pooled = got
        assert pooled[0][0] is not None and pooled[0][-1] is None  # the first read, the last cut off
        passage = Passage(0, "long.txt", "Long", 0, 0, len(text), text, tuple(Sentence(a, b, a, b) for a, b in spans))
        _, sentence_vectors = embed([passage], model)
        last_alone = model.encode([sentences[-1]])
    assert model.encode_with_spans([text], [spans]) is None  # outside bulk(): the caller embeds alone
    np.testing.assert_allclose(sentence_vectors[0], pooled[0][0], atol=1e-6)
    np.testing.assert_allclose(sentence_vectors[-1], last_alone[0], atol=1e-6)


def test_a_copy_that_fails_tells_a_wrong_export_from_a_wrong_copy(cache, monkeypatch):
    """The float session is opened only when the copy fails: its canary tells whether the export it was
    made from is wrong (built again) or the copy is (refused in one line)."""
    from qa.models import ortmodel

    MiniLM().warm_up()  # the copy exists
    made: list[str] = []
    monkeypatch.setattr(ortmodel, "_INT8_CHECKED", {})  # not taken as checked already in this process
    monkeypatch.setattr(ortmodel, "_int8_fault", lambda *_a: "its canary vector's cosine is 0.5")
    monkeypatch.setattr(export, "build_int8", lambda where, record, refused=None: made.append("copy") or refused)
    with pytest.raises(ModelError, match="int8 copy of the model .* cosine is 0.5.*QA_INDEX_INT8=0"):
        MiniLM().warm_up()
    assert made == ["copy"]  # made again once, then refused; the export's own canary held
    real_open = ortmodel._open
    monkeypatch.setattr(ortmodel, "_open", lambda *a: (real_open(*a)[0], "its canary vector is off by 0.5"))
    monkeypatch.setattr(export, "build", lambda *a, **k: made.append("export"))
    with pytest.raises(ModelError, match="failed its self-check through its ONNX export .*off by 0.5"):
        MiniLM().warm_up()
    assert made.count("export") == 1  # the export was the wrong one: built again, once
