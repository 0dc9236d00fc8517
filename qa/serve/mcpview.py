"""What the MCP server's tools return (qa.serve.mcp): the typed shapes of their structured output,
and the readable text beside it, in which every citation is an `[n]` marker.

The structured output of `ask` is `Result.to_json()` (the JSON of `qa ask --json`) with the answer's
parts lifted to the top (quote, span, citation, confidence, abstained), so a client need not dig.
No mcp and no gradio here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typing_extensions import TypedDict  # pydantic reads TypedDicts from typing_extensions before 3.12

from qa.answer.result import Result
from qa.serve.render import CONFIDENCE, ITS_DOCUMENT


class CitationOut(TypedDict):
    id: int
    doc: str
    title: str
    paragraph: int
    start: int
    end: int
    passage_id: int
    page: int | None
    section: str | None


class PassageOut(TypedDict):
    rank: int
    score: float
    dense: float
    lexical: float
    text: str
    highlight: list[list[int]]
    citation: CitationOut


class AskOutput(TypedDict):
    """What `ask` returns: the answer sentence (quote) and where it stands, or why there is none."""

    question: str
    query: str
    abstained: bool
    reason: str | None
    quote: str | None
    span: Any
    citation: CitationOut | None
    confidence: float | None
    answer: dict[str, Any] | None
    #: the document a question about "this paper" was limited to, as the conversation is about it
    conversation_document: str | None
    passages: list[PassageOut]


class DocumentOut(TypedDict):
    doc: str
    title: str
    format: str
    pages: int | None
    passages: int
    characters: int
    indexed: str | None


class DocumentsOutput(TypedDict):
    documents: list[DocumentOut]


class AddOutput(TypedDict):
    added: list[DocumentOut]
    refused: list[str]


class ContextOutput(TypedDict):
    """A citation in its place: the cited paragraph with the one before and after it."""

    doc: str
    title: str
    paragraph: int
    quote: str
    text: str
    highlight: list[int]
    before: str | None
    before_paragraph: int | None
    after: str | None
    after_paragraph: int | None
    start: int
    end: int
    page: int | None
    section: str | None


def ask_output(result: Result) -> dict[str, Any]:
    """`result.to_json()` with the answer's quote, span, citation and confidence at the top."""
    out = result.to_json()
    answer = out.get("answer")
    span = answer.get("span") if answer else None
    if span is None and result.answer is not None:
        span = _plain(getattr(result.answer, "span", None))
    return {**out, "abstained": answer is None, "quote": answer["text"] if answer else None, "span": span,
            "citation": answer["citation"] if answer else None,
            "confidence": answer.get("confidence") if answer else None}


def _plain(value: Any) -> Any:
    """A value as JSON: its own to_json() where it has one, a dataclass's fields, else itself."""
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    if hasattr(value, "to_json"):
        return value.to_json()
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)


def span_text(span: Any) -> str | None:
    """The words of a short answer span, whatever shape it came in."""
    if isinstance(span, str):
        return span
    if isinstance(span, dict) and isinstance(span.get("text"), str):
        return str(span["text"])
    return None


def ask_text(result: Result, out: dict[str, Any]) -> str:
    """The readable answer: the quoted sentence with its [n] marker and citation, then the passages,
    the answer marked »…« inside its passage, much as `qa ask` prints it (no terminal styling or
    wrapping; the scores are in the structured output)."""
    lines = []
    if result.query != result.question:
        lines.append(f"(searched for: {result.query})")
    if result.conversation_document:
        lines.append(f"(searched only {result.conversation_document}, {ITS_DOCUMENT})")
    if result.answer:
        c = result.answer.citation
        lines.append(f"“{result.answer.text}” [{c.id}]")
        short = span_text(out.get("span"))
        if short:
            lines.append(f"    short answer: {short}")
        lines.append(f"    [{c.id}] {c.label()}")
        value = result.answer.confidence
        if value is not None and 0.0 <= value <= 1.0:  # the chat page's words, and the number
            word, meaning = next((w, m) for least, w, m in CONFIDENCE if value >= least)
            lines.append(f"    Confidence: {word}, {value:.2f} ({meaning})")
    else:
        why = f" {result.reason}" if result.reason else ""
        lines.append(f"The documents do not seem to answer this.{why} The nearest passages:")
    for h in result.hits:
        (a, b), = h.highlight[:1] or ((0, 0),)
        t = h.passage.text
        lines += ["", f"[{h.rank}] {h.citation.label()}",
                  f"{t[:a]}»{t[a:b]}«{t[b:]}" if b > a else t]
    return "\n".join(lines)


def document_row(d: dict[str, Any], created: str | None) -> dict[str, Any]:
    """One indexed document as `qa list --json` prints it."""
    return {"doc": d["doc"], "title": d["title"], "format": d.get("format") or Path(d["doc"]).suffix.lstrip("."),
            "pages": d.get("pages"), "passages": d["passages"], "characters": d["characters"],
            "indexed": d.get("indexed") or created}


def documents_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No documents are indexed."
    lines = []
    for r in rows:
        pages = f"{r['pages']} pages, " if r["pages"] else ""
        lines.append(f"{r['doc']}: {r['title']} ({r['format']}, {pages}{r['passages']} passages, "
                     f"{r['characters']:,} characters)")
    return "\n".join(lines)


def context_output(ctx: dict[str, Any]) -> dict[str, Any]:
    """The paragraphs around a citation, from `Assistant.context` (without its whole-document view)."""
    a, b = ctx["highlight"]
    keys = ("doc", "title", "paragraph", "text", "highlight", "before", "before_paragraph", "after",
            "after_paragraph", "start", "end", "page", "section")
    return {**{k: ctx.get(k) for k in keys}, "quote": ctx["text"][a:b]}


def context_text(out: dict[str, Any]) -> str:
    where = "".join(f", {part}" for part in (f"page {out['page']}" if out["page"] else None, out["section"]) if part)
    a, b = out["highlight"]
    t = out["text"]
    lines = [f"{out['title']}{where}, characters {out['start']}-{out['end']} of {out['doc']}:"]
    if out["before"] is not None:
        lines += ["", f"(paragraph {out['before_paragraph']})", out["before"]]
    lines += ["", f"(paragraph {out['paragraph']}, the cited text marked »…«)", f"{t[:a]}»{t[a:b]}«{t[b:]}"]
    if out["after"] is not None:
        lines += ["", f"(paragraph {out['after_paragraph']})", out["after"]]
    return "\n".join(lines)
