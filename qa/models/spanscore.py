"""How a short answer is judged against SQuAD's annotated ones: SQuAD v1.1's own normalisation
(lower case, no punctuation, no articles, single spaces), exact match and token F1, each the best
over the annotated answers (as SQuAD's evaluation script computes them). Used by the span model's
training card (`qa/models/training/span.py`) and by `qa eval --squad`."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize(text: str) -> str:
    """SQuAD's normalize_answer: lower case, punctuation and articles removed, whitespace collapsed."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    return float(any(normalize(prediction) == normalize(a) for a in answers)) if answers else 0.0


def _f1(prediction: str, answer: str) -> float:
    p, g = normalize(prediction).split(), normalize(answer).split()
    common = sum((Counter(p) & Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def f1(prediction: str, answers: Sequence[str]) -> float:
    return max((_f1(prediction, a) for a in answers), default=0.0)
