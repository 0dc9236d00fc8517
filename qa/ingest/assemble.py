"""From a reader's blocks to a document's extracted text and its numbered paragraphs.

The extracted text is what `qa show DOC` prints and what citations index: blocks separated by a
blank line. Text laid out in pages (PDF) goes through the same layout repair as a plain-text file
(lines joined, words hyphenated across lines and pages rejoined, paragraphs cut by a page break
mended, title and byline found), and each page's first offset is kept so a citation knows its
page. Structured text (Markdown, HTML, Word) is already in paragraphs: each block is one, and
its headings give every paragraph its section, the heading path "Results > Costs".
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace

from qa.ingest.formats import Extracted
from qa.ingest.layout import Offsets, Paragraph, repair, smart_title
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
    page_starts: list[int] = []
    offset = 0
    pages = extracted.pages or max((b.page or 1 for b in extracted.blocks), default=1)
    by_page: dict[int, list[str]] = {}
    for b in extracted.blocks:
        by_page.setdefault(b.page or 1, []).append(b.text)
    for n in range(1, pages + 1):
        start = None
        for text in by_page.get(n, []):
            if pieces:
                pieces.append(SEPARATOR)
                offset += len(SEPARATOR)
            start = offset if start is None else start
            pieces.append(text)
            offset += len(text)
        page_starts.append(offset if start is None else start)
    layout = repair("".join(pieces))
    # The extracted text is the repaired paragraphs themselves, so a citation's slice of it reads
    # exactly as the passage; each page start moves with the character it fell on.
    kept = _title_role(tuple(p for p in layout.paragraphs if p.text), extracted.title)
    paragraphs, starts = _renumbered(kept)
    text = SEPARATOR.join(p.text for p in paragraphs)
    last = [p.ends[-1] for p in kept]
    moved = []
    for page_start in page_starts:
        at = bisect_right(last, page_start)  # the first paragraph that ends after the page begins
        moved.append(len(text) if at == len(kept) else starts[at] + bisect_left(kept[at].starts, page_start))
    return Assembled(text, paragraphs, extracted.title or layout.title, extracted.author or layout.author,
                     layout.affiliation, tuple(moved))


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


def _renumbered(paragraphs: tuple[Paragraph, ...]) -> tuple[tuple[Paragraph, ...], list[int]]:
    """The paragraphs laid end to end, SEPARATOR between them, and where each one starts."""
    out, starts, offset = [], [], 0
    for p in paragraphs:
        starts.append(offset)
        out.append(_identity(p.number, p.role, p.text, offset, p.section))
        offset += len(p.text) + len(SEPARATOR)
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
    return Assembled("".join(pieces), tuple(paragraphs), title, extracted.author, None)
