"""The ablation behind docs/quality.md: each chunking, each kind of evidence, on the article and SQuAD.

    QA_EVAL_CACHE=/tmp/qa-vectors .venv/bin/python eval/ablation.py --squad ../shared/benchmarks/squad-v1.1-dev

Prints one Markdown table. Every row runs the same questions through the same code as `qa eval`
(qa.eval.kit.ask); only the passages and the fusion change.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from qa.answer.compose import Rules
from qa.config import Settings
from qa.eval.evaluate import DEFAULT_SET, load_set, run_article
from qa.eval.kit import CachedEmbedder, Engine, baseline_index, system_index
from qa.eval.squad import load_documents, load_squad, run_squad
from qa.ingest.documents import load_corpus
from qa.models.embedder import MiniLM
from qa.search.retrieval import Fusion

CHUNKINGS = (
    ("sentences, <=60 words", 60),
    ("sentences, <=120 words", 120),
    ("sentences, <=200 words", 200),
    ("paragraphs (<=400 words)", 400),
)
#: (label, mode, fusion)
VARIANTS = (
    ("dense", "dense", Fusion(sentence_weight=0.0)),
    ("lexical (BM25)", "lexical", Fusion(sentence_weight=0.0)),
    ("fused, RRF", "hybrid", Fusion(method="rrf", sentence_weight=0.0)),
    ("fused, convex", "hybrid", Fusion(sentence_weight=0.0)),
    ("fused, convex + sentence evidence", "hybrid", Fusion()),
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--squad", metavar="DIR", help="also run the SQuAD sample")
    p.add_argument("--limit", type=int, default=None, help="first N SQuAD questions")
    p.add_argument("--corpus", default="corpus")
    p.add_argument("--chunkings", default=None, help="comma-separated max_words to try (default: all)")
    args = p.parse_args(argv)
    settings = Settings(corpus_dir=Path(args.corpus))
    embedder = CachedEmbedder.from_env(MiniLM(threads=settings.torch_threads))
    questions = load_set(DEFAULT_SET)
    documents = load_corpus(settings.corpus_dir, settings.max_file_bytes)
    squad_dir = Path(args.squad) if args.squad else None
    squad_docs = None
    if squad_dir is not None:
        squad_docs = load_documents(squad_dir, [q.doc_id for q in load_squad(squad_dir, args.limit)], settings)
    chosen = CHUNKINGS
    if args.chunkings:
        wanted = {int(x) for x in args.chunkings.split(",")}
        chosen = tuple(c for c in CHUNKINGS if c[1] in wanted)

    header = ("| passages | evidence | art. hit@1 | hit@3 | MRR@10 | answer@1 | words/passage |"
              + (" SQuAD R@1 | R@5 | MRR@10 | answer@1 |" if squad_dir else ""))
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    # the naive baseline: fixed 200-word windows, dense only, the top window's closest sentence
    base = Engine.of(baseline_index(documents, embedder))
    a = run_article(questions, Engine.of(system_index(documents, 120, embedder)), embedder, base, latency=False)
    row = _row("fixed 200-word windows", "dense (naive baseline)", a["baseline"])
    if squad_dir is not None:
        q = run_squad(squad_dir, settings, embedder, limit=args.limit, baseline=True, documents=squad_docs)
        row += _squad_cells(q["baseline"])
    print(row, flush=True)
    for label, max_words in chosen:
        index = system_index(documents, max_words, embedder)
        for name, mode, fusion in VARIANTS:
            started = time.perf_counter()
            a = run_article(questions, Engine.of(index, fusion, Rules()), embedder, latency=False, mode=mode)
            row = _row(label, name, a["system"])
            if squad_dir is not None:
                q = run_squad(squad_dir, settings, embedder, fusion, Rules(), limit=args.limit, baseline=False,
                              mode=mode, max_words=max_words, documents=squad_docs)
                row += _squad_cells(q["system"])
            print(row, flush=True)
            print(f"  ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        embedder.save()
    return 0


def _row(chunking: str, evidence: str, s: dict) -> str:
    return (f"| {chunking} | {evidence} | {s['hit@1']:.3f} | {s['hit@3']:.3f} | {s['mrr@10']:.3f} | "
            f"{s['answer@1']:.3f} | {s['mean_passage_words']:.0f} |")


def _squad_cells(s: dict) -> str:
    return f" {s['R@1']:.3f} | {s['R@5']:.3f} | {s['mrr@10']:.3f} | {s['answer@1']:.3f} |"


if __name__ == "__main__":
    sys.exit(main())
