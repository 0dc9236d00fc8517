"""Repairs text extracted from a PDF into numbered paragraphs that map back to the raw text.

The raw text keeps its line breaks, hyphenation and page-break debris; the repaired paragraphs are
what a reader sees and what is searched. Every character of a paragraph knows the raw span it came
from, so any range of it maps back to exact offsets in the file.

Repairs, each decided from the text's own shape (never from a list of known words):
- lines of a paragraph are joined with one space; runs of blank lines separate paragraphs;
- a word hyphenated across a line or page break ("sanc-" ... "tions") is joined, unless the same
  hyphenated compound appears elsewhere on one line (then the hyphen is kept);
- a paragraph cut by a page break (it ends mid-sentence) is joined to its continuation;
- the title, author and affiliation at the top are recognised;
- a pull-quote (a block whose words all reappear in a longer paragraph) is kept out of the passages.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from dataclasses import dataclass

from qa.text import is_invisible, words

LAYOUT_VERSION = 1

#: roles of a paragraph; only these are cut into passages
PASSAGE_ROLES = ("author", "affiliation", "body")

_LINE = re.compile(r"[^\n]*\n?")
_CLOSERS = "\"'”’)]»"
_ENDERS = ".!?…:;"
_HEADING_MD = re.compile(r"^#{1,6}\s")
_LIST_START = re.compile(r"^([-*+>#|]|\d+[.)])\s")
_HYPHEN_END = re.compile(r"(\w+)-$")
_WORD_START = re.compile(r"^(\w+)")
_SMALL_WORDS = {"a", "an", "and", "as", "at", "but", "by", "for", "in", "of", "on", "or", "the", "to", "vs", "with"}


@dataclass(frozen=True)
class Paragraph:
    """One repaired paragraph: its display text and, per character, the raw span it came from."""

    number: int
    role: str
    text: str
    starts: array
    ends: array

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """Raw offsets [a, b) of the display range [start, end)."""
        return self.starts[start], self.ends[end - 1]


@dataclass(frozen=True)
class Layout:
    title: str | None
    author: str | None
    affiliation: str | None
    paragraphs: tuple[Paragraph, ...]


# -- building display text with its map ----------------------------------------------------------


class _Builder:
    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.chars: list[str] = []
        self.starts = array("q")
        self.ends = array("q")

    def _put(self, ch: str, a: int, b: int) -> None:
        self.chars.append(ch)
        self.starts.append(a)
        self.ends.append(b)

    def space(self, a: int, b: int) -> None:
        if self.chars and self.chars[-1] != " ":
            self._put(" ", a, b)

    def add(self, a: int, b: int) -> None:
        raw = self.raw
        for i in range(a, b):
            ch = raw[i]
            if ch.isspace():
                self.space(i, i + 1)
            elif not is_invisible(ch):
                self._put(ch, i, i + 1)

    def paragraph(self, number: int, role: str) -> Paragraph:
        while self.chars and self.chars[-1] == " ":
            self.chars.pop()
            self.starts.pop()
            self.ends.pop()
        text, starts, ends = _nfc("".join(self.chars), self.starts, self.ends)
        return Paragraph(number, role, text, starts, ends)


def _nfc(text: str, starts: array, ends: array) -> tuple[str, array, array]:
    """NFC per combining sequence, so each output character still maps to a raw span."""
    if unicodedata.is_normalized("NFC", text):
        return text, starts, ends
    out: list[str] = []
    new_starts, new_ends = array("q"), array("q")
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and unicodedata.combining(text[j]):
            j += 1
        piece = unicodedata.normalize("NFC", text[i:j])
        out.append(piece)
        new_starts.extend([starts[i]] * len(piece))
        new_ends.extend([ends[j - 1]] * len(piece))
        i = j
    return "".join(out), new_starts, new_ends


# -- blocks: runs of non-blank lines --------------------------------------------------------------

Line = tuple[int, int]  # raw [start, end) of a line's content, outer whitespace trimmed


def _blocks(raw: str) -> list[list[Line]]:
    blocks: list[list[Line]] = []
    current: list[Line] = []
    for m in _LINE.finditer(raw):
        a, b = m.span()
        if a == b:
            break
        line = raw[a:b]
        stripped = "".join(ch for ch in line if not is_invisible(ch) or ch == "\n")
        if not stripped.strip():
            if current:
                blocks.append(current)
                current = []
            continue
        lead = len(line) - len(line.lstrip())
        content_end = a + len(line.rstrip())
        current.append((a + lead, content_end))
    if current:
        blocks.append(current)
    return blocks


def _text(raw: str, lines: list[Line]) -> str:
    return " ".join(raw[a:b] for a, b in lines)


def _ends_sentence(text: str) -> bool:
    t = text.rstrip().rstrip(_CLOSERS)
    return bool(t) and t[-1] in _ENDERS


def _starts_lower(text: str) -> bool:
    t = text.lstrip()
    return bool(t) and t[0].islower()


def _is_structural(text: str) -> bool:
    """Markdown headings and list items, which never continue a cut paragraph."""
    return bool(_HEADING_MD.match(text) or _LIST_START.match(text))


def _should_join(prev: str, nxt: str) -> bool:
    """Does block `nxt` continue block `prev` across a page or column break?"""
    if _is_structural(prev) or _is_structural(nxt) or _ends_sentence(prev):
        return False
    if _starts_lower(nxt):
        return True
    # A long block that stops mid-sentence was cut; a short one is a heading or a byline.
    return len(prev.split()) >= 20


def _join_kind(raw: str, line: Line, nxt: Line, kept_hyphens: set[str]) -> str:
    """How a line joins the next: 'dehyphen' ("sanc-"+"tions"), 'hyphen' (a real compound), 'space'."""
    prev, following = raw[line[0] : line[1]], raw[nxt[0] : nxt[1]]
    left, right = _HYPHEN_END.search(prev), _WORD_START.match(following)
    if not (left and right):
        return "space"
    if f"{left.group(1)}-{right.group(1)}".lower() in kept_hyphens:
        return "hyphen"
    return "dehyphen" if _starts_lower(following) else "space"


def _join_lines(raw: str, lines: list[Line], kept_hyphens: set[str], number: int, role: str) -> Paragraph:
    b = _Builder(raw)
    for i, (a, e) in enumerate(lines):
        kind = _join_kind(raw, (a, e), lines[i + 1], kept_hyphens) if i + 1 < len(lines) else "end"
        b.add(a, e - 1 if kind == "dehyphen" else e)
        if kind == "space":
            b.space(e, lines[i + 1][0])
    return b.paragraph(number, role)


# -- roles ---------------------------------------------------------------------------------------


def smart_title(text: str) -> str:
    """'CHINA AND NORTH KOREA: THE UNEASY PARTNERSHIP' -> 'China and North Korea: The Uneasy Partnership'."""
    text = _HEADING_MD.sub("", text).strip().strip("#").strip()
    if not text.isupper():
        return text
    out: list[str] = []
    after_colon = True
    for word in text.split():
        low = word.lower()
        if low in _SMALL_WORDS and not after_colon:
            out.append(low)
        else:
            out.append("-".join(p[:1].upper() + p[1:] for p in low.split("-")))
        after_colon = word.endswith(":")
    return " ".join(out)


def _looks_like_title(text: str) -> bool:
    n = len(text.split())
    return bool(_HEADING_MD.match(text)) or (1 <= n <= 20 and not _ends_sentence(text) and text[:1].isupper())


def _looks_like_name(text: str) -> bool:
    t = re.sub(r"^(by|By|BY)\s+", "", text.strip())
    parts = t.split()
    if not 2 <= len(parts) <= 5 or any(ch.isdigit() for ch in t) or _ends_sentence(t):
        return False
    return all(p[:1].isupper() for p in parts if p.lower() not in {"de", "van", "von", "bin", "al", "da", "del"})


def _pull_quotes(texts: list[str]) -> set[int]:
    """Blocks whose words all reappear, in order, inside a longer block."""
    seqs = [" ".join(words(t)) for t in texts]
    shingles: dict[str, set[int]] = {}
    for i, s in enumerate(seqs):
        w = s.split()
        for j in range(max(0, len(w) - 7)):
            shingles.setdefault(" ".join(w[j : j + 8]), set()).add(i)
    found: set[int] = set()
    for i, s in enumerate(seqs):
        w = s.split()
        if len(w) < 8:
            continue
        for other in shingles.get(" ".join(w[:8]), set()) - {i}:
            longer = len(seqs[other]) > len(s) or (len(seqs[other]) == len(s) and other < i)
            if longer and f" {s} " in f" {seqs[other]} ":
                found.add(i)
                break
    return found


def repair(raw: str, markdown: bool = False) -> Layout:
    """Split raw text into repaired, numbered paragraphs with roles, title, author and affiliation."""
    blocks = _blocks(raw)
    # Merge blocks cut by page breaks.
    merged: list[list[Line]] = []
    for block in blocks:
        if merged and _should_join(_text(raw, merged[-1]), _text(raw, block)):
            merged[-1] = merged[-1] + block
        else:
            merged.append(block)
    texts = [_text(raw, b) for b in merged]
    kept_hyphens = {m.group(0).lower() for t in texts for m in re.finditer(r"\w+-\w+", t)}

    roles = ["body"] * len(merged)
    title = author = affiliation = None
    if texts and _looks_like_title(texts[0]) and (markdown and _HEADING_MD.match(texts[0]) or not markdown):
        roles[0] = "title"
    for i in _pull_quotes(texts):
        roles[i] = "pullquote"
    # A byline near the top: a short run of capitalised words, maybe followed by an affiliation.
    for i in range(1 if roles[:1] == ["title"] else 0, min(len(texts), 6)):
        if roles[i] == "body" and _looks_like_name(texts[i]):
            roles[i] = "author"
            nxt = i + 1
            if nxt < len(texts) and len(texts[nxt].split()) <= 30 and not _ends_sentence(texts[nxt]):
                roles[nxt] = "affiliation"
            break
    for i, t in enumerate(texts):
        if roles[i] == "body" and (_is_structural(t) and _HEADING_MD.match(t) or _looks_like_heading(t)):
            roles[i] = "heading"

    paragraphs = tuple(_join_lines(raw, b, kept_hyphens, n + 1, roles[n]) for n, b in enumerate(merged))
    for p in paragraphs:
        if p.role == "title":
            title = smart_title(p.text)
        elif p.role == "author":
            author = re.sub(r"^(by|By|BY)\s+", "", p.text)
        elif p.role == "affiliation":
            affiliation = p.text
    return Layout(title, author, affiliation, paragraphs)


def _looks_like_heading(text: str) -> bool:
    """A short line without sentence punctuation, e.g. a section heading."""
    return len(text.split()) <= 8 and not _ends_sentence(text) and not text.rstrip().endswith(",")
