"""The abstention model: from what the answer step knows about a question (`qa.answer.abstain`),
the probability that the documents answer it at all, and the probability that the quote is right.

Two logistic regressions over the same standardised figures, fitted in this project on training
material only (`qa/models/training/abstain.py`, which writes `abstain_model/`: `weights.json`, the
check file `abstain.json` with its SHA-256, a canary and the training record, and a model card). The
answer step abstains when the first is under the threshold stored with them; the second is the
confidence shown with an answer. Loaded once a process while its files are unchanged, checked like
the other models: a missing, damaged or out-of-date file is refused in one line, never replaced by a
silent fallback.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import ModelError
from qa.models.bundled import sha256

MODEL_FOLDER = Path(__file__).with_name("abstain_model")
CHECK_FILE = "abstain.json"
WEIGHTS_FILE = "weights.json"
RESTORE = ("restore qa/models/abstain_model (git checkout -- qa/models/abstain_model) or rerun "
           "python -m qa.models.training.abstain")
#: environment variable naming another folder (tests, relocated installs)
ABSTAIN_DIR_ENV = "QA_ABSTAIN_DIR"
#: how far the canary's probabilities may stray (float64 arithmetic: only damage moves them)
CANARY_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Verdict:
    answerable: float  # P(the documents answer the question)
    confidence: float  # P(the quote is right)
    abstain: bool  # answerable < the model's threshold


def _logistic(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-np.clip(x, -50.0, 50.0))))


class Abstainer:
    """The shipped abstention model, or another folder written by the training script."""

    def __init__(self, folder: Path | str | None = None, verify: bool = True) -> None:
        self.folder = Path(folder or os.environ.get(ABSTAIN_DIR_ENV) or MODEL_FOLDER).absolute()
        self.verify = verify
        self.card: dict[str, Any] = {}
        self.features: tuple[str, ...] = ()
        self._weights: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def _refuse(self, what: str) -> ModelError:
        return ModelError(f"the abstention model in {self.folder} {what}; {RESTORE}")

    def warm_up(self) -> None:
        if self._weights is None:
            with self._lock:
                if self._weights is None:
                    self._load()

    def _load(self) -> None:
        try:
            card = json.loads((self.folder / CHECK_FILE).read_text(encoding="utf-8"))
            expected = card["files"][WEIGHTS_FILE]
        except FileNotFoundError:
            raise self._refuse(f"is missing ({CHECK_FILE} not found)") from None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise self._refuse(f"is damaged ({CHECK_FILE} unreadable: {type(e).__name__})") from None
        path = self.folder / WEIGHTS_FILE
        if not path.is_file():
            raise self._refuse(f"is missing a file ({WEIGHTS_FILE})")
        if self.verify and sha256(path) != expected:
            raise self._refuse(f"has changed or damaged files ({WEIGHTS_FILE})")
        try:
            w = json.loads(path.read_text(encoding="utf-8"))
            vectors = {name: np.asarray(v, dtype=np.float64).reshape(-1) for name, v in
                       (("mean", w["mean"]), ("scale", w["scale"]), ("answerable", w["answerable"]["coef"]),
                        ("confidence", w["confidence"]["coef"]))}
            parts: dict[str, Any] = {"mean": vectors["mean"], "scale": vectors["scale"], "threshold": float(w["threshold"])}
            for head in ("answerable", "confidence"):
                parts[head] = (vectors[head], float(w[head]["intercept"]))
            features = tuple(str(f) for f in w["features"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise self._refuse(f"is damaged ({WEIGHTS_FILE} unreadable: {type(e).__name__})") from None
        if any(len(v) != len(features) for v in vectors.values()) or not np.all(vectors["scale"] > 0):
            raise self._refuse(f"is damaged ({WEIGHTS_FILE}: wrong number of weights)")
        self._weights, self.features, self.card = parts, features, card
        if self.verify:
            try:
                canary = card["canary"]
                got = self.judge(canary["signals"])
                ok = (abs(got.answerable - float(canary["answerable"])) <= CANARY_TOLERANCE
                      and abs(got.confidence - float(canary["confidence"])) <= CANARY_TOLERANCE)
            except (ValueError, KeyError, TypeError):
                ok = False
            if not ok:
                self._weights = None
                raise self._refuse("failed its self-check (canary)")

    @property
    def threshold(self) -> float:
        self.warm_up()
        assert self._weights is not None
        return float(self._weights["threshold"])

    def judge(self, signals: Mapping[str, float]) -> Verdict:
        """The verdict on one question's figures (`qa.answer.abstain.signals`, by name); a figure the
        model reads and `signals` lacks means it was fitted for another answer step: refused."""
        self.warm_up()
        w = self._weights
        assert w is not None
        missing = [f for f in self.features if f not in signals]
        if missing:
            raise self._refuse(f"reads figures the answer step does not compute ({', '.join(missing[:3])})")
        x = (np.array([float(signals[f]) for f in self.features], dtype=np.float64) - w["mean"]) / w["scale"]
        answerable = _logistic(float(x @ w["answerable"][0] + w["answerable"][1]))
        confidence = _logistic(float(x @ w["confidence"][0] + w["confidence"][1]))
        return Verdict(answerable, confidence, answerable < w["threshold"])


_SHIPPED: dict[Path, tuple[tuple[Any, ...] | None, Abstainer]] = {}
_SHIPPED_LOCK = threading.Lock()


def _signature(folder: Path) -> tuple[Any, ...] | None:
    try:
        stats = [(folder / n).stat() for n in (CHECK_FILE, WEIGHTS_FILE)]
    except OSError:
        return None
    return tuple((s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino) for s in stats)


def shipped() -> Abstainer:
    """The model of $QA_ABSTAIN_DIR, else the shipped one: loaded and checked once a process while
    its files are unchanged (a changed file is checked again)."""
    folder = Path(os.environ.get(ABSTAIN_DIR_ENV) or MODEL_FOLDER).absolute()
    signature = _signature(folder)
    with _SHIPPED_LOCK:
        seen, model = _SHIPPED.get(folder, (None, None))
        if model is None or signature is None or seen != signature:
            model = Abstainer(folder)
            model.warm_up()
            _SHIPPED[folder] = (signature, model)
    return model
