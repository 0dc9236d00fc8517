"""The ONNX export run by onnxruntime, with the model folder's own tokenizer: no torch, no transformers.

Tokenised as sentence-transformers does for this model (tokenizer.json, truncation at the model's
max_seq_length, padding to the longest text of a batch of 32, texts sorted by length), so its
vectors equal the torch path's within 1e-5 (tests/test_onnx.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import ModelError
from qa.index import export
from qa.index.embeddings import CANARY, REINSTALL, VOCAB_SIZE, check_files

BATCH = 32
#: largest difference, in any coordinate, of the export's canary vector from the shipped one
CANARY_TOLERANCE = 1e-5


def _session(model: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # the export is optimised once when it is built (qa.index.export): a load only maps it
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: no notes on stderr
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


class OnnxEncoder:
    """Encodes texts with one session of `threads` intra-op threads; `bulk()` adds one on every core."""

    def __init__(self, model: Path, tokenizer: Any, threads: int = 1) -> None:
        self.threads = threads
        self._model = model  # for the bulk session; the caller has checked its files' SHA-256
        self._session = _session(model, threads)
        self._bulk: Any = None
        self._bulk_threads = threads
        self._bulk_lock = threading.Lock()
        self._tokenizer = tokenizer

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Every core for a batch job (building an index); answering keeps `threads`."""
        cores = max(self.threads, os.cpu_count() or 1)
        with self._bulk_lock:
            self._bulk = _session(self._model, cores) if cores != self.threads else None
            self._bulk_threads = cores
            try:
                yield
            finally:
                self._bulk, self._bulk_threads = None, self.threads

    @property
    def threads_in_use(self) -> int:
        """Intra-op threads of the session that encodes now."""
        return self._bulk_threads if self._bulk is not None else self.threads

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors in the order of `texts`; safe to call from many threads."""
        session = self._bulk or self._session
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), 0), dtype=np.float32)
        for start in range(0, len(order), BATCH):
            rows = order[start : start + BATCH]
            encoded = self._tokenizer.encode_batch([texts[i] for i in rows])
            feeds = {
                "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            }
            vectors = session.run(None, feeds)[0]
            if not out.shape[1]:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return out


def _max_length(folder: Path) -> int:
    try:
        return int(json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"the model in {folder} could not be loaded (sentence_bert_config.json); {REINSTALL}") from e


def tokenizer(folder: Path) -> Any:
    """The model folder's tokenizer.json, set up as sentence-transformers calls it, and self-checked."""
    try:
        from tokenizers import Tokenizer
    except ImportError as e:
        raise ModelError("tokenizers is not installed; run scripts/setup") from e
    max_length = _max_length(folder)
    try:
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as e:  # missing or not a tokenizer
        raise ModelError(f"the model in {folder} could not be loaded (tokenizer.json); {REINSTALL}") from e
    vocab = tok.get_vocab_size()
    if vocab != VOCAB_SIZE or tok.token_to_id("[PAD]") is None:
        raise ModelError(f"the model in {folder} failed its self-check (vocabulary {vocab}; expected {VOCAB_SIZE}); "
                         f"{REINSTALL}")
    tok.no_padding()
    tok.enable_truncation(max_length)
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")
    return tok


def _open(where: Path, record: dict[str, Any], tok: Any, threads: int,
          checks: dict[str, Any] | None) -> tuple[OnnxEncoder | None, str]:
    """The export as an encoder when its SHA-256 and canary hold, else None and what is wrong."""
    path = where / export.ONNX_FILE
    for name in export.FILES:
        if export.sha256_file(where / name) != record["files"][name]:
            return None, f"{where / name} is missing or damaged (checksum mismatch)"
    try:
        encoder = OnnxEncoder(path, tok, threads)
    except ImportError as e:
        raise ModelError(f"{e.name or 'onnxruntime'} is not installed; run scripts/setup") from e
    except Exception as e:  # onnxruntime refuses the file
        return None, f"onnxruntime cannot load {path} ({type(e).__name__})"
    if checks:
        diff = float(np.abs(encoder.encode([CANARY])[0] - np.asarray(checks["canary"], dtype=np.float32)).max())
        if not diff <= CANARY_TOLERANCE:  # also catches NaN
            return None, f"its canary vector is off by {diff:.2g}"
    return encoder, ""


def load_export(folder: Path, checks: dict[str, Any] | None, fingerprint: str, threads: int,
                warn: Callable[[str], None]) -> tuple[OnnxEncoder, Path]:
    """The checked export of the model in `folder`, built (with torch) when missing or damaged.

    `checks` are the shipped hashes and canary (None: trust the files). The weights, which this
    path never reads, are hashed unless they are where, and of the size and time, they were when
    their export was built from them; every other file the tokenizer and settings come from is.
    """
    check_files(folder, checks, tuple(n for n in (checks or {}).get("files", {}) if n != export.WEIGHTS))
    where = export.export_dir(fingerprint)
    record, why = export.read_record(where, fingerprint)
    if not (record and record.get("weights") == export.weights_stat(folder)):
        check_files(folder, checks, (export.WEIGHTS,))
    tok = tokenizer(folder)
    for attempt in range(2):
        if record is not None:
            encoder, why = _open(where, record, tok, threads, checks)
            if encoder is not None:
                return encoder, where / export.ONNX_FILE
        if attempt:
            raise ModelError(f"the model in {folder} failed its self-check through its ONNX export in {where} "
                             f"({why}, after building it again); {REINSTALL}")
        if why == "missing":
            warn(f"building the ONNX export of the model (once) into {where}")
        else:
            warn(f"the ONNX export of the model is not usable ({why}); building it again")
        check_files(folder, checks, (export.WEIGHTS,))  # never export weights that were not verified
        export.build(folder, fingerprint, _max_length(folder), refused=record)
        record, why = export.read_record(where, fingerprint)
    raise AssertionError("unreachable")  # pragma: no cover
