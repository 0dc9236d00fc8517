"""What a question asks for, from its form alone, and whether a sentence holds something of that kind.

"When ..." wants a date, "How many ..." or "What is the population of ..." a number, "Who ..." a
name. A sentence holds the answer's kind only with something the question does not already say:
the year a question names ("What happened in 2017?") is not its answer.
"""

from __future__ import annotations

import re

_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b")
_DATE_YEAR = re.compile(r"\b((?:1[89]|20)[0-9]{2})\b(?!-)")
_TIME_WORD = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
    r"spring|summer|autumn|winter|century|centuries|decade)\b",
    re.I,
)
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
    r"hundred|hundreds|thousand|thousands|million|millions|billion|billions|dozen|dozens|twice|half"
)
_NUMBER = re.compile(r"\d[\d,.]*|\b(?:" + _NUMBER_WORDS + r")\b", re.I)
_ASKS_DATE = re.compile(
    r"^\s*(when\b|(in|on|by|since|until|from)?\s*(what|which)\s+(year|years|date|month|day|decade|century|"
    r"time|period|era)\b)",
    re.I,
)
_ASKS_NUMBER = re.compile(
    r"^\s*(how\s+(many|much|long|old|far|often|large|big|tall|high|fast)\b|(what|which)\s+(number|percentage|"
    r"percent|amount|proportion|share|fraction)\b)",
    re.I,
)
_ASKS_QUANTITY = re.compile(
    r"\b(what|which)\s+(is|was|are|were)\s+the\s+(\w+\s+)?(population|gdp|size|area|cost|price|value|number|"
    r"amount|percentage|rate|length|height|weight|width|depth|age|budget|revenue|income|total|count)\b",
    re.I,
)
_ASKS_PERSON = re.compile(r"^\s*(who|whom|whose)\b", re.I)
_ASKS_PLACE = re.compile(r"^\s*where\b", re.I)
# a capitalised word that does not open the sentence
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]+")
_WORD = re.compile(r"[\w'’-]+")


def kind(question: str) -> str | None:
    """'date', 'number', 'name' or None (the question's form does not say)."""
    if _ASKS_DATE.search(question):
        return "date"
    if _ASKS_NUMBER.search(question) or _ASKS_QUANTITY.search(question):
        return "number"
    if _ASKS_PERSON.search(question) or _ASKS_PLACE.search(question):
        return "name"
    return None


def _numbers(text: str) -> set[str]:
    return {m.group(0).lower().rstrip(".,") for m in _NUMBER.finditer(text)}


def holds(wanted: str | None, sentence: str, query: str) -> bool:
    """Does the sentence hold something of the wanted kind that the query does not already say?"""
    if wanted == "date":
        if set(_YEAR.findall(sentence)) - set(_YEAR.findall(query)):
            return True
        said = {m.lower() for m in _TIME_WORD.findall(query)}
        return any(m.lower() not in said for m in _TIME_WORD.findall(sentence))
    if wanted == "number":  # a year is not a count ("in 2017"), a figure with a unit is ("1400-km")
        return bool(_numbers(sentence) - _numbers(query) - set(_DATE_YEAR.findall(sentence)))
    if wanted == "name":
        said = {w.lower() for w in _WORD.findall(query)}
        return any(m.group(0).lower() not in said for m in _NAME.finditer(sentence))
    return False
