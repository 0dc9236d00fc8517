"""Passages: the one currency passed from loading to indexing to answering.

A passage is whole sentences of one paragraph (of a table: whole lines, its caption and its rows),
at most `max_words` words, and knows its exact place in the source: the document, the paragraph
number, the raw character span, and the spans of its sentences, both inside its own text and in
the raw text.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from qa.ingest import sentences
from qa.ingest.documents import Document
from qa.ingest.layout import PASSAGE_ROLES, Paragraph


@dataclass(frozen=True, slots=True)
class Sentence:
    start: int  # in the passage text
    end: int
    raw_start: int  # in the document's raw text
    raw_end: int


@dataclass(frozen=True, slots=True)
class Passage:
    id: int
    doc: str
    title: str
    paragraph: int
    start: int  # raw [start, end)
    end: int
    text: str
    sentences: tuple[Sentence, ...]
    role: str = "body"
    author: str | None = None
    #: the heading path of its paragraph ("Results > Costs"), where the format has headings
    section: str | None = None
    #: the page it begins on (PDF), and the raw offsets inside it where a next page begins
    page: int | None = None
    page_breaks: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The page holding raw offset `offset` of this passage (None without pages)."""
        if self.page is None:
            return None
        return self.page + sum(1 for b in self.page_breaks if b <= offset)

    @property
    def n_words(self) -> int:
        return len(self.text.split())

    def sentence_text(self, i: int) -> str:
        s = self.sentences[i]
        return self.text[s.start : s.end]

    def continues_table(self) -> bool:
        """Is this a later part of a long table (under its caption, which it does not open with)?"""
        return self.role == "table" and bool(self.section) and not self.text.startswith(self.section or "")

    def table_header(self) -> str | None:
        """A table's header row: the first row of its first part (the one that opens with its
        caption); None for other passages, and for a later part of a long table, which has none."""
        if self.role != "table" or self.continues_table():
            return None
        return next((line for j in range(len(self.sentences)) if "|" in (line := self.sentence_text(j))), None)

    def column_headers(self, row: str) -> list[str] | None:
        """The header of each cell of `row`, a row of this table (its text, or a quote of it): None
        when the table has no header here, `row` is the header, or the two differ in columns."""
        header = self.table_header()
        if header is None or header == row or header.count("|") != row.count("|"):
            return None
        return [h.strip() for h in header.split("|")]

    def reading_text(self, i: int) -> str:
        """What the answer models read for sentence `i`: the sentence; for a row of a table, the
        row told under its caption with each cell named by its column's header ("Table 1: Running
        cost of each pump. Pump: Tumen; 2019: 243; 2020: 251"), since "Tumen | 243 | 251" alone
        says nothing a reader could match a question to. The quote stays the row itself."""
        text = self.sentence_text(i)
        if self.role != "table" or "|" not in text:  # its cells are parted by " | " (qa.ingest.assemble)
            return text
        caption = f"{self.section}." if self.section else ""
        headers = self.column_headers(text)
        cells = [c.strip() for c in text.split("|")]
        if headers is None:
            return " ".join([caption, ", ".join(c for c in cells if c)]).strip()
        named = "; ".join(f"{h}: {c}" if h else c for h, c in zip(headers, cells, strict=True) if c)
        return f"{caption} {named}".strip()

    def search_text(self) -> str:
        """What is embedded and ranked: the text, with its role spelled out for titles and bylines."""
        if self.role == "title":
            return f"The title of the article: {self.title}."
        if self.role == "author":
            return f"{self.title}. The article was written by the author {self.text}."
        if self.role == "affiliation":
            who = self.author or "The author"
            return f"{who}, the author of {self.title}, is {self.text}."
        if self.continues_table():
            return f"{self.section}\n{self.text}"  # a later part of a long table, under its caption
        return self.text

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "doc": self.doc,
            "title": self.title,
            "paragraph": self.paragraph,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "role": self.role,
            "author": self.author,
            "section": self.section,
            "page": self.page,
            "page_breaks": list(self.page_breaks),
            "sentences": [[s.start, s.end, s.raw_start, s.raw_end] for s in self.sentences],
        }

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Passage:
        return cls(
            id=int(r["id"]),
            doc=str(r["doc"]),
            title=str(r["title"]),
            paragraph=int(r["paragraph"]),
            start=int(r["start"]),
            end=int(r["end"]),
            text=str(r["text"]),
            sentences=tuple(Sentence(*map(int, s)) for s in r["sentences"]),
            role=str(r.get("role", "body")),
            author=r.get("author"),
            section=r.get("section"),
            page=None if r.get("page") is None else int(r["page"]),
            page_breaks=tuple(int(b) for b in r.get("page_breaks") or ()),
        )


def _lines(text: str) -> list[tuple[int, int]]:
    """[start, end) of each line of a table's text: its caption, then its rows."""
    spans, at = [], 0
    for line in text.split("\n"):
        if line.strip():
            spans.append((at, at + len(line)))
        at += len(line) + 1
    return spans


def _sentence_spans(p: Paragraph, max_words: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for a, b in _lines(p.text) if p.role == "table" else sentences.split(p.text):
        if len(p.text[a:b].split()) > max_words:
            spans.extend(sentences.word_windows(p.text, a, b, max_words))
        else:
            spans.append((a, b))
    return spans


def _groups(sizes: list[int], max_words: int) -> list[list[int]]:
    """Consecutive groups of sentence indexes, each at most max_words, balanced in length."""
    total = sum(sizes)
    target = total / max(1, math.ceil(total / max_words))
    groups: list[list[int]] = [[]]
    used = 0
    for i, n in enumerate(sizes):
        if groups[-1] and (used + n > max_words or used >= target or used + n / 2 > target * 1.1):
            groups.append([])
            used = 0
        groups[-1].append(i)
        used += n
    return groups


def passages_of(document: Document, max_words: int, first_id: int = 0) -> Iterator[Passage]:
    """The passages of one document, in reading order, numbered from `first_id`."""
    next_id = first_id
    for p in document.paragraphs:
        if p.role not in PASSAGE_ROLES or not p.text:
            continue
        spans = _sentence_spans(p, max_words)
        sizes = [len(p.text[a:b].split()) for a, b in spans]
        for group in _groups(sizes, max_words):
            a, b = spans[group[0]][0], spans[group[-1]][1]
            raw_start, raw_end = p.raw_span(a, b)
            sents = tuple(Sentence(s - a, e - a, *p.raw_span(s, e)) for s, e in (spans[i] for i in group))
            page = document.page_at(raw_start)
            yield Passage(
                id=next_id,
                doc=document.doc,
                title=document.title,
                paragraph=p.number,
                start=raw_start,
                end=raw_end,
                text=p.text[a:b],
                sentences=sents,
                role=p.role,
                author=document.author,
                section=p.section,
                page=page,
                page_breaks=tuple(b for b in document.page_starts if raw_start < b < raw_end),
            )
            next_id += 1


def sentence_before(passages: Sequence[Passage], row: int, i: int, heading: bool = False) -> str:
    """The sentence before sentence `i` of passages[row] in its paragraph: in the same passage, or
    the last of the passage before it, which a paragraph cut in passages leaves in the row before
    (same document and paragraph, ending where this one begins). For a paragraph's first sentence
    "", or with `heading` its section's heading, where it has one ("Swallows" over "The colony
    was counted twice in spring, at dusk."): what a reader of the page saw last."""
    p = passages[row]
    if p.role == "table":  # a row is read with its caption and header already (Passage.reading_text)
        return ""
    if i > 0:
        return p.sentence_text(i - 1)
    if row > 0:
        q = passages[row - 1]
        if q.doc == p.doc and q.paragraph == p.paragraph and q.sentences and q.end <= p.start:
            return q.sentence_text(len(q.sentences) - 1)
    return p.section if heading and p.role == "body" and p.section else ""


def chunk(documents: Iterable[Document], max_words: int) -> list[Passage]:
    """All passages of a corpus, ids 0..n-1, never crossing documents."""
    out: list[Passage] = []
    for d in documents:
        out.extend(passages_of(d, max_words, first_id=len(out)))
    return out


def fixed_windows(document: Document, n_words: int = 200) -> list[Passage]:
    """The naive baseline's passages: the raw text cut every `n_words` words, blind to its layout.

    Words are joined with single spaces; each window's sentences (from the splitter, so a window
    may begin or end mid-sentence) keep their exact raw offsets.
    """
    import bisect
    import re

    words = [m.span() for m in re.finditer(r"\S+", document.raw)]
    out: list[Passage] = []
    for first in range(0, len(words), n_words):
        window = words[first : first + n_words]
        starts = list(itertools.accumulate((b - a + 1 for a, b in window[:-1]), initial=0))
        text = " ".join(document.raw[a:b] for a, b in window)

        def raw(offset: int, window: list[tuple[int, int]] = window, starts: list[int] = starts) -> int:
            i = bisect.bisect_right(starts, offset) - 1
            return window[i][0] + offset - starts[i]

        sents = tuple(Sentence(s, e, raw(s), raw(e - 1) + 1) for s, e in sentences.split(text))
        out.append(Passage(len(out), document.doc, document.title, first // n_words + 1,
                           window[0][0], window[-1][1], text, sents))
    return out
