"""Long documents (issue 25 part 3): a paper's front matter stays apart from its abstract, BM25 reads
each passage with its document's title and section heading, and a question limited to one or a few
documents reranks deeper."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa.answer.compose import Rules, compose
from qa.config import Settings
from qa.index import lexical
from qa.index.indexer import identity, settings_mismatch
from qa.ingest.chunks import chunk
from qa.ingest.documents import read_document
from qa.ingest.layout import repair
from tests.conftest import ARTICLE, TREATY

#: a question whose best sentences score close together: an open search's reader reads several
REPAY = "How did Beijing repay the help it got from the Korean communists?"
#: a question with sentences between half a point and three quarters of a point behind its best: a
#: limited search's reader reads them, an open search's does not (Rules.narrow_reader_within)
SWAY = "Why did China lose its ideological sway over the North?"

AUTHORS = "; ".join(f"Name{i}, Given{i}" for i in range(14))  # a long author list: 28 words
PAPER = f"""Bats as reservoirs of coronaviruses

https://example.org/papers/bats

Authors: {AUTHORS}
Date: 2019-04-02
DOI: 10.1186/s00000-019-0000-0
License: cc-by

Abstract: Bats carry many coronaviruses without falling ill. We sampled 420 bats in four caves.

Text: Coronaviruses were found in 73 of the 420 bats sampled.
"""


def test_front_matter_ending_in_a_field_line_stays_apart_from_the_abstract() -> None:
    """A block of front matter as long as a paragraph, ending without a full stop, used to be taken
    for a paragraph cut by a page break and joined to the abstract: its last line ("License: cc-by")
    says it is not."""
    texts = [p.text for p in repair(PAPER).paragraphs]
    front = next(t for t in texts if t.startswith("Authors:"))
    assert front.endswith("License: cc-by") and "Abstract" not in front
    assert any(t.startswith("Abstract: Bats carry") for t in texts)
    # a paragraph cut by a page break still joins its continuation (its last line is prose)
    cut = PAPER.replace("License: cc-by\n", "and the licence of the paper is given in full below\n")
    joined = [p.text for p in repair(cut).paragraphs]
    assert any("given in full below Abstract: Bats carry" in t for t in joined)


def _markdown(tmp_path: Path) -> Any:
    path = tmp_path / "field-notes.md"
    path.write_text("# Field notes from the caves\n\n## Bats\n\nThe colony was counted twice in spring, at dawn.\n\n"
                    "## Swallows\n\nThe colony was counted twice in spring, at dusk.\n", encoding="utf-8")
    document, _ = read_document(path, "corpus/" + path.name, 10**8)
    return document


def test_bm25_reads_each_body_passage_with_its_section(tmp_path: Path) -> None:
    passages = chunk([_markdown(tmp_path)], 120)
    body = [p for p in passages if p.role == "body"]
    # one document: its title is every passage's, so only the section's heading is read
    assert [lexical.heading_tokens(passages)[passages.index(p)] for p in body] == [["bat"], ["swallow"]]
    per_sentence = [lexical.sentence_tokens(p) for p in passages]
    read, _ = lexical.tables(passages, per_sentence, headings=True)
    plain, _ = lexical.tables(passages, per_sentence, headings=False)
    rows = [passages.index(p) for p in body]
    for table, wanted in ((read, True), (plain, False)):
        scores = table.scores("swallows")
        assert bool(scores[rows[1]] > scores[rows[0]]) is wanted
        assert bool(scores[rows[1]] > 0) is wanted
    # the sentences' own BM25 never reads them: a heading is not a sentence of the passage
    assert "swallow" not in {t for sents in per_sentence for s in sents for t in s}


def test_bm25_reads_each_passage_with_its_documents_title_where_titles_differ(tmp_path: Path) -> None:
    article, _ = read_document(ARTICLE, "corpus/" + ARTICLE.name, 10**8)
    passages = chunk([_markdown(tmp_path), article], 120)
    extra = lexical.heading_tokens(passages)
    for p, words in zip(passages, extra, strict=True):
        if p.role != "body":
            assert words == []
        elif p.doc.endswith(".md"):
            assert p.section and words == ["field", "note", "cave", *lexical.tokens(p.section)]
        else:
            assert words == lexical.tokens(article.title)  # a .txt has no sections
    alone = chunk([article], 120)
    per_sentence = [lexical.sentence_tokens(p) for p in alone]
    with_headings, _ = lexical.tables(alone, per_sentence, headings=True)
    without, _ = lexical.tables(alone, per_sentence, headings=False)
    assert np.array_equal(with_headings.scores("Why did North Korea quarrel with China?"),
                          without.scores("Why did North Korea quarrel with China?"))  # one title: nothing read


def test_a_question_naming_a_section_finds_its_passage(tmp_path: Path, embedder) -> None:
    from qa import Assistant

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _markdown(corpus)
    assistant = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=embedder)
    for question, section in (("When were the swallows counted?", "Swallows"), ("When were the bats counted?", "Bats")):
        assert assistant.ask(question).hits[0].passage.section == section, question


def test_reading_headings_is_part_of_what_an_index_was_built_with() -> None:
    from qa.models.embedder import FakeEmbedder

    embedder = FakeEmbedder()
    old = identity(Settings(headings=False), embedder)
    assert settings_mismatch(old, Settings(), embedder) is not None  # an index built before rebuilds
    assert settings_mismatch(identity(Settings(), embedder), Settings(), embedder) is None


class _Counting:
    """The real reader, counting the sentences it is asked to read."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.read = inner, 0

    def probabilities(self, question: str, sentences: list[str], before: list[str] | None = None) -> np.ndarray:
        self.read += len(sentences)
        return np.asarray(self.inner.probabilities(question, sentences, before))


def test_narrowed_rules_read_deeper_only_for_a_few_documents(article_assistant) -> None:
    a = article_assistant
    rules = Rules()
    deep = rules.narrowed()
    assert deep.reader_candidates >= rules.reader_candidates and deep.scorer_depth >= rules.scorer_depth
    assert (deep.reader_candidates, deep.reader_within, deep.scorer_depth, deep.answer_depth) == (
        rules.narrow_reader_candidates, rules.narrow_reader_within, rules.narrow_depth, rules.narrow_answer_depth)
    qvec = a.embedder.encode([SWAY])[0]
    candidates = a._live.retriever.search(SWAY, qvec, k=30)
    counts = {}
    for docs in (None, 1, rules.narrow_docs, rules.narrow_docs + 1):
        reader = _Counting(a.reader)
        compose(SWAY, SWAY, a.index, candidates, 10, rules, a.scorer, reader, searched_docs=docs)
        counts[docs] = reader.read
    assert counts[None] == counts[rules.narrow_docs + 1] < counts[1] == counts[rules.narrow_docs]


def test_a_question_limited_to_one_document_reranks_deeper(article_assistant, monkeypatch) -> None:
    """Asked of one document (`docs`), the reader reads more sentences than for the same question
    over the whole corpus (here the corpus is that document, so the passages found are the same)."""
    a = article_assistant
    counting = _Counting(a.reader)
    monkeypatch.setattr(a, "reader", counting)
    doc = a.documents()[0]["doc"]
    everywhere = a.ask(SWAY, k=10)
    read_everywhere = counting.read
    counting.read = 0
    limited = a.ask(SWAY, k=10, docs=[doc])
    assert counting.read > read_everywhere > 0
    assert limited.answer is not None and everywhere.answer is not None
    counting.read = 0
    a.ask(TREATY, k=10, docs=[doc])  # a limited search still reads only what is close to the best
    assert 0 < counting.read < Rules().narrow_reader_candidates


def test_narrowed_rules_never_read_less_than_an_open_search() -> None:
    shallow = replace(Rules(), narrow_depth=2, narrow_reader_candidates=1, narrow_reader_within=0.1, narrow_answer_depth=1)
    deep, rules = shallow.narrowed(), Rules()
    assert (deep.scorer_depth, deep.reader_candidates, deep.reader_within, deep.answer_depth) == (
        rules.scorer_depth, rules.reader_candidates, rules.reader_within, rules.answer_depth)


def test_the_search_finds_every_passage_the_models_rerank(article_assistant, monkeypatch) -> None:
    """However few passages are asked for (k), the search finds as many as the models rerank, so a
    question shown one passage is reranked as deeply as one shown ten."""
    a = article_assistant
    rules = Rules()
    assert all(rules.pool(k) >= max(rules.scorer_depth, rules.narrowed().scorer_depth, 3 * k) for k in (1, 5, 50))
    judged: list[int] = []
    probability = a.scorer.probability
    monkeypatch.setattr(a.scorer, "probability", lambda cosines: (judged.append(len(cosines)), probability(cosines))[1])
    one, ten = a.ask(REPAY, k=1), a.ask(REPAY, k=10)
    assert len(one.hits) == 1 and len(ten.hits) == 10
    assert judged[0] == judged[1] > 0  # the same sentences read by the scorer: the same passages reranked
    assert one.hits[0].passage == ten.hits[0].passage and one.answer == ten.answer


@pytest.mark.parametrize("field", ["narrow_depth", "narrow_reader_candidates"])
def test_narrowing_changes_only_the_rules_it_names(field: str) -> None:
    changes: dict[str, Any] = {field: 30}
    rules = replace(Rules(), **changes)
    deep = rules.narrowed()
    changed = {k for k in vars(rules) if getattr(rules, k) != getattr(deep, k)}
    assert changed <= {"scorer_depth", "reader_candidates", "reader_within", "answer_depth"}
