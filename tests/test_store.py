"""The index on disk: save and load, refresh on change, refusal of tampered or foreign indexes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from qa import Assistant, Settings
from qa.errors import StoreError
from qa.index.store import current_generation
from tests.conftest import ARTICLE


def _assistant(settings, embedder, messages=None):
    return Assistant(settings, embedder=embedder, warn=(messages.append if messages is not None else None))


def _gen(settings) -> Path:
    gen = current_generation(settings.index_dir)
    assert gen is not None
    return gen


def _summary(result):
    return [(h.citation.passage_id, round(h.score, 6)) for h in result.hits], result.answer


def test_build_writes_open_formats_and_a_manifest(settings, fake_embedder):
    _assistant(settings, fake_embedder)
    gen = _gen(settings)
    assert sorted(f.name for f in gen.iterdir()) == [
        "manifest.json", "passages.bm25", "passages.faiss", "passages.jsonl", "repeats.jsonl", "scorer.npy",
        "sentence_rows.npy", "sentences.bm25", "sentences.npy", "tokens.jsonl"]
    manifest = json.loads((gen / "manifest.json").read_text())
    assert manifest["format_version"] == 3
    assert manifest["vector_index"] == {"kind": "flat"}
    assert manifest["model"]["name"] == "fake-hash-embedder" and manifest["model"]["dim"] == 384
    assert manifest["chunking"]["max_words"] == 120
    assert set(manifest["sources"]) == {"corpus/" + ARTICLE.name}
    assert len(manifest["sources"]["corpus/" + ARTICLE.name]) == 64
    bm25 = {"params.index.json", "vocab.index.json", "data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy"}
    assert set(manifest["files"]) == {"passages.jsonl", "sentence_rows.npy", "passages.faiss", "sentences.npy",
                                      "tokens.jsonl", "repeats.jsonl", "scorer.npy",
                                      *(f"{d}/{n}" for d in ("passages.bm25", "sentences.bm25") for n in bm25)}
    for name, digest in manifest["files"].items():  # every file is listed with its SHA-256
        assert hashlib.sha256((gen / name).read_bytes()).hexdigest() == digest
    assert manifest["created"].endswith("Z")
    lines = (gen / "passages.jsonl").read_text().splitlines()
    assert len(lines) == manifest["counts"]["passages"]
    assert not list(settings.index_dir.glob("*.tmp"))


def test_save_load_same_results(settings, fake_embedder):
    first = _assistant(settings, fake_embedder)
    messages: list[str] = []
    second = _assistant(settings, fake_embedder, messages)
    assert messages == []  # loaded, not rebuilt
    assert second.index.path == first.index.path
    for q in ["When was the treaty renewed?", "coal imports suspended", "Who wrote the article?"]:
        assert _summary(first.ask(q)) == _summary(second.ask(q))
    np.testing.assert_array_equal(first.index.sentence_vectors, second.index.sentence_vectors)


def test_save_load_same_results_with_the_real_model(settings, embedder):
    first = _assistant(settings, embedder)
    assert embedder.threads_in_use == embedder.threads == 1  # the build used every core, then gave them back
    second = _assistant(settings, embedder)
    q = "When did Pyongyang test a nuclear device?"
    assert _summary(first.ask(q)) == _summary(second.ask(q))


def test_a_changed_document_triggers_a_rebuild(settings, corpus, fake_embedder):
    before = _assistant(settings, fake_embedder)
    old_gen = before.index.path
    with (corpus / ARTICLE.name).open("a", encoding="utf-8") as f:
        f.write("\n\nIn 2030 the two countries opened a new bridge over the Yalu river.\n")
    messages: list[str] = []
    after = _assistant(settings, fake_embedder, messages)
    assert any("out of date" in m and "corpus changed" in m and ARTICLE.name in m for m in messages)
    assert after.index.path != old_gen and not old_gen.exists()
    assert "Yalu" in after.ask("When was the bridge over the Yalu opened?").hits[0].passage.text


def test_new_and_removed_documents_trigger_a_rebuild(settings, corpus, fake_embedder):
    _assistant(settings, fake_embedder)
    (corpus / "extra.md").write_text("# Extra\n\nThe Tumen river forms part of the border.\n")
    messages: list[str] = []
    a = _assistant(settings, fake_embedder, messages)
    assert any("extra.md" in m for m in messages)
    assert {d["doc"] for d in a.documents()} == {"corpus/extra.md", "corpus/" + ARTICLE.name}
    (corpus / "extra.md").unlink()
    messages.clear()
    a = _assistant(settings, fake_embedder, messages)
    assert any("extra.md" in m for m in messages)


def test_other_chunking_or_model_triggers_a_rebuild(settings, fake_embedder, embedder):
    _assistant(settings, fake_embedder)
    messages: list[str] = []
    _assistant(settings.with_(max_words=60), fake_embedder, messages)
    assert any("chunking" in m for m in messages)
    messages.clear()
    a = _assistant(settings.with_(max_words=60), embedder, messages)
    assert any("all-MiniLM-L6-v2" in m for m in messages)
    assert a.index.manifest["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"


@pytest.mark.parametrize("version", [4, 0, "3", None])
def test_unknown_format_version_is_refused(settings, fake_embedder, version):
    _assistant(settings, fake_embedder)
    path = _gen(settings) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = version
    path.write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match=r"format version .*qa index --force"):
        _assistant(settings, fake_embedder)


def test_an_older_format_is_rebuilt_or_refused_without_a_corpus(settings, fake_embedder):
    _assistant(settings, fake_embedder)
    path = _gen(settings) / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "format_version": 1}))
    with pytest.raises(StoreError, match=r"format version 1, older .*qa index --force.*--corpus DIR"):
        _assistant(settings.with_(corpus_dir=settings.corpus_dir.parent / "gone"), fake_embedder)
    messages: list[str] = []
    rebuilt = _assistant(settings, fake_embedder, messages)
    assert messages == ["the index is out of date (it was written in format 1, this qa writes 3); rebuilding"]
    assert rebuilt.index.manifest["format_version"] == 3 and rebuilt.index.path != path.parent


def test_tampered_files_are_refused(settings, fake_embedder):
    _assistant(settings, fake_embedder)
    gen = _gen(settings)
    for name in ["passages.faiss", "sentences.npy", "passages.jsonl", "passages.bm25/data.csc.index.npy",
                 "sentences.bm25/vocab.index.json", "passages.bm25/params.index.json"]:
        original = (gen / name).read_bytes()
        flipped = bytearray(original)
        flipped[len(flipped) // 2] ^= 0xFF
        for bad in (bytes(flipped), original + b"garbage", original[: len(original) // 2], b""):
            (gen / name).write_bytes(bad)
            with pytest.raises(StoreError, match=rf"checksum mismatch in .*{name}.*qa index --force"):
                _assistant(settings, fake_embedder)
        (gen / name).write_bytes(original)
    _assistant(settings, fake_embedder)  # intact again


def test_tampered_manifest_is_refused(settings, fake_embedder):
    _assistant(settings, fake_embedder)
    path = _gen(settings) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["counts"]["passages"] += 1
    path.write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="does not match its manifest"):
        _assistant(settings, fake_embedder)
    path.write_text("{not json")
    with pytest.raises(StoreError, match="not valid JSON"):
        _assistant(settings, fake_embedder)
    path.unlink()
    with pytest.raises(StoreError, match="manifest missing"):
        _assistant(settings, fake_embedder)


def test_force_rebuild_recovers_and_leaves_one_generation(settings, fake_embedder):
    _assistant(settings, fake_embedder)
    (_gen(settings) / "passages.faiss").write_bytes(b"junk")
    a = Assistant(settings, embedder=fake_embedder, load=False)
    a.reload(force=True)
    assert a.ask("coal imports").hits
    gens = [p for p in settings.index_dir.iterdir() if p.name.startswith("gen-")]
    assert gens == [_gen(settings)]


def test_orphan_generations_are_collected_at_start(settings, fake_embedder):
    _assistant(settings, fake_embedder)
    orphan = settings.index_dir / "gen-19990101T000000-abcdef"
    orphan.mkdir()
    (orphan / "passages.faiss").write_bytes(b"partial")
    _assistant(settings, fake_embedder)
    assert not orphan.exists()


def test_a_corpus_of_only_empty_files_says_so(tmp_path, fake_embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "empty.txt").write_text("   \n")
    from qa.errors import CorpusError

    with pytest.raises(CorpusError, match="no indexable text"):
        Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=fake_embedder)
    assert current_generation(tmp_path / "index") is None
