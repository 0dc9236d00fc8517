"""Follow-up questions without a language model: lean on the conversation only when the question does.

"When was it renewed?" after "What treaty did China and North Korea sign in 1961?" is searched as
both together; a question that stands on its own is searched exactly as typed.

A question leans on what came before when it opens with a linking word ("And how ...", "What
about ..."), when it is too short to stand alone ("Why?", "Which year?"), or when it holds a word that points back
and nothing in the question itself can be what it points to:
- "he", "his", "they", "its", "it" ... point back unless the question names something they can
  mean ("Did China keep its promise?", "With its leverage gone, what did Beijing do?");
- "him", "them", and "it" as an object ("How did China respond to it?") always point outside
  the question: an object pronoun never means the subject of its own clause;
- "this", "these", "those" point back unless they name the document itself ("this article");
- "that" points back when it ends the question ("What year was that?") or follows a preposition or
  a form of "be"/"do" ("after that", "was that treaty renewed?"), not as a conjunction ("said that
  ...") or a relative pronoun ("the treaty that ...");
- "there" and "then" point back, except in "there is", "is there" and the like.

A question about the document itself ("What is the title of this paper?", "Who are the authors of
the study?") does not lean on the wording of earlier questions, but in a conversation over several
documents it means the one the conversation is about: `about_document` tells it, and the assistant
limits its search to the document the latest earlier question found (`topic`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from qa.index.lexical import tokens

_LEADS = re.compile(
    r"^(and|but|so|also|then|what about|how about|and what|and how|and why|and when|and who|"
    r"what else|anything else|why not|how come|same for|what of)\b",
    re.I,
)
_WORD = re.compile(r"[\w'’-]+")
_BINDABLE = {"he", "she", "they", "his", "her", "its", "their", "theirs"}
_OBJECT = {"him", "them"}
_DEMONSTRATIVE = {"this", "these", "those"}
_ELSEWHERE = {"there", "then"}
#: words for the document itself: "this article" is not about the conversation
_DOCUMENT = {"article", "piece", "text", "document", "paper", "essay", "report", "book", "passage", "story",
             "author", "writer", "page", "chapter", "section"}
_PREPOSITIONS = {"in", "on", "at", "after", "before", "during", "since", "from", "of", "by", "for", "with",
                 "about", "to", "until", "into", "over", "against", "like", "than", "without", "following"}
_AUXILIARIES = {"is", "was", "are", "were", "be", "been", "did", "does", "do", "has", "have", "had", "will",
                "would", "can", "could", "should", "may", "might", "must", "shall"}
_CONJUNCTIONS = {"that", "and", "or", "but", "when", "because", "if", "whether", "so", "as", "while", "since",
                 "where", "why", "how", "what", "which", "who"}
_OPENERS = {"who", "whom", "whose", "what", "when", "where", "which", "why", "how", "i", "please", "tell", "name",
            "list", "describe", "explain", "give"}
_FUNCTION = {"the", "a", "an", "it", "he", "she", "they", "we", "there", "this", "these", "those", "his", "her",
             "its", "their"}
_EXISTENTIAL = {"is", "are", "was", "were", "be", "been", "has", "have", "had", "will", "would", "seems", "seem"}


def _is_name(word: str) -> bool:
    """A capitalised word that is not merely the question's opening word ("What", "Did", "In")."""
    w = word.lower()
    return word[:1].isupper() and w not in _AUXILIARIES | _CONJUNCTIONS | _PREPOSITIONS | _OPENERS


def _points_back(words: list[str], i: int) -> bool:
    """Does words[i] refer to something outside the question?"""
    lowered = [w.lower() for w in words]
    w = lowered[i]
    before = lowered[i - 1] if i else ""
    after = lowered[i + 1] if i + 1 < len(lowered) else ""
    named = any(_is_name(x) for j, x in enumerate(words) if j != i)
    if w in _OBJECT:
        return True
    if w == "it":
        # an object ("respond to it", "renew it?") cannot mean the subject of its own clause
        as_object = before in _PREPOSITIONS or (not after and before not in _AUXILIARIES)
        return as_object or not named
    if w in _BINDABLE:
        return not named
    if w in _DEMONSTRATIVE:
        return after not in _DOCUMENT
    if w == "that":
        return not after or (before in _PREPOSITIONS | _AUXILIARIES and after not in _DOCUMENT | _FUNCTION
                             and not words[i + 1][:1].isupper())
    if w == "there":
        return after not in _EXISTENTIAL and before not in _EXISTENTIAL
    if w in {"former", "latter"}:  # "the latter", not "a former president"
        return before == "the" and (not after or after in _FUNCTION | _AUXILIARIES)
    return w in _ELSEWHERE


#: "this paper", "the study", "the authors": the document itself, not a thing inside it ("the study of eels")
_ABOUT_DOCUMENT = re.compile(
    r"\b(?:this|that|the)\s+(?:article|paper|document|report|study|essay|book|text|piece|story|"
    r"authors?|writers?)\b(?!\s+(?:of|on|about|by|from|in)\b)",
    re.I,
)


def about_document(question: str) -> bool:
    """Does the question speak of the document itself ("What is the title of this paper?")?"""
    return bool(_ABOUT_DOCUMENT.search(question))


def topic(history: list[str]) -> str | None:
    """The query that found what the conversation is about: the latest earlier question that does
    not itself speak of the document only, resolved against those before it; None without one."""
    for i in range(len(history) - 1, -1, -1):
        if not about_document(history[i]):
            return resolve(history[i], history[:i])
    return None


def conversation_document(question: str, history: list[str], documents: int,
                          find: Callable[[str], str | None]) -> str | None:
    """The one document to search for a question about "this paper" among `documents` documents:
    the one `find` gives (the first document a search finds) for the conversation's `topic`; None
    for any other question, with no history, or with one document."""
    if documents < 2 or not history or not about_document(question):
        return None
    asked = topic(history)
    return find(asked) if asked is not None else None


def needs_context(question: str) -> bool:
    """Does the question lean on an earlier one (a pronoun with no antecedent, a leading 'and', ...)?"""
    q = question.strip()
    if not any(ch.islower() for ch in q):  # in capitals only, no word can be told to be a name
        q = q.lower()
    if _LEADS.match(q):
        return True
    words = _WORD.findall(q)
    if any(_points_back(words, i) for i in range(len(words))):
        return True
    return not tokens(q) or len(words) <= 2


def resolve(question: str, history: list[str]) -> str:
    """The query to search: the question, preceded by what it leans on when it needs context."""
    if not history or not needs_context(question):
        return question
    # The latest earlier question, itself resolved against what came before it.
    previous = resolve(history[-1], history[:-1])
    lead = _LEADS.match(question)
    rest = question[lead.end():].strip(" ,") if lead else question
    return f"{previous} {rest}".strip()
