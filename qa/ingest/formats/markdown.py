"""Markdown: headings, paragraphs, list items, quotes, tables and code, parsed with markdown-it-py.

The extracted text is what a reader of the rendered page sees: no `#`, `*` or link targets, an
image by its alt text. Raw HTML inside the Markdown is reduced to its text by the HTML reader's
parser, so a `<script>` in a .md file is never text.
"""

from __future__ import annotations

from typing import Any

from qa.ingest.formats import Block, Extracted


def _inline(token: Any) -> str:
    out: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif child.type == "image":
            out.append(_inline(child) or child.attrGet("alt") or "")
    return " ".join("".join(out).split())


def _html_text(html: str) -> str:
    from qa.ingest.formats.html import read_html

    return " ".join(b.text for b in read_html(html).blocks)


def read_markdown(text: str) -> Extracted:
    """The blocks of a Markdown text, headings with their level (`#` is 1)."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    blocks: list[Block] = []
    level = 0
    row: list[str] = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            level = int(token.tag[1])
        elif token.type == "heading_close":
            level = 0
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and any(row):
            blocks.append(Block(" | ".join(c for c in row if c)))
        elif token.type == "inline":
            content = _inline(token)
            if i and tokens[i - 1].type in ("th_open", "td_open"):
                row.append(content)
            elif content:
                blocks.append(Block(content, level=level))
        elif token.type in ("fence", "code_block"):
            code = " ".join(token.content.split())
            if code:
                blocks.append(Block(code))
        elif token.type == "html_block":
            inner = _html_text(token.content)
            if inner:
                blocks.append(Block(inner))
    return Extracted("md", blocks)

