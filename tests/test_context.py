"""`Assistant.context`: a citation shown in its place, read afresh from the document."""

from __future__ import annotations

import shutil

import pytest

from qa.errors import CorpusError, InputError
from tests.conftest import TREATY


def _flat(s: str) -> str:
    return " ".join(s.split())


def test_context_highlights_each_cited_passage(article_assistant):
    result = article_assistant.ask(TREATY)
    for hit in result.hits:
        ctx = article_assistant.context(hit.citation)
        a, b = ctx["highlight"]
        assert ctx["text"][a:b] == hit.passage.text
        assert ctx["paragraph"] == hit.citation.paragraph and ctx["doc"] == hit.citation.doc
        assert ctx["before"] is None or ctx["before_paragraph"] < ctx["paragraph"]
        assert ctx["after"] is None or ctx["after_paragraph"] > ctx["paragraph"]


def test_context_of_the_answer_highlights_the_sentence(article_assistant):
    answer = article_assistant.ask(TREATY).answer
    ctx = article_assistant.context(answer.citation)
    a, b = ctx["highlight"]
    assert ctx["text"][a:b] == answer.text
    assert (ctx["start"], ctx["end"]) == (answer.citation.start, answer.citation.end)
    assert ctx["before"] and ctx["after"]
    # the JSON form and a bare passage id work too
    assert article_assistant.context(answer.citation.to_json()) == ctx
    whole = article_assistant.context(answer.citation.passage_id)
    assert whole["text"] == ctx["text"] and whole["highlight"][0] <= a and b <= whole["highlight"][1]


def test_context_skips_the_pull_quote(article_assistant):
    """The byline follows a pull-quote in the article; its 'before' is the title, not the quote."""
    first = article_assistant.context(0)
    quote_words = set(_flat(first["before"] or "").split())
    assert not first["before"] or len(quote_words) < 20


def test_context_survives_renumbered_passages(article_assistant):
    hit = article_assistant.ask(TREATY).hits[1]
    moved = {**hit.citation.to_json(), "passage_id": hit.citation.passage_id + 1}
    ctx = article_assistant.context(moved)
    a, b = ctx["highlight"]
    assert ctx["text"][a:b] == hit.passage.text


@pytest.mark.parametrize("bad", [-1, 10_000, True, "3", None, {"passage_id": "x"},
                                 {"passage_id": 0, "doc": "corpus/other.txt", "start": 0, "end": 5}])
def test_context_refuses_what_is_not_in_the_index(article_assistant, bad):
    with pytest.raises(InputError, match="not in the current index"):
        article_assistant.context(bad)


def test_context_notices_a_changed_document(article_assistant, embedder, tmp_path):
    from qa import Assistant, Settings

    corpus = tmp_path / "corpus"
    shutil.copytree(article_assistant.settings.corpus_dir, corpus)
    a = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=embedder)
    citation = a.ask(TREATY).answer.citation
    doc = next(corpus.iterdir())
    doc.write_text(doc.read_text(encoding="utf-8") + "\nAn added line.\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="changed since it was indexed"):
        a.context(citation)
    doc.unlink()
    with pytest.raises(CorpusError, match="no longer in the corpus"):
        a.context(citation)
