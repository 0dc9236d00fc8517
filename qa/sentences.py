"""Sentence boundaries with their offsets, from pysbd's rules ("U.N.", "U.S.", "Mr." do not end a sentence)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

SPLITTER = "pysbd-0.3.4"
_WORD = re.compile(r"\S+")


@lru_cache(maxsize=1)
def _segmenter() -> Any:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def split(text: str) -> list[tuple[int, int]]:
    """[start, end) spans of the sentences of `text`, trimmed of surrounding whitespace, in order."""
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


def word_windows(text: str, start: int, end: int, max_words: int) -> list[tuple[int, int]]:
    """Splits an over-long span into pieces of at most `max_words` words, at word boundaries."""
    tokens = [m.span() for m in _WORD.finditer(text, start, end)]
    return [
        (tokens[i][0], tokens[min(i + max_words, len(tokens)) - 1][1]) for i in range(0, len(tokens), max_words)
    ]
