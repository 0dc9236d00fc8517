"""Installing qa as a tool: the wheel, a fresh install, and the installed `qa`'s first questions; each
figure a median of repeated runs with its ratio to a baseline measured in the same run. Figures,
never pass/fail.

    .venv/bin/python -m benchmarks.install [--runs 3] [--install-runs 1] [--export-runs 1] [--json]

- wheel: `pip wheel --no-deps` on a copy of the checkout (as tests/test_install.py builds it): its
  size, against the package's files uncompressed, and the shipped ONNX models' share of it;
- install: `python -m venv` and `pip install WHEEL` into a fresh venv (torch's CPU wheel from the
  machine's disk, the rest from pip's cache or the index), against a fresh venv with
  `pip install torch==2.13.0` alone (its largest dependency), interleaved; the venv's size on disk;
- first questions: the installed `qa ask` in a folder without ./corpus and with a fresh HOME each
  time (so the per-user folder is seeded and its index built), against the checkout's own
  `.venv/bin/qa` doing exactly the same in the same state:
    cold    an empty model cache: the ONNX export is built first (--export-runs, default 1: ~1 min)
    first   the export ready: seeding, the index build, the answer
    second  everything ready: the answer alone
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
QUESTION = "What treaty did China and North Korea sign in 1961?"
TORCH = "torch==2.13.0"
#: the test suite's network guard must not reach pip (it is the one process allowed the registry)
GUARD_VARS = ("PYTHONPATH", "QA_TEST_NETGUARD")
#: where each run's qa finds its folders: only what the run itself sets
PLACE_VARS = ("QA_CORPUS", "QA_INDEX", "QA_HOME", "QA_MODEL_CACHE", "XDG_DATA_HOME")


def source_files(root: Path) -> list[str]:
    """The checkout's files as a clone (plus uncommitted work) has them: no venv, index or caches."""
    done = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                          cwd=root, capture_output=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"not a git checkout: {done.stderr.decode(errors='replace').strip()}")
    return [n for n in done.stdout.decode().split("\0") if n and (root / n).is_file()]


def pip_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in GUARD_VARS}


def build_wheel(root: Path, work: Path) -> Path:
    """`pip wheel --no-deps` on a copy of the checkout (nothing is written into it); the wheel."""
    src = work / "src"
    for name in source_files(root):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, src / name)
    out = work / "dist"
    done = subprocess.run([PY, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                           str(src)], capture_output=True, text=True, timeout=600, env=pip_env())
    if done.returncode != 0:
        raise RuntimeError(f"pip wheel failed: {(done.stdout + done.stderr)[-2000:]}")
    (wheel,) = out.glob("qa-*.whl")
    return wheel


def _timed(cmd: list[str], **kwargs: Any) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:5])} failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
    return wall


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _median(values: list[float]) -> float:
    return statistics.median(values)


def wheel_figures(wheel: Path) -> dict[str, Any]:
    import zipfile

    with zipfile.ZipFile(wheel) as z:
        infos = [i for i in z.infolist() if not i.is_dir()]
    unpacked = sum(i.file_size for i in infos)
    models = sum(i.compress_size for i in infos if i.filename.endswith(".onnx"))
    size = wheel.stat().st_size
    return {"wheel_mib": round(size / 2**20, 2), "files": len(infos), "unpacked_mib": round(unpacked / 2**20, 2),
            "wheel_over_unpacked": round(size / unpacked, 3), "onnx_models_share": round(models / size, 3)}


def fresh_venv(where: Path, *requirements: str) -> float:
    """Seconds to make a venv at `where` and pip install `requirements` into it."""
    t = time.perf_counter()
    _timed([PY, "-m", "venv", str(where)], timeout=600, env=pip_env())
    _timed([str(where / "bin" / "python"), "-m", "pip", "install", "-q", *requirements], timeout=1800, env=pip_env())
    return time.perf_counter() - t


def install_figures(wheel: Path, runs: int, work: Path) -> tuple[dict[str, Any], Path]:
    """Interleaved fresh installs of the wheel and of torch alone; returns the figures and one qa venv."""
    qa_s: list[float] = []
    torch_s: list[float] = []
    kept = work / "venv-qa-0"
    for n in range(runs):
        qa_venv = work / f"venv-qa-{n}"
        qa_s.append(fresh_venv(qa_venv, str(wheel)))
        torch_venv = work / f"venv-torch-{n}"
        torch_s.append(fresh_venv(torch_venv, TORCH))
        venv_mib = _size(qa_venv) / 2**20
        shutil.rmtree(torch_venv, ignore_errors=True)
        if n:
            shutil.rmtree(qa_venv, ignore_errors=True)
    return {"install_s": round(_median(qa_s), 1), "torch_alone_s": round(_median(torch_s), 1),
            "install_over_torch_alone": round(_median(qa_s) / _median(torch_s), 2),
            "venv_mib": round(venv_mib), "runs": runs}, kept


def asker(qa: Path) -> Callable[[Path, Path], float]:
    """A function timing one `qa ask` of `qa` (an entry-point script) with HOME and the model cache
    given, in an empty working folder beside HOME; it checks the answer cites the seeded article."""
    env = {k: v for k, v in pip_env().items() if k not in PLACE_VARS}

    def ask(home: Path, cache: Path) -> float:
        cwd = home.parent / f"{home.name}-cwd"
        cwd.mkdir(exist_ok=True)
        t = time.perf_counter()
        done = subprocess.run([str(qa), "ask", "--json", "-k", "1", QUESTION], capture_output=True, text=True,
                              timeout=1800, cwd=cwd, env={**env, "HOME": str(home), "QA_MODEL_CACHE": str(cache)})
        wall = time.perf_counter() - t
        if done.returncode != 0:
            raise RuntimeError(f"{qa} ask failed: {done.stderr[-2000:]}")
        citation = json.loads(done.stdout)["answer"]["citation"]
        corpus = home / ".local" / "share" / "qa" / "corpus"
        text = next(corpus.glob("*.txt")).read_text(encoding="utf-8")
        assert "1961" in text[citation["start"]:citation["end"]], citation
        return wall

    return ask


def question_figures(installed: Path, checkout: Path, runs: int, export_runs: int, work: Path) -> dict[str, Any]:
    tools = {"installed": asker(installed), "checkout": asker(checkout)}
    times: dict[str, dict[str, list[float]]] = {t: {"cold": [], "first": [], "second": []} for t in tools}
    caches = {t: work / f"cache-{t}" for t in tools}
    counter = iter(range(10**6))
    if not export_runs:  # the export is built once, untimed, before the first questions
        for tool, ask in tools.items():
            ask(work / f"home-{next(counter)}", caches[tool])
    for n in range(max(runs, export_runs)):
        for tool, ask in tools.items():  # interleaved, so a busy moment weighs on both alike
            if n < export_runs:
                shutil.rmtree(caches[tool], ignore_errors=True)
                times[tool]["cold"].append(ask(work / f"home-{next(counter)}", caches[tool]))
            if n < runs:
                home = work / f"home-{next(counter)}"
                times[tool]["first"].append(ask(home, caches[tool]))
                times[tool]["second"].append(ask(home, caches[tool]))
    out: dict[str, Any] = {}
    for stage in ("cold", "first", "second") if export_runs else ("first", "second"):
        a, b = _median(times["installed"][stage]), _median(times["checkout"][stage])
        out[stage] = {"installed_s": round(a, 2), "checkout_s": round(b, 2), "installed_over_checkout": round(a / b, 2)}
    out["runs"], out["export_runs"] = runs, export_runs
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="first and second questions per tool")
    ap.add_argument("--install-runs", type=int, default=1, help="fresh installs of each kind (minutes each)")
    ap.add_argument("--export-runs", type=int, default=1, help="cold questions per tool (each builds the export)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    checkout_qa = ROOT / ".venv" / "bin" / "qa"
    if not checkout_qa.exists():
        raise SystemExit(f"no {checkout_qa}: run scripts/setup first")
    work = Path(tempfile.mkdtemp(prefix="qa-install-"))
    try:
        t = time.perf_counter()
        wheel = build_wheel(ROOT, work)
        figures: dict[str, Any] = {"wheel": {**wheel_figures(wheel), "build_s": round(time.perf_counter() - t, 1)}}
        figures["install"], venv = install_figures(wheel, max(1, args.install_runs), work)
        figures["questions"] = question_figures(venv / "bin" / "qa", checkout_qa, max(1, args.runs),
                                                args.export_runs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(figures))
    else:
        for section, values in figures.items():
            print(f"{section}:")
            for key, value in values.items():
                if isinstance(value, dict):
                    print(f"  {key}: " + ", ".join(f"{k} {v}" for k, v in value.items()))
                else:
                    print(f"  {key:<26} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
