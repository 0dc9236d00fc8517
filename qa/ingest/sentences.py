"""Sentence boundaries with their offsets, from pysbd's rules ("U.N.", "U.S.", "Mr." do not end a sentence).

pysbd's time grows with the square of a paragraph's length (a 100,000-character paragraph takes
minutes), so a paragraph longer than LONG_TEXT characters (never a real paragraph: extracted text
without line breaks) is split by simpler rules in one linear pass, and no sentence it gives is longer
than MAX_SENTENCE characters.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

LONG_TEXT = 20_000
MAX_SENTENCE = 2_000
SPLITTER = f"pysbd-0.3.4+rules-{LONG_TEXT}-{MAX_SENTENCE}"
_WORD = re.compile(r"\S+")
# a sentence end: terminal punctuation and closing quotes, then space and a capital, digit or opener
_END = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s+["'“‘(\[]*[A-Z0-9À-ÖØ-Þ])""")
_ABBREVIATION = re.compile(
    r"(?:\b[A-Za-z]|[A-Za-z]\.[A-Za-z]+|Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Gen|Sen|Rep|Gov|Col|Lt|Capt|No|Nos|Vol|Fig|"
    r"Inc|Ltd|Co|Corp|vs|etc|approx|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.$"
)


#: pysbd builds its abbreviation patterns from the text at hand (one per abbreviation form met), a
#: few thousand over an ordinary corpus: past `re`'s cache of 512 every paragraph compiled them
#: again (60% of a large build's time). Compiled patterns are the same patterns, so results are too.
_PATTERN_CACHE = 8192


@lru_cache(maxsize=1)
def _segmenter() -> Any:
    import pysbd

    if getattr(re, "_MAXCACHE", _PATTERN_CACHE) < _PATTERN_CACHE:
        setattr(re, "_MAXCACHE", _PATTERN_CACHE)  # noqa: B010  # private, but read at every compile

    return pysbd.Segmenter(language="en", clean=False)


def split(text: str) -> list[tuple[int, int]]:
    """[start, end) spans of the sentences of `text`, trimmed of surrounding whitespace, in order."""
    if len(text) > LONG_TEXT:
        return _split_long(text)
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in _segmenter().segment(text):
        piece = piece.strip()
        if not piece:
            continue
        at = text.find(piece, cursor)
        if at < 0:  # pysbd altered the text; fall back to the rest as one sentence
            rest = text[cursor:].strip()
            if rest:
                at = text.index(rest, cursor)
                spans.append((at, at + len(rest)))
            cursor = len(text)
            break
        spans.append((at, at + len(piece)))
        cursor = at + len(piece)
    if cursor < len(text) and text[cursor:].strip():
        rest = text[cursor:].strip()
        at = text.index(rest, cursor)
        spans.append((at, at + len(rest)))
    return spans


def _split_long(text: str) -> list[tuple[int, int]]:
    """Rule-based spans for a very long text: linear time, each at most MAX_SENTENCE characters."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _END.finditer(text):
        end = m.end()
        word_start = text.rfind(" ", max(start, end - 40), m.start()) + 1
        if _ABBREVIATION.search(text, max(word_start, start), m.start() + 1):
            continue
        _add_trimmed(text, start, end, spans)
        start = end
    _add_trimmed(text, start, len(text), spans)
    return spans


def _add_trimmed(text: str, a: int, b: int, spans: list[tuple[int, int]]) -> None:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    while b - a > MAX_SENTENCE:  # cut at the last space before the limit (or at the limit)
        cut = text.rfind(" ", a + 1, a + MAX_SENTENCE)
        cut = cut if cut > a else a + MAX_SENTENCE
        spans.append((a, cut))
        a = cut
        while a < b and text[a].isspace():
            a += 1
    if b > a:
        spans.append((a, b))


def word_windows(text: str, start: int, end: int, max_words: int) -> list[tuple[int, int]]:
    """Splits an over-long span into pieces of at most `max_words` words, at word boundaries."""
    out: list[tuple[int, int]] = []
    first = last = n = 0
    for m in _WORD.finditer(text, start, end):
        if n == 0:
            first = m.start()
        last, n = m.end(), n + 1
        if n == max_words:
            out.append((first, last))
            n = 0
    if n:
        out.append((first, last))
    return out
