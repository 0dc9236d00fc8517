"""From ranked passages to a result: the answer sentence, quoted verbatim, with numbered citations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qa.chunks import Passage
from qa.lexical import tokens
from qa.retrieval import Candidate
from qa.store import Index
from qa.text import skeleton


@dataclass(frozen=True)
class Rules:
    """How sentences are scored and when the assistant abstains (calibrated on the dev set)."""

    #: weights of a sentence's cosine, its word overlap with the query, and its passage's score
    w_cosine: float = 0.55
    w_overlap: float = 0.25
    w_passage: float = 0.20
    #: passages whose sentences compete for the answer
    answer_depth: int = 3
    #: abstain when the best passage's cosine is below this and its words barely overlap
    min_cosine: float = 0.30
    min_overlap: float = 0.5
    #: a neighbouring sentence joins the quote when it scores this close to the best
    pair_margin: float = 0.03


@dataclass(frozen=True)
class Citation:
    id: int  # the number shown as [n]; equals the rank of the passage it points into
    doc: str
    title: str
    paragraph: int
    start: int  # raw [start, end) in the document as read from disk
    end: int
    passage_id: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "doc": self.doc,
            "title": self.title,
            "paragraph": self.paragraph,
            "start": self.start,
            "end": self.end,
            "passage_id": self.passage_id,
        }

    def label(self) -> str:
        return f"{self.title}, paragraph {self.paragraph}, characters {self.start}-{self.end} of {self.doc}"


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    dense: float
    lexical: float
    passage: Passage
    highlight: tuple[tuple[int, int], ...]
    citation: Citation

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(self.score, 4),
            "dense": round(self.dense, 4),
            "lexical": round(self.lexical, 4),
            "text": self.passage.text,
            "highlight": [list(h) for h in self.highlight],
            "citation": self.citation.to_json(),
        }


@dataclass(frozen=True)
class Answer:
    text: str
    citation: Citation
    score: float


@dataclass(frozen=True)
class Result:
    question: str
    query: str
    answer: Answer | None
    hits: tuple[Hit, ...]
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "query": self.query,
            "answer": None
            if self.answer is None
            else {"text": self.answer.text, "citation": self.answer.citation.to_json(), "score": round(self.answer.score, 4)},
            "passages": [h.to_json() for h in self.hits],
        }


def _distinct(candidates: list[Candidate], passages: tuple[Passage, ...], k: int) -> list[Candidate]:
    """Drops candidates that repeat an earlier one's text or overlap its span by more than half."""
    kept: list[Candidate] = []
    seen: set[str] = set()
    for c in candidates:
        p = passages[c.row]
        key = skeleton(p.text).lower()
        overlapping = any(
            (q := passages[o.row]).doc == p.doc
            and min(q.end, p.end) - max(q.start, p.start) > 0.5 * min(q.end - q.start, p.end - p.start)
            for o in kept
        )
        if key in seen or overlapping:
            continue
        seen.add(key)
        kept.append(c)
        if len(kept) == k:
            break
    return kept


def _sentence_scores(index: Index, c: Candidate, qvec: np.ndarray, qtokens: set[str], rules: Rules) -> np.ndarray:
    p = index.passages[c.row]
    lo, hi = int(index.sentence_rows[c.row]), int(index.sentence_rows[c.row + 1])
    cos = index.sentence_vectors[lo:hi] @ qvec
    overlap = np.array(
        [len(qtokens & set(tokens(p.sentence_text(i)))) / max(1, len(qtokens)) for i in range(hi - lo)],
        dtype=np.float32,
    )
    return rules.w_cosine * cos + rules.w_overlap * overlap + rules.w_passage * c.score


def compose(
    question: str,
    query: str,
    index: Index,
    candidates: list[Candidate],
    qvec: np.ndarray,
    k: int,
    rules: Rules | None = None,
) -> Result:
    """Ranks sentences inside the top passages, picks the answer (or abstains) and cites it."""
    rules = rules or Rules()
    chosen = _distinct(candidates, index.passages, k)
    qtokens = set(tokens(query))
    best_sentence: list[tuple[int, int, float, np.ndarray]] = []  # (rank, sentence, score, all scores)
    for rank, c in enumerate(chosen):
        scores = _sentence_scores(index, c, qvec, qtokens, rules)
        i = int(np.argmax(scores))
        best_sentence.append((rank, i, float(scores[i]), scores))

    answer_rank, answer_span = -1, (0, 0)
    if chosen and _answerable(chosen[0], index, qtokens, rules):
        rank, i, score, scores = max(best_sentence[: rules.answer_depth], key=lambda t: (t[2], -t[0]))
        j = i
        for n in (i - 1, i + 1):  # quote a neighbour too when it is nearly as good
            if 0 <= n < len(scores) and scores[n] >= score - rules.pair_margin:
                j = n
                break
        answer_rank, answer_span = rank, (min(i, j), max(i, j))

    hits = []
    for rank, c in enumerate(chosen):
        p = index.passages[c.row]
        if rank == answer_rank:
            first, last = answer_span
        else:
            first = last = best_sentence[rank][1]
        s, e = p.sentences[first], p.sentences[last]
        citation = Citation(rank + 1, p.doc, p.title, p.paragraph, p.start, p.end, p.id)
        hits.append(Hit(rank + 1, c.score, c.dense, c.lexical, p, ((s.start, e.end),), citation))

    answer = None
    if answer_rank >= 0:
        hit = hits[answer_rank]
        p = hit.passage
        first, last = answer_span
        s, e = p.sentences[first], p.sentences[last]
        citation = Citation(hit.rank, p.doc, p.title, p.paragraph, s.raw_start, e.raw_end, p.id)
        answer = Answer(p.text[s.start : e.end], citation, best_sentence[answer_rank][2])
    return Result(question, query, answer, tuple(hits))


def _answerable(top: Candidate, index: Index, qtokens: set[str], rules: Rules) -> bool:
    """Does the best passage look like it answers? Enough meaning in common, or enough words."""
    if top.dense >= rules.min_cosine:
        return True
    words = set(tokens(index.passages[top.row].search_text()))
    return bool(qtokens) and len(qtokens & words) / len(qtokens) >= rules.min_overlap
