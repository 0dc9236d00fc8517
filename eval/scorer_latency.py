"""Warm answer latency with and without the trained models, one thread, same run: no models
(retrieval and the hand-built answer step), the scorer alone, the scorer with the reader, and the
reader reading all its candidates (`Rules.reader_within` off).

    QA_EVAL_CACHE=/tmp/qa-vectors .venv/bin/python eval/scorer_latency.py [--copies 90 | --squad] [--rounds 3]

On the article (default), on the article beside the 48 SQuAD documents of ../shared/benchmarks
(`--squad`: 137x the article's text, the dev questions searched over all of it), or on `--copies`
varied copies of the article (benchmarks/corpus.py: sentences rotated, digits shifted; a rotation
repeats after as many copies as its paragraph has sentences, and repeated passages are indexed
once, so 90 copies give 687 passages, 26x the article's), embedded with the real model (cached in
QA_EVAL_CACHE). Every dev question is asked once on each path to warm them, then the rounds
alternate the paths question by question; prints the medians and the median per-question ratios
against the path without models. The scorer remembers each sentence's vector once computed (it is
the same for every question); the reader remembers nothing, so every ask pays for its reading.
With `--fresh` the scorer forgets its sentence vectors before each ask too: what a question costs
whose passages no earlier question touched (the common case on a large corpus). The fifth path,
"kept vectors", is scorer + reader on the same index keeping the scorer's vector of every sentence,
as an index built by `qa index` does: it never asks the scorer for one, fresh or not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.corpus import ARTICLE, make_corpus  # noqa: E402
from qa.answer.compose import Rules  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.eval.evaluate import DEFAULT_SET, load_set  # noqa: E402
from qa.eval.kit import CachedEmbedder, Engine, ask, keeping_scorer_vectors, system_index  # noqa: E402
from qa.ingest.documents import load_corpus  # noqa: E402
from qa.models.embedder import MiniLM  # noqa: E402
from qa.models.reader import Reader  # noqa: E402
from qa.models.scorer import Scorer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=0, help="varied copies of the article (0: the article itself)")
    ap.add_argument("--squad", action="store_true", help="the article and the 48 SQuAD documents")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fresh", action="store_true", help="the scorer forgets its sentence vectors before each ask")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    settings = Settings()
    embedder = CachedEmbedder.from_env(MiniLM(threads=1))
    scorer, reader = Scorer(threads=1), Reader(threads=1)
    scorer.warm_up()
    reader.warm_up()
    with tempfile.TemporaryDirectory(prefix="qa-latency-") as tmp:
        folder = settings.corpus_dir
        if args.copies or args.squad:
            folder = Path(tmp) / "corpus"
            make_corpus(folder, copies=args.copies or 1, only=None if args.squad else [ARTICLE])
        documents = load_corpus(folder, settings.max_file_bytes)
        index = system_index(documents, settings.max_words, embedder)
    embedder.save()
    questions = load_set(DEFAULT_SET)
    paths = {"none": Engine.of(index, rules=Rules()), "scorer": Engine.of(index, rules=Rules(), scorer=scorer),
             "scorer+reader": Engine.of(index, rules=Rules(), scorer=scorer, reader=reader),
             # the reader reading every candidate, as before Rules.reader_within (docs/benchmarks.md)
             "+reader, all": Engine.of(index, rules=replace(Rules(), reader_within=float("inf")), scorer=scorer,
                                       reader=reader),
             # scorer + reader on an index that keeps the scorer's sentence vectors, as a built one does
             "kept vectors": Engine.of(keeping_scorer_vectors(index, scorer), rules=Rules(), scorer=scorer,
                                       reader=reader)}
    for q in questions:
        for engine in paths.values():
            ask(engine, embedder, q.question, q.history, k=5)
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.rounds):
        for q in questions:
            for name, engine in paths.items():
                if args.fresh:
                    scorer._cache.clear()
                t = time.perf_counter()
                ask(engine, embedder, q.question, q.history, k=5)
                times[name].append(time.perf_counter() - t)
    p50 = {name: 1000 * statistics.median(t) for name, t in times.items()}
    ratio = {name: statistics.median(a / b for a, b in zip(t, times["none"], strict=True)) for name, t in times.items()}
    figures = {"passages": len(index.passages), "sentences": sum(len(p.sentences) for p in index.passages),
               "copies": args.copies, "squad": args.squad, "fresh": args.fresh, "asks_each": len(times["none"]),
               "p50_ms": {k: round(v, 2) for k, v in p50.items()},
               "ratio_to_none": {k: round(v, 3) for k, v in ratio.items()},
               "reader_candidates": Rules().reader_candidates, "reader_within": Rules().reader_within}
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{figures['passages']} passages, {figures['sentences']} sentences; {figures['asks_each']} asks each, k=5, "
              f"one thread{', scorer vectors forgotten before each ask' if args.fresh else ''}")
        for name in paths:
            print(f"  {name:<14} p50 {p50[name]:6.1f} ms   median ratio to none {ratio[name]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
