"""What the short answer costs: a question's latency with the span model and without it, and the
server memory it adds.

    .venv/bin/python -m benchmarks.span [--repeats 5] [--servers 2] [--json]

Latency: on a copy of the bundled article, one Assistant in this process (one thread, warm: every
question asked once first), `--repeats` rounds; in each, every question of the article's dev set
(those that stand alone) is asked twice, with the span model and without it (the same Assistant,
its span model set aside), in an order that alternates between rounds. Prints the p50 and p95 of
each side (medians over the rounds of each round's figure), the median over the rounds of the p50
ratio, and the span step's own p50 (`Result.timings["span"]`).

Memory: `qa serve` on the same corpus with QA_SPAN=1 and with QA_SPAN=0, `--servers` times each
in turn (its index built first by `qa index`, so the figures are of serving): the resident set
(VmRSS) and its peak (VmHWM) after ten questions over `POST /api/ask`; medians, and the
difference. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

try:  # python -m benchmarks.span, or python benchmarks/span.py
    from benchmarks import load
except ImportError:
    import load  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval" / "article_dev.jsonl"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def questions() -> list[str]:
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["question"] for r in rows if not r.get("history")]


def latency(repeats: int) -> dict[str, Any]:
    from qa import Assistant, Settings

    qs = questions()
    with tempfile.TemporaryDirectory(prefix="qa-bench-span-") as tmp:
        shutil.copytree(ROOT / "corpus", Path(tmp) / "corpus")
        a = Assistant(Settings(corpus_dir=Path(tmp) / "corpus", index_dir=Path(tmp) / "index", torch_threads=1))
        model = a.span
        assert model is not None, "the span model is off (QA_SPAN=0): nothing to measure"
        for q in qs:  # warm: every question once, both ways
            a.ask(q)
        rounds: dict[str, list[dict[str, float]]] = {"with": [], "without": []}
        steps: list[float] = []
        given = 0
        for r in range(repeats):
            seconds: dict[str, list[float]] = {"with": [], "without": []}
            for q in qs:
                for side in (("with", "without") if r % 2 == 0 else ("without", "with")):
                    a.span = model if side == "with" else None
                    result = a.ask(q)
                    seconds[side].append(result.timings["total"] * 1000)
                    if side == "with":
                        steps.append(result.timings["span"] * 1000)
                        given += r == 0 and result.answer is not None and result.answer.span is not None
            a.span = model
            for side, values in seconds.items():
                rounds[side].append({"p50": pct(values, 0.5), "p95": pct(values, 0.95)})
        out: dict[str, Any] = {"questions": len(qs), "repeats": repeats, "given_a_span": given}
        for side, figures in rounds.items():
            out[side] = {k: round(statistics.median(f[k] for f in figures), 2) for k in ("p50", "p95")}
        out["ratio_p50"] = round(statistics.median(w["p50"] / o["p50"] for w, o in zip(rounds["with"], rounds["without"],
                                                                                      strict=True)), 3)
        out["span_step_p50_ms"] = round(pct(steps, 0.5), 2)
        out["span_step_p95_ms"] = round(pct(steps, 0.95), 2)
    return out


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def memory(servers: int) -> dict[str, Any]:
    import httpx

    qs = questions()[:10]
    figures: dict[str, list[dict[str, float]]] = {"1": [], "0": []}
    for n in range(servers):
        for flag in (("1", "0") if n % 2 == 0 else ("0", "1")):
            before = os.environ.get("QA_SPAN")
            os.environ["QA_SPAN"] = flag
            work = Path(tempfile.mkdtemp(prefix="qa-bench-span-serve-"))
            try:
                url, proc = load.serve(ROOT / "corpus", work, build_first=True)
                try:
                    for q in qs:
                        httpx.post(url + "api/ask", json={"question": q}, timeout=120).raise_for_status()
                    figures[flag].append({"rss_mib": _status_kib(proc.pid, "VmRSS") / 1024,
                                          "peak_mib": _status_kib(proc.pid, "VmHWM") / 1024})
                finally:
                    proc.terminate()
                    proc.wait(timeout=60)
            finally:
                if before is None:
                    os.environ.pop("QA_SPAN", None)
                else:
                    os.environ["QA_SPAN"] = before
                shutil.rmtree(work, ignore_errors=True)
    out: dict[str, Any] = {"servers": servers}
    for flag, name in (("1", "with"), ("0", "without")):
        out[name] = {k: round(statistics.median(f[k] for f in figures[flag]), 1) for k in ("rss_mib", "peak_mib")}
    out["added_rss_mib"] = round(out["with"]["rss_mib"] - out["without"]["rss_mib"], 1)
    out["added_peak_mib"] = round(out["with"]["peak_mib"] - out["without"]["peak_mib"], 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--servers", type=int, default=2, help="servers started with and without the span model each (0: none)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("QA_TORCH_THREADS", "1")
    report = {"latency": latency(args.repeats)}
    if args.servers:
        report["memory"] = memory(args.servers)
    if args.json:
        print(json.dumps(report))
        return 0
    lat = report["latency"]
    print(f"article, {lat['questions']} questions, {lat['repeats']} rounds, one thread, warm "
          f"({lat['given_a_span']} given a short answer)")
    print(f"  with the span model     p50 {lat['with']['p50']:.1f} ms, p95 {lat['with']['p95']:.1f} ms")
    print(f"  without it (QA_SPAN=0)  p50 {lat['without']['p50']:.1f} ms, p95 {lat['without']['p95']:.1f} ms")
    print(f"  ratio of p50 {lat['ratio_p50']:.3f}; the span step alone p50 {lat['span_step_p50_ms']:.2f} ms, "
          f"p95 {lat['span_step_p95_ms']:.2f} ms")
    if "memory" in report:
        m = report["memory"]
        print(f"qa serve after ten questions ({m['servers']} servers each): with {m['with']['rss_mib']} MiB "
              f"(peak {m['with']['peak_mib']}), without {m['without']['rss_mib']} MiB (peak {m['without']['peak_mib']}); "
              f"added {m['added_rss_mib']} MiB (peak {m['added_peak_mib']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
