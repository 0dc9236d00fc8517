"""Follow-ups: history shapes the searched query only when the question leans on it."""

from __future__ import annotations

import pytest

from qa.answer.followup import about_document, conversation_document, needs_context, resolve, topic
from tests.conftest import TREATY


@pytest.mark.parametrize(
    "question",
    [
        "When was it renewed?",
        "And how did Pyongyang react?",
        "How many more times did he go?",
        "How did China respond to it?",  # an object pronoun cannot mean the subject, China
        "What year was that?",
        "What about North Korea?",
        "Why?",
        "Which year?",
        "Who had asked him not to?",
        "What was the goal of targeting them?",
        "How long had it been since a Chinese leader last went there?",
        "WHEN WAS IT RENEWED?",  # in capitals, "RENEWED" is not a name "it" could mean
    ],
)
def test_questions_that_lean_on_the_conversation(question: str) -> None:
    assert needs_context(question)


@pytest.mark.parametrize(
    "question",
    [
        "When did Pyongyang test a nuclear device?",
        "Who wrote this article?",  # "this" names the document, not an earlier question
        "What is the title of this piece?",
        "Did China keep its promise?",  # "its" has its antecedent in the question
        "With its ideological leverage eroded, what did Beijing have to rely on?",
        "How did Beijing repay the help it got from the Korean communists?",
        "Is there a treaty between China and North Korea?",  # existential "there"
        "What did Beijing brand the planned transfer of power that Kim Il-Sung prepared?",  # relative "that"
        "Which former leader visited Beijing?",  # "former" as an adjective
        "What is the capital of Australia?",
        "WHEN DID PYONGYANG TEST A NUCLEAR DEVICE?",
    ],
)
def test_self_contained_questions(question: str) -> None:
    assert not needs_context(question)


def test_resolve_prefixes_the_earlier_question_and_drops_the_linking_word() -> None:
    assert resolve("When was it renewed?", [TREATY]) == f"{TREATY} When was it renewed?"
    assert resolve("And how did Pyongyang react?", ["What did China announce?"]) == (
        "What did China announce? how did Pyongyang react?"
    )


def test_resolve_chains_through_earlier_follow_ups() -> None:
    history = [TREATY, "When was it renewed?"]
    query = resolve("And what has the delay led to?", history)
    assert query.startswith(TREATY) and "renewed" in query and query.endswith("what has the delay led to?")


def test_self_contained_question_is_never_polluted() -> None:
    q = "When did Pyongyang test a nuclear device?"
    assert resolve(q, [TREATY, "When was it renewed?"]) == q


def test_no_history_means_the_question_as_typed() -> None:
    assert resolve("When was it renewed?", []) == "When was it renewed?"


@pytest.mark.parametrize(
    ("question", "about"),
    [
        ("What is the title of this paper?", True),
        ("Who are the authors?", True),
        ("What did the study find?", True),
        ("What does the report say about pumps?", True),
        ("What is the study of eels called?", False),  # a field of study, not the document
        ("When was the treaty renewed?", False),
        ("When was it renewed?", False),
    ],
)
def test_a_question_about_the_document_itself(question: str, about: bool) -> None:
    assert about_document(question) is about


def test_the_conversations_topic_is_its_latest_question_about_something_in_it() -> None:
    assert topic([]) is None
    assert topic(["What is the title of this paper?"]) is None
    assert topic([TREATY, "What is the title of this paper?"]) == TREATY
    assert topic([TREATY, "When was it renewed?"]) == f"{TREATY} When was it renewed?"


def test_the_conversations_document_is_searched_for_only_when_it_can_matter() -> None:
    asked: list[str] = []

    def find(text: str) -> str:
        asked.append(text)
        return "corpus/b.md"

    paper = "What is the title of this paper?"
    assert conversation_document(paper, [TREATY], 2, find) == "corpus/b.md" and asked == [TREATY]
    assert conversation_document(paper, [TREATY], 1, find) is None  # one document: nothing to choose
    assert conversation_document(paper, [], 2, find) is None  # no conversation
    assert conversation_document("When was it renewed?", [TREATY], 2, find) is None  # not about the document
    assert conversation_document(paper, ["Who wrote the paper?"], 2, find) is None  # nothing found it yet
    assert asked == [TREATY]
