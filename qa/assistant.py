"""The Python API: `Assistant(settings).ask(question)`; the CLI and the UI are thin layers over it."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from qa.answer import followup, shortanswer
from qa.answer.compose import Rules, compose
from qa.answer.result import Result
from qa.config import Settings
from qa.errors import CorpusError, InputError, NotFound
from qa.index import indexer
from qa.index.store import Index
from qa.ingest import library, timelimit
from qa.ingest.documents import Document, Skip, doc_name, read_document
from qa.ingest.formats import pdfboxes
from qa.ingest.formats.pdfrender import DEFAULT_ZOOM, PageImage, Renderer, check_page, check_zoom
from qa.models.embedder import Embedder, MiniLM
from qa.models.reader import Reader
from qa.models.scorer import Scorer
from qa.models.span import SpanModel
from qa.places import seed
from qa.search.retrieval import Fusion, Retriever
from qa.text import clean_question, clean_text, text_window


def _release_free_memory() -> None:
    """Hands the C heap's free pages back to the system (glibc's malloc_trim), so a server does not
    keep what model loading used and freed (about 14 MiB of its resident memory); a no-op where the
    C library has no malloc_trim."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


@dataclass(frozen=True)
class Added:
    """What `Assistant.add` did: the documents now indexed (manifest entries) and one line per
    file refused ("skipped NAME: reason")."""

    added: list[dict[str, Any]]
    refused: list[str]


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
        reader: Reader | None = None,
        span: SpanModel | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.warn = warn or (lambda _m: None)
        if seed(self.settings.corpus_dir):  # the per-user corpus gets the example article on first use
            self.warn(f"made the corpus folder {self.settings.corpus_dir} with the example article "
                      "(no ./corpus here; `qa where` shows the folders in use)")
        self.embedder = embedder or MiniLM(threads=self.settings.torch_threads, warn=self.warn)
        self.fusion = fusion or Fusion()
        self.rules = rules or Rules()
        #: judges the top passages' sentences (None when Settings.scorer is off)
        self.scorer = scorer or (Scorer(threads=self.settings.torch_threads) if self.settings.scorer else None)
        #: reads the best few sentences again, with the question (None when Settings.reader is off)
        self.reader = reader or (Reader(threads=self.settings.torch_threads) if self.settings.reader else None)
        #: marks the short answer inside the quote (None when Settings.span is off)
        self.span = span or (SpanModel(threads=self.settings.torch_threads) if self.settings.span else None)
        #: maps a short answer to raw offsets where its sentence's text is not one to one with the file
        self._raw_map = shortanswer.DocumentMap(self._read)
        self._lock = threading.Lock()
        #: one refresh at a time (an upload, a removal, the folder watcher), so none swaps in an older one
        self._reloading = threading.RLock()
        self._live: _Live | None = None
        #: PDF pages drawn for the page view, the last few kept
        self.renderer = Renderer()
        if load:
            self.reload()

    # -- the index ---------------------------------------------------------------------------------

    def _swap(self, index: Index) -> Index:
        live = _Live(index, Retriever(index, self.fusion))
        with self._lock:
            self._live = live
        return index

    def reload(self, force: bool = False, progress: indexer.Progress | None = None,
               warn: Callable[[str], None] | None = None) -> Index:
        """Opens the index (building it when absent or stale, or when forced) and starts serving it.

        The model is loaded and self-checked first, so a damaged model fails before any other work.
        `warn`: where this refresh's warnings go (the assistant's own `warn` by default).
        """
        with self._reloading:
            return self._reload(force, progress, warn or self.warn)

    def _reload(self, force: bool, progress: indexer.Progress | None, warn: Callable[[str], None]) -> Index:
        # nothing to load and nothing to build from: said before the models load (minutes, the first time)
        indexer.require_corpus(self.settings)
        # the scorer's and the reader's files are hashed and their sessions built on other threads,
        # beside the embedder's
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="qa-load") as pool:
            judges = [pool.submit(m.warm_up) for m in (self.scorer, self.reader, self.span) if m is not None]
            warm_up = getattr(self.embedder, "warm_up", None)
            if warm_up is not None:
                warm_up()
            for judge in judges:
                judge.result()  # a refusal, if any, before any other work
        _release_free_memory()  # loading left freed buffers in three threads' heaps
        live = self._live  # lends its unchanged passages and vectors to a refresh, never read again
        index = indexer.open_index(self.settings, self.embedder, warn, force=force,
                                   progress=progress or indexer._no_progress, current=live.index if live else None,
                                   scorer=self.scorer)
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

    # -- the corpus --------------------------------------------------------------------------------

    def add(self, files: Sequence[tuple[Path, str]], progress: indexer.Progress | None = None) -> Added:
        """Adds files (path, name to save it under) to the corpus and indexes them.

        Each file is read with its format's reader first; one that cannot be read, or is already
        indexed, is refused with one line and the rest go on. When indexing fails, the files just
        copied are taken out again, so the corpus and the index stay exactly as they were.
        """
        refused: list[str] = []
        checked: list[library.Checked] = []
        known = {d.get("sha256"): d for d in (self.documents() if self._live else [])}
        told = progress or indexer._no_progress  # reading takes the first half of the bar (OCR is slow)
        for at, (path, name) in enumerate(files):
            def reading(f: float, what: str, at: int = at) -> None:
                told(0.5 * (at + f) / len(files), what)

            try:
                c = library.check(Path(path), name, self.settings.max_file_bytes, self.settings.file_seconds, reading,
                                  self.settings.page_seconds)
            except InputError as e:
                refused.append(f"skipped {name}: {e}")
                continue
            same = known.get(c.sha256) or next((x for x in checked if x.sha256 == c.sha256), None)
            if same is not None:
                title = same.get("title") if isinstance(same, dict) else same.name
                refused.append(f"skipped {name}: already in the corpus, as {title}")
                continue
            checked.append(c)
        saved: list[Path] = []
        try:
            for c in checked:
                saved.append(library.save(c, self.settings.corpus_dir))
            if saved:
                self.reload(progress=lambda f, what: told(0.5 + 0.5 * f, what))
        except BaseException:
            for path in saved:
                path.unlink(missing_ok=True)
            raise
        by_doc = {d.get("doc"): d for d in self.documents()}
        added = [by_doc[doc] for doc in (self._doc_of(p) for p in saved) if doc in by_doc]
        return Added(added, refused)

    def remove(self, name: str, progress: indexer.Progress | None = None) -> dict[str, Any]:
        """Takes one document out of the corpus and the index; on failure both stay as they were."""
        doc = next(iter(library.resolve([name], self.documents())))
        path = self._path_of(doc)
        entry = next(d for d in self.documents() if d.get("doc") == doc)
        aside = library.remove(path)
        try:
            self.reload(progress=progress)
        except CorpusError as e:
            library.restore(aside, path)
            raise InputError(f"{doc} was not removed: {e}") from None
        except BaseException:
            library.restore(aside, path)
            raise
        library.forget(aside)
        return entry

    def document(self, name: str) -> Document:
        """One indexed document as read now: its extracted text (what citations index), pages, title."""
        return self._read(next(iter(library.resolve([name], self.documents()))))

    def _read(self, doc: str) -> Document:
        """The indexed document `doc` read afresh from the corpus folder."""
        path = self._path_of(doc)
        try:
            with timelimit.reading(self.settings.file_seconds, page_seconds=self.settings.page_seconds):
                document, _note = read_document(path, doc, self.settings.max_file_bytes)
        except Skip as err:
            raise CorpusError(f"cannot show {doc}: {err}") from None
        return document

    def _path_of(self, doc: str) -> Path:
        """The file of the cited document `doc` ("corpus/report.pdf"), which must still be inside
        the corpus folder."""
        root = self.settings.corpus_dir.resolve()
        path = root.joinpath(*PurePosixPath(doc).parts[1:])
        if not path.resolve().is_relative_to(root) or not path.is_file():
            raise CorpusError(f"{doc} is no longer in the corpus; re-index with `qa index`.")
        return path

    def _doc_of(self, path: Path) -> str:
        corpus_dir = self.settings.corpus_dir
        return doc_name(corpus_dir, path.resolve())

    def page_image(self, name: str, page: Any, zoom: Any = DEFAULT_ZOOM) -> PageImage:
        """Page `page` (1-based) of the indexed PDF `name` (as `qa list` names it) drawn as a PNG at
        `zoom` (1 is 72 dpi; bounded in pixels and time, see qa.ingest.formats.pdfrender).

        NotFound for a document the index does not hold, one that is not a PDF, or a page it does
        not have; InputError for a page or zoom that is not a number in range. The document is
        looked up in the index, never by a path from the caller, and only its indexed file is read.
        """
        documents = self.documents()
        entry = next((d for d in documents if d.get("doc") == name), None)
        if entry is None:
            try:
                chosen = library.resolve([name], documents)
            except InputError as e:
                raise NotFound(str(e)) from None
            entry = next(d for d in documents if d.get("doc") in chosen)
        doc, pages = str(entry["doc"]), entry.get("pages")
        if entry.get("format", "pdf") != "pdf" or not isinstance(pages, int):
            raise NotFound(f"{doc} is not a PDF; it has no pages to draw.")
        page, zoom = check_page(page, pages), check_zoom(zoom)

        def load() -> bytes:
            path = self._path_of(doc)
            if path.stat().st_size > self.settings.max_file_bytes:
                raise CorpusError(f"{doc} is over the size limit; re-index with `qa index`.")
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
                raise CorpusError(f"{doc} changed since it was indexed; re-index with `qa index`.")
            return data

        return self.renderer.page(str(entry.get("sha256")), load, page, zoom)

    # -- questions ---------------------------------------------------------------------------------

    def query_for(self, question: str, history: Sequence[str] | None = None) -> str:
        """The text that will be searched for a (cleaned) question given the earlier ones."""
        return followup.resolve(question, _earlier(history))

    def ask(self, question: object, k: int | None = None, history: Sequence[str] | None = None,
            mode: str = "hybrid", docs: Sequence[str] | None = None) -> Result:
        """The passages that answer `question`, best first, and the answer sentence (or None).

        `docs` limits the search to some documents, each named as `qa list` shows it (the cited
        name "corpus/report.pdf", the file name, or the title); None or empty searches them all.
        """
        q = clean_question(question, self.settings.max_question_chars)
        k = self.settings.k if k is None else k
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 50:
            raise InputError(f"k must be a whole number between 1 and 50 (got {k!r}).")
        live = self._live
        if live is None:
            raise InputError("the assistant has no index loaded")
        t0 = time.perf_counter()
        chosen = library.resolve(docs, self.documents()) if docs else None
        earlier = _earlier(history)
        within = None if chosen else followup.conversation_document(
            q, earlier, len(live.index.manifest.get("documents", ())),
            lambda text: live.retriever.first_doc(text, self.embedder.encode, mode))
        chosen = {within} if within else chosen
        only = library.passage_rows(live.index.passages, chosen) if chosen else None
        query = followup.resolve(q, earlier)
        if self.scorer is not None:  # the scorer's question vector, computed beside the embedder's
            self.scorer.begin(query if self.rules.scorer_reads_query else q)
        qvec = self.embedder.encode([query])[0]
        t1 = time.perf_counter()
        candidates = live.retriever.search(query, qvec, k=self.rules.pool(k), mode=mode, only=only)
        t2 = time.perf_counter()
        result = compose(q, query, live.index, candidates, k, self.rules, self.scorer, self.reader,
                         searched_docs=len(chosen) if chosen else None,  # a few documents: the models read deeper
                         span=self.span)
        t3 = time.perf_counter()
        result = shortanswer.mark(result, self.span, self._raw_map)  # the quote's reading, mostly done while choosing it
        t4 = time.perf_counter()
        timings = {"encode": t1 - t0, "search": t2 - t1, "answer": t3 - t2, "span": t4 - t3, "total": t4 - t0}
        return replace(result, timings=timings, conversation_document=within)

    # -- checking a citation -----------------------------------------------------------------------

    def context(self, citation: Any) -> dict[str, Any]:
        """The cited text in its place, so a reader can check it: the paragraph before, the cited
        paragraph and the one after, read afresh from the document, and the cited range inside it.

        `citation` is a Citation, its JSON form (`Citation.to_json()`), or a passage id; the document
        and paragraph always come from the index, never from the caller. Returns a dict with doc,
        title, paragraph (number), before, text, after (paragraph texts; before/after may be None),
        before_paragraph and after_paragraph (their numbers), highlight ([start, end) inside text),
        start and end (raw offsets of the cited range), page (of a PDF, else None) and section (the
        heading path, else None); for a PDF also page_text (the cited page's whole extracted text),
        page_highlight ([start, end) of the cited range inside it), page_count, and boxes: the
        cited lines on each page the range covers (two pages when it runs across a break), as
        [{"page": n, "boxes": [[left, top, right, bottom], ...]}] in fractions of the page (origin
        top left; see qa.ingest.formats.pdfboxes); for every format
        document_text (the extracted text around the citation: all of it, or `VIEW_PARAGRAPHS`
        paragraphs either side, at most 100,000 characters, for a long document),
        document_offset (where document_text begins in the extracted text), document_highlight
        (the cited range inside document_text), document_paragraphs ([first, last, total] of the
        paragraphs shown) and document_whole (whether document_text is the whole text).
        """
        from bisect import bisect_left, bisect_right

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
            raise NotFound("That citation is not in the current index; ask the question again.")
        start, end = span or (passage.start, passage.end)

        document = self._read(passage.doc)
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
            "page": document.page_at(start),
            "section": p.section,
            **_page_view(document, start, end, self._path_of(passage.doc)),
            **text_window(document.raw, start, end),
        }


def _earlier(history: Sequence[str] | None) -> list[str]:
    """The conversation's latest five earlier questions, cleaned (blank and non-string ones dropped)."""
    return [clean_text(h) for h in (history or []) if isinstance(h, str) and clean_text(h)][-5:]


def _page_view(document: Document, start: int, end: int, path: Path) -> dict[str, Any]:
    """The cited page of a PDF as text, with the cited range inside it, and the cited lines' boxes
    on each page the range covers (`path`: the PDF, read again for them); nothing for other formats."""
    page = document.page_at(start)
    if page is None:
        return {}
    starts = document.page_starts
    a = starts[page - 1]
    b = starts[page] if page < len(starts) else len(document.raw)
    boxes: list[dict[str, Any]] = []
    try:
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() == document.sha256:
            pieces = pdfboxes.parts(document.raw, starts, start, end)
            boxes = [b.to_json() for b in pdfboxes.quote_boxes(data, pieces)]
    except (OSError, CorpusError):  # the text views still stand; the page is shown unmarked
        boxes = []
    return {"page_text": document.raw[a:b].rstrip("\n"), "page_highlight": [start - a, min(end, b) - a],
            "page_count": document.pages or len(starts), "boxes": boxes}

