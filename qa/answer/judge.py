"""What the answer scorer's and the reader's probabilities are used for: reranking the top
passages, choosing the answer sentence, abstaining, and the confidence shown with an answer. Each
use has its own weight in `Rules` (0 turns it off), so each can be measured on its own
(docs/quality.md, the ablation)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from qa.ingest.chunks import Passage


class Judge(Protocol):
    """What compose needs of a scorer (qa.models.scorer.Scorer, or a fake in unit tests)."""

    def cosines(self, question: str, sentences: list[str], known: Sequence[np.ndarray | None] | None = None) -> np.ndarray: ...

    def probability(self, cosines: np.ndarray) -> np.ndarray: ...


class Reads(Protocol):
    """What compose needs of a reader (qa.models.reader.Reader, or a fake in unit tests)."""

    def probabilities(self, question: str, sentences: list[str], before: list[str] | None = None) -> np.ndarray: ...


class Spots(Protocol):
    """What compose needs of a span model (qa.models.span.SpanModel, or a fake in unit tests)."""

    def scores(self, question: str, texts: list[str]) -> list[float]: ...

    def begin(self, question: str, text: str) -> None: ...


def read(reader: Reads, question: str, passages: list[Passage], prior: list[np.ndarray], n: int,
         before: Callable[[int, int], str] | None = None, within: float = float("inf")) -> list[np.ndarray]:
    """The reader's probability for the `n` sentences that `prior` (a score per sentence; -inf
    where it may not read) ranks best across `passages` (ties: the earlier), of those no more than
    `within` below the best; 0 for every other. `before(r, i)`: the text before sentence i of
    passages[r], for a reader that reads context."""
    ranked = _ranked(prior)
    picked = [(-r, -i) for score, r, i in ranked[:n] if score >= ranked[0][0] - within]
    out = [np.zeros(len(p.sentences), np.float32) for p in passages]
    if picked:
        texts = [passages[r].reading_text(i) for r, i in picked]
        got = reader.probabilities(question, texts, [before(r, i) for r, i in picked] if before else None)
        for (r, i), value in zip(picked, got, strict=True):
            out[r][i] = value
    return out


def _ranked(prior: list[np.ndarray]) -> list[tuple[float, int, int]]:
    """(score, -passage, -sentence) of every sentence `prior` scores (finite), best first (ties: the earlier)."""
    return sorted(((float(pr[i]), -r, -i) for r, pr in enumerate(prior) for i in range(len(pr)) if np.isfinite(pr[i])),
                  reverse=True)


def best(prior: list[np.ndarray], allowed: Sequence[bool]) -> tuple[int, int] | None:
    """(passage, sentence) of the sentence `prior` ranks first among the passages `allowed`, the one
    `read` reads first; None when there is none."""
    top = _ranked([pr if ok else np.full_like(pr, -np.inf) for pr, ok in zip(prior, allowed, strict=True)])
    return (-top[0][1], -top[0][2]) if top else None


def probabilities(judge: Judge, question: str, passages: list[Passage],
                  kept: Callable[[Passage], np.ndarray] | None = None) -> list[np.ndarray]:
    """P(this sentence answers the question) for every sentence of each passage, in one batch;
    `kept(p)`: the scorer's vectors of p's sentences, as the index keeps them (none computed)."""
    texts = [p.reading_text(i) for p in passages for i in range(len(p.sentences))]
    if not texts:
        return [np.zeros(0, np.float32) for _ in passages]
    if kept is None:
        flat = judge.probability(judge.cosines(question, texts))
    else:
        flat = judge.probability(judge.cosines(question, texts, [v for p in passages for v in kept(p)]))
    out, at = [], 0
    for p in passages:
        out.append(np.asarray(flat[at : at + len(p.sentences)], dtype=np.float32))
        at += len(p.sentences)
    return out


def lift(probs: list[np.ndarray], weight: float) -> list[float]:
    """What reranking adds to each passage's score: weight x its best sentence's probability."""
    return [weight * (float(p.max()) if len(p) else 0.0) for p in probs]


def rerank_order(scores: list[float], bonus: list[float]) -> list[int]:
    """Positions of the passages re-sorted by fused score + bonus (a stable sort: ties keep the
    retrieval order)."""
    key = [s + b for s, b in zip(scores, bonus, strict=True)]
    return sorted(range(len(scores)), key=lambda i: (-key[i], i))


def spot(span: Spots, question: str, passages: list[Passage], scores: list[np.ndarray], reads: list[np.ndarray],
         n: int, weight: float, center: float, scale: float) -> list[np.ndarray]:
    """`scores` with weight x P(reader) x logistic((span score - center) / scale) added to each of
    the `n` best body sentences across `passages` (ties: the earlier) that the reader read (`reads`,
    its probability: a quote the reader and the abstention model judge) and could still overtake the
    best one with it (no other is read); the span score is the span model's best span in that
    sentence. Its share grows with the reader's: a sentence the reader sets aside stays aside,
    however sure a span it holds ("Pilots planned ..." for "Who finished the dam?")."""
    ranked = sorted(((float(sc[i]), -r, -i) for r, (p, sc) in enumerate(zip(passages, scores, strict=True))
                     if p.role == "body" and r < len(reads)
                     for i in range(min(len(sc), len(p.sentences), len(reads[r]))) if reads[r][i] > 0), reverse=True)
    out = [np.array(sc, dtype=np.float32, copy=True) for sc in scores]
    # whether a sentence is read depends on nothing another one's reading gives: all read side by side
    lifts = [(weight * float(reads[-r][-i]), -r, -i) for value, r, i in ranked[:n]
             if value + weight * float(reads[-r][-i]) >= ranked[0][0]]
    found = span.scores(question, [passages[r].sentence_text(i) for _, r, i in lifts])
    for (most, r, i), score in zip(lifts, found, strict=True):
        if np.isfinite(score):
            out[r][i] += most / (1.0 + np.exp(-(score - center) / scale))
    return out
