"""The ONNX export run by onnxruntime, with the model folder's own tokenizer: no torch, no transformers.

Tokenised as sentence-transformers does for this model (tokenizer.json, truncation at the model's
max_seq_length, padding to the longest text of a batch of 32, texts sorted by length), so its
vectors equal the torch path's within 1e-5 (tests/test_onnx.py).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import ModelError
from qa.models import export
from qa.models.bundled import CANARY, REINSTALL, VOCAB_SIZE, check_files

BATCH = 32
#: largest difference, in any coordinate, of the export's canary vector from the shipped one
CANARY_TOLERANCE = 1e-5
#: least cosine of the int8 copy's canary vector to the shipped (float) one: the copy gives 0.9925
#: (AVX512-VNNI); a wrong or broken graph far less
INT8_CANARY_COSINE = 0.98


def _session(model: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # the export is optimised once when it is built (qa.models.export): a load only maps it
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: no notes on stderr
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


class OnnxEncoder:
    """Encodes texts with one session of `threads` intra-op threads; `bulk()` adds one on every core.

    `bulk_model`, when given, names the model the bulk session runs instead (the int8 copy an index
    build embeds with), called on the first `bulk()`. `quantized`: `model` itself quantizes its
    activations per run (the int8 copy), so it reads one text a run too.
    """

    def __init__(self, model: Path, tokenizer: Any, threads: int = 1,
                 bulk_model: Callable[[], Path] | None = None, quantized: bool = False) -> None:
        self.threads = threads
        self._model = model  # for the bulk session; the caller has checked its files' SHA-256
        self._bulk_model = bulk_model
        self._quantized = quantized
        self._session = _session(model, threads)
        self._bulk: Any = None
        self._bulk_threads = threads
        self._bulk_owner: int | None = None
        self._bulk_lock = threading.Lock()
        self._tokenizer = tokenizer

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Every core for a batch job (building an index); answering keeps `threads`."""
        cores = max(self.threads, os.cpu_count() or 1)
        with self._bulk_lock:
            if self._bulk_model is not None:
                self._bulk = _session(self._bulk_model(), cores)
            else:
                self._bulk = _session(self._model, cores) if cores != self.threads else None
            self._bulk_threads, self._bulk_owner = cores, threading.get_ident()
            try:
                yield
            finally:
                self._bulk, self._bulk_threads, self._bulk_owner = None, self.threads, None

    @property
    def threads_in_use(self) -> int:
        """Intra-op threads of the session that an encode from this thread runs on now."""
        owner = self._bulk is not None and self._bulk_owner == threading.get_ident()
        return self._bulk_threads if owner else self.threads

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors in the order of `texts`; safe to call from many threads.

        Only the thread inside `bulk()` encodes with the bulk session: a question asked meanwhile
        from another thread (a server answering while it indexes an upload) keeps its own session
        and its one thread."""
        bulk = self._bulk
        session = bulk if bulk is not None and self._bulk_owner == threading.get_ident() else self._session
        # the int8 copy quantizes its activations with one scale per batch, so a text's vector would
        # depend on its neighbours: it reads one text at a time (as fast there: no padding)
        quantized = self._bulk_model is not None if session is bulk else self._quantized
        batch = 1 if quantized else BATCH
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), 0), dtype=np.float32)
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
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


    def encode_with_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]
                          ) -> tuple[np.ndarray, list[list[np.ndarray | None]]] | None:
        """Each text's vector and, pooled from the same pass, a vector for each of its character
        `spans` (its sentences): the mean of the last layer's states of the tokens inside the span,
        L2-normalised, as the text's own vector is of all its tokens. A span past the model's
        length (cut off) gets None. None when this thread is not inside `bulk()` or the bulk model
        gives no token states (the float model): the caller embeds the spans alone.
        """
        bulk = self._bulk
        if bulk is None or self._bulk_owner != threading.get_ident() or self._bulk_model is None:
            return None
        vectors = np.zeros((len(texts), 0), dtype=np.float32)
        pooled: list[list[np.ndarray | None]] = []
        for row, (text, wanted) in enumerate(zip(texts, spans, strict=True)):
            e = self._tokenizer.encode(text)  # one text a run: see encode()
            feeds = {"input_ids": np.array([e.ids], dtype=np.int64),
                     "attention_mask": np.array([e.attention_mask], dtype=np.int64)}
            vector, states = bulk.run(None, feeds)
            if not vectors.shape[1]:
                vectors = np.zeros((len(texts), vector.shape[1]), dtype=np.float32)
            vectors[row] = vector[0]
            offsets = np.array(e.offsets, dtype=np.int64).reshape(-1, 2)
            real = ~np.array(e.special_tokens_mask, dtype=bool) & (offsets[:, 1] > offsets[:, 0])
            # where the model stopped reading when the text was longer than it reads
            cut = int(offsets[real, 1].max(initial=0)) if e.overflowing else len(text)
            mine: list[np.ndarray | None] = []
            for start, end in wanted:
                inside = real & (offsets[:, 0] >= start) & (offsets[:, 1] <= end)
                if not inside.any() or end > cut:
                    mine.append(None)  # cut off (or holds no token): embedded alone by the caller
                    continue
                mean = states[0][inside].mean(axis=0)
                norm = float(np.linalg.norm(mean))
                mine.append((mean / norm).astype(np.float32) if norm > 0 else None)
            pooled.append(mine)
        return vectors, pooled


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


def _export_fault(where: Path, record: dict[str, Any]) -> str:
    """What is wrong with the export's files: "" when each has the SHA-256 its record gives."""
    for name in export.FILES:
        if export.sha256_file(where / name) != record["files"][name]:
            return f"{where / name} is missing or damaged (checksum mismatch)"
    return ""


def _open_int8(where: Path, record: dict[str, Any], tok: Any, threads: int, checks: dict[str, Any] | None,
               warn: Callable[[str], None]) -> tuple[OnnxEncoder | None, str]:
    """The export's int8 copy as an encoder (`load_export`); None and what is wrong with the export
    when that is what the copy cannot be made from."""
    why = _export_fault(where, record)
    if why:
        return None, why
    try:
        path = int8_model(where, record, tok, checks, warn)
    except ModelError:
        _, why = _open(where, record, tok, 1, checks)
        if why:
            return None, why  # the export itself is wrong: built again, and the copy made from it
        raise  # the export is right and the copy made from it is not
    # each index build checks the copy again (cheap when untouched since: `_INT8_CHECKED`), as before
    bulk = functools.partial(int8_model, where, record, tok, checks, warn)
    try:
        return OnnxEncoder(path, tok, threads, bulk, quantized=True), ""
    except ImportError as e:
        raise ModelError(f"{e.name or 'onnxruntime'} is not installed; run scripts/setup") from e


def _open(where: Path, record: dict[str, Any], tok: Any, threads: int, checks: dict[str, Any] | None
          ) -> tuple[OnnxEncoder | None, str]:
    """The export as an encoder when its SHA-256 and canary hold, else None and what is wrong."""
    path = where / export.ONNX_FILE
    why = _export_fault(where, record)
    if why:
        return None, why
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


def int8_model(where: Path, record: dict[str, Any], tok: Any, checks: dict[str, Any] | None,
               warn: Callable[[str], None]) -> Path:
    """The checked int8 copy of the export in `where` (its SHA-256 and canary), made when missing or
    damaged; a copy that fails again after being made afresh is refused (ModelError)."""
    key = (str(where), tuple((checks or {}).get("canary") or ()))
    stamp = _stamp(where)
    if stamp is not None and _INT8_CHECKED.get(key) == stamp:
        return where / export.INT8_FILE  # checked already in this process, and untouched since
    int8, why = export.read_int8_record(where, record)
    for attempt in range(2):
        if int8 is not None:
            why = _int8_fault(where / export.INT8_FILE, int8, tok, checks)
            if not why:
                _INT8_CHECKED[key] = _stamp(where)
                return where / export.INT8_FILE
        if attempt:
            raise ModelError(f"the int8 copy of the model in {where} failed its self-check ({why}, after making "
                             f"it again); set QA_INDEX_INT8=0 to embed with the float model, or {REINSTALL}")
        if why != "missing":
            warn(f"the int8 copy of the model is not usable ({why}); making it again")
        refused = int8
        int8 = export.build_int8(where, record, refused=refused)
    raise AssertionError("unreachable")  # pragma: no cover


#: int8 copies checked in this process (folder, canary) -> their files' stamps then: each index
#: build (an upload, each refresh of a watched folder) need not hash its ~58 MB and run its canary again
_INT8_CHECKED: dict[tuple[str, tuple[float, ...]], tuple[tuple[int, ...], ...] | None] = {}


def _stamp(where: Path) -> tuple[tuple[int, ...], ...] | None:
    """Size, times and inode of the int8 copy and its record: any rewrite changes them."""
    try:
        return tuple((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                     for st in ((where / n).stat() for n in (*export.INT8_FILES, export.INT8_RECORD)))
    except OSError:
        return None


def _int8_fault(path: Path, int8: dict[str, Any], tok: Any, checks: dict[str, Any] | None) -> str:
    """What is wrong with the int8 copy at `path`: "" when its SHA-256 and canary hold."""
    for name in export.INT8_FILES:
        if export.sha256_file(path.with_name(name)) != int8["files"][name]:
            return f"{path.with_name(name)} is missing or damaged (checksum mismatch)"
    try:
        encoder = OnnxEncoder(path, tok, 1)
    except Exception as e:  # onnxruntime refuses the file
        return f"onnxruntime cannot load {path} ({type(e).__name__})"
    if checks:
        cosine = float(encoder.encode([CANARY])[0] @ np.asarray(checks["canary"], dtype=np.float32))
        if not cosine >= INT8_CANARY_COSINE:  # also catches NaN
            return f"its canary vector's cosine is {cosine:.4f}"
    return ""


def load_export(folder: Path, checks: dict[str, Any] | None, fingerprint: str, threads: int,
                warn: Callable[[str], None], int8: bool = False) -> tuple[OnnxEncoder, Path]:
    """The checked export of the model in `folder`, built (with torch) when missing or damaged.

    `checks` are the shipped hashes and canary (None: trust the files). The weights, which this
    path never reads, are hashed unless they are where, and of the size and time, they were when
    their export was built from them; every other file the tokenizer and settings come from is.
    With `int8`, the encoder runs the export's int8 copy (`int8_model`: made when missing, checked
    by its SHA-256 and canary) for questions and index builds alike, and never opens the float
    session: the export's SHA-256 is checked (the copy is made from it), and its own canary is run
    only when the copy fails, to tell a wrong export (built again) from a wrong copy.
    """
    check_files(folder, checks, tuple(n for n in (checks or {}).get("files", {}) if n != export.WEIGHTS))
    where = export.export_dir(fingerprint)
    record, why = export.read_record(where, fingerprint)
    if not (record and record.get("weights") == export.weights_stat(folder)):
        check_files(folder, checks, (export.WEIGHTS,))
    tok = tokenizer(folder)
    for attempt in range(2):
        if record is not None:
            encoder, why = (_open_int8(where, record, tok, threads, checks, warn) if int8
                            else _open(where, record, tok, threads, checks))
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
