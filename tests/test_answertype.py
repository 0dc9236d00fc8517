"""What a question asks for, whether a quote holds it, and names the corpus never uses (no model needed)."""

from __future__ import annotations

import pytest

from qa.answer import answertype
from qa.index.lexical import Lexical


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When did the war end?", "date"),
        ("In what year was the treaty signed?", "date"),
        ("How many troops crossed the river?", "number"),
        ("What is the population of the city?", "number"),
        ("Who signed the treaty?", "name"),
        ("What was the name of the ship?", "name"),
        ("What is the title of this piece?", "name"),
        ("Why did the talks fail?", None),
    ],
)
def test_kind_from_the_question_form(question: str, kind: str | None) -> None:
    assert answertype.kind(question) == kind


def test_a_number_word_inside_a_name_is_not_a_count() -> None:
    q = "How many warheads does it have?"
    assert not answertype.holds("number", "It left the Six Party Talks in 2009.", q)
    assert answertype.holds("number", "Six were built in 2009.", q)  # opening the sentence, a count
    assert answertype.holds("number", "It built six of them.", q)


def test_a_number_word_in_a_phrase_that_counts_nothing_is_not_a_count() -> None:
    q = "How many people live in Pyongyang?"
    for sentence in ("On one hand, Beijing condemned the test.", "On the one hand it grew; on the other it shrank.",
                     "They blamed one another.", "No one lives there."):
        assert not answertype.holds("number", sentence, q), sentence
    assert answertype.holds("number", "They met one day after the flight.", "How many days after the flight did they meet?")
    assert answertype.holds("number", "On one hand, two million people live there.", q)
    assert answertype.holds("number", "One of its districts has one hospital.", q)


def test_a_decade_is_a_date_not_a_count() -> None:
    assert not answertype.holds("number", "During the 1990s the talks began.", "How many talks were held?")
    assert answertype.holds("date", "During the 1990s the talks began.", "When did the talks begin?")


def test_a_span_of_time_answers_how_long_but_does_not_count_things() -> None:
    sentence = "It was the first visit by a Chinese leader in 14 years."
    assert not answertype.holds("number", sentence, "How many people live in the city?")
    assert answertype.holds("number", sentence, "How many years had passed since the last visit?")
    assert answertype.holds("number", sentence, "How long had it been since the last visit?")
    assert answertype.holds("number", "The city has 3 million people.", "How many people live in the city?")


def test_the_day_of_a_date_is_not_a_count() -> None:
    assert not answertype.holds("number", "On June 20, 2019 he arrived.", "How many people came?")
    assert answertype.holds("date", "On June 20, 2019 he arrived.", "When did he arrive?")


def test_a_misspelt_name_is_not_unknown_but_a_new_one_is() -> None:
    lex = Lexical(["The Premier League sold its rights to BSkyB.", "Gandhi led the salt march."])
    assert lex.unknown_names("Who bought the Primier League rights?") == ()
    assert lex.unknown_names("Who bought the Premier League rights?") == ()
    assert lex.unknown_names("Who won the 2018 FIFA World Cup?") == ("FIFA", "World", "Cup")
    # short words must match exactly: one letter off is too often another word
    assert lex.unknown_names("What did Sky pay?") == ("Sky",)


def test_a_question_in_capitals_has_no_unknown_names() -> None:
    lex = Lexical(["Gandhi led the salt march in 1930."])
    assert lex.unknown_names("WHO LED THE SALT MARCH?") == ()
    assert lex.unknown_names("Who led the SALT march with NEHRU?") == ("NEHRU",)


def test_a_titles_names_are_told_by_its_body_not_its_case() -> None:
    body = ("The pumps at the Varrow station ran all year. Eels were counted in spring, and the lower "
            "channels were dredged twice by Tumen Works.")
    title = "Pumps, Eels and Channels of the Lower Varrow Estuary"
    # "Eels" opens a sentence only; "pumps", "lower" and "channels" are written in lower case
    assert answertype.heading_names(title, body, "Who finished the dam?") == {"Varrow"}
    assert answertype.heading_names(title, body, "Who finished the Varrow dam?") == set()
    assert answertype.heading_names("CHINA AND NORTH KOREA", "Talks between China and its neighbour.",
                                    "Who are the partners?") == {"CHINA"}
    assert answertype.asks_person("Whose dam was it?") and not answertype.asks_person("What is the title of this paper?")


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("What is the title of this paper?", True),
        ("What's the name of the article?", True),
        ("What is this report called?", True),
        ("What's this paper titled?", True),
        ("What is the paper's title?", True),
        ("What is the title of the treaty?", False),
        ("What is the title of the book Tesla wrote in 1919?", False),
        ("What was the name of the ship?", False),
        ("Tell me the title of this report.", True),
        ("In the article's title, what did the machine hope to end?", False),
        ("What is the origin of the title of the book?", False),
        ("What was the study called?", False),
    ],
)
def test_a_question_about_the_documents_own_title(question: str, asks: bool) -> None:
    assert answertype.asks_title(question) is asks


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("Who wrote this paper?", True),
        ("Who wrote the article?", True),
        ("Who are the authors?", True),
        ("Who is the author of this study?", True),
        ("Who is this report by?", True),
        ("By whom was this paper written?", True),
        ("Who wrote the report Kim read in 1999?", False),  # a report the text tells of
        ("Who was the author of the treaty?", False),
        ("Who wrote the letter?", False),
        ("Who wrote it?", False),  # "it" points back; the follow-up step judges it
        ("What is the title of this paper?", False),
    ],
)
def test_a_question_about_who_wrote_the_document(question: str, asks: bool) -> None:
    assert answertype.asks_author(question) is asks
    assert answertype.asked_role(question) == ("author" if asks else "title" if answertype.asks_title(question) else None)


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("What is the author's job title?", True),
        ("Where does the author work?", True),
        ("Which institute is the author affiliated with?", True),
        ("What university are the authors from?", True),
        ("What is the authors' affiliation?", True),
        ("What is the author's position on sanctions?", False),  # a view, not a post
        ("What is the title of the author's book?", False),
        ("Which company did the author found?", False),
        ("Where did the treaty's author work?", False),
    ],
)
def test_a_question_about_where_the_author_works(question: str, asks: bool) -> None:
    assert answertype.asks_affiliation(question) is asks
    assert (answertype.asked_role(question) == "affiliation") is asks
