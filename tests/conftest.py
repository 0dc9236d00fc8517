"""Shared fixtures. Every data path points at tmp_path; tests never write into the repo."""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = ROOT / "corpus" / "china-and-north-korea-the-uneasy-partnership.txt"
SHARED = ROOT.parent / "shared"


def needs_shared(relative: str) -> pytest.MarkDecorator:
    """Skip unless ../shared/`relative` is beside the repository: the benchmarks, training data and
    seed article live there, and a clone of the repository alone has none of them."""
    return pytest.mark.skipif(not (SHARED / relative).exists(),
                              reason=f"needs ../shared/{relative} beside the repository (a clone alone has none)")


#: a question about the article that every interface must answer
TREATY = "What treaty did China and North Korea sign in 1961?"

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# The model's ONNX export is built once per run into a temporary cache that every subprocess shares
# (export QA_MODEL_CACHE to keep one between runs); tests never write into the user's ~/.qa.
if not os.environ.get("QA_MODEL_CACHE"):
    os.environ["QA_MODEL_CACHE"] = tempfile.mkdtemp(prefix="qa-model-cache-")
    atexit.register(shutil.rmtree, os.environ["QA_MODEL_CACHE"], True)

# Offline, proved: the whole suite runs with outbound connections blocked (loopback only), in this
# process and, through `sitecustomize` on PYTHONPATH, in every Python subprocess the tests start.
NETGUARD = Path(__file__).resolve().parent / "netguard"
os.environ["QA_TEST_NETGUARD"] = "1"
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [str(NETGUARD), os.environ.get("PYTHONPATH", "")] if p)
_spec = importlib.util.spec_from_file_location("qa_test_netguard", NETGUARD / "sitecustomize.py")
assert _spec and _spec.loader
netguard = importlib.util.module_from_spec(_spec)
sys.modules["qa_test_netguard"] = netguard
_spec.loader.exec_module(netguard)
netguard.install()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The order xdist hands whole files to the two workers (`--dist loadfile --no-loadscope-reorder`):
    the files holding a slow test first, each in the order collected, then the rest, most tests
    first. A long file that started last would leave the other worker idle until it ended."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    count: dict[Path, int] = {}
    for item in items:
        count[item.path] = count.get(item.path, 0) + 1
    first = {path: n for n, path in enumerate(dict.fromkeys(item.path for item in items))}
    items.sort(key=lambda item: (item.path not in slow, 0 if item.path in slow else -count[item.path],
                                 first[item.path]))  # stable: a file's tests keep their order


@pytest.fixture(scope="session")
def article_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus folder holding only the bundled article (a copy, so tests may not alter the repo)."""
    folder = tmp_path_factory.mktemp("article") / "corpus"
    folder.mkdir()
    shutil.copy(ARTICLE, folder / ARTICLE.name)
    return folder


@pytest.fixture(scope="session")
def embedder():
    """The real bundled model, loaded once for the whole run."""
    from qa.models.embedder import MiniLM

    model = MiniLM()
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def article_assistant(article_corpus: Path, embedder, tmp_path_factory: pytest.TempPathFactory):
    """An Assistant over the article with a real FAISS index on disk (built once per run)."""
    from qa import Assistant, Settings

    settings = Settings(corpus_dir=article_corpus, index_dir=tmp_path_factory.mktemp("article-index"))
    return Assistant(settings, embedder=embedder)


@pytest.fixture
def fake_embedder():
    from qa.models.embedder import FakeEmbedder

    return FakeEmbedder()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A fresh corpus folder holding a copy of the article, for tests that change it."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(ARTICLE, folder / ARTICLE.name)
    return folder


@pytest.fixture
def settings(corpus: Path, tmp_path: Path):
    """Settings for `corpus`, with the index in tmp_path."""
    from qa import Settings

    return Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
