"""The answer scorer: does this sentence answer the question? A calibrated probability, 0..1.

A copy of the bundled all-MiniLM-L6-v2 fine-tuned in this project on SQuAD training questions
(`scripts/train_scorer.py`, which writes `scorer_model/`: the int8 ONNX weights, the tokenizer, a
model card and `scorer.json` with the SHA-256 of each file, a canary and the calibration). It
reads the question and each candidate sentence separately (a bi-encoder), so a sentence's vector is
computed once and remembered, and a question costs one short forward pass. It runs on onnxruntime
and never imports torch. Loaded once, lazily, and checked like the embedder: a missing or damaged
file is refused with one line, never replaced by a silent fallback.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from qa.answer import wordpieces
from qa.errors import ModelError
from qa.index.embeddings import _sha256 as sha256

MODEL_FOLDER = Path(__file__).with_name("scorer_model")
CHECK_FILE = "scorer.json"
RESTORE = "restore qa/answer/scorer_model (git checkout -- qa/answer/scorer_model) or rerun scripts/train_scorer.py"
#: environment variable naming another scorer folder (tests, relocated installs)
SCORER_DIR_ENV = "QA_SCORER_DIR"
#: sentence vectors remembered per process (a sentence of 384 float32 costs 1.5 kB)
CACHE_SIZE = 50_000
#: questions whose vectors are being computed ahead (`begin`) and not yet used
PENDING_SIZE = 64
#: how far the canary cosine may stray: int8 kernels differ between CPUs (AVX2 against AVX-512 VNNI
#: moved it by 0.0045); damaged or swapped weights move it far more, and the SHA-256 catches edits
CANARY_TOLERANCE = 0.02


def logistic(x: np.ndarray, a: float, b: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(a * x + b)))


def open_checked(folder: Path, check_file: str, threads: int, verify: bool, refuse: Any) -> tuple[dict[str, Any], Any, Any]:
    """Reads `check_file` in `folder`, checks each file it lists (present; SHA-256 when `verify`),
    and opens the tokenizer and the onnxruntime session; `refuse(what)` makes the error raised."""
    check = folder / check_file
    try:
        card = json.loads(check.read_text(encoding="utf-8"))
        files = dict(card["files"])
    except FileNotFoundError:
        raise refuse(f"is missing ({check_file} not found)") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise refuse(f"is damaged ({check_file} unreadable: {type(e).__name__})") from None
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise refuse(f"is missing a file ({name})")
        if verify and sha256(path) != expected:
            raise refuse(f"has changed or damaged files ({name})")
    try:
        import onnxruntime as ort

        tokenizer = wordpieces.shared(folder / "tokenizer.json")  # each model cuts its own inputs
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # any loader failure means damaged files
        raise refuse(f"could not be loaded ({type(e).__name__})") from None
    return card, tokenizer, session


def _signature(folder: Path, check_file: str) -> tuple[tuple[str, int, int, int, int], ...] | None:
    """What each file of a model folder is on disk now (size, modification and change times, inode),
    or None when its check file cannot be read (loading then says why)."""
    try:
        names = [check_file, *json.loads((folder / check_file).read_text(encoding="utf-8"))["files"]]
        stats = [(name, (folder / name).stat()) for name in names]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return tuple((name, s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino) for name, s in stats)


#: models already loaded and checked in this process, by (kind, folder, threads, verify): the files'
#: signature when they were checked and what loading made of them, lent to the next instance that
#: asks for the same folder while its files are unchanged (one session, one copy of the weights,
#: for every Assistant of a process; a changed, added or removed file is loaded and checked again)
_LOADED: dict[tuple[str, Path, int, bool], tuple[Any, tuple[Any, ...]]] = {}
_LOADED_LOCK = threading.Lock()


class CheckedModel:
    """A model folder trained here (the scorer, the reader): loaded once, lazily, on first use or
    `warm_up`, and checked by `_load` (its files, then its canary, by `_canary`); a refusal names the
    folder and how to restore it. Instances of one folder in one process share the loaded model
    while its files are unchanged (`_LOADED`)."""

    #: what a refusal calls it, the folder by default, the variable naming another, how to restore
    label = "model"
    default_folder = MODEL_FOLDER
    folder_env = ""
    restore = ""
    #: its check file, the canary's recorded figure there, and how far the canary may stray
    check_file = CHECK_FILE
    canary_figure = "cosine"
    canary_tolerance = CANARY_TOLERANCE

    def __init__(self, folder: Path | str | None = None, threads: int = 1, verify: bool = True) -> None:
        self.folder = Path(folder or os.environ.get(self.folder_env) or self.default_folder).absolute()
        self.threads = threads
        self.verify = verify
        self._lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self.card: dict[str, Any] = {}

    def warm_up(self) -> None:
        """Loads and checks the model (once); later calls return at once."""
        if self._session is not None:
            return
        with self._lock:
            if self._session is None:
                self._load()

    def _refuse(self, what: str) -> ModelError:
        return ModelError(f"the {self.label} in {self.folder} {what}; {self.restore}")

    def _load(self) -> None:
        key = (type(self).__name__, self.folder, self.threads, self.verify)
        signature = _signature(self.folder, self.check_file)
        with _LOADED_LOCK:
            seen, parts = _LOADED.get(key, (None, ()))
        if signature is not None and seen == signature:
            self._tokenizer, self._inputs, self._max_length, self._session, self.card, self._ab = parts
            return
        self._load_checked()
        if signature is not None and signature == _signature(self.folder, self.check_file):
            with _LOADED_LOCK:
                _LOADED[key] = (signature, (self._tokenizer, self._inputs, self._max_length, self._session,
                                            self.card, self._ab))

    def _load_checked(self) -> None:
        """Opens the folder, checks its files and its canary."""
        card, tokenizer, session = open_checked(self.folder, self.check_file, self.threads, self.verify, self._refuse)
        try:
            a, b = float(card["calibration"]["a"]), float(card["calibration"]["b"])
            canary = card["canary"]
            question, sentence, expected = canary["question"], canary["sentence"], float(canary[self.canary_figure])
        except (ValueError, KeyError, TypeError) as e:
            raise self._refuse(f"is damaged ({self.check_file} unreadable: {type(e).__name__})") from None
        self._tokenizer, self._inputs = tokenizer, {i.name for i in session.get_inputs()}
        self._max_length = int(card.get("max_seq_length", 128))
        self._session, self.card, self._ab = session, card, (a, b)
        if self.verify:
            got = self._canary(question, sentence)
            if not abs(got - expected) <= self.canary_tolerance:  # also catches NaN
                self._session = None
                raise self._refuse(f"failed its self-check (canary {self.canary_figure} {got:.4f}, expected {expected:.4f})")

    def _canary(self, question: str, sentence: str) -> float:
        """The model's figure for the canary pair, to compare with the one its training recorded."""
        raise NotImplementedError

    def probability(self, figures: np.ndarray) -> np.ndarray:
        """Calibrated P(the sentence answers the question), from held-out training questions."""
        self.warm_up()
        a, b = self._ab
        return logistic(np.asarray(figures, dtype=np.float32), a, b)


class Scorer(CheckedModel):
    """The shipped scorer (or another folder written by scripts/train_scorer.py)."""

    label, folder_env, restore = "answer scorer", SCORER_DIR_ENV, RESTORE

    def __init__(self, folder: Path | str | None = None, threads: int = 1, verify: bool = True) -> None:
        super().__init__(folder, threads, verify)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._pending: OrderedDict[str, Future[np.ndarray]] = OrderedDict()
        self._pool: ThreadPoolExecutor | None = None

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
                self._cache.update(zip(missing, fresh, strict=True))
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
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

    def cosines(self, question: str, sentences: list[str]) -> np.ndarray:
        q = self.question_vector(question)
        return self.sentence_vectors(sentences) @ q
