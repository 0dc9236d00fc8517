"""The span model: marks the short answer inside a quoted sentence ("On **June 20, 2019** President
Xi Jinping arrived in Pyongyang ...").

An extractive reader (BERT with a start/end head) made from the bundled all-MiniLM-L6-v2 and trained
in this project on SQuAD's annotated answers (`qa/models/training/span.py`, which writes
`span_model/`: the int8 ONNX weights, the tokenizer, a model card and `span.json` with the SHA-256 of
each file, a canary, the calibration and the rule for when there is no short answer). It reads
"[CLS] question [SEP] sentence [SEP]", one pass over the quote alone, and gives the best span of
the sentence's own tokens with the model's probability for it (start x end, each a softmax over the
sentence's tokens). Its best span's unnormalised score (`score`) also helps the answer step choose
between the sentences the reader likes (qa.answer.judge.spot); the quote's reading is kept and
reused to mark its words.

Not every question has a short answer: "Why ...?" is answered by a clause, and a span that covers
most of its sentence marks nothing. `answer` gives no span when the question is of a kind the
card's rule does not list (`span_kinds`: those whose held-out spans were mostly right), when the span's calibrated confidence is below the rule's, or when it is more
of the sentence than the rule allows (all three chosen on held-out training documents only).
It runs on onnxruntime, never imports torch, is loaded once and lazily, and is checked like the
scorer and the reader: a missing or damaged file is refused with one line.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.models.checked import CheckedModel, remember

MODEL_FOLDER = Path(__file__).with_name("span_model")
CHECK_FILE = "span.json"
RESTORE = "restore qa/models/span_model (git checkout -- qa/models/span_model) or rerun python -m qa.models.training.span"
#: environment variable naming another span model folder (tests, relocated installs)
SPAN_DIR_ENV = "QA_SPAN_DIR"
#: how far the canary's span score (start + end logit) may stray: int8 kernels differ between CPUs
CANARY_TOLERANCE = 0.2
#: the question's tokens kept at most (the sentence takes the rest of the input)
MAX_QUESTION_TOKENS = 40
#: the longest span given, in tokens
MAX_SPAN_TOKENS = 48

_WH = ("why", "how", "what", "which", "who", "whom", "whose", "when", "where")
_HOW_MUCH = ("many", "much", "long", "old", "far", "big", "large", "often", "high", "tall", "deep", "wide", "fast")
_WORD = re.compile(r"[a-z]+")


def kind(question: str) -> str:
    """The question's kind for the no-span rule: its first question word ("why", "what", ...; "how"
    asking for a quantity is "how much"; "how come" is "why"), else "other"."""
    words = _WORD.findall(question.lower())
    for n, w in enumerate(words):
        if w in _WH:
            after = words[n + 1] if n + 1 < len(words) else ""
            if w == "how":
                return "why" if after == "come" else "how much" if after in _HOW_MUCH else "how"
            return "who" if w in ("whom", "whose") else w
    return "other"


@dataclass(frozen=True)
class Encoded:
    """One input: the ids and token types of "[CLS] question [SEP] text [SEP]", and for each token
    of the text kept, its [start, end) in the text (the text's tokens begin at `first`)."""

    ids: list[int]
    types: list[int]
    offsets: list[tuple[int, int]]
    first: int


def encode(tokenizer: Any, question: str, text: str, max_length: int) -> Encoded:
    """The question cut to MAX_QUESTION_TOKENS, the text to what is left of `max_length` (its end
    cut): the same in training and in answering."""
    q = tokenizer.encode(question, add_special_tokens=False).ids[:MAX_QUESTION_TOKENS]
    t = tokenizer.encode(text, add_special_tokens=False)
    room = max(0, max_length - 3 - len(q))
    ids, offsets = t.ids[:room], [tuple(o) for o in t.offsets[:room]]
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    return Encoded([cls, *q, sep, *ids, sep], [0] * (len(q) + 2) + [1] * (len(ids) + 1), offsets, len(q) + 2)


def whole_words(text: str, a: int, b: int) -> tuple[int, int]:
    """[a, b) widened to whole words: a span that begins or ends inside a word ("voked" of
    "unprovoked", a word piece) takes the rest of it."""
    while 0 < a < len(text) and text[a - 1].isalnum() and text[a].isalnum():
        a -= 1
    while 0 < b < len(text) and text[b - 1].isalnum() and text[b].isalnum():
        b += 1
    return a, b


def best_span(start: np.ndarray, end: np.ndarray, max_tokens: int = MAX_SPAN_TOKENS) -> tuple[int, int, float]:
    """The (first, last) token of the best span of the text's logits (start <= end, at most
    `max_tokens` long) and its log-probability: log softmax(start)[first] + log softmax(end)[last]."""
    ls = start - np.logaddexp.reduce(start)
    le = end - np.logaddexp.reduce(end)
    n = len(start)
    grid = ls[:, None] + le[None, :]
    allowed = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), k=max_tokens)
    grid = np.where(allowed, grid, -np.inf)
    i, j = np.unravel_index(int(np.argmax(grid)), grid.shape)
    return int(i), int(j), float(grid[i, j])


@dataclass(frozen=True)
class Found:
    """A span of the text read: [start, end) in it, the model's probability for it, its calibrated
    confidence (P that it matches the answer, from held-out questions), its share of the text's
    characters, and its score (start + end logit, what the canary records)."""

    start: int
    end: int
    probability: float
    confidence: float
    share: float
    score: float


class SpanModel(CheckedModel):
    """The shipped span model (or another folder written by qa/models/training/span.py)."""

    label, default_folder, folder_env, restore = "span model", MODEL_FOLDER, SPAN_DIR_ENV, RESTORE
    check_file, canary_figure, canary_tolerance = CHECK_FILE, "score", CANARY_TOLERANCE

    def __init__(self, folder: Path | str | None = None, threads: int = 1, verify: bool = True, remember: int = 16) -> None:
        """`remember`: the last (question, text) readings kept, so the sentence the answer step read
        while choosing the quote (`score`) is not read again to mark its words (`answer`)."""
        super().__init__(folder, threads, verify)
        self.remember = remember
        self._cache: OrderedDict[tuple[str, str], tuple[np.ndarray, np.ndarray, Encoded]] = OrderedDict()
        self._pending: OrderedDict[tuple[str, str], Future[tuple[np.ndarray, np.ndarray, Encoded]]] = OrderedDict()

    def _canary(self, question: str, sentence: str) -> float:
        found = self.find(question, sentence)
        return float("nan") if found is None else found.score

    def begin(self, question: str, text: str) -> None:
        """Starts reading `text` on the model's own threads, to be picked up by a later `logits` of the
        same question and text (the answer step, while the reader reads: `compose`). Nothing where
        there is one core for it (no thread could read beside the asking one) or no reading is kept."""
        self.warm_up()
        key = (question, text)
        if self.side_by_side < 2 or not self.remember:
            return
        with self._cache_lock:
            if key in self._cache or key in self._pending:
                return
        future = self._threads().submit(self._reading, question, text)
        with self._cache_lock:
            self._pending[key] = future
            remember(self._pending, (), self.remember)  # begun and never asked for: the oldest forgotten

    def logits(self, question: str, text: str) -> tuple[np.ndarray, np.ndarray, Encoded]:
        """The start and end logits of the text's tokens, one pass (alone: the int8 model quantises
        its activations per run, so a batch would make a span depend on its neighbours)."""
        self.warm_up()
        key = (question, text)
        with self._cache_lock:
            hit = self._cache.get(key)
            ahead = self._pending.pop(key, None)
        if hit is not None:
            return hit
        got = ahead.result() if ahead is not None else self._reading(question, text)
        if self.remember:
            with self._cache_lock:
                remember(self._cache, [(key, got)], self.remember)
        return got

    def _reading(self, question: str, text: str) -> tuple[np.ndarray, np.ndarray, Encoded]:
        enc = encode(self._tokenizer, question, text, self._max_length)
        ids = np.array([enc.ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.array([enc.types], dtype=np.int64)}
        with self._runs:
            start, end = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})
        n = len(enc.offsets)
        return (np.asarray(start, np.float32).reshape(-1)[enc.first : enc.first + n],
                np.asarray(end, np.float32).reshape(-1)[enc.first : enc.first + n], enc)

    def forget(self) -> None:
        """Drops the readings kept and begun (a benchmark timing each question's whole cost)."""
        with self._cache_lock:
            self._cache.clear()
            self._pending.clear()

    def score(self, question: str, text: str) -> float:
        """How strongly the text holds an answer to the question: its best span's start + end logit
        (the figure `find` reports; unnormalised, so texts can be compared: on held-out questions the
        sentence that answers scores 9.1, median, the other sentences of its paragraph 4.2); -inf for
        no tokens."""
        found = self.find(question, text)
        return float("-inf") if found is None else found.score

    def scores(self, question: str, texts: list[str]) -> list[float]:
        """`score` of each text, the texts read side by side (each alone: the same figures as one
        after another; a text given twice is read once)."""
        self.warm_up()
        distinct = list(dict.fromkeys(texts))
        got = dict(zip(distinct, self._side_by_side(lambda text: self.score(question, text), distinct), strict=True))
        return [got[t] for t in texts]

    def find(self, question: str, text: str) -> Found | None:
        """The best span of `text` for `question`, whatever the rule says (None for a text with no
        tokens)."""
        start, end, enc = self.logits(question, text)
        if not len(enc.offsets):
            return None
        i, j, logp = best_span(start, end, int(self.card.get("max_span_tokens", MAX_SPAN_TOKENS)))
        a, b = whole_words(text, enc.offsets[i][0], enc.offsets[j][1])
        letters = max(1, len(text.strip()))
        confidence = float(self.probability(np.asarray([logp]))[0])
        return Found(a, b, float(np.exp(logp)), confidence, (b - a) / letters, float(start[i] + end[j]))

    def answer(self, question: str, text: str) -> Found | None:
        """The short answer inside `text`, or None when the card's rule says there is none."""
        self.warm_up()
        rule = self.card.get("rule", {})
        asked = kind(question)
        if asked in rule.get("no_span_kinds", ()) or ("span_kinds" in rule and asked not in rule["span_kinds"]):
            return None
        found = self.find(question, text)
        if found is None or found.end <= found.start:
            return None
        if found.confidence < float(rule.get("min_confidence", 0.0)) or found.share > float(rule.get("max_share", 1.0)):
            return None
        return found
