"""HTML: the readable text of a page, parsed with BeautifulSoup over lxml.

What a reader does not see is dropped before any text is taken: scripts, styles, templates,
navigation (`<nav>`, role=navigation, the site's header and footer), forms, and hidden elements
(`hidden`, `aria-hidden="true"`, `display:none`, `visibility:hidden`). Block elements (headings,
paragraphs, list items, table rows, quotes, preformatted text) each become one block; inline
text inside them runs together. The title is the page's `<title>` (else its first heading), the
author its `<meta name="author">`.
"""

from __future__ import annotations

import re
from typing import Any

from qa.ingest.formats import Block, Extracted

_DROP = ("script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas", "nav",
         "form", "button", "select", "textarea", "input", "head", "dialog", "menu")
_BLOCKS = {"p", "div", "li", "dt", "dd", "blockquote", "pre", "caption", "figcaption", "section",
           "article", "main", "aside", "address", "tr", "table", "ul", "ol", "dl", "figure", "body", "header",
           "footer", "hr", "h1", "h2", "h3", "h4", "h5", "h6"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_NAV_ROLES = {"navigation", "banner", "contentinfo", "search", "menu", "menubar", "dialog"}


def _hidden(tag: Any) -> bool:
    attrs = tag.attrs or {}
    return ("hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true"
            or bool(_HIDDEN_STYLE.search(str(attrs.get("style", ""))))
            or str(attrs.get("role", "")).lower() in _NAV_ROLES)


def _site_chrome(tag: Any) -> bool:
    """A page-level <header> or <footer> (not one inside an article or section), without a <h1>."""
    if tag.name not in ("header", "footer"):
        return False
    if tag.find_parent(("article", "section", "main")) is not None:
        return False
    return tag.name == "footer" or tag.find("h1") is None


class _Walker:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.pieces: list[str] = []
        self.level = 0

    def flush(self) -> None:
        text = " ".join("".join(self.pieces).split())
        if text:
            self.blocks.append(Block(text, level=self.level))
        self.pieces = []

    def walk(self, node: Any) -> None:
        from bs4 import Comment, NavigableString, Tag

        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                self.pieces.append(str(child))
            elif isinstance(child, Tag):
                if child.name == "br":  # a line break inside a paragraph is a space in its text
                    self.pieces.append(" ")
                elif child.name in ("td", "th"):  # a table row is one block, its cells apart
                    if "".join(self.pieces).strip():
                        self.pieces.append(" | ")
                    self.walk(child)
                elif child.name in _HEADINGS:
                    self.flush()
                    self.level = _HEADINGS[child.name]
                    self.walk(child)
                    self.flush()
                    self.level = 0
                elif child.name in _BLOCKS:
                    self.flush()
                    self.walk(child)
                    self.flush()
                else:
                    self.walk(child)


def read_html(text: str) -> Extracted:
    """The blocks of an HTML page's visible text, headings with their level."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "lxml")
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text(" ").split()) if title_tag else ""
    author_tag = soup.find("meta", attrs={"name": re.compile("^author$", re.IGNORECASE)})
    author = " ".join(str(author_tag.get("content", "")).split()) if author_tag else ""
    for tag in soup.find_all(_DROP):
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.decomposed:
            continue
        if _hidden(tag) or _site_chrome(tag):
            tag.decompose()
    walker = _Walker()
    walker.walk(soup.body or soup)
    walker.flush()
    return Extracted("html", walker.blocks, title=title or None, author=author or None)
