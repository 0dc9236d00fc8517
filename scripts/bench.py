"""Speed at scale: indexing throughput, load time and warm question latency, as ratios to a baseline.

    .venv/bin/python scripts/bench.py [--copies N] [--questions N] [--backend onnx|torch] [--json]

The corpus is the article plus the 48 SQuAD documents of ../shared/benchmarks (about 90 times the
article), optionally repeated N times (each copy made distinct, so deduplication keeps it). The
baseline, measured in the same run on the same index, is the bare work every answer needs: encode
the question and one FAISS search. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.corpus import ask_times, make_corpus, pct, questions  # noqa: E402  (the corpus scale.py also uses)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=1, help="repeat the corpus this many times")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--backend", choices=["auto", "onnx", "torch"], default="auto", help="the model's backend")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import resource

    from qa import Assistant, Settings
    from qa.models.embedder import MiniLM

    tmp = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    try:
        chars = make_corpus(tmp / "corpus", copies=args.copies)
        settings = Settings(corpus_dir=tmp / "corpus", index_dir=tmp / "index")
        model = MiniLM(backend=args.backend)
        t = time.perf_counter()
        model.warm_up()
        model_load = time.perf_counter() - t

        t = time.perf_counter()
        assistant = Assistant(settings, embedder=model)
        build = time.perf_counter() - t
        peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # so far: load and indexing
        index = assistant.index
        n_passages, n_sentences = len(index.passages), len(index.sentence_vectors)
        disk = sum(f.stat().st_size for f in index.path.iterdir())

        t = time.perf_counter()
        reopened = Assistant(settings, embedder=model)
        load = time.perf_counter() - t

        bare, full = ask_times(reopened, model, questions(args.questions))
        figures = {
            "backend": model.backend,
            "corpus_characters": chars,
            "documents": len(index.manifest.get("documents", [])),
            "passages": n_passages,
            "sentences": n_sentences,
            "index_bytes": disk,
            "model_load_s": round(model_load, 2),
            "build_s": round(build, 2),
            "build_passages_per_s": round(n_passages / build, 1),
            "peak_rss_indexing_mib": round(peak_rss_mib),
            "load_s": round(load, 3),
            "bare_p50_ms": round(1000 * statistics.median(bare), 2),
            "ask_p50_ms": round(1000 * statistics.median(full), 2),
            "ask_p95_ms": round(1000 * pct(full, 0.95), 2),
            "ask_over_bare_p50": round(statistics.median(full) / statistics.median(bare), 2),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(figures))
    else:
        width = max(map(len, figures))
        for key, value in figures.items():
            print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
