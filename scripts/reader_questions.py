"""How many distinct training questions a reader read, along its lineage (the runs it went on from).

    .venv/bin/python scripts/reader_questions.py [qa/models/reader_model/reader.json]

Each run of `qa/models/training/reader.py` reads examples of its data in the seed's fixed order: a
slice of it (`--examples-from`; all of it when the run ended on its planned step, else a random part
of the size it read), or steps x batch drawn at random from all of it (a permutation: no example
twice). A question can be in more than one example (the no-answer lesson shows a quarter of them
again without their answer) and in more than one run, so the figure is the expected number of
distinct questions (by text, as the cards count them) read at least once, from each example's
chance of being read in each run. Only the random draws make it an expectation; its spread is a
few dozen questions. Needs ../shared/training (the examples are rebuilt as the runs built them).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.models.training import reader as R  # noqa: E402
from qa.models.training.scorer import SHARED  # noqa: E402


def texts(run: dict[str, Any], cache: dict[str, list[str]]) -> list[str]:
    """The question of each example of the run's data, in the seed's fixed order."""
    files = run["data"] if isinstance(run["data"], list) else [run["data"]]
    argv = ["--data", *[str(SHARED / "training" / f) for f in files], "--negatives", str(run["negatives"]),
            "--removed", str(run["removed"]), "--context" if run["context"] else "--no-context",
            "--null" if run["null"] else "--no-null"] + (["--train-files", *run["train_files"]] if run["train_files"] else [])
    key = json.dumps(argv)
    if key not in cache:
        *_split, (data, _labels, _skipped) = R.training_examples(R.parse(argv))
        cache[key] = [d[0] for d in data]
    return cache[key]


def chance(run: dict[str, Any], n: int) -> Callable[[int], float]:
    """P(example i of the fixed order was read by this run)."""
    read = run.get("read") or {}
    if not read.get("slice"):
        p = min(1.0, run["steps"] * run["batch"] / n)
        return lambda i: p
    a, b = read["slice"]
    p = min(1.0, read["examples"] / (b - a))
    return lambda i: p if a <= i < b else 0.0


def main(argv: list[str]) -> int:
    card = json.loads(Path(argv[0] if argv else ROOT / "qa/models/reader_model/reader.json").read_text())
    runs = [*card["training"].get("lineage", []), card["training"]]  # the earlier runs, then this one
    cache: dict[str, list[str]] = {}
    read: dict[str, list[tuple[int, float]]] = defaultdict(list)  # question -> (run, P(read)) of each example
    print("| run | trained on | read | distinct questions read so far (expected) |")
    print("|---|---|---|---|")
    for k, run in enumerate(runs, start=1):
        questions = texts(run, cache)
        p = chance(run, len(questions))
        for i, q in enumerate(questions):
            if (x := p(i)) > 0:
                read[q].append((k, x))
        total = 0.0
        for seen in read.values():
            miss = 1.0
            for _run, x in seen:
                miss *= 1 - x
            total += 1 - miss
        how = (f"examples {run['read']['slice'][0]:,}-{run['read']['slice'][1]:,}" + ("" if run["read"]["whole_slice"]
               else f", {run['read']['examples']:,} of them") if (run.get("read") or {}).get("slice")
               else f"{run['steps'] * run['batch']:,} of {len(questions):,} examples at random")
        files = run["train_files"] or ([run["data"]] if isinstance(run["data"], str) else run["data"])
        print(f"| {k} | {', '.join(files)} | {how} | {total:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
