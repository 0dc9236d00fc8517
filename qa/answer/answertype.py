"""What a question asks for, from its form alone, and whether a sentence holds something of that kind.

"When ..." wants a date, "How many ..." or "What is the population of ..." a number, "Who ..." a
name. A sentence holds the answer's kind only with something the question does not already say:
the year a question names ("What happened in 2017?") is not its answer.
"""

from __future__ import annotations

import re

_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b")
_DATE_YEAR = re.compile(r"\b((?:1[89]|20)[0-9]{2})s?\b(?!-)")
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
# phrases whose number word counts nothing ("on the one hand", "one another", "no one"; not "one day",
# which counts in "one day after the flight")
_NOT_A_COUNT = re.compile(
    r"\bon\s+(?:the\s+)?one\s+hand\b|\bone\s+another\b|\b(?:no|every|any)\s+one\b"
    r"|\bone\s+(?:way|side)\s+or\s+(?:the\s+)?other\b",
    re.I,
)
# what follows a sentence's start: a capitalised number word there may still be a count ("Two ...")
_OPENING = re.compile(r"(?:^|[.!?]\s+)[\"'“‘(]*$")
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
# what "how many" counts ("how many more times" -> times), and a figure's unit of time ("14 years")
_COUNTED = re.compile(r"\bhow\s+many\s+(?:more\s+|other\s+|different\s+)?(\w+)", re.I)
_MONTH_BEFORE = re.compile(
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|December)\s+$"
)
_UNITS_OF_TIME = r"(?:years?|months?|weeks?|days?|hours?|minutes?|decades?|centur(?:y|ies))\b"
_TIME_UNIT = re.compile(r"[\s-]*" + _UNITS_OF_TIME, re.I)
_ASKS_PERSON = re.compile(r"^\s*(who|whom|whose)\b", re.I)
_ASKS_NAMED = re.compile(r"\b(what|which)\s+(is|was|are|were)\s+(the\s+)?(name|names|title)\s+of\b", re.I)
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
    if _ASKS_PERSON.search(question) or _ASKS_PLACE.search(question) or _ASKS_NAMED.search(question):
        return "name"
    return None


def _numbers(text: str, durations: bool = True) -> set[str]:
    """Figures and number words; a capitalised number word inside a sentence is part of a name ("Six Party Talks"),
    and one in a phrase that counts nothing is no figure ("on one hand", "one another", "no one").

    A day of a date ("June 20") is not a figure; without `durations`, neither is a span of time
    ("14 years", "three decades").
    """
    idioms = [m.span() for m in _NOT_A_COUNT.finditer(text)]
    return {
        m.group(0).lower().rstrip(".,")
        for m in _NUMBER.finditer(text)
        if not any(a <= m.start() < b for a, b in idioms)
        and (not m.group(0)[0].isupper() or _OPENING.search(text[: m.start()]))
        and (durations or not _TIME_UNIT.match(text, m.end()))
        and not _MONTH_BEFORE.search(text, 0, m.start())  # "June 20" is a day of a date
    }


def _counts_time(query: str) -> bool:
    """Does the question count time ("how long", "how many years") rather than things ("how many people")?"""
    counted = _COUNTED.findall(query)
    return not counted or bool(re.fullmatch(_UNITS_OF_TIME, counted[-1], re.I))


_DOCUMENT = r"(?:article|piece|text|document|paper|essay|report|book|story|study|thesis)"
_WHAT_IS = r"^\W*what(?:'s|’s|\s+is|\s+was)\s+"
_ASKS_TITLE = re.compile(
    # the question asks for the title, it does not mention one ("In the article's title, what ...?",
    # "What is the origin of the title of the book?"); "the book" before more words is some other
    # book ("the title of the book Tesla wrote"), as a study of the past tense is one the text tells
    # of ("What was the study called?")
    rf"(?:{_WHAT_IS}|^\W*(?:tell me|give me|give)\s+)the (?:title|name) of (?:this {_DOCUMENT}\b|the {_DOCUMENT}\s*[?.!]?\s*$)"
    rf"|{_WHAT_IS}(?:this|the) {_DOCUMENT}(?:'s|’s) (?:title|name)\b"
    rf"|{_WHAT_IS}this {_DOCUMENT} (?:called|titled|named)\b"
    rf"|^\W*what(?:'s|’s|\s+is)\s+the {_DOCUMENT} (?:called|titled|named)\s*[?.!]?\s*$",
    re.I,
)


_ASKS_AUTHOR = re.compile(
    # who wrote the document itself, not someone the text tells of ("Who wrote the report Kim read?":
    # "the <document>" must end the question, as for a title; "this <document>" may go on)
    rf"^\W*who\s+(?:wrote|authored|penned)\s+(?:this {_DOCUMENT}\b|the {_DOCUMENT}\s*[?.!]?\s*$)"
    rf"|^\W*who\s+(?:is|was|are|were)\s+the\s+(?:authors?|writers?)(?:\s+of\s+(?:this {_DOCUMENT}\b|the {_DOCUMENT}\b))?\s*[?.!]?\s*$"
    rf"|^\W*who\s+(?:is|was)\s+(?:this|the) {_DOCUMENT}\s+(?:written\s+)?by\s*[?.!]?\s*$"
    rf"|^\W*(?:by whom|who)\s+(?:is|was)\s+(?:this {_DOCUMENT}\b|the {_DOCUMENT}\b)\s+written\b",
    re.I,
)


_ASKS_AFFILIATION = re.compile(
    # where the document's author works: the line under a byline ("Research Fellow, Institute for ...")
    r"\bthe authors?(?:'s|’s|s'|s’)\s+(?:job|position|post|role|affiliations?|institutions?|institutes?|"
    r"universit(?:y|ies)|employers?|organi[sz]ations?|workplaces?|(?:job\s+|academic\s+)?titles?)\b"
    r"(?!\s+(?:on|about|regarding|towards?|in)\b)"  # "the author's position on sanctions" is a view
    r"|^\W*where\s+(?:does|did|do)\s+the\s+authors?\s+work\b"
    r"|^\W*(?:which|what)\s+(?:institute|institution|university|organi[sz]ation|company|school|college|department)s?\s+"
    r"(?:is|was|are|were)\s+the\s+authors?\b"
    r"|^\W*(?:which|what)\s+(?:institute|institution|university|organi[sz]ation|company|school|college|department)s?\s+"
    r"(?:does|do|did)\s+the\s+authors?\s+work\b",
    re.I,
)


def _said(query: str) -> set[str]:
    """The query's words, lower-cased: a name among them is not an answer to it."""
    return {w.lower() for w in _WORD.findall(query)}


def asks_title(question: str) -> bool:
    """Does the question ask the document's own title ("What is the title of this paper?")?"""
    return bool(_ASKS_TITLE.search(question))


def asks_author(question: str) -> bool:
    """Does the question ask who wrote the document itself ("Who wrote this paper?", "Who are the authors?")?"""
    return bool(_ASKS_AUTHOR.search(question))


def asks_affiliation(question: str) -> bool:
    """Does the question ask where the document's author works ("What is the author's job title?")?"""
    return bool(_ASKS_AFFILIATION.search(question))


def asked_role(question: str) -> str | None:
    """The passage role a question about the document itself asks for: "title", "author",
    "affiliation" or None."""
    if asks_title(question):
        return "title"
    return "author" if asks_author(question) else "affiliation" if asks_affiliation(question) else None


def asks_person(question: str) -> bool:
    """A "who", "whom" or "whose" question (not "What is the name/title of ...?", which a title may answer)."""
    return bool(_ASKS_PERSON.search(question))


def heading_names(heading: str, body: str, query: str) -> set[str]:
    """The words of a title that are names the query does not say. A title's case says nothing
    ("Pumps, Eels and Channels of the Lower Varrow Estuary", "CHINA AND NORTH KOREA"), so its
    document's body text tells: a word the body writes with a capital inside a sentence and never in
    lower case is a name ("Varrow", "China"); one it writes in lower case somewhere ("pumps",
    "lower") or never writes is not."""
    out, said = set(), _said(query)
    for w in {m.group(0) for m in _WORD.finditer(heading) if m.group(0)[:1].isupper() and m.group(0).lower() not in said}:
        mid = 0  # written with a capital inside a sentence (a sentence's first word tells nothing)
        for m in re.finditer(rf"(?<![\w'’-]){re.escape(w)}(?![\w'’-])", body, flags=re.IGNORECASE):
            if not m.group(0)[:1].isupper():
                break
            before = body[max(0, m.start() - 40) : m.start()].rstrip()[-1:]
            mid += bool(before) and before not in ".!?:;\"“”'‘(\n"
        else:
            if mid:
                out.add(w)
    return out


def holds(wanted: str | None, sentence: str, query: str) -> bool:
    """Does the sentence hold something of the wanted kind that the query does not already say?"""
    if wanted == "date":
        if set(_YEAR.findall(sentence)) - set(_YEAR.findall(query)):
            return True
        said = {m.lower() for m in _TIME_WORD.findall(query)}
        return any(m.lower() not in said for m in _TIME_WORD.findall(sentence))
    if wanted == "number":  # a year is not a count ("in 2017"), a figure with a unit is ("1400-km")
        figures = _numbers(sentence, durations=_counts_time(query))
        return bool(figures - _numbers(query) - set(_DATE_YEAR.findall(sentence)))
    if wanted == "name":
        said = _said(query)
        return any(m.group(0).lower() not in said for m in _NAME.finditer(sentence))
    return False
