"""What the abstention model costs: a question's latency with it and with the hand-set rules alone.

    .venv/bin/python -m benchmarks.abstention [--repeats 5] [--json]

On a copy of the bundled article, one Assistant in this process (one thread, warm: every question
asked once first), `--repeats` rounds; in each, every question of the article's dev set is asked
twice, with the abstention model (`Rules.learned_abstention`, the default) and without it (the same
Assistant, its rules swapped), in an order that alternates between rounds. Prints each side's p50
and p95 (medians over the rounds of each round's figure) and the median over the rounds of the p50
ratio. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval" / "article_dev.jsonl"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from qa import Assistant, Settings

    questions = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="qa-bench-abstain-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for f in (ROOT / "corpus").glob("*.txt"):
            shutil.copy(f, corpus / f.name)
        a = Assistant(Settings(corpus_dir=corpus, index_dir=Path(tmp) / "index", torch_threads=1))
        sides = {"model": a.rules, "rules": replace(a.rules, learned_abstention=False)}

        def ask_all(rules: Any) -> list[float]:
            a.rules = rules
            out = []
            for q in questions:
                t0 = time.perf_counter()
                a.ask(q["question"], history=q.get("history") or None)
                out.append((time.perf_counter() - t0) * 1000)
            return out

        for rules in sides.values():  # warm
            ask_all(rules)
        rounds: dict[str, list[list[float]]] = {name: [] for name in sides}
        for r in range(args.repeats):
            for name in (list(sides) if r % 2 == 0 else list(reversed(sides))):
                rounds[name].append(ask_all(sides[name]))
    report = {name: {"p50_ms": round(statistics.median(pct(x, 0.5) for x in runs), 2),
                     "p95_ms": round(statistics.median(pct(x, 0.95) for x in runs), 2)} for name, runs in rounds.items()}
    report["ratio_p50"] = round(statistics.median(pct(m, 0.5) / pct(r, 0.5) for m, r in zip(rounds["model"], rounds["rules"], strict=True)), 3)
    report["questions"], report["repeats"] = len(questions), args.repeats
    if args.json:
        print(json.dumps(report))
    else:
        print(f"article, {len(questions)} questions x {args.repeats} rounds, one thread: with the abstention model p50 "
              f"{report['model']['p50_ms']} ms / p95 {report['model']['p95_ms']} ms; hand-set rules alone p50 "
              f"{report['rules']['p50_ms']} ms / p95 {report['rules']['p95_ms']} ms; ratio at p50 {report['ratio_p50']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
