"""`qa mcp` figures: a question's latency over the MCP stdio transport, and the server's memory.

    .venv/bin/python -m benchmarks.mcp [--repeats 5] [--questions 20] [--json]

On a copy of the bundled article (its index built first, in this process), `--repeats` rounds, in
turn: every question through `Assistant.ask` in this process (the baseline: the same work with no
protocol), then every question as an MCP `tools/call` of `ask` through the SDK's own client
(`stdio_client` + `ClientSession`) to `python -m qa mcp` over the same corpus and index, then as
many `list_documents` calls (a round trip with next to no work: the protocol's floor). One warm-up
call of each question on each side first. Prints p50 and p95 of each (medians over the rounds of
each round's figure), the median over the rounds of the p50 ratio, and the p50 difference.

Memory: the resident set (psutil) of the server process at rest once it has loaded (after its
`initialize` and a pause) and again after the rounds, against the same figure for a bare process
that loads the same Assistant over the same index, answers one question and waits (the baseline:
what the SDK and the protocol add; the median of three such processes). Figures are printed, never
asserted.
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
from pathlib import Path
from typing import Any

import anyio
import psutil

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = ROOT / "corpus" / "china-and-north-korea-the-uneasy-partnership.txt"
QUESTIONS = ROOT / "eval" / "article_dev.jsonl"
BARE = """
import sys
from qa import Assistant, Settings
a = Assistant(Settings(corpus_dir=sys.argv[1], index_dir=sys.argv[2]))
a.ask("What treaty did China and North Korea sign in 1961?")
print("ready", flush=True)
sys.stdin.read()
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["question"] for r in rows if not r.get("history")][:n]


def rss_mib(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


def bare_rss(corpus: Path, index: Path, env: dict[str, str]) -> float:
    """The resident set of a process that loaded the same Assistant and answered one question."""
    proc = subprocess.Popen([sys.executable, "-c", BARE, str(corpus), str(index)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(2)
        return rss_mib(proc.pid)
    finally:
        proc.kill()
        proc.wait()


async def over_mcp(corpus: Path, index: Path, env: dict[str, str], qs: list[str], repeats: int,
                   assistant: Any) -> dict[str, Any]:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "qa", "mcp", "--corpus", str(corpus),
                                                                 "--index", str(index)], env=env, cwd=str(ROOT))
    before = set(p.pid for p in psutil.Process().children(recursive=True))
    rounds: dict[str, list[list[float]]] = {"in_process": [], "mcp": [], "mcp_list": []}
    async with stdio_client(params, errlog=sys.stderr) as streams, ClientSession(*streams) as session:
        await session.initialize()
        server = next(p for p in psutil.Process().children(recursive=True)
                      if p.pid not in before and "mcp" in p.cmdline())
        await anyio.sleep(2)
        rss_loaded = rss_mib(server.pid)
        for q in qs:  # warm-up, both sides
            assistant.ask(q)
            await session.call_tool("ask", {"question": q})
        for _ in range(repeats):
            times = []
            for q in qs:
                t = time.perf_counter()
                assistant.ask(q)
                times.append(time.perf_counter() - t)
            rounds["in_process"].append(times)
            times = []
            for q in qs:
                t = time.perf_counter()
                result = await session.call_tool("ask", {"question": q})
                times.append(time.perf_counter() - t)
                assert not result.is_error, result.content
            rounds["mcp"].append(times)
            times = []
            for _q in qs:  # the round trip with next to no work: the protocol's floor
                t = time.perf_counter()
                await session.call_tool("list_documents", {})
                times.append(time.perf_counter() - t)
            rounds["mcp_list"].append(times)
        await anyio.sleep(2)
        rss_after = rss_mib(server.pid)
    return {"rounds": rounds, "rss_loaded": rss_loaded, "rss_after": rss_after}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="rounds of every question on each side")
    ap.add_argument("--questions", type=int, default=20, help="questions of the article's set")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from qa import Assistant, Settings

    qs = questions(args.questions)
    work = Path(tempfile.mkdtemp(prefix="qa-bench-mcp-"))
    try:
        corpus, index = work / "corpus", work / "index"
        corpus.mkdir()
        shutil.copy(ARTICLE, corpus / ARTICLE.name)
        assistant = Assistant(Settings(corpus_dir=corpus, index_dir=index))  # builds the index both sides use
        env = {k: v for k, v in os.environ.items() if k.startswith(("QA_", "HF_", "TRANSFORMERS_"))}
        env |= {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "")}
        bare = statistics.median(bare_rss(corpus, index, env) for _ in range(3))
        got = anyio.run(over_mcp, corpus, index, env, qs, args.repeats, assistant)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def side(name: str) -> dict[str, float]:
        rounds = got["rounds"][name]
        return {"p50_ms": round(1000 * statistics.median(pct(r, 0.5) for r in rounds), 2),
                "p95_ms": round(1000 * statistics.median(pct(r, 0.95) for r in rounds), 2)}

    base, mcp, floor = side("in_process"), side("mcp"), side("mcp_list")
    ratios = [pct(m, 0.5) / pct(b, 0.5) for m, b in zip(got["rounds"]["mcp"], got["rounds"]["in_process"], strict=True)]
    figures = {
        "questions": len(qs), "repeats": args.repeats, "in_process": base, "mcp": mcp,
        "p50_ratio": round(statistics.median(ratios), 3),
        "p50_overhead_ms": round(mcp["p50_ms"] - base["p50_ms"], 2), "mcp_list_documents": floor,
        "server_rss_mib_loaded": got["rss_loaded"], "server_rss_mib_after": got["rss_after"],
        "bare_assistant_rss_mib": bare, "rss_ratio": round(got["rss_loaded"] / bare, 3),
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"ask over MCP stdio vs Assistant.ask in process ({len(qs)} questions x {args.repeats} rounds, medians):")
    print(f"  in process   p50 {base['p50_ms']:8.2f} ms   p95 {base['p95_ms']:8.2f} ms")
    print(f"  MCP stdio    p50 {mcp['p50_ms']:8.2f} ms   p95 {mcp['p95_ms']:8.2f} ms")
    print(f"  p50 ratio {figures['p50_ratio']}x, {figures['p50_overhead_ms']} ms a call for the protocol")
    print(f"  list_documents over MCP (a round trip with next to no work): p50 {floor['p50_ms']:.2f} ms, "
          f"p95 {floor['p95_ms']:.2f} ms")
    print(f"server resident memory: {got['rss_loaded']} MiB at rest after loading, {got['rss_after']} MiB after "
          f"the rounds; a bare process with the same Assistant: {bare} MiB (ratio {figures['rss_ratio']}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
