"""Scale: a corpus of ~1000x the article, and synthetic passage vector sets of 100k and 1M.

    .venv/bin/python -m benchmarks.scale [--scale 1000] [--real 10] [--vectors 100000,1000000] [--threshold] [--json]

corpus    build (full), load, open, question p50, adding one document (`Assistant.add`, incremental)
          against a full rebuild. Embeds with the hash-based FakeEmbedder (the real model would take
          hours on two cores); the real model's cost per text is measured on a sample and the full
          build extrapolated.
real      the real model end to end on N copies of the article: full build and adding one document,
          measured, with the extrapolation checked against the measured build.
threshold exact (IndexFlatIP) search p50 for growing N, one thread: where exact stops being cheap.
vectors   per size: exact build and p50 (the baseline), the planned index's build (IVF, HNSW
          coarse quantizer), p50 and recall@10 against exact over 200 queries, memory; nprobe swept
          from half to four times the recorded one.
Medians of repeated runs; ratios against a baseline measured in the same run. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.corpus import ARTICLE, ask_times, make_corpus, pct, questions, varied
from benchmarks.synthetic import clustered


class FastFake:
    """FakeEmbedder's vectors bit for bit (the same name, so the same index), each word's computed once."""

    def __init__(self) -> None:
        from qa.models.embedder import FakeEmbedder

        self._inner = FakeEmbedder()
        self.name, self.dim = self._inner.name, self._inner.dim
        self._words: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        from qa.text import words

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for w in words(text):
                v = self._words.get(w)
                if v is None:
                    v = self._words[w] = _word_vector(w, self.dim)
                out[row] += v
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


def _word_vector(w: str, dim: int) -> np.ndarray:
    import hashlib

    seed = int.from_bytes(hashlib.sha256(w.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def _median_time(fn: Callable[[], Any], repeat: int, cpu: list[float] | None = None) -> tuple[float, Any]:
    """Median wall seconds of `repeat` calls (and their CPU seconds appended to `cpu`), last result."""
    times, out = [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t)
        if cpu is not None:
            cpu.append(time.process_time() - c)
    return statistics.median(times), out


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _add_one(assistant: Any, folder: Path, copy: int) -> tuple[float, float, int]:
    """Wall and CPU seconds of `Assistant.add` for one new document, a varied copy of the article
    (the index is refreshed from the generation the assistant holds), and the texts it embedded."""
    src = folder / f"new-{copy}.txt"
    # every paragraph marked, so no passage repeats one of the corpus's copies (repeats are indexed once)
    paragraphs = varied(ARTICLE.read_text(encoding="utf-8"), copy).split("\n\n")
    src.write_text("\n\n".join(f"Addendum {copy}.{i}: {p}" for i, p in enumerate(paragraphs)), encoding="utf-8")
    t, c = time.perf_counter(), time.process_time()
    assistant.add([(src, src.name)])
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    new = [p for p in assistant.index.passages if p.doc == f"corpus/{src.name}"]
    return wall, cpu, len(new) + sum(len(p.sentences) for p in new if len(p.sentences) > 1)


def _texts(index: Any) -> int:
    """What a full build embeds: every passage, and every sentence of a passage of several."""
    return len(index.passages) + sum(int(n) for n in np.diff(index.sentence_rows) if n > 1)


def corpus_figures(scale: int, builds: int, adds: int, n_questions: int, tmp: Path,
                   retokenise: bool = False) -> dict[str, Any]:
    from qa import Assistant, Settings
    from qa.index import indexer, lexical, store
    from qa.models.embedder import MiniLM

    chars = make_corpus(tmp / "corpus", characters=scale * len(ARTICLE.read_text(encoding="utf-8")))
    fake = FastFake()
    settings = Settings(corpus_dir=tmp / "corpus", index_dir=tmp / "index")
    build_cpu: list[float] = []
    build_s, index = _median_time(lambda: indexer.build(settings, fake, reuse=False), builds, build_cpu)
    print(f"full build {build_s:.1f} s, load {os.getloadavg()}", file=sys.stderr, flush=True)
    n_sentences = len(index.sentence_vectors)
    disk = sum(f.stat().st_size for f in index.path.rglob("*") if f.is_file())

    gen = store.current_generation(settings.index_dir)
    assert gen is not None
    load_s, _ = _median_time(lambda: store.load(gen, store.read_manifest(gen)), 5)
    open_s, assistant = _median_time(lambda: Assistant(settings, embedder=fake), 5)
    out: dict[str, Any] = {}
    if retokenise:  # what every load paid before format 2: tokenise everything, index both BM25 tables
        old_s, _ = _median_time(
            lambda: lexical.tables(index.passages, [lexical.sentence_tokens(p) for p in index.passages]), 1)
        out["retokenise_s (what load paid before format 2)"] = round(old_s, 2)

    bare, full = ask_times(assistant, fake, questions(n_questions))
    print(f"load {load_s:.2f} s, open {open_s:.2f} s, asked; load {os.getloadavg()}", file=sys.stderr, flush=True)

    incoming = tmp / "incoming"
    incoming.mkdir()
    adds_ = [_add_one(assistant, incoming, 900 + i) for i in range(adds)]
    add_s, add_cpu = statistics.median(a[0] for a in adds_), statistics.median(a[1] for a in adds_)
    add_texts = adds_[-1][2]
    # the same change seen by a fresh process: the previous generation is read from disk
    (settings.corpus_dir / "fresh.txt").write_text(varied(ARTICLE.read_text(encoding="utf-8"), 990), encoding="utf-8")
    fresh_s, _ = _median_time(lambda: Assistant(settings, embedder=fake), 1)

    model = MiniLM()
    model.warm_up()
    sample = [p.search_text() for p in index.passages[:: max(1, len(index.passages) // 64)]][:64]
    sample += [p.sentence_text(0) for p in index.passages[1 :: max(1, len(index.passages) // 64)]][:64]
    with model.bulk():
        model.encode(sample[:16])
        real_s, _ = _median_time(lambda: model.encode(sample), 2)
    per_text = real_s / len(sample)
    texts = _texts(index)
    return {
        "corpus_characters": chars,
        "times_the_article": round(chars / len(ARTICLE.read_text(encoding="utf-8")), 1),
        "documents": len(index.manifest["documents"]),
        "passages": len(index.passages),
        "sentences": n_sentences,
        "vector_index": index.manifest["vector_index"],
        "index_mib_on_disk": round(disk / 2**20, 1),
        "embedder": "FakeEmbedder (hash bag of words) for build, load and incremental timing",
        "full_build_s": round(build_s, 2),
        "full_build_cpu_s": round(statistics.median(build_cpu), 2),
        "load_s (store.load)": round(load_s, 3),
        "open_s (Assistant: hash corpus + load)": round(open_s, 3),
        **out,
        "bare_p50_ms (fake encode + FAISS)": round(1000 * statistics.median(bare), 2),
        "ask_p50_ms": round(1000 * statistics.median(full), 2),
        "ask_p95_ms": round(1000 * pct(full, 0.95), 2),
        "ask_over_bare_p50": round(statistics.median(full) / statistics.median(bare), 2),
        "add_one_document_s (Assistant.add, incremental)": round(add_s, 2),
        "add_one_document_cpu_s": round(add_cpu, 2),
        "add_one_document_texts_embedded": add_texts,
        "add_over_full_build": round(add_s / build_s, 4),
        "add_over_full_build_cpu": round(add_cpu / statistics.median(build_cpu), 4),
        "add_one_document_fresh_process_s (previous read from disk)": round(fresh_s, 2),
        "real_model_ms_per_text (bulk, all cores)": round(1000 * per_text, 2),
        "texts_embedded_by_a_full_build": texts,
        "real_full_build_s (extrapolated)": round(build_s + texts * per_text, 0),
        "real_add_over_full_build (extrapolated)": round(
            (add_s + add_texts * per_text) / (build_s + texts * per_text), 5),
        "load_average": os.getloadavg(),
    }


def real_figures(copies: int, tmp: Path) -> dict[str, Any]:
    """End to end with the real model on `copies` varied copies of the article: a full build and
    one document added, measured, against the extrapolation the corpus figures use."""
    from qa import Assistant, Settings
    from qa.index import indexer
    from qa.models.embedder import MiniLM

    folder = tmp / "real"
    make_corpus(folder / "corpus", copies=copies, only=[ARTICLE])
    settings = Settings(corpus_dir=folder / "corpus", index_dir=folder / "index")
    model = MiniLM()
    model.warm_up()
    build_s, index = _median_time(lambda: indexer.build(settings, model, reuse=False), 1)
    fake = FastFake()
    fake_s, _ = _median_time(lambda: indexer.build(Settings(corpus_dir=folder / "corpus",
                                                            index_dir=folder / "fake"), fake, reuse=False), 1)
    assistant = Assistant(settings, embedder=model)
    (folder / "incoming").mkdir()
    add_s, _add_cpu, add_texts = _add_one(assistant, folder / "incoming", 900)
    sample = [p.search_text() for p in index.passages[:64]]
    with model.bulk():
        per_text, _ = _median_time(lambda: model.encode(sample), 2)
    per_text /= len(sample)
    texts = _texts(index)
    return {
        "copies_of_the_article": copies, "passages": len(index.passages), "texts_embedded": texts,
        "real_full_build_s (measured)": round(build_s, 1),
        "real_full_build_s (extrapolated: fake build + texts x ms per text)": round(fake_s + texts * per_text, 1),
        "real_model_ms_per_text": round(1000 * per_text, 2),
        "real_add_one_document_s (measured)": round(add_s, 2), "add_texts_embedded": add_texts,
        "real_add_over_full_build (measured)": round(add_s / build_s, 4),
        "load_average": os.getloadavg(),
    }


def _p50_ms(index: Any, queries: np.ndarray, k: int = 10, passes: int = 3) -> float:
    """Median over `passes` passes of each pass's median time for one query."""
    medians = []
    for _ in range(passes):
        times = []
        for q in queries:
            t = time.perf_counter()
            index.search(q.reshape(1, -1), k)
            times.append(time.perf_counter() - t)
        medians.append(statistics.median(times))
    return 1000 * statistics.median(medians)


def threshold_figures(sizes: list[int]) -> dict[str, Any]:
    import faiss

    faiss.omp_set_num_threads(1)
    x = clustered(max(sizes) + 100, seed=2)
    queries, x = x[:100], x[100:]
    out = {}
    for n in sizes:
        flat = faiss.IndexFlatIP(x.shape[1])
        flat.add(x[:n])
        out[f"exact_p50_ms@{n}"] = round(_p50_ms(flat, queries), 2)
    return out


def _timed_build(make: Callable[[], Any]) -> tuple[float, Any]:
    import faiss

    faiss.omp_set_num_threads(os.cpu_count() or 1)
    t = time.perf_counter()
    index = make()
    seconds = time.perf_counter() - t
    faiss.omp_set_num_threads(1)  # a question is answered on one thread
    return seconds, index


def _sweep(index: Any, queries: np.ndarray, exact: np.ndarray, flat_p50: float, name: str,
           values: list[int], recorded: int | None, set_value: Callable[[int], None]) -> dict[str, Any]:
    from qa.index import vectors as vector_index

    out = {}
    for value in values:
        set_value(value)
        _, found = index.search(queries, 10)
        p50 = _p50_ms(index, queries)
        tag = " (recorded)" if value == recorded else ""
        out[f"{name} {value}{tag}"] = {"p50_ms": round(p50, 3), "recall@10": round(vector_index.recall_at(found, exact), 4),
                                       "p50_over_exact": round(p50 / flat_p50, 4)}
    return out


def vector_figures(n: int, kind: str, exact_limit: int) -> dict[str, Any]:
    import faiss

    from qa.index import vectors as vector_index

    t = time.perf_counter()
    x = clustered(n + 200, kind=kind, seed=3)
    queries, x = x[:200].copy(), x[200:]
    generate_s = time.perf_counter() - t

    def exact_index() -> Any:
        flat = faiss.IndexFlatIP(x.shape[1])
        flat.add(x)
        return flat

    flat_build_s, flat = _timed_build(exact_index)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    _, exact = flat.search(queries, 10)
    faiss.omp_set_num_threads(1)
    flat_p50 = _p50_ms(flat, queries[:30])
    del flat
    how = vector_index.plan(n, exact_limit)
    build_s, index = _timed_build(lambda: vector_index.build(x, x.shape[1], how))
    out: dict[str, Any] = {
        "n": n, "data": kind, "index": how, "generate_s": round(generate_s, 1),
        "exact_build_s": round(flat_build_s, 2), "exact_p50_ms (baseline)": round(flat_p50, 2),
        "build_s": round(build_s, 1),
        "vectors_mib": round(n * index.d * 4 / 2**20, 1),
        "peak_rss_mib (set + index)": round(_rss_mib(), 0),
    }
    out["index_mib (serialised)"] = round(faiss.serialize_index(index).nbytes / 2**20, 1)
    if how["kind"] != "flat":
        ivf = faiss.extract_index_ivf(index)
        p = how["nprobe"]
        out.update(_sweep(index, queries, exact, flat_p50, "nprobe", [p // 2, p, p * 2, p * 4], p,
                          lambda v: setattr(ivf, "nprobe", v)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=1000, help="corpus size in articles (0: skip the corpus)")
    ap.add_argument("--builds", type=int, default=1, help="full builds timed (median)")
    ap.add_argument("--retokenise", action="store_true", help="also time what load paid before format 2")
    ap.add_argument("--real", type=int, default=0, help="copies of the article for an end-to-end real-model "
                                                        "build and add-one (0: skip)")
    ap.add_argument("--adds", type=int, default=3, help="one-document additions timed (median)")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--threshold", action="store_true", help="exact search p50 by size")
    ap.add_argument("--vectors", default="100000,1000000", help="synthetic set sizes, comma-separated ('' to skip)")
    ap.add_argument("--kinds", default="documents,isotropic", help="synthetic data kinds (benchmarks/synthetic.py)")
    ap.add_argument("--exact-limit", type=int, default=50_000)
    ap.add_argument("--nice", type=int, default=10, help="niceness (two shared cores: let the others through)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.nice(args.nice)
    report: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="qa-scale-"))
    try:
        if args.scale:
            report["corpus"] = corpus_figures(args.scale, args.builds, args.adds, args.questions, tmp,
                                              args.retokenise)
            print(json.dumps({"corpus": report["corpus"]}), file=sys.stderr, flush=True)
        if args.real:
            report["real model"] = real_figures(args.real, tmp)
        if args.threshold:
            report["threshold"] = threshold_figures([10_000, 25_000, 50_000, 100_000, 200_000])
        for n in [int(s) for s in args.vectors.split(",") if s]:
            for kind in args.kinds.split(","):
                report[f"vectors {n} {kind}"] = vector_figures(n, kind, args.exact_limit)
                print(json.dumps({f"vectors {n} {kind}": report[f"vectors {n} {kind}"]}), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for section, figures in report.items():
            print(section)
            for key, value in figures.items():
                print(f"  {key:<48}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
