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
SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-dev"


def make_corpus(folder: Path, copies: int) -> int:
    folder.mkdir(parents=True)
    sources = [ROOT / "corpus" / "china-and-north-korea-the-uneasy-partnership.txt"]
    sources += sorted((SQUAD / "docs").glob("*.txt"))
    size = 0
    for c in range(copies):
        for src in sources:
            text = src.read_text(encoding="utf-8")
            if c:
                text = f"Copy {c} of {src.stem}.\n\n{text}"
            (folder / f"{c:03d}-{src.name}").write_text(text, encoding="utf-8")
            size += len(text)
    return size


def questions(n: int) -> list[str]:
    lines = (SQUAD / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    step = max(1, len(lines) // n)
    return [json.loads(line)["question"] for line in lines[::step][:n]]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=1, help="repeat the corpus this many times")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--backend", choices=["auto", "onnx", "torch"], default="auto", help="the model's backend")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import resource

    import numpy as np

    from qa import Assistant, Settings
    from qa.index.embeddings import MiniLM

    tmp = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    try:
        chars = make_corpus(tmp / "corpus", args.copies)
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

        qs = questions(args.questions)
        for q in qs[:5]:  # warm caches
            reopened.ask(q)
        bare, full = [], []
        for q in qs:
            t = time.perf_counter()
            v = model.encode([q])
            reopened.index.vectors.search(np.asarray(v, dtype=np.float32), 10)
            bare.append(time.perf_counter() - t)
            t = time.perf_counter()
            reopened.ask(q)
            full.append(time.perf_counter() - t)
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
