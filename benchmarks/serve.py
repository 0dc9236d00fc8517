"""Serving figures: the REST API and the page's Gradio API (gradio_client) at 1, 8 and 16 clients.

    .venv/bin/python benchmarks/serve.py [--repeats 3] [--duration 10] [--users 1,8,16] [--json]
    .venv/bin/python -m benchmarks.serve ...                     # the same

Starts `qa serve` on a copy of ./corpus (benchmarks/load.py does the serving and the load), then
`--repeats` times, in turn: the baselines, and every API at every number of clients for
`--duration` counted seconds each: `rest` (POST /api/ask), `gradio` (gradio_client's predict on
/ask, `Client(url)`), `gradio-ssl` (the same with `ssl_verify=` one shared SSL context) and
`gradio-raw` (the same /ask through Gradio's queue protocol by hand on one keep-alive connection:
what the server costs, without gradio_client's own). Baselines, measured in the same run on the
same machine:
- `Assistant.ask` in this process (over the index the server built), one question at a time: the
  work a request does with no HTTP at all; measured again just before every level, and each
  level's p50 is divided by the baseline measured next to it (the machine is shared and noisy);
- `GET /api/documents` on the server: an HTTP round trip through the same middleware with no
  question work.
Prints, per API and number of clients, the median over the repeats of p50, p95 and requests/s,
the errors of all repeats, and the median of p50 / in-process baseline; then the server's
resident memory (the peak, VmHWM, and at the end) and whether torch is loaded in it. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

try:  # python -m benchmarks.serve, or python benchmarks/serve.py
    from benchmarks import load
except ImportError:
    import load  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]


def timed(call: Any, n: int, warmup: int = 5) -> dict[str, float]:
    """p50 and p95 in ms of `n` calls of `call(i)` after `warmup` uncounted ones."""
    for i in range(warmup):
        call(i)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - t0)
    return {"p50_ms": round(1000 * statistics.median(times), 2),
            "p95_ms": round(1000 * load.percentile(times, 0.95), 2)}


def in_process(assistant: Any, n: int) -> dict[str, float]:
    questions = load.QUESTIONS
    return timed(lambda i: assistant.ask(questions[i % len(questions)]).to_json(), n)


def http_floor(url: str, n: int) -> dict[str, float]:
    import httpx

    with httpx.Client(timeout=30) as client:
        return timed(lambda _i: client.get(url + "api/documents").raise_for_status(), n)


def memory(pid: int) -> dict[str, Any]:
    """The server's resident memory now and at its peak (MiB), and which model runtime it loaded."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = {line.split(":")[0]: line.split(":")[1].strip() for line in status.splitlines() if ":" in line}
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {"rss_mib": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
            "peak_rss_mib": round(int(fields["VmHWM"].split()[0]) / 1024, 1),
            "torch_loaded": "libtorch" in maps, "onnxruntime_loaded": "onnxruntime" in maps}


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 1) if values else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus", help="the documents (default ./corpus)")
    p.add_argument("--users", default="1,8,16", help="comma-separated client counts (default 1,8,16)")
    p.add_argument("--apis", default="rest,gradio,gradio-ssl,gradio-raw",
                   help="which APIs, in order (default rest,gradio,gradio-ssl,gradio-raw)")
    p.add_argument("--repeats", type=int, default=3, help="runs of everything; figures are medians (default 3)")
    p.add_argument("--duration", type=float, default=10.0, help="counted seconds per level (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="uncounted seconds per level (default 2)")
    p.add_argument("--baseline-n", type=int, default=30, help="calls per baseline (default 30)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    counts = [int(u) for u in args.users.split(",") if u.strip()]
    apis = [a.strip() for a in args.apis.split(",") if a.strip()]

    from qa import Assistant, Settings

    work = Path(tempfile.mkdtemp(prefix="qa-bench-serve-"))
    url, proc = load.serve(args.corpus, work, build_first=True)
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {(a, n): [] for a in apis for n in counts}
    base: list[dict[str, float]] = []
    floors: list[dict[str, float]] = []
    try:
        assistant = Assistant(Settings(corpus_dir=work / "corpus", index_dir=work / "index"))
        started = memory(proc.pid)
        for _ in range(args.repeats):
            floors.append(http_floor(url, args.baseline_n))
            for api in apis:
                for n in counts:
                    base.append(in_process(assistant, args.baseline_n))
                    level = load.level(url, n, args.duration, args.warmup, proc.pid, api)
                    level["in_process_p50_ms"] = base[-1]["p50_ms"]
                    runs[(api, n)].append(level)
        end = memory(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    ask_p50 = statistics.median(b["p50_ms"] for b in base)
    floor_p50 = statistics.median(f["p50_ms"] for f in floors)
    rows = []
    for (api, n), levels in runs.items():
        ratios = [r["p50_ms"] / r["in_process_p50_ms"] for r in levels if r["p50_ms"]]
        rows.append({"api": api, "users": n, "p50_ms": median_of(levels, "p50_ms"),
                     "p95_ms": median_of(levels, "p95_ms"), "throughput_rps": median_of(levels, "throughput_rps"),
                     "requests": sum(r["requests"] for r in levels), "errors": sum(r["errors"] for r in levels),
                     "error_kinds": [k for r in levels for k in r["error_kinds"]],
                     "p50_vs_in_process": round(statistics.median(ratios), 2) if ratios else None,
                     "runs": levels})
    report = {"url": url, "cpus": os.cpu_count(), "repeats": args.repeats, "duration_s": args.duration,
              "baselines": {"in_process_ask_p50_ms": ask_p50, "http_documents_p50_ms": floor_p50,
                            "in_process_runs": base, "http_runs": floors},
              "levels": rows, "server_memory_start": started, "server_memory_end": end}
    if args.json:
        print(json.dumps(report))
    else:
        show(report)
    return 0


def show(report: dict[str, Any]) -> None:
    """The report as a table (also: `show(json.load(...))` on a saved --json report)."""
    base, end, started = report["baselines"], report["server_memory_end"], report["server_memory_start"]
    ask_p50, floor_p50 = base["in_process_ask_p50_ms"], base["http_documents_p50_ms"]
    print(f"serving on {report['url']}: {report['cpus']} CPUs, medians of {report['repeats']} runs of "
          f"{report['duration_s']:g} s per level")
    print(f"baselines: Assistant.ask in process p50 {ask_p50:.1f} ms (median of {len(base['in_process_runs'])}, "
          f"one before each level); GET /api/documents p50 {floor_p50:.1f} ms")
    print(f"{'api':>10} {'clients':>7} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>7} {'errors':>6} {'p50/ask':>8}")
    for r in report["levels"]:
        print(f"{r['api']:>10} {r['users']:>7} {r['p50_ms']!s:>8} {r['p95_ms']!s:>8} {r['throughput_rps']!s:>7} "
              f"{r['errors']:>6} {r['p50_vs_in_process']!s:>8}")
        for kind in sorted(set(r["error_kinds"])):
            print(f"        error: {kind}")
    print(f"server RSS: {started['rss_mib']} MiB after start, {end['rss_mib']} MiB at the end, peak "
          f"{end['peak_rss_mib']} MiB; torch loaded: {end['torch_loaded']}, "
          f"onnxruntime loaded: {end['onnxruntime_loaded']}")


if __name__ == "__main__":
    raise SystemExit(main())
