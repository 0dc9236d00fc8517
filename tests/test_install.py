"""qa installed as a tool: the wheel holds the package and nothing else, and, installed with pip into
a fresh virtual environment outside the checkout, `qa` answers from the per-user folder, offline.

The wheel is built from a copy of the checkout's files (what `git ls-files` names, untracked work
included), so building writes nothing into the repository. Installing takes a few minutes: torch's
CPU wheel comes from the machine's disk, the rest from pip's cache or the package index. pip runs
without the test network guard (it is the one process here allowed the registry); the installed
`qa` runs with it, which proves the installed tool never leaves loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from benchmarks.install import build_wheel, fresh_venv
from tests.conftest import ARTICLE, NETGUARD, ROOT, TREATY

#: every file the wheel may hold besides Python modules, and where
DATA = {
    "qa/py.typed", "qa/models/model_check.json", "qa/serve/page.js", "qa/serve/page.css",
    f"qa/example/{ARTICLE.name}",
    *(f"qa/models/{m}_model/{f}" for m in ("scorer", "reader", "span")
      for f in ("MODEL_CARD.md", "model.onnx", "tokenizer.json", f"{m}.json")),
    *(f"qa/models/abstain_model/{f}" for f in ("MODEL_CARD.md", "abstain.json", "weights.json")),
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel --no-deps` on a copy of the checkout's files (benchmarks.install builds it the same way)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the files a wheel is built from are what git names")
    return build_wheel(ROOT, tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_the_package_and_nothing_else(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        entry_points = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
        example = z.read(f"qa/example/{ARTICLE.name}")
    files = [n for n in names if ".dist-info/" not in n]
    assert all(PurePosixPath(n).parts[0] == "qa" for n in files), [n for n in files if not n.startswith("qa/")]
    assert sorted(n for n in files if not n.endswith(".py")) == sorted(DATA)
    modules = {n for n in files if n.endswith(".py")}
    assert modules == {p.relative_to(ROOT).as_posix() for p in (ROOT / "qa").rglob("*.py")}
    assert "qa = qa.cli:main" in entry_points
    assert example == ARTICLE.read_bytes()


@pytest.mark.slow
def test_installed_with_pip_in_a_fresh_venv_qa_answers_offline_from_the_per_user_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    # python -m venv, pip install --no-compile WHEEL (what is installed, less pip's byte-compiling of
    # ~20,000 modules: a minute and a half of this test); pip runs without the guard
    seconds = fresh_venv(venv, str(wheel), byte_compile=False)
    print(f"installed into a fresh venv in {seconds:.0f} s")

    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_DATA_HOME", "QA_HOME", "QA_CORPUS", "QA_INDEX")}
    env.update(HOME=str(home), PYTHONPATH=str(NETGUARD), QA_TEST_NETGUARD="1")  # the guard on, nothing else

    def installed(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=work, env=env)

    # the guard is loaded by the installed interpreter, and qa is the installed package, not the checkout
    probe = installed(str(venv / "bin" / "python"), "-c",
                      "import socket, qa\nprint(qa.__file__)\ntry:\n socket.create_connection(('192.0.2.1', 80), 3)\n"
                      "except OSError as e:\n print('blocked', e.errno)")
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines()[0].startswith(str(venv))
    assert "blocked" in probe.stdout

    user = home / ".local" / "share" / "qa"
    where = installed(str(venv / "bin" / "qa"), "where", "--json")
    assert where.returncode == 0, where.stderr
    found = json.loads(where.stdout)
    assert found["corpus"] == {"path": str(user / "corpus"), "source": "user",
                               "why": "per-user folder: no ./corpus here", "exists": False}
    assert found["index"]["path"] == str(user / "index")
    assert found["model_cache"]["path"] == str(Path(os.environ["QA_MODEL_CACHE"]).expanduser().absolute())

    asked = installed(str(venv / "bin" / "qa"), "ask", "--json", TREATY)
    assert asked.returncode == 0, asked.stderr
    assert "qa tests: blocked" not in asked.stderr  # it never tried to leave loopback
    answer = json.loads(asked.stdout)["answer"]
    citation = answer["citation"]
    assert citation["doc"] == f"corpus/{ARTICLE.name}"
    cited = (user / "corpus" / ARTICLE.name).read_text(encoding="utf-8")[citation["start"]:citation["end"]]
    assert "Treaty on Friendship" in cited and "1961" in cited
    assert (user / "corpus" / ARTICLE.name).read_bytes() == ARTICLE.read_bytes()
    assert (user / "index" / "CURRENT").is_file()
    assert list(work.iterdir()) == []  # nothing written where it ran
