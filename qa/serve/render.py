"""Results as Markdown for the chat page and for export. Pure functions over `Result.to_json()`.

Every piece of document or user text goes through `text()`, so neither HTML nor Markdown can come
out of a document: `<`, `>` and `&` become entities, the characters that make inline Markdown
(emphasis, code, links, images, strikethrough, pipes, LaTeX) are backslash-escaped, bare URLs and
e-mail addresses are broken so they are not turned into links, and a leading list or heading
marker is escaped. Whitespace is collapsed, so no block structure survives. Other punctuation is
left alone so that the text stays readable (Gradio also copies it into aria-labels). The only
markup in the output is our own: `<mark>` for highlights, `<strong>` for the short answer inside
the quote, emphasis and line breaks, `<div>`s with
fixed classes around a neighbouring paragraph and the page and document views, and `<span>`s for
the clickable citations (`cite`) and the confidence, whose attributes hold only numbers.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath
from typing import Any

from qa.text import blocks, is_invisible

_TABLE = str.maketrans({"<": "&lt;", ">": "&gt;", "&": "&amp;",
                        **{ch: "\\" + ch for ch in "\\`*_[]!~$|"}})
_SPACE = re.compile(r"\s+")
_AUTOLINK = re.compile(r"(?i)\b(https?|ftp|www)(:|\.)")
_LEAD = re.compile(r"^(\s*)([#+\-=]|\d+(?=[.)]))")
# For the exported file, read as plain text as often as rendered: escape only what makes markup.
_EXPORT = str.maketrans({ch: "\\" + ch for ch in "\\`*_[]<>!|~$"})

ABSTAIN = "The documents do not answer this."


def text(s: str) -> str:
    """Document or user text, safe inside Markdown that is rendered as HTML: shown, never run."""
    s = "".join(ch for ch in s if not is_invisible(ch) or ch in "\n\t")
    s = _SPACE.sub(" ", s).translate(_TABLE).replace("@", "\\@")
    s = _AUTOLINK.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", s)
    m = _LEAD.match(s)
    if m and m.group(2).isdigit():  # "1. " would start a list
        return f"{s[: m.end()]}\\{s[m.end():]}"
    return _LEAD.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", s, count=1)


def marked(s: str, ranges: Iterable[Sequence[int]]) -> str:
    """`s` escaped, with the given [start, end) ranges wrapped in <mark>."""
    spans = sorted((max(0, int(a)), min(len(s), int(b))) for a, b in ranges)
    out, at = [], 0
    for a, b in spans:
        if a < at or b <= a:
            continue
        out.append(text(s[at:a]))
        out.append(f"<mark>{text(s[a:b])}</mark>")
        at = b
    out.append(text(s[at:]))
    return "".join(out).strip()


def where(c: dict[str, Any], sep: str = " · ") -> str:
    """The page (PDF) and heading path (Markdown, HTML, Word) of a citation, each followed by `sep`
    ("" when it has neither)."""
    page, section = c.get("page"), c.get("section")
    return "".join(f"{part}{sep}" for part in (f"page {int(page)}" if isinstance(page, int) else None,
                                              text(section) if isinstance(section, str) else None) if part)


def place(c: dict[str, Any]) -> str:
    """Where a citation points: title, page or section, paragraph, character span (escaped)."""
    return (f"*{text(c['title'])}* · {where(c)}paragraph {int(c['paragraph'])} · "
            f"characters {int(c['start'])}–{int(c['end'])}")


def cite(turn: int, rank: int, body: str = "", is_open: bool = False) -> str:
    """A citation the reader can click (or focus and press Enter): the page's script opens passage
    `rank` of turn `turn` in its context. Both numbers ride in the class, since Gradio's sanitizer
    keeps class, role, tabindex and title but drops data-* attributes. `body` is already escaped."""
    t, n = int(turn), int(rank)
    state = " qa-open" if is_open else ""
    return (f'<span class="qa-cite qa-cite-{t}-{n}{state}" role="button" tabindex="0" '
            f'title="Show [{n}] in its context">{body or f"[{n}]"}</span>')


def quoted(hit: dict[str, Any], answer: dict[str, Any] | None) -> str:
    """The quoted sentence's range, when the answer was taken from this passage (else empty)."""
    if not answer or int(answer["citation"]["id"]) != int(hit["rank"]):
        return ""
    c = answer["citation"]
    return f", quoted sentence {int(c['start'])}–{int(c['end'])}"


def passage(hit: dict[str, Any], turn: int = 0, answer: dict[str, Any] | None = None) -> str:
    """One source of a reply: its one label (the clickable [n] and where it is), then its text, the
    answer highlighted when `answer` was quoted from it. Scores stay in the JSON."""
    body = marked(hit["text"], hit.get("highlight") or []) if answer else text(hit["text"])
    return f"{cite(turn, hit['rank'])} {place(hit['citation'])}{quoted(hit, answer)}  \n{body}"


def span_of(answer: dict[str, Any]) -> tuple[int, int] | None:
    """[start, end) of the answer's short answer inside its text (`answer["span"]`), when it has one."""
    span, t = answer.get("span"), answer.get("text", "")
    if not isinstance(span, dict):
        return None
    a, b = span.get("start"), span.get("end")
    if not isinstance(a, int) or not isinstance(b, int) or isinstance(a, bool) or isinstance(b, bool):
        return None
    return (a, b) if 0 <= a < b <= len(t) else None


def short(answer: dict[str, Any]) -> str:
    """The quote escaped, its short answer's words in <strong>."""
    t, span = answer["text"], span_of(answer)
    if span is None:
        return text(t)
    a, b = span
    return f"{text(t[:a])}<strong>{text(t[a:b])}</strong>{text(t[b:])}"


#: what a calibrated confidence (0..1) means in words: (at least, word, meaning)
CONFIDENCE = ((0.8, "high", "the quote very likely answers the question"),
              (0.5, "medium", "the quote may answer the question; check it in context"),
              (0.0, "low", "the quote is a guess; check it in context"))


def confidence(answer: dict[str, Any] | None) -> str:
    """The answer's confidence in words, the number on hover; empty until the JSON carries one."""
    value = (answer or {}).get("confidence")
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        return ""
    word, meaning = next((w, m) for least, w, m in CONFIDENCE if value >= least)
    return f'<span class="qa-confidence" title="confidence {value:.2f}: {meaning}">Confidence: {word}</span>'


#: why a search covered one document the caller did not choose (qa.answer.followup.conversation_document)
ITS_DOCUMENT = "the document this conversation is about"


def searched(result: dict[str, Any]) -> str:
    """What was searched, where it is not simply the question: the query a follow-up borrowed, and the
    one document a question about "this paper" was limited to (the conversation's)."""
    lines = [] if result["query"] == result["question"] else [f"*Searched for:* {text(result['query'])}"]
    doc = result.get("conversation_document")
    if isinstance(doc, str) and doc:
        title = next((h["citation"].get("title") for h in result.get("passages") or () if h["citation"].get("doc") == doc), None)
        named = f"{text(str(title))} ({text(doc)})" if title else text(doc)
        lines.append(f"*Searched only:* {named}, {ITS_DOCUMENT}")
    return "\n\n".join(lines)


def because(result: dict[str, Any]) -> str:
    """Why there is no answer, as one sentence followed by a space (empty when the reply has no reason)."""
    reason = result.get("reason")
    return f"{text(str(reason))} " if reason else ""


def reply(result: dict[str, Any], turn: int = 0) -> str:
    """The assistant's chat message for turn `turn`: the quoted answer with its marker, then each
    source once (the one the answer comes from first, the answer highlighted inside; the others
    folded so the answer stays in view). Every [n] opens its passage in context."""
    parts = []
    answer = result.get("answer")
    hits = result["passages"]
    if answer:
        c = answer["citation"]
        parts.append(f"> <mark>“{short(answer)}”</mark> {cite(turn, c['id'])}")
        if confidence(answer):
            parts.append(confidence(answer))
        first = next((h for h in hits if int(h["rank"]) == int(c["id"])), None)
    else:
        parts.append(f"**{ABSTAIN}** {because(result)}The nearest passages may still help:")
        first = hits[0] if hits else None
    if said := searched(result):
        parts.append(said)
    if first is not None:
        parts.append(passage(first, turn, answer))
    others = [h for h in hits if h is not first]
    if others:
        label = "Other top passages" if answer else "More nearby passages"
        body = "\n\n".join(passage(h, turn, answer) for h in others)
        parts.append(f"<details><summary>{label} ({len(others)})</summary>\n\n{body}\n\n</details>")
    return "\n\n".join(parts)


def question(q: str) -> str:
    """The user's chat message."""
    return text(q)


def sources(result: dict[str, Any] | None, turn: int = 0, opened: int | None = None) -> str:
    """The sources panel for turn `turn`: its question, where the answer comes from, and each source
    once, clickable; `opened` is the rank shown in context, if any."""
    if not result:
        return "*Ask a question; the sources of the answer appear here.*"
    lines = [f"**Question:** {text(result['question'])}"]
    if said := searched(result):
        lines.append(said)
    answer = result.get("answer")
    if answer:
        c = answer["citation"]
        lines.append(f"**Answer:** quoted from {cite(turn, c['id'])}, characters {int(c['start'])}–{int(c['end'])}"
                     + (f" · {confidence(answer)}" if confidence(answer) else ""))
    else:
        lines.append(f"**Answer:** none. {ABSTAIN} {because(result)}".rstrip())
    docs = {h["citation"]["doc"] for h in result["passages"]}
    items = []
    for h in result["passages"]:
        c = h["citation"]
        title = "" if len(docs) == 1 else f" *{text(c['title'])}* ({text(c['doc'])}) ·"
        at = (f"[{int(h['rank'])}]{title} {where(c)}paragraph {int(c['paragraph'])} · "
              f"characters {int(c['start'])}–{int(c['end'])}")
        items.append(f"- {cite(turn, h['rank'], at + quoted(h, answer), is_open=opened == int(h['rank']))}")
    if len(docs) == 1:
        c = result["passages"][0]["citation"]
        lines.append(f"**Document:** *{text(c['title'])}* ({text(c['doc'])})")
    return "\n\n".join(lines) + ("\n\n" + "\n".join(items) if items else "")


def context(ctx: dict[str, Any], number: int, quoted: bool = False) -> str:
    """A citation in its place: which it is (`context_head`), then `paragraphs`."""
    return f"{context_head(ctx, number, quoted)}\n\n{paragraphs(ctx)}"


def context_head(ctx: dict[str, Any], number: int, quoted: bool = False) -> str:
    """The line over the context's views: the citation's number, title, document, page (PDF) and
    range (`quoted`: the range is the answer's sentence inside source `number`)."""
    what = "the quoted sentence, characters" if quoted else "characters"
    page = f"page {int(ctx['page'])} · " if isinstance(ctx.get("page"), int) else ""
    return (f"**[{number}]** *{text(ctx['title'])}* · {text(ctx['doc'])} · {page}{what} "
            f"{int(ctx['start'])}–{int(ctx['end'])}")


def paragraphs(ctx: dict[str, Any]) -> str:
    """The cited paragraph, the cited range highlighted, between the paragraphs before and after."""
    parts = []
    if ctx.get("before"):
        parts.append(_around(f"*Paragraph {int(ctx['before_paragraph'])}, before:*  \n{text(ctx['before'])}"))
    parts.append(f"*Paragraph {int(ctx['paragraph'])}, cited:*  \n{marked(ctx['text'], [ctx['highlight']])}")
    if ctx.get("after"):
        parts.append(_around(f"*Paragraph {int(ctx['after_paragraph'])}, after:*  \n{text(ctx['after'])}"))
    return "\n\n".join(parts)


def _blocks(s: str, highlight: Sequence[int]) -> str:
    """`s` escaped paragraph by paragraph (its blank-line blocks), the range `highlight` marked."""
    a, b = int(highlight[0]), int(highlight[1])
    return "\n\n".join(marked(s[x:y], [(a - x, b - x)] if a < y and b > x else []) for x, y in blocks(s))


def document_view(ctx: dict[str, Any]) -> str:
    """The document's extracted text (as `qa show` prints it) with the cited range highlighted, in
    a box the page's script scrolls to it. A long document shows a window of paragraphs around the
    citation, and says so. (A PDF's page is shown as an image: qa.serve.pageview.)"""
    parts = []
    if isinstance(ctx.get("document_text"), str):
        first, last, total = (int(n) for n in ctx["document_paragraphs"])
        scope = ("the whole text" if ctx.get("document_whole") else
                 f"paragraphs {first}–{last} of {total}, around the citation (the document is long; "
                 "`qa show` prints all of it)")
        parts.append(f"**The document** ({text(str(ctx['doc']))}), {scope}:")
        parts.append(f'<div class="qa-doc qa-view">\n\n{_blocks(ctx["document_text"], ctx["document_highlight"])}'
                     "\n\n</div>")
    return "\n\n".join(parts)


def _around(markdown: str) -> str:
    """A neighbouring paragraph, set in a muted style (the blank lines keep its Markdown parsed)."""
    return f'<div class="qa-around">\n\n{markdown}\n\n</div>'


def corpus(documents: list[dict[str, Any]]) -> str:
    """The corpus panel: what is indexed (title, format, pages, size, passages, file)."""
    if not documents:
        return "*No documents are indexed.*"
    total = sum(int(d.get("passages", 0)) for d in documents)
    lines = [f"**{len(documents)} document(s), {total} passages**", ""]
    for d in documents:
        pages = d.get("pages")
        kind = str(d.get("format") or PurePosixPath(str(d.get("doc", ""))).suffix.lstrip(".")).upper()
        kind += f", {int(pages)} page{'s' if pages != 1 else ''}" if isinstance(pages, int) else ""
        lines.append(f"- **{text(str(d.get('title', '')))}** · {text(kind) + ' · ' if kind else ''}"
                     f"{int(d.get('characters', 0)):,} characters · "
                     f"{int(d.get('passages', 0))} passages  \n  {text(str(d.get('doc', '')))}")
    return "\n".join(lines)


# -- export ---------------------------------------------------------------------------------------


def _plain(s: str) -> str:
    return " ".join(s.split()).translate(_EXPORT)


def export_markdown(results: list[dict[str, Any]], now: float | None = None) -> str:
    """The conversation as Markdown; every citation becomes a footnote."""
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(now if now is not None else time.time()))
    lines = ["# Conversation with qa", "", f"Exported {stamp}. Answers are quoted verbatim from the documents.", ""]
    notes: list[str] = []
    for n, r in enumerate(results, 1):
        lines += [f"## {n}. {_plain(r['question'])}", ""]
        if r["query"] != r["question"]:
            lines += [f"*Searched for:* {_plain(r['query'])}", ""]
        if isinstance(r.get("conversation_document"), str) and r["conversation_document"]:
            lines += [f"*Searched only:* {_plain(r['conversation_document'])}, {ITS_DOCUMENT}", ""]
        a = r.get("answer")
        if a:
            lines += [f"> “{_exported_quote(a)}” [^{n}-{int(a['citation']['id'])}a]", ""]
            notes.append(f"[^{n}-{int(a['citation']['id'])}a]: {_note(a['citation'])}")
        else:
            why = _plain(r.get("reason") or "")
            lines += [f"{ABSTAIN} {why + ' ' if why else ''}The nearest passages:", ""]
        for h in r["passages"]:
            lines.append(f"{int(h['rank'])}. {_plain(h['text'])} [^{n}-{int(h['rank'])}]")
            notes.append(f"[^{n}-{int(h['rank'])}]: {_note(h['citation'])}")
        lines.append("")
    return "\n".join(lines + notes) + "\n"


def _exported_quote(a: dict[str, Any]) -> str:
    """The quote as exported, its short answer in bold (**...**)."""
    span = span_of(a)
    if span is None:
        return _plain(a["text"])
    t, (x, y) = a["text"], span
    pieces = [_SPACE.sub(" ", part).translate(_EXPORT) for part in (t[:x], t[x:y], t[y:])]
    return f"{pieces[0]}**{pieces[1]}**{pieces[2]}".strip()


def _note(c: dict[str, Any]) -> str:
    return (f"{_plain(c['title'])}, paragraph {int(c['paragraph'])}, characters "
            f"{int(c['start'])}–{int(c['end'])} of {_plain(c['doc'])}")


def export_json(results: list[dict[str, Any]], now: float | None = None) -> str:
    """The conversation as JSON: each turn is exactly what `qa ask --json` prints."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now if now is not None else time.time()))
    return json.dumps({"exported": stamp, "turns": results}, ensure_ascii=False, indent=2) + "\n"
