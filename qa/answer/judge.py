"""What the answer scorer's probability is used for: reranking the top passages, choosing the
answer sentence, abstaining, and the confidence shown with an answer. Each use has its own weight
in `Rules` (0 turns it off), so each can be measured on its own (docs/quality.md, the ablation)."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from qa.ingest.chunks import Passage


class Judge(Protocol):
    """What compose needs of a scorer (qa.answer.scorer.Scorer, or a fake in unit tests)."""

    def cosines(self, question: str, sentences: list[str]) -> np.ndarray: ...

    def probability(self, cosines: np.ndarray) -> np.ndarray: ...


def probabilities(judge: Judge, question: str, passages: list[Passage]) -> list[np.ndarray]:
    """P(this sentence answers the question) for every sentence of each passage, in one batch."""
    texts = [p.sentence_text(i) for p in passages for i in range(len(p.sentences))]
    if not texts:
        return [np.zeros(0, np.float32) for _ in passages]
    flat = judge.probability(judge.cosines(question, texts))
    out, at = [], 0
    for p in passages:
        out.append(np.asarray(flat[at : at + len(p.sentences)], dtype=np.float32))
        at += len(p.sentences)
    return out


def rerank_order(scores: list[float], probs: list[np.ndarray], weight: float) -> list[int]:
    """Positions of the passages re-sorted by fused score + weight x their best sentence's
    probability (a stable sort: ties keep the retrieval order)."""
    key = [s + weight * (float(p.max()) if len(p) else 0.0) for s, p in zip(scores, probs, strict=True)]
    return sorted(range(len(scores)), key=lambda i: (-key[i], i))
