"""The short answer inside the quote: the span model (qa.models.span) reads the quoted text once,
with the question, and marks the answer's words in it ("On **June 20, 2019** President Xi Jinping
arrived in Pyongyang ..."), or nothing when the question has no short answer or the model is unsure.

`mark` gives the result's answer its `Span`: [start, end) inside the quote's text, and the same
range as raw offsets into the document (as the citation's start and end are). A sentence whose
text maps one to one onto its raw characters (the same length: no line break joined, no hyphen or
space dropped) gives them by adding; any other asks `raw_map`, which maps through the document's
own paragraph (the Assistant reads the document for it).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from qa.answer import tables
from qa.answer.result import Result, Span
from qa.errors import QAError
from qa.ingest.chunks import Passage
from qa.ingest.layout import Paragraph

#: maps [a, b) of a passage's text to raw offsets in its document (None when it cannot)
RawMap = Callable[[Passage, int, int], tuple[int, int] | None]


class Finds(Protocol):
    """What `mark` needs of a span model (qa.models.span.SpanModel)."""

    def answer(self, question: str, text: str) -> Any: ...


def quote_offset(p: Passage, start: int, end: int, text: str) -> int | None:
    """Where the quote (raw [start, end), `text`) begins in the passage's text."""
    for s in p.sentences:
        if s.raw_start == start and p.text[s.start : s.start + len(text)] == text:
            return s.start
    found = p.text.find(text)
    return found if found >= 0 else None


def raw_offsets(p: Passage, a: int, b: int, raw_map: RawMap | None) -> tuple[int, int] | None:
    """Raw offsets of [a, b) of the passage's text: added to its sentence's where that sentence's text
    is as long as its raw span (one to one), else from `raw_map`."""
    first = next((s for s in p.sentences if s.start <= a < s.end), None)
    last = next((s for s in p.sentences if s.start < b <= s.end), None)
    if first is not None and last is not None and all(s.end - s.start == s.raw_end - s.raw_start for s in (first, last)):
        return first.raw_start + (a - first.start), last.raw_start + (b - last.start)
    return raw_map(p, a, b) if raw_map is not None else None


class DocumentMap:
    """A `RawMap` through the document's own paragraph (its per-character map to the raw text), the
    document read by `read` (the last `keep` documents' paragraphs kept; one read again when the
    passage no longer matches it, as after the file changed)."""

    def __init__(self, read: Callable[[str], Any], keep: int = 4) -> None:
        self.read = read
        self.keep = keep
        self._lock = threading.Lock()
        self._docs: OrderedDict[str, dict[int, Paragraph]] = OrderedDict()

    def _paragraphs(self, doc: str, fresh: bool) -> dict[int, Paragraph] | None:
        with self._lock:
            kept = None if fresh else self._docs.get(doc)
        if kept is not None:
            return kept
        try:
            paragraphs = {p.number: p for p in self.read(doc).paragraphs}
        except (QAError, OSError):  # gone or unreadable: the answer keeps no span
            return None
        with self._lock:
            self._docs[doc] = paragraphs
            while len(self._docs) > self.keep:
                self._docs.popitem(last=False)
        return paragraphs

    def __call__(self, p: Passage, a: int, b: int) -> tuple[int, int] | None:
        for fresh in (False, True):
            paragraph = (self._paragraphs(p.doc, fresh) or {}).get(p.paragraph)
            if paragraph is None:
                continue
            at = bisect_left(paragraph.starts, p.start)
            if paragraph.text[at : at + len(p.text)] != p.text:
                at = paragraph.text.find(p.text)
            if at >= 0 and at + b <= len(paragraph.text):
                return paragraph.raw_span(at + a, at + b)
        return None


def mark(result: Result, model: Finds | None, raw_map: RawMap | None = None) -> Result:
    """`result` with its answer's short answer (`Answer.span`), when the model finds one."""
    answer = result.answer
    if model is None or answer is None:
        return result
    p = result.hits[answer.citation.id - 1].passage
    if p.role == "table":  # a row quoted: the cell under the column the question names
        found = table_cell(result.question, p, answer.text, answer.confidence)
    elif p.role != "body":  # a title or byline quoted: the model read body sentences only, and the
        return result       # quote is already as short as the answer it gives ("Who wrote this article?")
    else:
        found = model.answer(result.question, answer.text)
    if found is None:
        return result
    at = quote_offset(p, answer.citation.start, answer.citation.end, answer.text)
    if at is None:
        return result
    raw = raw_offsets(p, at + found.start, at + found.end, raw_map)
    if raw is None:
        return result
    span = Span(found.start, found.end, raw[0], raw[1], answer.text[found.start : found.end], found.confidence)
    return replace(result, answer=replace(answer, span=span))


@dataclass(frozen=True)
class Cell:
    """A table cell found in a quoted row: [start, end) inside the quote (as the span model's answer)."""

    start: int
    end: int
    confidence: float


def table_cell(question: str, p: Passage, quote: str, confidence: float | None) -> Cell | None:
    """The cell of the quoted table row under the one column whose header the question names
    ("... the Tumen pump in 2020?" and the header "Pump | 2019 | 2020 | 2021": "251"); None when
    the quote is not one row under the table's header, or the question names no column, or more
    than one. Its confidence is the quote's (the row is the answer's; the header picks the cell)."""
    if "\n" in quote or "|" not in quote:
        return None
    headers = p.column_headers(quote)
    if headers is None:
        return None
    column = tables.named_column(question, headers)
    if column is None:
        return None
    edges = [-1, *(i for i, ch in enumerate(quote) if ch == "|"), len(quote)]
    a, b = edges[column] + 1, edges[column + 1]
    while a < b and quote[a].isspace():
        a += 1
    while b > a and quote[b - 1].isspace():
        b -= 1
    return Cell(a, b, confidence if confidence is not None else 0.5) if a < b else None
