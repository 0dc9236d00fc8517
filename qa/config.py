"""Settings: one frozen dataclass with defaults, overridable by CLI flags and a few environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from qa import places
from qa.errors import InputError
from qa.places import home as home  # re-exported: qa.config.home() is where qa keeps its own files

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_DIM = 384


def env_whole_number(name: str, default: int, low: int, high: int, unit: str = "") -> int:
    """A whole number from environment variable `name` (`default` when unset or blank), refused with
    one line unless it lies from `low` to `high`."""
    value = os.environ.get(name, "").strip() or str(default)
    if not value.isdigit() or not low <= int(value) <= high:
        of = f" of {unit}" if unit else ""
        raise InputError(f"{name} must be a whole number{of} from {low} to {high} (got {value!r}).")
    return int(value)


@dataclass(frozen=True)
class Settings:
    """Where the documents and the index live, and how passages are cut and ranked."""

    #: $QA_CORPUS, else ./corpus when the current folder has one, else the per-user folder (qa.places)
    corpus_dir: Path = field(default_factory=lambda: places.corpus().path)
    #: $QA_INDEX, else ./index when the current folder has ./corpus, else the per-user folder's
    #: index of the corpus (`for_corpus` gives another corpus its own)
    index_dir: Path = field(default_factory=lambda: places.index().path)
    #: a passage holds whole sentences and at most this many words (a longer sentence stands alone)
    max_words: int = 120
    #: BM25 reads each body passage with its document's title (where the index holds more than one
    #: document) and its section's heading path, so words that name the paper or the section count
    #: for its passages (qa.index.lexical.heading_tokens; docs/quality.md, issue 25 part 3)
    headings: bool = True
    #: passages returned by default
    k: int = 5
    #: longest question accepted, in characters, after clean-up
    max_question_chars: int = 2000
    #: largest document read, in bytes ($QA_MAX_FILE_MB, in MiB: 50 unless set; a grey 300-dpi scan
    #: takes ~1.4 MB a page, so a 41-page one is 59 MB); uploads through the server have their own,
    #: smaller limit (qa.serve.guard.MAX_UPLOAD_BYTES)
    max_file_bytes: int = field(default_factory=lambda: env_whole_number("QA_MAX_FILE_MB", 50, 1, 4096, "MiB") << 20)
    #: passages searched exactly (FAISS IndexFlatIP); a larger index is an IVF (qa.index.vectors).
    #: Measured (`python -m benchmarks.scale --threshold`, docs/benchmarks.md): exact search on one
    #: core takes under 1 ms up to 10,000 vectors of 384 floats (15 MB, in cache) and 7-17 ms at
    #: 25,000, while the IVF answers in under 1 ms there with recall@10 1.0 on clustered data
    exact_limit: int = 20_000
    #: threads per encode, onnxruntime's or torch's (one keeps latency flat when requests run side by side)
    torch_threads: int = field(default_factory=lambda: int(os.environ.get("QA_TORCH_THREADS", "1")))
    #: the answer scorer (qa.models.scorer) judges the top passages' sentences; QA_SCORER=0 turns it off
    scorer: bool = field(default_factory=lambda: os.environ.get("QA_SCORER", "1") != "0")
    #: the answer reader (qa.models.reader) reads the best few sentences again, question and
    #: sentence together; QA_READER=0 turns it off
    reader: bool = field(default_factory=lambda: os.environ.get("QA_READER", "1") != "0")
    #: the span model (qa.models.span) marks the short answer inside the quote; QA_SPAN=0 turns it off
    span: bool = field(default_factory=lambda: os.environ.get("QA_SPAN", "1") != "0")
    #: longest a file's reading may take, in seconds ($QA_FILE_SECONDS); a PDF that takes longer is
    #: refused and the others are read (qa.ingest.timelimit)
    file_seconds: float = field(default_factory=lambda: env_whole_number("QA_FILE_SECONDS", 120, 1, 86_400, "seconds"))
    #: seconds each scanned page adds to its file's limit as OCR begins it ($QA_PAGE_SECONDS; 0: OCR
    #: counts against file_seconds alone), so a long scan is read and a hostile page still stopped
    page_seconds: float = field(default_factory=lambda: env_whole_number("QA_PAGE_SECONDS", 30, 0, 3_600, "seconds"))

    def __post_init__(self) -> None:
        if not 20 <= self.max_words <= 400:
            raise InputError(f"max_words must be between 20 and 400 (got {self.max_words}).")
        if not 1 <= self.k <= 50:
            raise InputError(f"k must be between 1 and 50 (got {self.k}).")
        if self.max_question_chars < 10:
            raise InputError("max_question_chars must be at least 10.")
        if self.exact_limit < 0:
            raise InputError(f"exact_limit must be at least 0 (got {self.exact_limit}).")
        if self.torch_threads < 1:
            raise InputError("QA_TORCH_THREADS must be at least 1.")
        if not 0 < self.file_seconds <= 86_400:
            raise InputError(f"file_seconds must be more than 0 and at most 86400 (got {self.file_seconds}).")
        if not 0 <= self.page_seconds <= 3_600:
            raise InputError(f"page_seconds must be between 0 and 3600 (got {self.page_seconds}).")
        object.__setattr__(self, "corpus_dir", Path(self.corpus_dir))
        object.__setattr__(self, "index_dir", Path(self.index_dir))

    @classmethod
    def for_corpus(cls, corpus_dir: str | Path | None = None, index_dir: str | Path | None = None) -> Settings:
        """Settings for a corpus given by flag (None: the default one), whose index, unless given,
        is where qa.places puts that corpus's index (a per-user corpus elsewhere gets its own)."""
        corpus = places.corpus(corpus_dir).path
        return cls(corpus_dir=corpus, index_dir=places.index(index_dir, corpus).path)

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (None values are ignored, so CLI flags can pass through)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    def chunking(self) -> dict[str, object]:
        """The settings that shape the index; a change means the index must be rebuilt."""
        from qa.ingest.layout import LAYOUT_VERSION
        from qa.ingest.sentences import SPLITTER

        return {"max_words": self.max_words, "layout": LAYOUT_VERSION, "splitter": SPLITTER, "headings": self.headings}
