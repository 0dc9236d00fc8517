"""Warm answer latency on the article with and without the answer scorer, one thread, same run.

    QA_EVAL_CACHE=/tmp/qa-vectors .venv/bin/python eval/scorer_latency.py

Every dev question is asked once to warm both paths (each sentence's scorer vector is computed
once), then 3 rounds alternate the two paths question by question; prints the medians and the
median per-question ratio (docs/benchmarks.md, "Answer scorer").
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa.answer.compose import Rules  # noqa: E402
from qa.answer.scorer import Scorer  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.eval.evaluate import DEFAULT_SET, load_set  # noqa: E402
from qa.eval.kit import CachedEmbedder, Engine, ask, system_index  # noqa: E402
from qa.index.embeddings import MiniLM  # noqa: E402
from qa.ingest.documents import load_corpus  # noqa: E402


def main() -> int:
    settings = Settings()
    embedder = CachedEmbedder.from_env(MiniLM(threads=1))
    scorer = Scorer(threads=1)
    scorer.warm_up()
    index = system_index(load_corpus(settings.corpus_dir, settings.max_file_bytes), settings.max_words, embedder)
    questions = load_set(DEFAULT_SET)
    on, off = Engine.of(index, rules=Rules(), scorer=scorer), Engine.of(index, rules=Rules())
    for q in questions:
        ask(on, embedder, q.question, q.history, k=5)
        ask(off, embedder, q.question, q.history, k=5)
    with_scorer, without, ratios = [], [], []
    for _ in range(3):
        for q in questions:
            a = time.perf_counter()
            ask(off, embedder, q.question, q.history, k=5)
            b = time.perf_counter()
            ask(on, embedder, q.question, q.history, k=5)
            c = time.perf_counter()
            without.append(b - a)
            with_scorer.append(c - b)
            ratios.append((c - b) / (b - a))
    encode = []
    for _ in range(50):
        a = time.perf_counter()
        scorer.encode(["When did North Korea conduct its first nuclear test?"])
        encode.append(time.perf_counter() - a)
    print(f"warm p50 with the scorer {1000 * statistics.median(with_scorer):.1f} ms, without "
          f"{1000 * statistics.median(without):.1f} ms, median per-question ratio {statistics.median(ratios):.2f} "
          f"({len(with_scorer)} asks each, k=5, one thread); the scorer's question encoding "
          f"{1000 * statistics.median(encode):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
