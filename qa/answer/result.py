"""What a question gets back: the answer quoted from the source, the passages found, and the
numbered citations that say where each stands (the JSON that `qa ask --json` and the REST API
return is `Result.to_json()`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from qa.ingest.chunks import Passage


@dataclass(frozen=True)
class Citation:
    id: int  # the number shown as [n]; equals the rank of the passage it points into
    doc: str
    title: str
    paragraph: int
    start: int  # raw [start, end) in the document as read from disk
    end: int
    passage_id: int
    #: the page of a PDF the cited text begins on; None for other formats
    page: int | None = None
    #: the heading path the cited text stands under ("Results > Costs"); None where there is none
    section: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # its fields, in order: the JSON's CITATION (README)

    def label(self) -> str:
        where = "".join(f"{part}, " for part in (f"page {self.page}" if self.page else None, self.section) if part)
        return f"{self.title}, {where}paragraph {self.paragraph}, characters {self.start}-{self.end} of {self.doc}"


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    dense: float
    lexical: float
    passage: Passage
    highlight: tuple[tuple[int, int], ...]
    citation: Citation

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(self.score, 4),
            "dense": round(self.dense, 4),
            "lexical": round(self.lexical, 4),
            "text": self.passage.text,
            "highlight": [list(h) for h in self.highlight],
            "citation": self.citation.to_json(),
        }


@dataclass(frozen=True)
class Span:
    """The short answer inside the quote (qa.answer.shortanswer): the answer's words."""

    start: int  # [start, end) inside the answer's text (the quote)
    end: int
    raw_start: int  # the same range in the document as read from disk, as the citation's start/end
    raw_end: int
    text: str
    #: the span model's calibrated probability that these are the answer's words
    confidence: float

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "start": self.start, "end": self.end, "raw_start": self.raw_start,
                "raw_end": self.raw_end, "confidence": round(self.confidence, 4)}


@dataclass(frozen=True)
class Answer:
    text: str
    citation: Citation
    score: float
    #: the scorer's calibrated probability that the quote answers the question (None without it)
    confidence: float | None = None
    #: the short answer inside the quote; None when there is none (or the span model is off)
    span: Span | None = None


@dataclass(frozen=True)
class Result:
    question: str
    query: str
    answer: Answer | None
    hits: tuple[Hit, ...]
    #: why there is no answer (one sentence for the reader), None when there is one
    reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict, compare=False)
    #: what the abstention model read (qa.answer.abstain.Evidence; None without both models); not in the JSON
    evidence: Any = field(default=None, compare=False)
    #: the document a question about "this paper" was limited to because the conversation is about it
    #: (qa.answer.followup.about_document); None when the caller's choice, or all documents, were searched
    conversation_document: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "query": self.query,
            "answer": None
            if self.answer is None
            else {"text": self.answer.text, "citation": self.answer.citation.to_json(), "score": round(self.answer.score, 4)}
            | ({} if self.answer.confidence is None else {"confidence": round(self.answer.confidence, 4)})
            | {"span": None if self.answer.span is None else self.answer.span.to_json()},
            "reason": self.reason,
            "conversation_document": self.conversation_document,
            "passages": [h.to_json() for h in self.hits],
        }
