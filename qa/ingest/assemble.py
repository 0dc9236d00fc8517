"""From a reader's blocks to a document's extracted text and its numbered paragraphs.

The extracted text is what `qa show DOC` prints and what citations index: blocks separated by a
blank line. Text laid out in pages (PDF) goes through the same layout repair as a plain-text file
(lines joined, words hyphenated across lines and pages rejoined, paragraphs cut by a page break
mended, title and byline found), and each page's first offset is kept so a citation knows its
page. A table read from a PDF page (a block of kind "table") skips the repair: it is a paragraph
of its own (role "table"), its rows one a line, placed among the paragraphs where it stood.
Structured text (Markdown, HTML, Word) is already in paragraphs: each block is one, and its
headings give every paragraph its section, the heading path "Results > Costs".
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace

from qa.ingest.formats import Block, Extracted
from qa.ingest.formats.pdftables import CAPTION
from qa.ingest.layout import Offsets, Paragraph, looks_like_name, repair, smart_title
from qa.text import clean_text

SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Assembled:
    text: str
    paragraphs: tuple[Paragraph, ...]
    title: str | None
    author: str | None
    affiliation: str | None
    #: offset in `text` where each page begins (page n at index n - 1); empty when not paginated
    page_starts: tuple[int, ...] = ()


def assemble(extracted: Extracted) -> Assembled:
    """The extracted text and paragraphs of a document, with title and author (metadata first)."""
    if extracted.flowing:
        return _flowing(extracted)
    return _structured(extracted)


def _flowing(extracted: Extracted) -> Assembled:
    pieces: list[str] = []
    page_starts: list[int | None] = []  # where each page's text begins in the repaired text
    offset = 0
    pages = extracted.pages or max((b.page or 1 for b in extracted.blocks), default=1)
    by_page: dict[int, list[Block]] = {}
    for b in extracted.blocks:
        by_page.setdefault(b.page or 1, []).append(b)
    tables: list[tuple[int, int, Block]] = []  # (where the text after it begins, page, the table)
    for n in range(1, pages + 1):
        start = None
        for block in by_page.get(n, []):
            if block.kind == "table":
                tables.append((offset + len(SEPARATOR) if pieces else 0, n, block))
                continue
            if pieces:
                pieces.append(SEPARATOR)
                offset += len(SEPARATOR)
            start = offset if start is None else start
            pieces.append(block.text)
            offset += len(block.text)
        page_starts.append(start)
    layout = repair("".join(pieces))
    # The extracted text is the repaired paragraphs themselves, so a citation's slice of it reads
    # exactly as the passage; each page start moves with the character it fell on.
    kept = _title_role(tuple(p for p in layout.paragraphs if p.text), extracted.title)
    # A table is a paragraph of its own, before the first paragraph that does not end before it
    # (one cut by a page break and mended across the table comes after it, so the table keeps its page).
    order: list[Paragraph | tuple[int, Block]] = []
    at = 0
    for anchor, page, block in tables:
        while at < len(kept) and kept[at].ends[-1] <= anchor:
            order.append(kept[at])
            at += 1
        order.append((page, block))
    order.extend(kept[at:])
    paragraphs, starts = _renumbered(order)
    text = SEPARATOR.join(p.text for p in paragraphs)
    table_starts: dict[int, int] = {}
    prose: list[tuple[Paragraph, int]] = []
    for item, begin in zip(order, starts, strict=True):
        if isinstance(item, tuple):
            table_starts.setdefault(item[0], begin)
        else:
            prose.append((item, begin))
    last = [p.ends[-1] for p, _b in prose]
    moved: list[int | None] = []
    for n, page_start in enumerate(page_starts, start=1):
        where = None
        if page_start is not None:
            i = bisect_right(last, page_start)  # the first paragraph that ends after the page begins
            where = len(text) if i == len(prose) else prose[i][1] + bisect_left(prose[i][0].starts, page_start)
        if n in table_starts:
            where = table_starts[n] if where is None else min(where, table_starts[n])
        moved.append(where)
    filled: list[int] = []
    following = len(text)  # a page with no text begins where the next one does
    for where in reversed(moved):
        following = following if where is None else min(where, following)
        filled.append(following)
    return Assembled(text, paragraphs, extracted.title or layout.title, extracted.author or layout.author,
                     layout.affiliation, tuple(reversed(filled)))


def _title_role(paragraphs: tuple[Paragraph, ...], title: str | None) -> tuple[Paragraph, ...]:
    """The paragraph near the top that reads as the reader's title (metadata, or the first page's
    largest type) is the title; a line above it the repair took for one (a banner) is a heading."""
    if not title:
        return paragraphs
    key = " ".join(title.lower().split())
    at = next((i for i, p in enumerate(paragraphs[:6]) if " ".join(smart_title(p.text).lower().split()) == key), None)
    if at is None or paragraphs[at].role == "title":
        return paragraphs
    return tuple(replace(p, role="title") if i == at else replace(p, role="heading") if p.role == "title" else p
                 for i, p in enumerate(paragraphs))


def _identity(number: int, role: str, text: str, offset: int, section: str | None = None) -> Paragraph:
    """A paragraph that is text[offset:offset + len(text)] of the extracted text, character for character."""
    starts, ends = Offsets(), Offsets()
    starts.extend_run(offset, len(text))
    ends.extend_run(offset + 1, len(text))
    return Paragraph(number, role, text, starts, ends, section=section)


def _renumbered(items: Sequence[Paragraph | tuple[int, Block]]) -> tuple[tuple[Paragraph, ...], list[int]]:
    """The paragraphs (and tables) laid end to end, SEPARATOR between them, numbered from 1, and
    where each one starts. A table's text is its lines, each cleaned, one under the other; its
    caption's first sentence is its section, so a part of a long table still says which it is."""
    out, starts, offset = [], [], 0
    for number, item in enumerate(items, start=1):
        starts.append(offset)
        if isinstance(item, tuple):
            lines = [clean_text(line) for line in item[1].text.split("\n")]
            text = "\n".join(line for line in lines if line)
            caption = lines[0] if lines and CAPTION.match(lines[0]) else None
            section = caption[: caption.find(". ") + 1 or None][:120].rstrip(".") if caption else None
            out.append(_identity(number, "table", text, offset, section))
        else:
            text = item.text
            out.append(_identity(number, item.role, text, offset, item.section))
        offset += len(text) + len(SEPARATOR)
    return tuple(out), starts


def _structured(extracted: Extracted) -> Assembled:
    pieces: list[str] = []
    paragraphs: list[Paragraph] = []
    path: list[tuple[int, str]] = []  # (level, heading) of the headings the text is under
    first_heading: str | None = None
    offset = 0
    for b in extracted.blocks:
        text = clean_text(b.text)
        if not text:
            continue
        if pieces:
            pieces.append(SEPARATOR)
            offset += len(SEPARATOR)
        role = "body"
        if b.level:
            first_heading = first_heading or text
            if not paragraphs:
                role = "title"  # the heading the document opens with names it; it heads no section
            else:
                role = "heading"
                path = [(lvl, h) for lvl, h in path if lvl < b.level] + [(b.level, text)]
        section = " > ".join(h for _lvl, h in path) or None
        paragraphs.append(_identity(len(paragraphs) + 1, role, text, offset, section))
        pieces.append(text)
        offset += len(text)
    title = extracted.title or (smart_title(first_heading) if first_heading else None)
    paragraphs, author = _byline(paragraphs, extracted.author)
    return Assembled("".join(pieces), tuple(paragraphs), title, author, None)


_BY = re.compile(r"^by\s+", re.I)


def _byline(paragraphs: list[Paragraph], author: str | None) -> tuple[list[Paragraph], str | None]:
    """The paragraph right under a structured document's title that names who wrote it ("By Mara
    Lindqvist", or the metadata's author) is its byline (role "author", as a plain-text file's), so
    "Who wrote this?" finds it; a short capitalised line without "By" may be a subtitle and stays body."""
    if len(paragraphs) < 2 or paragraphs[0].role != "title" or paragraphs[1].role != "body":
        return paragraphs, author
    line = paragraphs[1].text
    named = _BY.sub("", line)
    if not looks_like_name(line) or not (_BY.match(line) or (author and named.casefold() == author.casefold())):
        return paragraphs, author
    return [paragraphs[0], replace(paragraphs[1], role="author"), *paragraphs[2:]], author or named
