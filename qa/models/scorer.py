"""The answer scorer: does this sentence answer the question? A calibrated probability, 0..1.

A copy of the bundled all-MiniLM-L6-v2 fine-tuned in this project on SQuAD training questions
(`qa/models/training/scorer.py`, which writes `scorer_model/`: the int8 ONNX weights, the tokenizer, a
model card and `scorer.json` with the SHA-256 of each file, a canary and the calibration). It
reads the question and each candidate sentence separately (a bi-encoder), so a sentence's vector is
computed once: when the index is built (`index_vectors`, kept beside the embedder's and named by
the scorer's `fingerprint`), else the first time a question meets it, and remembered. A question
costs one short forward pass. It runs on onnxruntime and never imports torch. Loaded once, lazily,
and checked like the embedder: a missing or damaged file is refused with one line, never replaced
by a silent fallback.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from qa.models import wordpieces
from qa.models.checked import CheckedModel, remember

MODEL_FOLDER = Path(__file__).with_name("scorer_model")
CHECK_FILE = "scorer.json"
RESTORE = "restore qa/models/scorer_model (git checkout -- qa/models/scorer_model) or rerun python -m qa.models.training.scorer"
#: environment variable naming another scorer folder (tests, relocated installs)
SCORER_DIR_ENV = "QA_SCORER_DIR"
#: sentence vectors remembered per process (a sentence of 384 float32 costs 1.5 kB)
CACHE_SIZE = 50_000
#: questions whose vectors are being computed ahead (`begin`) and not yet used
PENDING_SIZE = 64
#: how far the canary cosine may stray: int8 kernels differ between CPUs (AVX2 against AVX-512 VNNI
#: moved it by 0.0045); damaged or swapped weights move it far more, and the SHA-256 catches edits
CANARY_TOLERANCE = 0.02


class Scorer(CheckedModel):
    """The shipped scorer (or another folder written by qa/models/training/scorer.py)."""

    label, folder_env, restore = "answer scorer", SCORER_DIR_ENV, RESTORE
    default_folder, check_file, canary_tolerance = MODEL_FOLDER, CHECK_FILE, CANARY_TOLERANCE

    def __init__(self, folder: Path | str | None = None, threads: int = 1, verify: bool = True) -> None:
        super().__init__(folder, threads, verify)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._pending: OrderedDict[str, Future[np.ndarray]] = OrderedDict()
        self._pool: ThreadPoolExecutor | None = None
        self._fingerprint: str | None = None  # once loaded, a scorer never loads other files

    def _canary(self, question: str, sentence: str) -> float:
        return float(self._encode([question])[0] @ self._encode([sentence])[0])

    # -- scoring -----------------------------------------------------------------------------------

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Each text on its own: the int8 model quantises its activations per run, so a text encoded
        in a batch would depend on the others in it (and on padding); alone, a sentence always gets
        the same vector, whatever was asked before, and it is no slower (no padding)."""
        return np.vstack([self._encode_one(t) for t in texts])

    def _encode_one(self, text: str) -> np.ndarray:
        ids = np.array([wordpieces.single(self._tokenizer, text, self._max_length)], dtype=np.int64)
        mask = np.ones_like(ids)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    @property
    def fingerprint(self) -> str:
        """What a sentence's vector depends on: the weights, the tokenizer and the input length (the
        SHA-256 of the check file's list of files and of the length). An index that keeps sentence
        vectors records it, and they are used only by a scorer with the same one."""
        if self._fingerprint is None:
            self.warm_up()
            what = {"files": self.card.get("files"), "max_seq_length": self._max_length}
            self._fingerprint = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()
        return self._fingerprint

    def index_vectors(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """The vectors of every sentence of an index, for it to keep (`sentence_vectors` computes the
        same ones, each alone): blocks on as many threads as there are cores (the runs are
        independent), neither remembered nor taken from what is remembered; `progress(n)` after each
        block of n, in order."""
        self.warm_up()
        out = np.zeros((len(texts), 384), dtype=np.float32)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        step = 16  # small enough that the article's 58 sentences use both cores of a laptop

        def block(lo: int) -> int:
            some = texts[lo : lo + step]
            out[lo : lo + len(some)] = self._encode(some)
            return len(some)

        with ThreadPoolExecutor(max_workers=max(1, cores), thread_name_prefix="qa-scorer-index") as pool:
            for n in pool.map(block, range(0, len(texts), step)):
                if progress is not None:
                    progress(n)
        return out

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised vectors (the question side: never cached)."""
        self.warm_up()
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return self._encode(texts)

    def sentence_vectors(self, texts: list[str]) -> np.ndarray:
        """The vectors of candidate sentences, each computed once per process (batched)."""
        self.warm_up()
        with self._cache_lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            fresh = self._encode(missing)
            with self._cache_lock:
                remember(self._cache, zip(missing, fresh, strict=True), CACHE_SIZE)
        with self._cache_lock:
            found = {t: self._cache.get(t) for t in texts}
        rows = [v if v is not None else self._encode_one(t)[0] for t, v in found.items()]
        lookup = dict(zip(found, rows, strict=True))
        return np.vstack([lookup[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)

    def begin(self, question: str) -> None:
        """Starts computing `question`'s vector on a worker thread, so that it runs beside the
        retrieval embedder's encode (onnxruntime releases the GIL); `cosines` picks it up."""
        self.warm_up()
        with self._cache_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="qa-scorer")
            if question in self._pending:
                return
            self._pending[question] = self._pool.submit(lambda: self._encode([question])[0])
            while len(self._pending) > PENDING_SIZE:  # begun and never asked for: forget the oldest
                self._pending.popitem(last=False)

    def question_vector(self, question: str) -> np.ndarray:
        """The question's vector: the one `begin` started, else computed now."""
        with self._cache_lock:
            ahead = self._pending.pop(question, None)
        return ahead.result() if ahead is not None else self.encode([question])[0]

    def cosines(self, question: str, sentences: list[str], known: Sequence[np.ndarray | None] | None = None) -> np.ndarray:
        """Each sentence's cosine with the question; `known`: a vector for each sentence, or None
        where none is kept (those are computed, or taken from what this scorer remembers)."""
        q = self.question_vector(question)
        known = [None] * len(sentences) if known is None else known
        missing = [t for t, v in zip(sentences, known, strict=True) if v is None]
        found = iter(self.sentence_vectors(missing)) if missing else iter(())
        rows = [v if v is not None else next(found) for v in known]
        return np.vstack(rows) @ q if rows else np.zeros(0, np.float32)
