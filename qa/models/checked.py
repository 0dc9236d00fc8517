"""A model folder trained in this project, opened and checked before it is trusted.

The scorer (`qa.models.scorer`) and the reader (`qa.models.reader`) each ship as a folder: int8
ONNX weights, their tokenizer, a check file (the SHA-256 of each file, a canary, the calibration)
and a model card. `CheckedModel` opens one lazily, once per process while its files are
unchanged, checks every file and the canary, and refuses a missing or damaged one in one line
that says how to restore it; never a silent fallback.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from qa.errors import ModelError
from qa.models import wordpieces
from qa.models.bundled import sha256

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


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


def remember(cache: OrderedDict[Any, Any], items: Iterable[tuple[Any, Any]], limit: int) -> None:
    """Adds `items` to a cache kept in insertion order and drops the oldest entries past `limit`;
    the caller holds the model's `_cache_lock`."""
    cache.update(items)
    while len(cache) > limit:
        cache.popitem(last=False)


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
    default_folder: Path
    folder_env = ""
    restore = ""
    #: its check file, the canary's recorded figure there, and how far the canary may stray
    check_file = ""
    canary_figure = "cosine"
    canary_tolerance = 0.0

    def __init__(self, folder: Path | str | None = None, threads: int = 1, verify: bool = True) -> None:
        self.folder = Path(folder or os.environ.get(self.folder_env) or self.default_folder).absolute()
        self.threads = threads
        self.verify = verify
        self._lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self.card: dict[str, Any] = {}
        # at most one run a core at once: more cannot run faster, and each one running keeps its own
        # buffers in onnxruntime's arena (a server at 16 clients peaked 5 MiB higher without this)
        self._runs = threading.BoundedSemaphore(cores())
        #: one question's runs (`side_by_side`) go on as many threads as there are cores for them
        self.side_by_side = max(1, cores() // max(1, threads))
        self._side_pool: ThreadPoolExecutor | None = None

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

    def _side_by_side(self, run: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """`run` of each item, in order, the items side by side on `side_by_side` threads (lazily
        made, the model's own): for runs that depend on nothing but their own item (each input read
        alone), so the figures are those of one after another. About 1.8x as fast on two idle cores;
        busy cores gain nothing and lose nothing, as long as `run` holds `_runs` while it computes
        (it bounds the runs going on at once in the whole process, whoever asks)."""
        if len(items) < 2 or self.side_by_side < 2:
            return [run(item) for item in items]
        return list(self._threads().map(run, items))

    def _threads(self) -> ThreadPoolExecutor:
        """The model's own threads for its runs side by side, `side_by_side` of them, made on first use."""
        with self._cache_lock:
            if self._side_pool is None:
                self._side_pool = ThreadPoolExecutor(max_workers=self.side_by_side,
                                                     thread_name_prefix=f"qa-{type(self).__name__.lower()}")
            return self._side_pool

    def _canary(self, question: str, sentence: str) -> float:
        """The model's figure for the canary pair, to compare with the one its training recorded."""
        raise NotImplementedError

    def probability(self, figures: np.ndarray) -> np.ndarray:
        """Calibrated P(the sentence answers the question), from held-out training questions."""
        self.warm_up()
        a, b = self._ab
        return logistic(np.asarray(figures, dtype=np.float32), a, b)
