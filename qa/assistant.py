"""The Python API: `Assistant(settings).ask(question)`; the CLI and the UI are thin layers over it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qa import followup, indexer
from qa.answer import Result, Rules, compose
from qa.config import Settings
from qa.embeddings import Embedder, MiniLM
from qa.errors import InputError
from qa.retrieval import Fusion, Retriever
from qa.store import Index
from qa.text import clean_question, clean_text


@dataclass(frozen=True)
class _Live:
    """What a question is answered from; replaced whole, never modified."""

    index: Index
    retriever: Retriever


class Assistant:
    """Loads the corpus's index (building or refreshing it when needed) and answers questions.

    >>> qa = Assistant()                       # doctest: +SKIP
    >>> qa.ask("When did Pyongyang test a nuclear device?").answer.text   # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        warn: Callable[[str], None] | None = None,
        fusion: Fusion | None = None,
        rules: Rules | None = None,
        load: bool = True,
    ) -> None:
        self.settings = settings or Settings()
        self.embedder = embedder or MiniLM(threads=self.settings.torch_threads)
        self.warn = warn or (lambda _m: None)
        self.fusion = fusion or Fusion()
        self.rules = rules or Rules()
        self._lock = threading.Lock()
        self._live: _Live | None = None
        if load:
            self.reload()

    # -- the index ---------------------------------------------------------------------------------

    def _swap(self, index: Index) -> Index:
        live = _Live(index, Retriever(index, self.fusion))
        with self._lock:
            self._live = live
        return index

    def reload(self, force: bool = False, progress: indexer.Progress | None = None) -> Index:
        """Opens the index (building it when absent or stale, or when forced) and starts serving it."""
        index = indexer.open_index(self.settings, self.embedder, self.warn, force=force,
                                   progress=progress or indexer._no_progress)
        return self._swap(index)

    @property
    def index(self) -> Index:
        live = self._live
        if live is None:
            raise InputError("the assistant has no index loaded")
        return live.index

    def documents(self) -> list[dict[str, Any]]:
        """What is indexed: one entry per document (title, size, passages)."""
        return list(self.index.manifest.get("documents", []))

    # -- questions ---------------------------------------------------------------------------------

    def query_for(self, question: str, history: Sequence[str] | None = None) -> str:
        """The text that will be searched for a (cleaned) question given the earlier ones."""
        earlier = [clean_text(h) for h in (history or []) if isinstance(h, str) and clean_text(h)]
        return followup.resolve(question, earlier[-5:])

    def ask(self, question: object, k: int | None = None, history: Sequence[str] | None = None,
            mode: str = "hybrid") -> Result:
        """The passages that answer `question`, best first, and the answer sentence (or None)."""
        q = clean_question(question, self.settings.max_question_chars)
        k = self.settings.k if k is None else k
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 50:
            raise InputError(f"k must be a whole number between 1 and 50 (got {k!r}).")
        live = self._live
        if live is None:
            raise InputError("the assistant has no index loaded")
        t0 = time.perf_counter()
        query = self.query_for(q, history)
        qvec = self.embedder.encode([query])[0]
        t1 = time.perf_counter()
        candidates = live.retriever.search(query, qvec, k=max(k * 3, 10), mode=mode)
        t2 = time.perf_counter()
        result = compose(q, query, live.index, candidates, qvec, k, self.rules)
        t3 = time.perf_counter()
        timings = {"encode": t1 - t0, "search": t2 - t1, "answer": t3 - t2, "total": t3 - t0}
        return Result(result.question, result.query, result.answer, result.hits, timings)
