"""A conversation over several documents: a question about "this paper" means the document the
conversation is about (qa.answer.followup.about_document); who wrote a document is its byline, and
where its author works the line under it.
Real bundled model, real index on disk."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import ARTICLE, TREATY

EELS = """# Eels of the Lower Varrow Estuary

By Mara Lindqvist

## Migration

European eels leave the Varrow estuary in the autumn and swim about 5,000 kilometres to the Sargasso
Sea to spawn. Young glass eels return in spring, carried by the Gulf Stream.

## Pumps

The pumping station at Keld was rebuilt in 2019 with screens that keep eels out of the impellers.
Since then the count of injured eels below the station fell by two thirds.
"""
SPAWN = "How far do the eels swim to spawn?"


@pytest.fixture(scope="module")
def two_documents(embedder, tmp_path_factory: pytest.TempPathFactory):
    """The article and a short Markdown paper, indexed together."""
    from qa import Assistant, Settings

    folder = tmp_path_factory.mktemp("two") / "corpus"
    folder.mkdir()
    shutil.copy(ARTICLE, folder / ARTICLE.name)
    (folder / "eels.md").write_text(EELS, encoding="utf-8")
    settings = Settings(corpus_dir=folder, index_dir=folder.parent / "index")
    return Assistant(settings, embedder=embedder)


def test_this_paper_means_the_document_the_conversation_is_about(two_documents):
    eels = two_documents.ask("What is the title of this paper?", history=[SPAWN])
    assert eels.conversation_document == "corpus/eels.md"
    assert eels.answer is not None and eels.answer.text == "Eels of the Lower Varrow Estuary"
    assert {h.citation.doc for h in eels.hits} == {"corpus/eels.md"}  # only that document was searched
    assert eels.to_json()["conversation_document"] == "corpus/eels.md"

    article = two_documents.ask("What is the title of this paper?", history=[TREATY])
    assert article.conversation_document == f"corpus/{ARTICLE.name}"
    assert article.answer is not None and article.answer.citation.doc == f"corpus/{ARTICLE.name}"
    assert article.answer.text.casefold() == "china and north korea: the uneasy partnership"


def test_every_surface_says_which_document_was_searched(two_documents):
    from qa import terminal
    from qa.serve import mcpview

    result = two_documents.ask("What is the title of this paper?", history=[SPAWN])
    said = "Searched only corpus/eels.md, the document this conversation is about"
    assert f"    {said}" in terminal.render_text(result).split("\n\n")[0].splitlines()
    out = mcpview.ask_output(result)
    assert out["conversation_document"] == "corpus/eels.md"
    assert f"({said[0].lower()}{said[1:]})" in mcpview.ask_text(result, out)


def test_the_topic_is_the_latest_question_about_something_in_the_documents(two_documents):
    # the question before it asked about the document too: the one before that says which
    result = two_documents.ask("Who wrote this paper?", history=[SPAWN, "What is the title of the paper?"])
    assert result.conversation_document == "corpus/eels.md"
    assert result.answer is not None and result.answer.text == "By Mara Lindqvist"


def test_other_questions_search_every_document_or_the_callers_choice(two_documents):
    alone = two_documents.ask("What is the title of this paper?")  # no conversation: nothing to lean on
    assert alone.conversation_document is None
    standalone = two_documents.ask("When was the pumping station at Keld rebuilt?", history=[TREATY])
    assert standalone.conversation_document is None and "2019" in standalone.answer.text
    chosen = two_documents.ask("What is the title of this paper?", history=[SPAWN], docs=[ARTICLE.name])
    assert chosen.conversation_document is None  # the caller named the document: that choice stands
    assert {h.citation.doc for h in chosen.hits} == {f"corpus/{ARTICLE.name}"}


def test_who_wrote_the_document_is_its_byline(article_assistant):
    for question in ("Who wrote this paper?", "Who are the authors?", "Who is the author of this article?"):
        result = article_assistant.ask(question)
        assert result.answer is not None and result.answer.text == "Hossein Ebrahim Khani", question


def test_where_the_author_works_is_the_line_under_the_byline(article_assistant):
    affiliation = "Research Fellow, Institute for Political and International Studies (IPIS), Tehran, Iran"
    for question in ("What is the author's job title?", "Where does the author work?"):
        result = article_assistant.ask(question)  # the title wins the search on the word "title"
        assert result.answer is not None and result.answer.text == affiliation, question
    view = article_assistant.ask("What is the author's position on sanctions?")  # a view: the body answers
    assert view.answer is None or view.answer.text != affiliation
