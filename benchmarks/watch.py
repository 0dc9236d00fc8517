"""A watched corpus folder (`qa watch`, `qa serve --watch`): how soon a dropped file can be asked
about, and what an idle watcher costs.

- Latency: from a file landing in the corpus folder (renamed into it whole) to the first question
  answered from it, for a 10-page PDF (made with fpdf2, as tests/pdfmaker.py does) and a one-line
  text file, each a new document every run. The watcher (qa.serve.watch, settle time `--settle`)
  runs on a thread beside an Assistant (scorer and reader on, as `qa serve --watch` has them) over
  a copy of the bundled article; the baseline is the same kind of file landing in a second corpus
  that nobody watches, indexed at once (`Assistant.reload`, what `qa add` does after its checks)
  and asked, in the same run, interleaved with the watched runs. The difference is the settle time
  plus the watcher's own delay.
- Idle CPU: CPU seconds (user + system, psutil) used by `qa watch` processes over `--idle` seconds
  of a folder nobody touches, against a Python process that only sleeps, over the same window.

Medians of `--runs` runs.

    .venv/bin/python -m benchmarks.watch [--runs 5] [--idle 60] [--settle 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pdfmaker import text_pdf  # noqa: E402

ARTICLE = ROOT / "corpus" / "china-and-north-korea-the-uneasy-partnership.txt"
SHIFT = ("On shift {n} of crane log {run} the harbour master records that the crews walked the quay, read the "
         "gauges on all four cranes, noted the oil pressure and the bearing temperatures, checked the mooring "
         "lines for wear and signed the sheet before handing over to the next crew on duty.")


def wait(condition: Callable[[], Any], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out: the watcher did not pick the file up")
        time.sleep(0.005)


def make_file(kind: str, folder: Path, run: int) -> tuple[Path, str]:
    """A new document (never a copy of an earlier one) and a question only it answers."""
    if kind == "pdf":
        paragraphs = [SHIFT.format(n=n, run=run) for n in range(115)]
        paragraphs.insert(60, f"Harbour crane number {run} was built by the engineer Kestrel{run:03d}.")
        path = text_pdf(folder / f".crane-{run}.pdf", paragraphs, title=f"Crane log {run}")
        return path, f"Who built harbour crane number {run}?"
    path = folder / f".keeper-{run}.txt"
    path.write_text(f"The keeper of lighthouse number {run} is called Marta{run:03d}.", encoding="utf-8")
    return path, f"Who is the keeper of lighthouse number {run}?"


def land_and_ask(a: Any, corpus: Path, made: Path, question: str, index_now: Callable[[], None] | None) -> float:
    """Seconds from `made` landing in `corpus` to the first answer quoted from it."""
    target = corpus / made.name.lstrip(".")
    before = a.index.path
    t0 = time.perf_counter()
    os.replace(made, target)
    if index_now is not None:
        index_now()
    while True:
        if index_now is None:
            wait(lambda seen=before: a.index.path != seen)
        result = a.ask(question, k=3)
        if result.answer is not None and result.answer.citation.doc.endswith(target.name):
            return time.perf_counter() - t0
        before = a.index.path


def remove(a: Any, corpus: Path, name: str, index_now: Callable[[], None] | None) -> None:
    before = a.index.path
    (corpus / name).unlink()
    if index_now is not None:
        index_now()
    else:
        wait(lambda: a.index.path != before)


def latency(runs: int, settle: float, work: Path) -> dict[str, dict[str, list[float]]]:
    from qa import Assistant, Settings
    from qa.models.embedder import MiniLM
    from qa.serve.watch import Watcher

    embedder = MiniLM()
    sides: dict[str, tuple[Any, Path]] = {}
    for side in ("watched", "direct"):
        corpus = work / side / "corpus"
        corpus.mkdir(parents=True)
        shutil.copy(ARTICLE, corpus / ARTICLE.name)
        settings = Settings(corpus_dir=corpus, index_dir=work / side / "index")
        if side == "watched":
            watcher = Watcher(settings, lambda _line: None, settle=settle)  # before the index opens
        sides[side] = (Assistant(settings, embedder=embedder), corpus)
    a_w, corpus_w = sides["watched"]
    thread = threading.Thread(target=watcher.run, args=(a_w,), daemon=True)
    thread.start()
    wait(watcher.watching.is_set)
    a_d, corpus_d = sides["direct"]
    figures: dict[str, dict[str, list[float]]] = {k: {"watched": [], "direct": []} for k in ("pdf", "txt")}
    made_dir = work / "made"
    made_dir.mkdir()
    try:
        for run in range(runs):
            for kind in ("pdf", "txt"):
                for side, (a, corpus) in (("watched", (a_w, corpus_w)), ("direct", (a_d, corpus_d))):
                    index_now = None if side == "watched" else a.reload
                    made, question = make_file(kind, made_dir, run * 2 + (side == "direct"))
                    seconds = land_and_ask(a, corpus, made, question, index_now)
                    figures[kind][side].append(seconds)
                    remove(a, corpus, made.name.lstrip("."), index_now)
                    print(f"  run {run + 1} {kind} {side}: {seconds:.2f} s", file=sys.stderr, flush=True)
    finally:
        watcher.stop.set()
        thread.join(60)
    return figures


def idle_cpu(seconds: float, processes: int, settle: float, work: Path) -> tuple[list[float], float]:
    """CPU seconds of `processes` idle `qa watch` processes, and of one sleeping Python process,
    over the same `seconds`."""
    import psutil

    from qa import Assistant, Settings

    template = work / "idle-template"
    (template / "corpus").mkdir(parents=True)
    shutil.copy(ARTICLE, template / "corpus" / ARTICLE.name)
    Assistant(Settings(corpus_dir=template / "corpus", index_dir=template / "index", scorer=False, reader=False))
    procs, logs = [], []
    for i in range(processes):
        folder = work / f"idle-{i}"
        shutil.copytree(template, folder)
        log = folder / "watch.log"
        with log.open("wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "qa", "watch", "--corpus", str(folder / "corpus"), "--index",
                 str(folder / "index"), "--settle", str(settle)], stdout=out, stderr=subprocess.STDOUT, cwd=folder))
        logs.append(log)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1e6)"])
    try:
        for proc, log in zip(procs, logs, strict=True):
            wait(lambda log=log, proc=proc: "watching" in log.read_text() or proc.poll() is not None)
            if proc.poll() is not None:
                raise SystemExit(f"qa watch exited:\n{log.read_text()}")
        time.sleep(2.0)  # start-up is over
        watched = [psutil.Process(p.pid) for p in [*procs, sleeper]]
        start = [sum(p.cpu_times()[:2]) for p in watched]
        time.sleep(seconds)
        used = [sum(p.cpu_times()[:2]) - s for p, s in zip(watched, start, strict=True)]
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        sleeper.kill()
        for p in [*procs, sleeper]:
            p.wait(60)
    return used[:-1], used[-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="runs of each file kind, watched and direct")
    ap.add_argument("--idle", type=float, default=60.0, help="seconds of idle watching measured")
    ap.add_argument("--processes", type=int, default=3, help="idle `qa watch` processes measured at once")
    ap.add_argument("--settle", type=float, default=2.0, help="the watcher's settle time (qa's default: 2)")
    args = ap.parse_args()
    os.environ.setdefault("QA_TORCH_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="qa-bench-watch-") as tmp:
        from qa.ingest.documents import read_document

        pages = read_document(make_file("pdf", Path(tmp), 0)[0], "x/crane.pdf", 10**8)[0].pages
        figures = latency(args.runs, args.settle, Path(tmp))
        used, sleeping = idle_cpu(args.idle, args.processes, args.settle, Path(tmp))
    print(f"From a file landing in the corpus to its first answer: median of {args.runs} runs, settle "
          f"time {args.settle:g} s; baseline: the same kind of file indexed at once, unwatched, same run")
    print("| file | watched (s) | indexed at once (s) | ratio | difference (s) |")
    print("|---|---|---|---|---|")
    for kind, label in (("pdf", f"{pages}-page PDF"), ("txt", "one-line .txt")):
        w, d = statistics.median(figures[kind]["watched"]), statistics.median(figures[kind]["direct"])
        print(f"| {label} | {w:.2f} | {d:.2f} | {w / d:.1f}x | {w - d:.2f} |")
    m = statistics.median(used)
    print(f"\nIdle `qa watch` over {args.idle:g} s (median of {len(used)} processes at once): {m:.3f} CPU s "
          f"({m / args.idle * 100:.2f}% of one core); a sleeping Python process: {sleeping:.3f} CPU s; "
          f"each: {', '.join(f'{u:.3f}' for u in used)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
