"""Where qa keeps things (the corpus, the index, the model cache) and why each is there.

    corpus       --corpus DIR, else $QA_CORPUS, else ./corpus when the current folder has one (as in
                 a checkout), else the per-user folder: $XDG_DATA_HOME/qa/corpus, by default
                 ~/.local/share/qa/corpus (platformdirs; the platform's own folder on macOS and
                 Windows), filled with the example article on first use
    index        --index DIR, else $QA_INDEX, else ./index when the current folder has ./corpus,
                 else the per-user folder's index/ for its corpus, and for any other corpus
                 (--corpus DIR) a folder of its own there, indexes/NAME-HASH, so two corpora
                 never rebuild each other's index
    model cache  $QA_MODEL_CACHE, else $QA_HOME/models, else ~/.qa/models (qa.models.export)

Working these out writes nothing; `seed` is the one writer, and only into a per-user corpus folder
that does not exist yet.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.disk import fsync_dir as _fsync_dir
from qa.errors import CorpusError

#: the example document shipped inside the package (the article; tests check it matches corpus/)
EXAMPLE = Path(__file__).resolve().parent / "example"
APP = "qa"
NO_LOCAL_CORPUS = "per-user folder: no ./corpus here"
LOCAL_CORPUS = "./corpus in the current folder"


@dataclass(frozen=True)
class Place:
    """One folder qa uses and why that one (`qa where`). `source` is "flag", "env", "cwd" (./corpus
    in the current folder), "user" (the per-user folder) or "default" (~/.qa)."""

    name: str
    path: Path
    source: str
    why: str

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path.absolute()), "source": self.source, "why": self.why,
                "exists": self.path.is_dir()}

    def line(self) -> str:
        why = self.why
        if self.source == "user" and self.name == "corpus" and not self.path.exists():
            why += "; the example article is put there on first use"
        return f"{self.name:<11}  {self.path.absolute()}  ({why})"


def home() -> Path:
    """Where qa keeps its own files: $QA_HOME, by default ~/.qa (the model's ONNX export, temp files)."""
    return Path(os.environ.get("QA_HOME") or Path.home() / ".qa").expanduser().absolute()


def data_home() -> Path:
    """The per-user data folder: $XDG_DATA_HOME/qa, by default ~/.local/share/qa on Linux."""
    from platformdirs import user_data_path

    return user_data_path(APP, appauthor=False).expanduser().absolute()


def _env(name: str) -> str | None:
    value = os.environ.get(name, "")
    return value if value.strip() else None


def _local_corpus() -> bool:
    return Path("corpus").is_dir()


def corpus(flag: str | Path | None = None) -> Place:
    """The corpus folder: the flag, $QA_CORPUS, ./corpus, or the per-user folder, first found."""
    if flag is not None:
        return Place("corpus", Path(flag), "flag", "--corpus")
    if (value := _env("QA_CORPUS")) is not None:
        return Place("corpus", Path(value), "env", "$QA_CORPUS")
    if _local_corpus():
        return Place("corpus", Path("corpus"), "cwd", LOCAL_CORPUS)
    return Place("corpus", data_home() / "corpus", "user", NO_LOCAL_CORPUS)


def index(flag: str | Path | None = None, corpus_dir: str | Path | None = None) -> Place:
    """The index folder: the flag, $QA_INDEX, ./index beside ./corpus, or the per-user folder's:
    index/ for the per-user corpus, indexes/NAME-HASH for any other `corpus_dir` (by its absolute
    path), so each corpus keeps its own."""
    if flag is not None:
        return Place("index", Path(flag), "flag", "--index")
    if (value := _env("QA_INDEX")) is not None:
        return Place("index", Path(value), "env", "$QA_INDEX")
    if _local_corpus():
        return Place("index", Path("index"), "cwd", LOCAL_CORPUS)
    if corpus_dir is None or _same(Path(corpus_dir), data_home() / "corpus"):
        return Place("index", data_home() / "index", "user", NO_LOCAL_CORPUS)
    folder = Path(corpus_dir).expanduser().absolute()
    tag = hashlib.sha256(str(folder).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in folder.name)[:40] or "corpus"
    return Place("index", data_home() / "indexes" / f"{name}-{tag}", "user",
                 f"{NO_LOCAL_CORPUS}; the per-user index of {folder}")


def model_cache() -> Place:
    """Where the model's ONNX export is built and kept (qa.models.export)."""
    if (value := _env("QA_MODEL_CACHE")) is not None:
        return Place("model cache", Path(value).expanduser().absolute(), "env", "$QA_MODEL_CACHE")
    if _env("QA_HOME") is not None:
        return Place("model cache", home() / "models", "env", "$QA_HOME/models")
    return Place("model cache", home() / "models", "default", "default: ~/.qa/models")


def where(corpus_flag: str | Path | None = None, index_flag: str | Path | None = None) -> list[Place]:
    found = corpus(corpus_flag)
    return [found, index(index_flag, found.path), model_cache()]


def _same(a: Path, b: Path) -> bool:
    return a.expanduser().resolve() == b.expanduser().resolve()


def seed(folder: Path) -> bool:
    """Fills the per-user corpus folder with the example article when it does not exist yet (qa's
    first use outside a checkout); any other folder, or one that exists, is left alone. True when
    it did. The files are written into a temporary folder beside it, synced, and the folder renamed
    into place, so the corpus is either absent or complete; a second process racing this one keeps
    whichever folder arrived first. Like the XDG data folder it lives in, it is the user's alone (0700)."""
    folder = Path(folder)
    if folder.exists() or not _same(folder, data_home() / "corpus"):
        return False
    target = folder.expanduser().absolute()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", suffix=".tmp", dir=target.parent))
        try:
            for source in sorted(EXAMPLE.iterdir()):
                if source.is_file() and not source.name.startswith("."):
                    with source.open("rb") as src, (tmp / source.name).open("xb") as dst:
                        shutil.copyfileobj(src, dst)
                        dst.flush()
                        os.fsync(dst.fileno())
            _fsync_dir(tmp)
            try:
                os.rename(tmp, target)
            except OSError:
                if target.is_dir() and any(target.iterdir()):
                    return False  # another process seeded it first
                raise
            _fsync_dir(target.parent)
        finally:
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp)  # gone already after a successful rename
    except OSError as e:
        raise CorpusError(f"cannot create the corpus folder {target}: {e.strerror or e}") from e
    return True
