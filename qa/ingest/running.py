"""Running page headers, footers and page numbers: found by repetition across pages, then dropped.

A line is a running header (footer) when, with its digits ignored, the same line stands among the
first (last) few lines of at least half of the pages, and of two pages at least. Page numbers
("3", "Page 3 of 7", "- 3 -") repeat that way too, since their digits are ignored. No list of
known header words is used: only the document's own repetition decides.
"""

from __future__ import annotations

import math
import re
from collections import Counter

#: how many lines at the top and at the bottom of a page may be running lines
EDGE = 3
#: a running line is short; a longer repeated line is content (a repeated warning, a quote)
MAX_WORDS = 16
_DIGITS = re.compile(r"\d+")
_ROMAN = re.compile(r"^[ivxlcdm]+$")


def _key(line: str) -> str:
    key = " ".join(_DIGITS.sub("#", line.lower()).split())
    return "#" if _ROMAN.match(key) else key


def _edges(lines: list[str]) -> tuple[list[int], list[int]]:
    """Indexes of the first and the last EDGE non-blank lines of a page."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return filled[:EDGE], filled[-EDGE:]


def running_lines(pages: list[list[str]]) -> list[set[int]]:
    """For each page, the indexes of its lines that are running headers, footers or page numbers."""
    out: list[set[int]] = [set() for _ in pages]
    if len(pages) < 2:
        return out
    need = max(2, math.ceil(len(pages) / 2))
    tops: Counter[str] = Counter()
    bottoms: Counter[str] = Counter()
    for lines in pages:
        top, bottom = _edges(lines)
        tops.update({_key(lines[i]) for i in top if len(lines[i].split()) <= MAX_WORDS})
        bottoms.update({_key(lines[i]) for i in bottom if len(lines[i].split()) <= MAX_WORDS})
    for n, lines in enumerate(pages):
        top, bottom = _edges(lines)
        for edge, counts in ((top, tops), (list(reversed(bottom)), bottoms)):
            for i in edge:  # from the page's edge inwards, while the lines keep repeating
                if counts[_key(lines[i])] < need or len(lines[i].split()) > MAX_WORDS:
                    break
                out[n].add(i)
    return out
