"""The Python API: `Assistant(settings).ask(question)`; the CLI and the UI are thin layers over it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from qa.answer import followup
from qa.answer.compose import Result, Rules, compose
from qa.answer.scorer import Scorer
from qa.config import Settings
from qa.errors import InputError
from qa.index import indexer
from qa.index.embeddings import Embedder, MiniLM
from qa.index.store import Index
from qa.search.retrieval import Fusion, Retriever
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
        scorer: Scorer | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.embedder = embedder or MiniLM(threads=self.settings.torch_threads)
        self.warn = warn or (lambda _m: None)
        self.fusion = fusion or Fusion()
        self.rules = rules or Rules()
        #: judges the top passages' sentences (None when Settings.scorer is off)
        self.scorer = scorer or (Scorer(threads=self.settings.torch_threads) if self.settings.scorer else None)
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
        """Opens the index (building it when absent or stale, or when forced) and starts serving it.

        The model is loaded and self-checked first, so a damaged model fails before any other work.
        """
        warm_up = getattr(self.embedder, "warm_up", None)
        if warm_up is not None:
            warm_up()
        if self.scorer is not None:
            self.scorer.warm_up()
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
        result = compose(q, query, live.index, candidates, k, self.rules, self.scorer)
        t3 = time.perf_counter()
        timings = {"encode": t1 - t0, "search": t2 - t1, "answer": t3 - t2, "total": t3 - t0}
        return replace(result, timings=timings)

    # -- checking a citation -----------------------------------------------------------------------

    def context(self, citation: Any) -> dict[str, Any]:
        """The cited text in its place, so a reader can check it: the paragraph before, the cited
        paragraph and the one after, read afresh from the document, and the cited range inside it.

        `citation` is a Citation, its JSON form (`Citation.to_json()`), or a passage id; the document
        and paragraph always come from the index, never from the caller. Returns a dict with doc,
        title, paragraph (number), before, text, after (paragraph texts; before/after may be None),
        before_paragraph and after_paragraph (their numbers), highlight ([start, end) inside text),
        start and end (raw offsets of the cited range).
        """
        from bisect import bisect_left, bisect_right
        from pathlib import PurePosixPath

        from qa.errors import CorpusError
        from qa.ingest.documents import Skip, read_document

        def whole(x: Any) -> int | None:
            return x if isinstance(x, int) and not isinstance(x, bool) else None

        if isinstance(citation, dict):
            fields = [citation.get(k) for k in ("passage_id", "doc", "start", "end")]
        elif whole(citation) is not None:
            fields = [citation, None, None, None]
        else:
            fields = [getattr(citation, k, None) for k in ("passage_id", "doc", "start", "end")]
        pid, s, e = whole(fields[0]), whole(fields[2]), whole(fields[3])
        doc = fields[1] if isinstance(fields[1], str) else None
        span = (s, e) if s is not None and e is not None else None
        passages = self.index.passages

        def fits(p: Any) -> bool:  # the cited document and range, in case a rebuild renumbered passages
            return (doc is None or p.doc == doc) and (span is None or p.start <= span[0] < span[1] <= p.end)

        passage = passages[pid] if pid is not None and 0 <= pid < len(passages) and fits(passages[pid]) else None
        if passage is None and doc is not None and span is not None:
            passage = next((p for p in passages if fits(p)), None)
        if passage is None:
            raise InputError("That citation is not in the current index; ask the question again.")
        start, end = span or (passage.start, passage.end)

        root = self.settings.corpus_dir.resolve()
        path = root.joinpath(*PurePosixPath(passage.doc).parts[1:]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise CorpusError(f"{passage.doc} is no longer in the corpus; re-index with `qa index`.")
        try:
            document, _note = read_document(path, passage.doc, self.settings.max_file_bytes)
        except Skip as err:
            raise CorpusError(f"cannot show {passage.doc}: {err}") from None
        indexed = next((d for d in self.documents() if d.get("doc") == passage.doc), {})
        if indexed.get("sha256") not in (None, document.sha256):
            raise CorpusError(f"{passage.doc} changed since it was indexed; re-index with `qa index`.")
        paragraphs = document.paragraphs
        at = next((i for i, p in enumerate(paragraphs) if p.number == passage.paragraph), None)
        if at is None:
            raise CorpusError(f"paragraph {passage.paragraph} of {passage.doc} is gone; re-index with `qa index`.")
        p = paragraphs[at]
        a, b = bisect_left(p.starts, start), bisect_right(p.ends, end)
        if not 0 <= a < b <= len(p.text):  # offsets out of step: fall back to finding the text
            found = p.text.find(passage.text)
            a, b = (found, found + len(passage.text)) if found >= 0 else (0, len(p.text))
        # neighbours as a reader meets them: a pull-quote repeats other text, so it is passed over
        before = next((q for q in reversed(paragraphs[:at]) if q.role != "pullquote"), None)
        after = next((q for q in paragraphs[at + 1 :] if q.role != "pullquote"), None)
        return {
            "doc": passage.doc,
            "title": passage.title,
            "paragraph": p.number,
            "before": before.text if before else None,
            "before_paragraph": before.number if before else None,
            "text": p.text,
            "after": after.text if after else None,
            "after_paragraph": after.number if after else None,
            "highlight": [a, b],
            "start": start,
            "end": end,
        }
