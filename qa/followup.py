"""Follow-up questions without a language model: lean on the conversation only when the question does.

"When was it renewed?" after "What treaty did China and North Korea sign in 1961?" is searched as
both together; a question that stands on its own is searched exactly as typed.
"""

from __future__ import annotations

import re

from qa.lexical import tokens

# Words that point back to something said earlier.
_PRONOUNS = {"it", "its", "he", "him", "his", "she", "her", "they", "them", "their", "theirs",
             "this", "that", "these", "those", "there", "then", "such", "former", "latter"}
_LEADS = re.compile(
    r"^(and|but|so|also|then|what about|how about|and what|and how|and why|and when|and who|"
    r"what else|anything else|why not|how come|same for|what of)\b",
    re.I,
)
_WORD = re.compile(r"[\w'-]+")
_DEMONSTRATIVE_NEXT = {"year", "time", "treaty", "test", "visit", "meeting", "summit", "country", "leader",
                       "resolution", "decision", "period", "event", "agreement"}


def needs_context(question: str) -> bool:
    """Does the question lean on an earlier one (a pronoun with no antecedent, a leading 'and', ...)?"""
    q = question.strip()
    if _LEADS.match(q):
        return True
    words = _WORD.findall(q)
    lowered = [w.lower() for w in words]
    content = tokens(q)
    for i, w in enumerate(lowered):
        if w not in _PRONOUNS:
            continue
        if w in {"that", "this", "these", "those"} and i + 1 < len(lowered) and lowered[i + 1] not in _DEMONSTRATIVE_NEXT:
            # "that" as a conjunction or relative pronoun ("the treaty that ...") points nowhere
            if i > 0:
                continue
        if w == "there" and i + 1 < len(lowered) and lowered[i + 1] in {"is", "are", "was", "were"}:
            continue
        # an antecedent named earlier in the question itself ("Did China keep its promise?")
        if any(x[:1].isupper() for x in words[1:i]):
            continue
        return True
    return len(content) <= 1 and len(words) <= 4


def resolve(question: str, history: list[str]) -> str:
    """The query to search: the question, preceded by what it leans on when it needs context."""
    if not history or not needs_context(question):
        return question
    # The latest earlier question, itself resolved against what came before it.
    previous = resolve(history[-1], history[:-1])
    lead = _LEADS.match(question)
    rest = question[lead.end():].strip(" ,") if lead else question
    return f"{previous} {rest}".strip()
