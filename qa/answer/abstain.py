"""Knowing when not to answer: what the answer step already knows about a question, read by the
abstention model (`qa.models.abstainer`) to decide whether the documents answer it at all, and how
likely the quote is right (the confidence shown).

The answer step (`qa.answer.compose`) has the quote it would give and the evidence for it: the
retrieval scores of the passages, the scorer's and the reader's probabilities (the reader's is of
its margin over the question's no-answer score), how many of the question's words the quote, its
passage and the whole corpus hold, and whether the quote holds what the question asks for (a date
for "when"). `signals` turns these into named figures; the model, fitted on training material only
(`qa/models/training/abstain.py`), weighs them. Nothing here loads a model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.index.lexical import tokens
from qa.index.store import Index
from qa.search.retrieval import Candidate

#: the figures, in the order the model's weights are stored (qa/models/abstain_model/weights.json)
FEATURES = (
    "top_fused",  # fused retrieval score of the passage ranked first (after reranking)
    "best_fused",  # the best fused score retrieval gave any passage
    "fused_gap",  # how far retrieval's best passage stands above its second
    "answer_fused",  # the quoted passage's fused score, its cosine and its BM25
    "answer_dense",
    "answer_lexical",
    "answer_sentence",  # the quoted sentence's own retrieval evidence
    "answer_score",  # the answer step's score for the quote (evidence, scorer and reader together)
    "reader_quote",  # the reader's log-odds for the quote (its margin over "no answer", calibrated)
    "reader_best",  # its best log-odds over every sentence it read
    "reader_gap",  # how far the best sentence it read stands above the second
    "reader_over_half",  # how many sentences it read at over one half
    "scorer_quote",  # the scorer's log-odds for the quote
    "scorer_best",  # its best log-odds over the body sentences of the top passages
    "quote_words",  # share of the question's content words the quote holds
    "passage_words",  # ... its passage holds
    "corpus_words",  # ... the corpus uses at all
    "corpus_missing",  # how many of them the corpus never uses (at most 3)
    "quote_idf",  # the same three shares, each word weighed by its rarity in the corpus (BM25's IDF;
    "passage_idf",  # a word the corpus never uses weighs most)
    "corpus_idf",
    "unknown_name",  # 1 when the question names something the corpus never mentions
    "asks_date",  # what the question asks for, from its form (qa.answer.answertype)
    "asks_number",
    "asks_name",
    "untyped",  # 1 when it asks for a kind and the quote holds none that the question does not say
    "question_words",  # log(1 + its content words)
    "quote_length",  # log(1 + the quote's words)
    "answer_rank",  # the quoted passage's rank (0: first)
)
#: log-odds are clipped here: a probability of exactly 0 or 1 says no more than this
CLIP = 9.0


@dataclass(frozen=True)
class Evidence:
    """What the abstention model read for one question (`Result.evidence`), and where the quote it
    judged stands: the quote may be withheld, but the figures say what it would have been."""

    signals: dict[str, float]
    doc: str
    start: int  # raw [start, end) of the would-be quote
    end: int

    def vector(self) -> np.ndarray:
        return np.array([self.signals[f] for f in FEATURES], dtype=np.float64)


def log_odds(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return max(-CLIP, min(CLIP, math.log(p / (1 - p))))


def signals(question: str, index: Index, candidates: Sequence[Candidate], chosen: Sequence[Candidate],
            rank: int, sentences: tuple[int, int], answer_score: float, wanted: str | None, typed: bool,
            probs: Sequence[np.ndarray], reads: Sequence[np.ndarray]) -> dict[str, float]:
    """The figures for a question whose would-be quote is sentences [first, last] of the passage
    ranked `rank` in `chosen`; `probs` and `reads`: the scorer's and the reader's probability for
    each sentence of the top passages (the reader's 0 where it did not read)."""
    c = chosen[rank]
    p = index.passages[c.row]
    first, last = sentences
    quote = p.text[p.sentences[first].start : p.sentences[last].end]
    focus = set(tokens(question))
    n = max(1, len(focus))
    quote_words, passage_words = set(tokens(quote)), set(tokens(p.text))
    corpus = index.lexical.df
    known = sum(1 for t in focus if t in corpus)
    idf = {t: index.lexical.idf(t) for t in focus}
    weight = max(1e-9, sum(idf.values()))
    read = sorted((float(x) for r in reads for x in r if x > 0), reverse=True)
    quoted_read = float(reads[rank][first : last + 1].max()) if rank < len(reads) else 0.0
    scored = float(probs[rank][first : last + 1].max()) if rank < len(probs) and len(probs[rank]) else 0.0
    best_scored = max((float(x.max()) for x in probs if len(x)), default=0.0)
    own = c.sentences[first] if first < len(c.sentences) else c.score
    fused = sorted((x.score for x in candidates), reverse=True)
    return {
        "top_fused": chosen[0].score,
        "best_fused": fused[0] if fused else 0.0,
        "fused_gap": fused[0] - fused[1] if len(fused) > 1 else fused[0] if fused else 0.0,
        "answer_fused": c.score,
        "answer_dense": c.dense,
        "answer_lexical": c.lexical,
        "answer_sentence": float(own),
        "answer_score": answer_score,
        "reader_quote": log_odds(quoted_read) if quoted_read > 0 else -CLIP,
        "reader_best": log_odds(read[0]) if read else -CLIP,
        "reader_gap": min(CLIP, log_odds(read[0]) - log_odds(read[1])) if len(read) > 1 else CLIP,
        "reader_over_half": float(sum(1 for x in read if x > 0.5)),
        "scorer_quote": log_odds(scored),
        "scorer_best": log_odds(best_scored),
        "quote_words": len(focus & quote_words) / n,
        "passage_words": len(focus & passage_words) / n,
        "corpus_words": known / n,
        "corpus_missing": float(min(3, len(focus) - known)),
        "quote_idf": sum(v for t, v in idf.items() if t in quote_words) / weight,
        "passage_idf": sum(v for t, v in idf.items() if t in passage_words) / weight,
        "corpus_idf": sum(v for t, v in idf.items() if t in corpus) / weight,
        "unknown_name": 1.0 if chosen[0].unknown else 0.0,
        "asks_date": 1.0 if wanted == "date" else 0.0,
        "asks_number": 1.0 if wanted == "number" else 0.0,
        "asks_name": 1.0 if wanted == "name" else 0.0,
        "untyped": 1.0 if wanted is not None and not typed else 0.0,
        "question_words": math.log1p(len(focus)),
        "quote_length": math.log1p(len(quote.split())),
        "answer_rank": float(rank),
    }
