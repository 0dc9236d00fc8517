"""The index keeps the answer scorer's vector of every sentence, so no question waits for them.

The scorer is a bi-encoder: a sentence's vector does not depend on the question. A build computes
each sentence's once (each alone, as a question would) and the generation keeps them beside the
embedder's, named by the scorer's fingerprint; an answer reads them instead of computing them. These
tests use the real shipped scorer and real files on disk (the embedder is the fake one where what it
finds does not matter).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter

import numpy as np
import pytest

from qa import Assistant
from qa.answer.compose import compose
from qa.errors import StoreError
from qa.index import store
from qa.index.manifest import SCORER_FILE
from qa.models.scorer import Scorer

NEW = ("ferry.txt", "The Ferry\n\nThe ferry carried rice and coal across the strait. "
                    "It sailed twice a week.\n\nA storm sank it in 1962.\n")


class Counting(Scorer):
    """The shipped scorer, recording every sentence a build asks it to read."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[str] = []

    def index_vectors(self, texts, progress=None):
        self.read.extend(texts)
        return super().index_vectors(texts, progress)


class Other(Scorer):
    """The shipped scorer under another fingerprint, as a retrained one would be."""

    @property
    def fingerprint(self) -> str:
        return "0" * 64


def _reading(index: store.Index, doc: str | None = None) -> list[str]:
    return [p.reading_text(i) for p in index.passages if doc is None or p.doc == doc for i in range(len(p.sentences))]


def test_a_build_keeps_each_sentences_vector_as_the_scorer_computes_it_alone(settings, fake_embedder):
    a = Assistant(settings, embedder=fake_embedder)
    gen, manifest = a.index.path, a.index.manifest
    assert manifest["scorer"] == {"fingerprint": a.scorer.fingerprint, "dim": 384}
    data = (gen / SCORER_FILE).read_bytes()
    assert manifest["files"][SCORER_FILE] == hashlib.sha256(data).hexdigest()
    kept = a.index.scorer_rows(a.scorer.fingerprint)
    assert kept is not None and kept.shape == (manifest["counts"]["sentences"], 384)
    fresh = Scorer()
    fresh.warm_up()
    np.testing.assert_array_equal(np.asarray(kept), fresh._encode(_reading(a.index)))  # the same, bit for bit
    assert a.index.scorer_rows("0" * 64) is None and a.index.scorer_rows(None) is None


def test_a_question_reads_the_kept_vectors_and_gets_the_same_answer(settings, embedder, monkeypatch):
    a = Assistant(settings, embedder=embedder)
    live = a.index
    bare = dataclasses.replace(live, scorer_vectors=None)  # the same generation, keeping none
    q = "When did Xi Jinping visit Pyongyang?"
    qvec = embedder.encode([q])[0]
    candidates = a._live.retriever.search(q, qvec, k=a.rules.pool(5))
    computed = compose(q, q, bare, candidates, 5, a.rules, Scorer(), a.reader, span=a.span)

    def refused(texts):
        raise AssertionError(f"the scorer computed sentence vectors: {texts[:2]}")

    monkeypatch.setattr(a.scorer, "sentence_vectors", refused)
    kept = compose(q, q, live, candidates, 5, a.rules, a.scorer, a.reader, span=a.span)
    assert kept.to_json() == computed.to_json()
    assert "June 20, 2019" in kept.answer.text
    assert a.ask(q).answer.text == kept.answer.text  # the whole path too
    assert len(a.scorer._cache) == 0


def test_an_index_without_them_is_refreshed_computing_only_them(settings, fake_embedder):
    gen = Assistant(settings.with_(scorer=False), embedder=fake_embedder).index.path
    assert not (gen / SCORER_FILE).exists()
    first = store.read_manifest(gen)
    assert "scorer" not in first and SCORER_FILE not in first["files"]
    embedded: list[str] = []
    real = fake_embedder.encode
    fake_embedder.encode = lambda texts: embedded.extend(texts) or real(texts)
    messages: list[str] = []
    scorer = Counting()
    a = Assistant(settings, embedder=fake_embedder, scorer=scorer, warn=messages.append)
    assert any("keeps no sentence vectors of the answer scorer" in m for m in messages)
    assert embedded == []  # every passage's vectors came from the generation before
    assert Counter(scorer.read) == Counter(_reading(a.index))
    assert a.index.manifest["scorer"]["fingerprint"] == scorer.fingerprint
    messages.clear()
    Assistant(settings, embedder=fake_embedder, warn=messages.append)
    assert messages == []  # loaded as it is now


def test_adding_a_document_reads_only_its_sentences(settings, corpus, fake_embedder, tmp_path):
    scorer = Counting()
    a = Assistant(settings, embedder=fake_embedder, scorer=scorer)
    first = len(scorer.read)
    scorer.read.clear()
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / NEW[0]).write_text(NEW[1], encoding="utf-8")
    a.add([(incoming / NEW[0], NEW[0])])
    assert Counter(scorer.read) == Counter(_reading(a.index, "corpus/" + NEW[0]))
    assert 0 < len(scorer.read) < first / 5
    full = Assistant(settings.with_(index_dir=tmp_path / "full"), embedder=fake_embedder)
    np.testing.assert_array_equal(np.asarray(a.index.scorer_vectors), np.asarray(full.index.scorer_vectors))
    assert "coal" in a.ask("What did the ferry carry across the strait?").answer.text


def test_another_scorers_vectors_are_never_read_and_are_made_again(settings, fake_embedder, monkeypatch):
    Assistant(settings, embedder=fake_embedder)
    other = Other()
    messages: list[str] = []
    a = Assistant(settings, embedder=fake_embedder, scorer=other, warn=messages.append)
    assert any("made by another answer scorer" in m for m in messages)
    assert a.index.manifest["scorer"]["fingerprint"] == "0" * 64
    # with no corpus to rebuild from, the index is served as it is and the scorer computes its own
    Assistant(settings, embedder=fake_embedder)  # back to the shipped scorer's vectors
    gone = settings.with_(corpus_dir=settings.corpus_dir.parent / "gone")
    b = Assistant(gone, embedder=fake_embedder, scorer=Other())
    assert b.index.scorer_rows(b.scorer.fingerprint) is None
    assert b.ask("When did Xi Jinping visit Pyongyang?").answer is not None
    assert len(b.scorer._cache) > 0  # computed, not read from another scorer's vectors


@pytest.mark.parametrize("damage", ["flipped bytes", "wrong shape"])
def test_damaged_scorer_vectors_are_refused(settings, fake_embedder, damage):
    a = Assistant(settings, embedder=fake_embedder)
    gen = a.index.path
    path = gen / SCORER_FILE
    if damage == "flipped bytes":
        data = bytearray(path.read_bytes())
        data[-40:] = bytes(b ^ 0xFF for b in data[-40:])
        path.write_bytes(bytes(data))
        said = "checksum mismatch"
    else:  # a manifest that promises vectors of another size than the file holds
        manifest = json.loads((gen / "manifest.json").read_text())
        manifest["scorer"]["dim"] = 128
        (gen / "manifest.json").write_text(json.dumps(manifest))
        said = "does not match its manifest"
    with pytest.raises(StoreError, match=said) as e:
        store.load(gen, store.read_manifest(gen))
    assert str(path) in str(e.value)


def test_a_malformed_scorer_entry_is_refused(settings, fake_embedder):
    a = Assistant(settings, embedder=fake_embedder)
    gen = a.index.path
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["scorer"] = {"fingerprint": 7}
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="malformed answer scorer entry"):
        store.read_manifest(gen)
