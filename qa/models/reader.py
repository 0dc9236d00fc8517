"""The answer reader: reads the question and a candidate sentence together and says how likely
the sentence answers it (a calibrated probability, 0..1).

A cross-encoder made from the bundled all-MiniLM-L6-v2's six layers and trained in this project on
SQuAD training questions (`qa/models/training/reader.py`, which writes `reader_model/`: the int8 ONNX
weights, the tokenizer, a model card and `reader.json` with the SHA-256 of each file, a canary and
the calibration). Unlike the scorer it cannot remember a sentence: each (question, sentence) pair is a
forward pass, so it is asked only about the few best candidates the scorer and retrieval leave.
A reader trained with context (`reader.json`'s "context": "previous") reads each candidate with the
sentence before it, "[CLS] question [SEP] sentence [SEP] sentence before [SEP]" (`reading`), so "It
was renewed twice" can be judged by what "it" is; the sentence before is cut first when the input is
too long.
A reader trained with a no-answer score (`reader.json`'s "null": true) also reads the question alone,
"[CLS] question [SEP] [SEP]" (`NULL`), and was taught to score that above every sentence that does
not answer and below the one that does (the way SQuAD 2.0 readers abstain): its probabilities are
of the margin between a sentence and that no-answer score, so a question the text does not answer
gets low ones even when its closest sentences share its words.
It runs on onnxruntime, never imports torch, is loaded once and lazily, and is checked like the
embedder: a missing or damaged file is refused with one line, never replaced by a silent fallback.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np

from qa.models import wordpieces
from qa.models.checked import CheckedModel, remember

MODEL_FOLDER = Path(__file__).with_name("reader_model")
CHECK_FILE = "reader.json"
RESTORE = "restore qa/models/reader_model (git checkout -- qa/models/reader_model) or rerun python -m qa.models.training.reader"
#: environment variable naming another reader folder (tests, relocated installs)
READER_DIR_ENV = "QA_READER_DIR"
#: how far the canary logit may stray: int8 kernels differ between CPUs (as for the scorer's
#: cosine, qa.models.scorer.CANARY_TOLERANCE); damaged or swapped weights move it by whole units
CANARY_TOLERANCE = 0.1
#: reader.json's "context" for a reader that reads each candidate with the sentence before it
PREVIOUS = "previous"
#: what a reader with a no-answer score reads for "no answer": nothing after the question
NULL = ""


def reading(sentence: str, before: str) -> str:
    """What a reader with context reads after the question: the candidate, then the sentence before
    it (nothing when it has none). The same string in training and in answering, so the tokenizer cuts
    both alike: its own [SEP] token, then the context, which "longest_first" truncation cuts first."""
    return f"{sentence} [SEP] {before}" if before.strip() else sentence


class Reader(CheckedModel):
    """The shipped reader (or another folder written by qa/models/training/reader.py)."""

    label, default_folder, folder_env, restore = "answer reader", MODEL_FOLDER, READER_DIR_ENV, RESTORE
    check_file, canary_figure, canary_tolerance = CHECK_FILE, "logit", CANARY_TOLERANCE

    def __init__(self, folder: Path | str | None = None, threads: int = 1, verify: bool = True, remember: int = 0) -> None:
        """`remember`: (question, sentence) logits kept per process (0, the default: none, so every
        question pays for its reading and a benchmark measures that; evaluation grids that ask the
        same questions under many settings remember them)."""
        super().__init__(folder, threads, verify)
        self.remember = remember
        self._cache: OrderedDict[tuple[str, str], float] = OrderedDict()

    def _canary(self, question: str, sentence: str) -> float:
        return self._logit(question, sentence)

    @property
    def reads_context(self) -> bool:
        """Whether it was trained to read each candidate with the sentence before it."""
        self.warm_up()
        return self.card.get("context") == PREVIOUS

    @property
    def knows_no_answer(self) -> bool:
        """Whether it was trained with a no-answer score (the question alone, `NULL`)."""
        self.warm_up()
        return self.card.get("null") is True

    def _logit(self, question: str, sentence: str) -> float:
        """One pair alone: the int8 model quantises its activations per run, so a pair scored in a
        batch would depend on the others in it; alone, it always gets the same logit."""
        tokens, types = wordpieces.pair(self._tokenizer, question, sentence, self._max_length)
        ids = np.array([tokens], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.array([types], dtype=np.int64)}
        with self._runs:
            out = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        return float(np.asarray(out).reshape(-1)[0])

    def logits(self, question: str, sentences: list[str], before: list[str] | None = None) -> np.ndarray:
        """The raw logit of each (question, sentence) pair; `before`: the sentence before each (read
        only by a reader trained with context; "" where there is none)."""
        if before is not None and len(before) != len(sentences):
            raise ValueError("one sentence before each sentence, or none")
        context = before if self.reads_context else None
        keys = [(question, s if context is None else reading(s, context[i])) for i, s in enumerate(sentences)]
        with self._cache_lock:
            known = {k: self._cache[k] for k in keys if k in self._cache}
        fresh = [k for k in dict.fromkeys(keys) if k not in known]
        read = dict(zip(fresh, self._read(fresh), strict=True))
        if self.remember and read:
            with self._cache_lock:
                remember(self._cache, read.items(), self.remember)
        return np.array([known[k] if k in known else read[k] for k in keys], dtype=np.float32)

    def _read(self, pairs: list[tuple[str, str]]) -> list[float]:
        """Each pair's logit, each pair alone (`_logit`), side by side on as many threads as there are
        cores (`CheckedModel._side_by_side`): the same figures as one after another."""
        return self._side_by_side(lambda pair: self._logit(*pair), pairs)

    def margins(self, question: str, sentences: list[str], before: list[str] | None = None) -> np.ndarray:
        """What the calibration reads: each sentence's logit, less the question's no-answer logit for
        a reader that has one (one more short reading a question, remembered like the others)."""
        if not (self.knows_no_answer and len(sentences)):
            return self.logits(question, sentences, before)
        # the no-answer reading among the others, read side by side with them ("" before it: none)
        out = self.logits(question, [*sentences, NULL], None if before is None else [*before, ""])
        return out[:-1] - out[-1]

    def probabilities(self, question: str, sentences: list[str], before: list[str] | None = None) -> np.ndarray:
        return self.probability(self.margins(question, sentences, before))
