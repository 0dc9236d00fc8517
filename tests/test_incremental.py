"""Incremental indexing: a new generation embeds only new or changed text, and equals a full rebuild."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from qa import Assistant
from qa.index import store
from qa.index.lexical import Lexical, sentence_tokens
from qa.index.vectors import all_vectors
from qa.ingest import documents
from tests.conftest import ARTICLE, SHARED, needs_shared

QUESTIONS = ["When was the treaty renewed?", "Where do the cranes nest?", "Who built the lighthouse at Dalian?",
             "What did the ferry carry across the strait?"]
EXTRA = {
    "cranes.md": "# Cranes of the Tumen\n\nRed-crowned cranes nest in the wetlands of the Tumen delta. "
                 "They arrive in March.\n\nFarmers leave stubble in the fields for them. Counts rose in 2019.\n",
    "lighthouse.txt": "The Lighthouse\n\nA Danish engineer built the lighthouse at Dalian in 1893.\n\n"
                      "Its lamp was replaced in 1951. The keeper's house is now a museum.\n",
}
NEW = ("ferry.txt", "The Ferry\n\nThe ferry carried rice and coal across the strait. "
                    "It sailed twice a week.\n\nA storm sank it in 1962.\n")


class Counting:
    """Wraps an embedder and records every text it is asked to embed."""

    def __init__(self, inner) -> None:
        self.inner, self.texts = inner, []
        self.name, self.dim = inner.name, inner.dim
        self.fingerprint = getattr(inner, "fingerprint", None)

    def encode(self, texts: list[str]) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.encode(texts)


def _texts_of(index: store.Index, doc: str) -> list[str]:
    """What building `doc`'s passages embeds: each passage, and the sentences of longer ones."""
    ps = [p for p in index.passages if p.doc == doc]
    return [p.search_text() for p in ps] + [p.sentence_text(i) for p in ps if len(p.sentences) > 1
                                            for i in range(len(p.sentences))]


def _same_as_full_rebuild(a: Assistant, settings, inner, tmp_path: Path) -> None:
    """The incremental generation equals what a full rebuild of the same corpus gives."""
    full = Assistant(settings.with_(index_dir=tmp_path / "full"), embedder=inner)
    x, y = a.index, full.index
    assert [p.to_record() for p in x.passages] == [p.to_record() for p in y.passages]
    np.testing.assert_array_equal(all_vectors(x.vectors), all_vectors(y.vectors))
    np.testing.assert_array_equal(x.sentence_vectors, y.sentence_vectors)
    assert x.lexical.df == y.lexical.df and x.sentence_lexical.df == y.sentence_lexical.df
    assert store.read_tokens(x) == store.read_tokens(y)
    assert [{k: v for k, v in d.items()} for d in x.manifest["documents"]] == y.manifest["documents"]
    for q in QUESTIONS:
        assert a.ask(q).to_json() == full.ask(q).to_json()
    shutil.rmtree(tmp_path / "full")


@pytest.fixture
def wider(settings, corpus: Path):
    for name, text in EXTRA.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return settings


def test_adding_a_document_embeds_only_its_passages(wider, corpus, fake_embedder, tmp_path):
    counting = Counting(fake_embedder)
    Assistant(wider, embedder=counting)
    first = len(counting.texts)
    counting.texts.clear()
    (corpus / NEW[0]).write_text(NEW[1], encoding="utf-8")
    messages: list[str] = []
    a = Assistant(wider, embedder=counting, warn=messages.append)
    assert any("corpus changed" in m and NEW[0] in m for m in messages)
    assert Counter(counting.texts) == Counter(_texts_of(a.index, "corpus/" + NEW[0]))
    assert 0 < len(counting.texts) < first / 10
    assert "ferry" in a.ask("What did the ferry carry across the strait?").answer.text
    _same_as_full_rebuild(a, wider, fake_embedder, tmp_path)


def test_assistant_add_refreshes_from_the_generation_it_holds(wider, corpus, fake_embedder, tmp_path, monkeypatch):
    """Assistant.add hands the generation it serves to the indexer: nothing is read back from disk,
    and the result is a full rebuild's, answers included."""
    counting = Counting(fake_embedder)
    a = Assistant(wider, embedder=counting)
    counting.texts.clear()
    loads: list[Path] = []
    real_load = store.load
    monkeypatch.setattr(store, "load", lambda gen, manifest: loads.append(gen) or real_load(gen, manifest))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / NEW[0]).write_text(NEW[1], encoding="utf-8")
    added = a.add([(incoming / NEW[0], NEW[0])])
    assert [d["doc"] for d in added.added] == ["corpus/" + NEW[0]] and loads == []
    assert Counter(counting.texts) == Counter(_texts_of(a.index, "corpus/" + NEW[0]))
    monkeypatch.undo()
    _same_as_full_rebuild(a, wider, fake_embedder, tmp_path)


def test_loading_parses_no_passage_record(wider, fake_embedder, monkeypatch):
    """Load checks every file's SHA-256 and the record count but parses records only when used."""
    from qa.ingest.chunks import Passage

    Assistant(wider, embedder=fake_embedder)
    parsed: list[int] = []
    real = Passage.from_record.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Passage, "from_record", classmethod(lambda cls, r: parsed.append(r["id"]) or real(cls, r)))
    a = Assistant(wider, embedder=fake_embedder)
    assert parsed == [] and len(a.index.passages) > 3
    assert a.index.passages[3].id == 3 and parsed == [3]
    a.index.passages[3]
    assert parsed == [3]  # parsed once, then kept


def test_removing_a_document_drops_its_passages_and_embeds_nothing(wider, corpus, fake_embedder, tmp_path):
    counting = Counting(fake_embedder)
    before = Assistant(wider, embedder=counting).index
    assert any(p.doc == "corpus/cranes.md" for p in before.passages)
    counting.texts.clear()
    (corpus / "cranes.md").unlink()
    a = Assistant(wider, embedder=counting)
    assert counting.texts == []
    assert not any(p.doc == "corpus/cranes.md" for p in a.index.passages)
    assert "corpus/cranes.md" not in {d["doc"] for d in a.documents()}
    assert [p.id for p in a.index.passages] == list(range(len(a.index.passages)))  # renumbered
    _same_as_full_rebuild(a, wider, fake_embedder, tmp_path)


def test_a_changed_document_is_embedded_again_where_it_changed(wider, corpus, fake_embedder, tmp_path):
    counting = Counting(fake_embedder)
    Assistant(wider, embedder=counting)
    counting.texts.clear()
    path = corpus / "lighthouse.txt"
    path.write_text(path.read_text().replace("in 1951", "in 1952"), encoding="utf-8")
    a = Assistant(wider, embedder=counting)
    changed = [p for p in a.index.passages if "1952" in p.text]
    assert len(changed) == 1
    assert Counter(counting.texts) == Counter(
        [changed[0].search_text()] + [changed[0].sentence_text(i) for i in range(len(changed[0].sentences))])
    _same_as_full_rebuild(a, wider, fake_embedder, tmp_path)


def test_a_document_before_the_others_and_a_repeated_passage_match_a_full_rebuild(wider, corpus, fake_embedder,
                                                                                    tmp_path, monkeypatch):
    """A new first document that repeats another's paragraph takes it over, as a full rebuild does."""
    counting = Counting(fake_embedder)
    Assistant(wider, embedder=counting)
    (corpus / "aaa.txt").write_text("Notes\n\nA Danish engineer built the lighthouse at Dalian in 1893.\n")
    a = Assistant(wider, embedder=counting)
    _same_as_full_rebuild(a, wider, fake_embedder, tmp_path)
    assert any(p.doc == "corpus/aaa.txt" for p in a.index.passages)
    # the lighthouse document, one passage short now, is not read again: its repeat is kept aside
    reads: list[str] = []
    real_read = documents.read_document
    monkeypatch.setattr(documents, "read_document", lambda path, *args: reads.append(path.name) or real_read(path, *args))
    (corpus / "zzz.txt").write_text("Later\n\nThe ferry sailed on.\n", encoding="utf-8")
    a = Assistant(wider, embedder=counting)
    assert reads == ["zzz.txt"]
    monkeypatch.undo()
    _same_as_full_rebuild(a, wider, fake_embedder, tmp_path)
    (corpus / "aaa.txt").unlink()  # the lighthouse passage goes back to its own document
    a = Assistant(wider, embedder=counting)
    assert any(p.doc == "corpus/lighthouse.txt" and "Danish engineer" in p.text for p in a.index.passages)
    _same_as_full_rebuild(a, wider, fake_embedder, tmp_path)


def _everything(index: store.Index) -> Counter[str]:
    return Counter(t for doc in {p.doc for p in index.passages} for t in _texts_of(index, doc))


def test_other_settings_or_force_embed_everything(wider, fake_embedder):
    counting = Counting(fake_embedder)
    first = Assistant(wider, embedder=counting)
    assert Counter(counting.texts) == _everything(first.index)
    counting.texts.clear()
    other = Assistant(wider.with_(max_words=60), embedder=counting)
    assert Counter(counting.texts) == _everything(other.index) != _everything(first.index)
    counting.texts.clear()
    other.reload(force=True)
    assert Counter(counting.texts) == _everything(other.index)


def test_incremental_with_the_real_model_matches_a_full_rebuild(settings, corpus, embedder, tmp_path):
    Assistant(settings, embedder=embedder)
    (corpus / NEW[0]).write_text(NEW[1], encoding="utf-8")
    a = Assistant(settings, embedder=embedder)
    full = Assistant(settings.with_(index_dir=tmp_path / "full"), embedder=embedder)
    assert [p.to_record() for p in a.index.passages] == [p.to_record() for p in full.index.passages]
    np.testing.assert_allclose(all_vectors(a.index.vectors), all_vectors(full.index.vectors), atol=1e-5)
    np.testing.assert_allclose(a.index.sentence_vectors, full.index.sentence_vectors, atol=1e-5)
    for q in ["When was the treaty renewed?", "What did the ferry carry across the strait?",
              "When did Pyongyang test a nuclear device?"]:
        x, y = a.ask(q), full.ask(q)
        assert x.answer == y.answer and [h.citation for h in x.hits] == [h.citation for h in y.hits]


def test_the_stored_lexical_index_equals_one_built_from_the_text(settings, fake_embedder):
    index = Assistant(settings, embedder=fake_embedder).index
    per_sentence = [sentence_tokens(p) for p in index.passages]
    assert store.read_tokens(index) == per_sentence
    sentences = Lexical(tokenized=[s for sents in per_sentence for s in sents])
    assert index.sentence_lexical.df == sentences.df and index.sentence_lexical.n == sentences.n
    for q in ["treaty renewed 1961", "Kim Jong-un Beijing visit", "sanctions coal"]:
        np.testing.assert_allclose(index.sentence_lexical.scores(q), sentences.scores(q), rtol=1e-6)
    assert ARTICLE.name in index.passages[0].doc


def assert_bm25s_scores(corpus: list[list[str]]) -> None:
    """`qa.index.lexical._index` gives bm25s's scores for `corpus` exactly (every term's column,
    every document)."""
    import bm25s

    from qa.index.lexical import K1, B

    mine = Lexical(tokenized=corpus)._bm25
    theirs = bm25s.BM25(k1=K1, b=B, csc_backend="numpy")
    theirs.index([doc or [""] for doc in corpus], show_progress=False)
    assert set(mine.vocab_dict) == set(theirs.vocab_dict) and mine.scores["num_docs"] == theirs.scores["num_docs"]
    for term, col in theirs.vocab_dict.items():
        if col >= len(theirs.scores["indptr"]) - 1:
            continue  # bm25s's "" past the matrix
        a, b = (slice(s["indptr"][c], s["indptr"][c + 1]) for s, c in
                ((mine.scores, mine.vocab_dict[term]), (theirs.scores, col)))
        np.testing.assert_array_equal(mine.scores["indices"][a], theirs.scores["indices"][b])
        assert mine.scores["data"][a].tobytes() == theirs.scores["data"][b].tobytes(), term
    assert mine.scores["data"].dtype == theirs.scores["data"].dtype
    assert mine.scores["indices"].dtype == theirs.scores["indices"].dtype


def test_the_lexical_index_is_bm25s_own_bit_for_bit(settings, fake_embedder):
    """bm25s's scores exactly on the article's sentences and passages, and with empty texts."""
    from qa.index.lexical import tables

    index = Assistant(settings, embedder=fake_embedder).index
    per_sentence = [sentence_tokens(p) for p in index.passages]
    corpora = [[s for sents in per_sentence for s in sents], [t for sents in per_sentence for t in sents[:1]]]
    corpora += [[[t for s in sents for t in s] for sents in per_sentence], corpora[0] + [[], ["x"]]]
    for corpus in corpora:
        assert_bm25s_scores(corpus)
    passages, sentences = tables(index.passages, per_sentence)
    assert sentences.df == Lexical(tokenized=corpora[0]).df
    assert all(v > 0 for v in passages.df.values()) and "" not in passages.df


@needs_shared("benchmarks/squad-v1.1-dev/docs")
def test_the_lexical_index_is_bm25s_own_on_squad_documents():
    """The same on six SQuAD documents' paragraphs, with empty texts among them."""
    from qa.index.lexical import tokens

    squad = sorted((SHARED / "benchmarks" / "squad-v1.1-dev" / "docs").glob("*.txt"))[:6]
    assert squad
    assert_bm25s_scores([tokens(para) for doc in squad for para in doc.read_text(encoding="utf-8").split("\n")]
                        + [[], ["x"]])
