"""qa installed as a tool: the wheel holds the package and nothing else, every library qa imports is
one it declares, and, installed with pip into a fresh virtual environment outside the checkout,
`qa` answers from the per-user folder, offline.

The wheel is built from a copy of the checkout's files (what `git ls-files` names, untracked work
included), so building writes nothing into the repository. The fresh venv gets qa's dependencies
as this checkout's venv has them (scripts/setup installed them from the registries, from the
project's own files: CI proves that on a clean machine), each linked in, and pip installs the wheel
with `--no-index`: it resolves the wheel's requirements against them, and a requirement they do not
satisfy fails the install rather than fetch anything. A full install from the index takes minutes,
nearly all of it pip resolving and unpacking torch and the rest again; `benchmarks/install.py` times
that. The installed `qa` runs with the test network guard, which proves it never leaves loopback.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from benchmarks.install import build_wheel, pip_env
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


def test_every_library_qa_imports_is_one_it_declares():
    """Each third-party module imported anywhere in qa/ belongs to a distribution pyproject.toml
    names: the base dependencies, or, for the training scripts only, the dev extra's (a library that
    only arrives with another one would vanish from an install when that one stops needing it)."""
    from importlib.metadata import packages_distributions, requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    base, dev = set(), set()
    for line in requires("qa") or []:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            base.add(canonicalize_name(req.name))
        elif req.marker.evaluate({"extra": "dev"}):
            dev.add(canonicalize_name(req.name))
    owners = packages_distributions()
    undeclared = []
    for path in sorted((ROOT / "qa").rglob("*.py")):
        allowed = base | dev if "training" in path.relative_to(ROOT / "qa").parts else base
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for top in {m.split(".")[0] for m in modules} - {"qa"} - set(sys.stdlib_module_names):
                if not {canonicalize_name(d) for d in owners.get(top, [])} & allowed:
                    undeclared.append(f"{path.relative_to(ROOT)}: {top}")
    assert undeclared == []


#: what of this checkout's venv the fresh one does not link: qa itself (the editable install of the
#: checkout, its finder and metadata), startup hooks and byte-code folders
NOT_LINKED = re.compile(r"qa([-.].*)?|__editable__.*|.*\.pth|__pycache__")


def linked_venv(venv: Path) -> None:
    """`python -m venv --without-pip` at `venv`, with every distribution of this checkout's venv but
    qa (pip and its build tools included) linked into its site-packages: symbolic links, so nothing
    is copied, and nothing there is written (pip below has nowhere to fetch an upgrade from)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300, env=pip_env())
    here = Path(sysconfig.get_paths()["purelib"])
    (site,) = (venv / "lib").glob("python3*/site-packages")
    for entry in here.iterdir():
        if not NOT_LINKED.fullmatch(entry.name):
            (site / entry.name).symlink_to(entry)


@pytest.mark.slow
def test_installed_with_pip_in_a_fresh_venv_qa_answers_offline_from_the_per_user_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    linked_venv(venv)
    # pip resolves the wheel's requirements against the linked distributions, with no index and no
    # other place to look (the machine's pip configuration and its find-links left out): one they
    # do not satisfy fails here, and pip can never upgrade (uninstall) a linked one
    alone = {k: v for k, v in pip_env().items() if not k.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index", "--no-compile",
                           str(wheel)], capture_output=True, text=True, timeout=600, env=alone)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Successfully installed qa-" in done.stdout
    assert not re.search(r"^\s*(Collecting|Downloading|Uninstalling)\b(?! qa)", done.stdout, re.M), done.stdout

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
