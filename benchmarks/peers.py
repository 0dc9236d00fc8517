"""qa's full index build against txtai's and Haystack's hybrid indexes on the same corpus (issue 27).

    benchmarks/peers-setup                                     # once: the peers' own venv
    .venv/bin/python -m benchmarks.peers --corpus DIR [--corpus DIR ...] [--repeats 3] [--json PATH]
                                         [--qa-commit HEAD] [--systems qa,txtai,haystack] [--no-check]

For each corpus (a folder of .txt files, copied once to a scratch folder so all three read the same
bytes), a FULL build in a fresh process, repeated and interleaved (qa, txtai, Haystack, qa, ...):

- qa:       `.venv/bin/qa index --force --corpus DIR --index <fresh dir>`, with QA_MODEL_CACHE at a
            cache whose ONNX export is built before anything is timed (that one-off is not counted);
            the working tree's qa, or with --qa-commit REV that commit's `qa/` (git archive) ahead of
            the editable install, so edits made during a long run cannot change what is timed;
- txtai:    benchmarks/peers/txtai_build.py, an `Embeddings(hybrid=True, content=True)` index;
- Haystack: benchmarks/peers/haystack_build.py, split -> embed -> InMemoryDocumentStore (+ BM25), saved;

the peers under benchmarks/.peers/venv's python, offline, all on the same bundled all-MiniLM-L6-v2.
Each figure is a median of the repeats (min-max beside it), with its ratio to qa's median from the
same run. Wall time covers the whole process: imports, model load, reading, cutting, embedding,
saving. Also per system: the chunks and the vectors it stored, the CPU time over wall time (how
many cores it kept busy) and its peak RSS (wait4). After the last repeat each system's saved index
is loaded and searched once (untimed) to show it is whole. `--json PATH` is rewritten (atomically)
after every round of builds, so a run cut short keeps what it measured. Figures, never pass/fail.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "benchmarks" / "peers"
PEERS_PY = ROOT / "benchmarks" / ".peers" / "venv" / "bin" / "python"
SYSTEMS = ("qa", "txtai", "haystack")
CHECK_QUERY = "What is this document about?"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1", "HAYSTACK_TELEMETRY_ENABLED": "False"}


class Refused(Exception):
    """A one-line reason the benchmark cannot run as asked."""


def qa_exe() -> Path:
    """The `qa` console script of the venv running this harness."""
    return Path(sys.executable).parent / "qa"


def run_timed(cmd: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """One fresh process: wall seconds, CPU seconds (user + system), peak RSS, stdout; raises on failure."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode:
        tail = " | ".join(stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"{Path(cmd[0]).name} {' '.join(cmd[1:3])} failed (exit {proc.returncode}): {tail}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024,
            "stdout": stdout}


def last_json(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"no JSON line in the output: {stdout[-300:]!r}")
    return dict(json.loads(lines[-1]))


def qa_counts(index: Path) -> dict[str, Any]:
    """Passages, sentences and vectors of the generation `qa index` just wrote: one for every passage,
    and one for every sentence of a passage of two or more sentences, pooled from the passage's own
    encoder pass (a one-sentence passage's sentence vector is its passage vector)."""
    import numpy as np

    gen = index / (index / "CURRENT").read_text().strip()
    manifest = json.loads((gen / "manifest.json").read_text())
    counts = manifest["counts"]
    bounds = np.load(gen / "sentence_rows.npy")
    sizes = np.diff(bounds)
    words = sorted(len(json.loads(line)["text"].split()) for line in (gen / "passages.jsonl").open())
    return {
        "chunks": counts["passages"], "sentences": counts["sentences"],
        "vectors": int(counts["passages"] + sizes[sizes > 1].sum()),
        "median_words": words[len(words) // 2] if words else 0, "max_words": manifest["chunking"]["max_words"],
        "backend": manifest.get("backend"), "threads": os.cpu_count(),
        "embedding": "ONNX export (onnxruntime), intra-op threads = os.cpu_count() while indexing",
        "bytes_on_disk": sum(p.stat().st_size for p in gen.rglob("*") if p.is_file()),
    }


def command(system: str, corpus: Path, out: Path) -> list[str]:
    if system == "qa":
        return [str(qa_exe()), "index", "--force", "--corpus", str(corpus), "--index", str(out)]
    return [str(PEERS_PY), str(PEERS / f"{system}_build.py"), str(corpus), str(out)]


def check_command(system: str, corpus: Path, out: Path) -> list[str]:
    if system == "qa":
        return [str(qa_exe()), "ask", "--json", "-k", "3", "--corpus", str(corpus), "--index", str(out), CHECK_QUERY]
    return [str(PEERS_PY), str(PEERS / f"{system}_build.py"), "--check", str(out), CHECK_QUERY]


def snapshot() -> dict[str, Any]:
    """The load average and the busiest processes right now (the machine is shared)."""
    load = Path("/proc/loadavg").read_text().split()[:3]
    try:
        top = subprocess.run(["top", "-bn1", "-w", "160"], capture_output=True, text=True, timeout=30).stdout
        lines = top.splitlines()
        head = next(i for i, line in enumerate(lines) if line.lstrip().startswith("PID"))
        busy = [" ".join(line.split()[i] for i in (0, 8, 11)) for line in lines[head + 1 : head + 6]]
    except (OSError, StopIteration, IndexError, subprocess.SubprocessError):
        busy = []
    return {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg": load, "top_pid_cpu_cmd": busy}


def prepare(corpus: Path, work: Path) -> tuple[Path, int]:
    """The corpus's .txt files copied to `work/corpus` (the same bytes for all three); (folder, words)."""
    if not corpus.is_dir():
        raise Refused(f"{corpus}: not a folder")
    files = sorted(p for p in corpus.iterdir() if p.is_file())
    texts = [p for p in files if p.suffix == ".txt"]
    others = [p.name for p in files if p.suffix != ".txt"]
    if others:
        raise Refused(f"{corpus}: only .txt files are compared (the peers read plain text); found {others[0]}")
    if not texts:
        raise Refused(f"{corpus}: no .txt files")
    words = 0
    for p in texts:
        try:
            words += len(p.read_text(encoding="utf-8").split())
        except UnicodeDecodeError as e:
            raise Refused(f"{p}: not UTF-8 text ({e.reason})") from e
    dest = work / "corpus"
    dest.mkdir()
    for p in texts:
        shutil.copyfile(p, dest / p.name)
    return dest, words


def corpus_name(corpus: Path) -> str:
    """`squad-v1.1-dev` for `.../squad-v1.1-dev/docs`, else the folder's own name."""
    return corpus.parent.name if corpus.name == "docs" else corpus.name


def summary(corpus: Path, files: int, words: int, got: dict[str, list[dict[str, Any]]],
            info: dict[str, dict[str, Any]], checks: dict[str, Any]) -> dict[str, Any]:
    """Medians (min-max) of the runs so far, and each system's ratio to qa's median."""
    rows: dict[str, Any] = {}
    for system, runs in got.items():
        if not runs:
            continue
        walls = [x["wall_s"] for x in runs]
        rows[system] = {
            **{k: v for k, v in info[system].items() if k != "system"},
            "median_s": round(statistics.median(walls), 2), "min_s": round(min(walls), 2),
            "max_s": round(max(walls), 2),
            "cpu_s": round(statistics.median(x["cpu_s"] for x in runs), 1),
            "cores_busy": round(statistics.median(x["cpu_s"] / x["wall_s"] for x in runs), 2),
            "peak_rss_mib": round(statistics.median(x["rss_mib"] for x in runs)),
            "runs": [{k: round(v, 3) for k, v in x.items()} for x in runs],
            "check": checks.get(system),
        }
    if "qa" in rows:
        for row in rows.values():
            row["ratio_to_qa"] = round(row["median_s"] / rows["qa"]["median_s"], 3)
    return {"corpus": str(corpus), "name": corpus_name(corpus), "files": files, "words": words, "systems": rows}


def bench_corpus(corpus: Path, systems: list[str], repeats: int, check: bool, envs: dict[str, dict[str, str]],
                 log: Any, progress: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Every system's builds on one corpus; `progress` gets the figures so far after every round."""
    work = Path(tempfile.mkdtemp(prefix="qa-peers-"))
    try:
        folder, words = prepare(corpus, work)
        files = len(list(folder.iterdir()))
        got: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
        info: dict[str, dict[str, Any]] = {}
        for r in range(repeats):
            for system in systems:  # interleaved, so a busy moment weighs on every system alike
                out = work / f"{system}-{r}"
                load = Path("/proc/loadavg").read_text().split()[0]
                res = run_timed(command(system, folder, out), envs[system], work)
                stdout = res.pop("stdout")
                info[system] = qa_counts(out) if system == "qa" else last_json(stdout)
                res["loadavg_at_start"] = float(load)
                got[system].append(res)
                print(f"  {corpus_name(corpus)} {system} run {r + 1}/{repeats}: {res['wall_s']:.1f} s "
                      f"(cpu {res['cpu_s'] / res['wall_s']:.2f} cores, load {load}), {info[system]['chunks']} chunks",
                      file=log, flush=True)
                if r < repeats - 1 or not check:
                    shutil.rmtree(out, ignore_errors=True)
            progress(summary(corpus, files, words, got, info, {}))
        checks = {}
        if check:
            for system in systems:
                res = run_timed(check_command(system, folder, work / f"{system}-{repeats - 1}"), envs[system], work)
                checks[system] = last_json(res["stdout"]) if system != "qa" else _qa_check(res["stdout"])
        return summary(corpus, files, words, got, info, checks)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_atomic(path: Path, text: str) -> None:
    """Write beside `path`, flush, fsync, rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _qa_check(stdout: str) -> dict[str, Any]:
    answer = json.loads(stdout)
    assert answer["passages"], answer
    return {"system": "qa", "top": answer["passages"][0]["text"][:200]}


def environments(qa_env: dict[str, str]) -> dict[str, dict[str, str]]:
    peers = {**os.environ, **OFFLINE}
    return {"qa": qa_env, "txtai": peers, "haystack": peers}


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {"qa": metadata.version("qa"), "onnxruntime (qa)": metadata.version("onnxruntime")}
    code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "('txtai', 'haystack-ai', 'sentence-transformers-haystack', 'sentence-transformers', 'torch', 'faiss-cpu')}))")
    if PEERS_PY.exists():  # qa alone (--systems qa) needs no peers' venv
        got = subprocess.run([str(PEERS_PY), "-c", code], capture_output=True, text=True, check=True).stdout
        out.update(json.loads(got))
    return out


def table(results: list[dict[str, Any]]) -> str:
    lines = [f"{'corpus':<16} {'system':<9} {'chunks':>7} {'vectors':>8} {'words/chunk':>11} "
             f"{'median s (min-max)':>22} {'ratio to qa':>11} {'CPU s':>7} {'cores':>6} {'peak RSS':>9}"]
    for res in results:
        for system, row in res["systems"].items():
            span = f"{row['median_s']:.1f} ({row['min_s']:.1f}-{row['max_s']:.1f})"
            ratio = f"{row['ratio_to_qa']:.2f}x" if "ratio_to_qa" in row else "-"
            lines.append(f"{res['name']:<16} {system:<9} {row['chunks']:>7} {row['vectors']:>8} "
                         f"{row['median_words']:>11} {span:>22} {ratio:>11} "
                         f"{row.get('cpu_s', float('nan')):>7.1f} {row['cores_busy']:>6.2f} "
                         f"{row['peak_rss_mib']:>5} MiB")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, action="append", required=True, help="a folder of .txt files (repeatable)")
    ap.add_argument("--repeats", type=int, default=3, help="fresh builds per system (median reported)")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated, from qa,txtai,haystack")
    ap.add_argument("--json", type=Path, help="also write every figure here")
    ap.add_argument("--no-check", action="store_true", help="skip loading and searching each saved index")
    ap.add_argument("--qa-commit", metavar="REV", help="time the qa package of this commit (git archive), not the "
                    "working tree's (which others may be editing)")
    args = ap.parse_args()
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    try:
        if not systems or set(systems) - set(SYSTEMS):
            raise Refused(f"--systems must name some of {','.join(SYSTEMS)} (got {args.systems})")
        if args.repeats < 1:
            raise Refused("--repeats must be at least 1")
        if set(systems) - {"qa"} and not PEERS_PY.exists():
            raise Refused(f"no peers' venv at {PEERS_PY.parent.parent}; run benchmarks/peers-setup first")
        if "qa" in systems and not qa_exe().exists():
            raise Refused(f"no qa console script beside {sys.executable}; run scripts/setup first")
    except Refused as e:
        print(f"peers: {e}", file=sys.stderr)
        return 1
    session = Path(tempfile.mkdtemp(prefix="qa-peers-src-"))
    try:
        return _run(args, systems, session)
    except Refused as e:
        print(f"peers: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(session, ignore_errors=True)


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


def qa_source(commit: str | None, session: Path) -> dict[str, Any]:
    """Which qa is timed: the `qa` package of `commit` (extracted with `git archive`, read-only, so a
    working tree that others are editing cannot change it mid-run), else this checkout's."""
    if commit is None:
        try:
            head, dirty = git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--", "qa"))
        except (OSError, subprocess.CalledProcessError):
            head, dirty = "unknown", True
        return {"from": "working tree", "commit": head, "uncommitted_changes_in_qa": dirty, "path": None}
    try:
        full = git("rev-parse", "--verify", f"{commit}^{{commit}}")
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", full, "qa"],
                                 capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise Refused(f"--qa-commit {commit}: not a commit of {ROOT}") from e
    dest = session / "qa-src"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return {"from": "git archive", "commit": full, "uncommitted_changes_in_qa": False, "path": str(dest)}


def _run(args: argparse.Namespace, systems: list[str], session: Path) -> int:
    source = qa_source(args.qa_commit, session)
    qa_env = dict(os.environ)
    if source["path"]:  # ahead of the editable install (the commands run outside the checkout)
        qa_env["PYTHONPATH"] = os.pathsep.join(p for p in (source["path"], os.environ.get("PYTHONPATH")) if p)
    # the export's module moved (qa.index.export before qa.models, with its command), so an older
    # commit (--qa-commit) is asked where it keeps its own
    probe = ("import importlib.util, json, qa\n"
             "new = importlib.util.find_spec('qa.models') is not None\n"
             "from importlib import import_module\n"
             "export = import_module('qa.models.export' if new else 'qa.index.export')\n"
             "print(json.dumps({'file': qa.__file__, 'cache': str(export.cache_root()), "
             "'prepare': 'qa.models.prepare' if new else 'qa.index.export'}))")
    got = json.loads(subprocess.run([sys.executable, "-c", probe], env=qa_env, cwd=session, capture_output=True,
                                    text=True, check=True).stdout)
    if source["path"] and not got["file"].startswith(source["path"]):
        raise Refused(f"qa was imported from {got['file']}, not from the extracted {source['path']}")
    cache = Path(got["cache"])  # $QA_MODEL_CACHE, else qa's default
    qa_env["QA_MODEL_CACHE"] = str(cache)
    # the one-off ONNX export, built (or found) by the qa being timed, before anything is timed
    subprocess.run([sys.executable, "-m", got["prepare"]], env=qa_env, cwd=session, check=True, capture_output=True)
    envs = environments(qa_env)
    meta = {"cpus": os.cpu_count(), "repeats": args.repeats, "qa_source": source, "qa_model_cache": str(cache),
            "versions": versions(), "before": snapshot()}
    print(f"qa's model cache {cache}: its ONNX export was built before timing, so the one-off export is not counted",
          file=sys.stderr)
    results: list[dict[str, Any]] = []

    def save(partial: dict[str, Any] | None = None, complete: bool = False) -> None:
        """The figures so far (a run cut short still leaves its finished rounds), or the whole run's."""
        if args.json:
            done = [*results, partial] if partial else results
            write_atomic(args.json, json.dumps({**meta, "complete": complete, "results": done}, indent=1) + "\n")

    for corpus in args.corpus:
        results.append(bench_corpus(corpus, systems, args.repeats, not args.no_check, envs, sys.stderr, save))
        save()
    meta["after"] = snapshot()
    save(complete=True)
    print(table(results))
    print(f"{meta['cpus']} CPUs; load average {' '.join(meta['before']['loadavg'])} before, "
          f"{' '.join(meta['after']['loadavg'])} after; versions: "
          + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    print(f"qa: {source['from']} at {source['commit'][:12]}"
          + (", with uncommitted changes in qa/" if source["uncommitted_changes_in_qa"] else ""))
    print("chunks: passages indexed; vectors: vectors stored (qa also keeps one for each sentence of a passage "
          "of two or more, pooled from the passage's own encoder pass unless QA_INDEX_INT8=0); "
          "CPU s: user + system CPU seconds (median), steadier than wall time on a shared machine; "
          "cores: CPU time / wall time; qa's one-off model export not counted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
