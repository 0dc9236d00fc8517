"""Readers of each file format, all giving the same thing: the document's text as blocks.

A reader turns a file's bytes into `Extracted`: blocks of text in reading order (a heading, a
paragraph, a table row; on PDF pages, the page's lines), each knowing its page or heading level,
plus the title and author the file's own metadata gives. `qa.ingest.assemble` turns that into
the document's extracted text and its paragraphs. Readers raise `Skip` with a short reason for a
file they cannot read. One module per format; each imports its library only when called.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: suffix -> format name, for every file type the corpus reads
FORMATS = {
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
}
SUFFIXES = tuple(FORMATS)


class Skip(Exception):
    """A file that is not loaded; the message says why, in a few words."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        #: the reason in two or three words, for the summary ("looks binary", "empty", ...)
        self.kind = kind or message.split(" (")[0]


@dataclass(frozen=True)
class Block:
    """A run of text the reader found: a heading, a paragraph, a list item, a table row.

    On a PDF page a block may hold several lines (the layout repair joins and dehyphenates them);
    elsewhere line breaks inside a block are only spaces.
    """

    text: str
    #: 1-6 for a heading, 0 for ordinary text
    level: int = 0
    #: the page it is on (PDF), else None
    page: int | None = None
    #: "text", or "table" for a table read from a PDF page (its caption, then a line a row): a
    #: paragraph of its own, never joined to the text around it nor repaired
    kind: str = "text"


@dataclass(frozen=True)
class Extracted:
    """What a reader gives: the blocks in reading order and the file's own metadata."""

    format: str
    blocks: list[Block]
    title: str | None = None
    author: str | None = None
    #: pages of a paginated format (PDF), else None
    pages: int | None = None
    #: text laid out in pages, whose lines the layout repair should join (PDF); else each block is
    #: already one paragraph
    flowing: bool = False
    notes: list[str] = field(default_factory=list)


def format_of(suffix: str) -> str | None:
    """The format of a file suffix ('.PDF' -> 'pdf'), None when it is not read."""
    return FORMATS.get(suffix.lower())


def extract(fmt: str, data: bytes, text: str | None, max_bytes: int) -> Extracted:
    """Runs the reader of `fmt` on a file's bytes (`text`: the decoded text, for text formats)."""
    if fmt == "pdf":
        from qa.ingest.formats.pdf import read_pdf

        return read_pdf(data)
    if fmt == "docx":
        from qa.ingest.formats.docx import read_docx

        return read_docx(data, max_bytes)
    assert text is not None
    if fmt == "html":
        from qa.ingest.formats.html import read_html

        return read_html(text)
    if fmt == "md":
        from qa.ingest.formats.markdown import read_markdown

        return read_markdown(text)
    raise ValueError(f"no reader for {fmt}")
