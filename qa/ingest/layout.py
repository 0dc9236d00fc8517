"""Repairs text extracted from a PDF into numbered paragraphs that map back to the raw text.

The raw text keeps its line breaks, hyphenation and page-break debris; the repaired paragraphs are
what a reader sees and what is searched. Every character of a paragraph knows the raw span it came
from, so any range of it maps back to exact offsets in the file.

Repairs, each decided from the text's own shape (never from a list of known words):
- lines of a paragraph are joined with one space; runs of blank lines separate paragraphs;
- a word hyphenated across a line or page break ("sanc-" ... "tions") is joined, unless the same
  hyphenated compound appears elsewhere on one line (then the hyphen is kept);
- a paragraph cut by a page break (it ends mid-sentence) is joined to its continuation;
- the title, author and affiliation at the top are recognised; a link under the title (a paper's
  URL or DOI) is a paragraph of its own, never part of the title or of the paragraph before it;
- a pull-quote (a block whose words all reappear in a longer paragraph) is kept out of the passages.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import overload

from qa.text import is_invisible, words

LAYOUT_VERSION = 7  # 7: a Markdown, HTML or Word "By ..." line under the title is the byline (qa.ingest.assemble)

#: roles of a paragraph; only these are cut into passages ("table": a table read from a PDF page,
#: its caption and then a row a line, cut between rows; see `qa.ingest.assemble`)
PASSAGE_ROLES = ("title", "author", "affiliation", "body", "table")

_LINE = re.compile(r"[^\n]*\n?")
_CLOSERS = "\"'”’)]»"
_ENDERS = ".!?…:;"
_HEADING_MD = re.compile(r"^#{1,6}\s")
_LIST_START = re.compile(r"^([-*+>#|]|\d+[.)])\s")
_HYPHEN_END = re.compile(r"(\w+)-$")
_WORD_START = re.compile(r"^(\w+)")
_LINK = re.compile(r"^<?(https?://|www\.|doi:|arXiv:)\S*>?$", re.IGNORECASE)
_SMALL_WORDS = {"a", "an", "and", "as", "at", "but", "by", "for", "in", "of", "on", "or", "the", "to", "vs", "with"}
#: a short "Label: value" line, as a paper's front matter has them ("License: cc-by", "DOI: 10.1186/...")
_FIELD = re.compile(r"^[A-Z][A-Za-z]*(?: [A-Za-z]+){0,2}:\s*\S")


class Offsets(Sequence[int]):
    """One raw offset per display character, stored as runs in which both advance together.

    A paragraph's characters almost all map one to one onto consecutive raw characters, so a
    50 MB line needs a few runs, not 16 bytes a character. Indexing and `bisect` work as on a list.
    """

    __slots__ = ("_n", "_pos", "_raw")

    def __init__(self, values: Iterable[int] = ()) -> None:
        self._pos = array("q")  # display index where a run starts
        self._raw = array("q")  # raw offset at that index
        self._n = 0
        for v in values:
            self.append(v)

    def append(self, value: int) -> None:
        if self._n and self._raw[-1] + (self._n - self._pos[-1]) == value:
            self._n += 1
            return
        self._pos.append(self._n)
        self._raw.append(value)
        self._n += 1

    def extend_run(self, first: int, length: int) -> None:
        """Appends first, first + 1, ..., first + length - 1."""
        if length > 0:
            self.append(first)
            self._n += length - 1

    def pop(self) -> None:
        self._n -= 1
        if self._pos and self._pos[-1] >= self._n:
            self._pos.pop()
            self._raw.pop()

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> int: ...

    @overload
    def __getitem__(self, i: slice) -> list[int]: ...

    def __getitem__(self, i: int | slice) -> int | list[int]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError("offset index out of range")
        r = bisect_right(self._pos, i) - 1
        return int(self._raw[r] + (i - self._pos[r]))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Offsets):
            return (self._n, self._pos, self._raw) == (other._n, other._pos, other._raw)
        if isinstance(other, Sequence):
            return len(other) == self._n and all(a == b for a, b in zip(self, other, strict=False))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Offsets({self._n} values in {len(self._pos)} runs)"


@dataclass(frozen=True)
class Paragraph:
    """One repaired paragraph: its display text and, per character, the raw span it came from."""

    number: int
    role: str
    text: str
    starts: Offsets
    ends: Offsets
    #: the heading path it stands under ("Results > Costs"), where the format has headings
    section: str | None = None

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


_MULTI_SPACE = re.compile(r" {2,}")


class _Builder:
    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.pieces: list[str] = []
        self.last = ""  # the last character put, "" when none yet
        self.starts = Offsets()
        self.ends = Offsets()

    def _put(self, ch: str, a: int, b: int) -> None:
        self.pieces.append(ch)
        self.starts.append(a)
        self.ends.append(b)
        self.last = ch

    def _put_run(self, a: int, b: int) -> None:
        """raw[a:b], every character of which maps one to one (no invisible ones, single spaces)."""
        if a < b and self.last in ("", " ") and self.raw[a] == " ":
            a += 1  # a space never opens a paragraph or follows another
        if a < b:
            self.pieces.append(self.raw[a:b])
            self.starts.extend_run(a, b - a)
            self.ends.extend_run(a + 1, b - a)
            self.last = self.raw[b - 1]

    def space(self, a: int, b: int) -> None:
        if self.last and self.last != " ":
            self._put(" ", a, b)

    def add(self, a: int, b: int) -> None:
        raw = self.raw
        if raw[a:b].isprintable():  # fast path: no control, format or separator but " "
            for m in _MULTI_SPACE.finditer(raw, a, b):
                self._put_run(a, m.start())
                self.space(m.start(), m.start() + 1)
                a = m.end()
            self._put_run(a, b)
            return
        for i in range(a, b):
            ch = raw[i]
            if ch.isspace():
                self.space(i, i + 1)
            elif not is_invisible(ch):
                self._put(ch, i, i + 1)

    def paragraph(self, number: int, role: str) -> Paragraph:
        while self.pieces and self.pieces[-1].endswith(" "):
            self.pieces[-1] = self.pieces[-1][:-1]
            self.starts.pop()
            self.ends.pop()
            if not self.pieces[-1]:
                self.pieces.pop()
        text, starts, ends = _nfc("".join(self.pieces), self.starts, self.ends)
        return Paragraph(number, role, text, starts, ends)


def _nfc(text: str, starts: Offsets, ends: Offsets) -> tuple[str, Offsets, Offsets]:
    """NFC per combining sequence, so each output character still maps to a raw span."""
    if unicodedata.is_normalized("NFC", text):
        return text, starts, ends
    out: list[str] = []
    new_starts, new_ends = Offsets(), Offsets()
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and unicodedata.combining(text[j]):
            j += 1
        piece = unicodedata.normalize("NFC", text[i:j])
        out.append(piece)
        a, b = starts[i], ends[j - 1]
        for _ in piece:
            new_starts.append(a)
            new_ends.append(b)
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
        body = line.rstrip("\n")
        if body.isprintable():
            blank = not body.strip()
        else:
            blank = not "".join(ch for ch in body if not is_invisible(ch)).strip()
        if blank:
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


_TOKEN = re.compile(r"\S+")


def _word_count(text: str, limit: int) -> int:
    """len(text.split()), counted only up to `limit` (a 50 MB block is never split into a list)."""
    return sum(1 for _ in itertools.islice(_TOKEN.finditer(text), limit))


def _ends_sentence(text: str) -> bool:
    t = text.rstrip().rstrip(_CLOSERS)
    return bool(t) and t[-1] in _ENDERS


def _starts_lower(text: str) -> bool:
    t = text.lstrip()
    return bool(t) and t[0].islower()


def _is_structural(text: str) -> bool:
    """Markdown headings and list items, which never continue a cut paragraph."""
    return bool(_HEADING_MD.match(text) or _LIST_START.match(text))


def _is_link(word: str) -> bool:
    """A URL, DOI or arXiv identifier standing as a word: it never continues a sentence cut by a break."""
    return bool(_LINK.match(word))


def _split_title_link(raw: str, blocks: list[list[Line]]) -> list[list[Line]]:
    """A first block whose title line is followed by a link line ("Title" / "https://...") is two."""
    if blocks and len(blocks[0]) > 1:
        first = blocks[0]
        for i in range(1, min(len(first), 4)):
            a, b = first[i]
            if _is_link(raw[a:b]) and _looks_like_title(_text(raw, first[:i])):
                return [first[:i], first[i:], *blocks[1:]]
    return blocks


def _is_field(raw: str, line: Line) -> bool:
    """A short "Label: value" line ("License: cc-by", "DOI: 10.1186/..."): a block of front matter
    that ends with one was not cut by a page break, whatever its length (a long author list)."""
    text = raw[line[0] : line[1]]
    return bool(_FIELD.match(text)) and _word_count(text, 9) <= 8


def _should_join(prev: str, nxt: str, prev_words: int | None = None) -> bool:
    """Does block `nxt` continue block `prev` across a page or column break?

    `prev` may be only the block's first and last lines, with `prev_words` its word count.
    """
    if _is_structural(prev) or _is_structural(nxt) or _ends_sentence(prev):
        return False
    if (len(prev) < 2000 and _is_link(prev.strip())) or _is_link(nxt.lstrip()[:300].split(" ", 1)[0]):
        return False  # a link standing alone, or opening a block, continues no sentence
    if _starts_lower(nxt):
        return True
    # A long block that stops mid-sentence was cut; a short one is a heading or a byline.
    return (_word_count(prev, 20) if prev_words is None else prev_words) >= 20


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
    n = _word_count(text, 21)
    return bool(_HEADING_MD.match(text)) or (1 <= n <= 20 and not _ends_sentence(text) and text[:1].isupper())


def looks_like_name(text: str) -> bool:
    """A byline: two to five capitalised words, "By" before them or not, no digits, no sentence."""
    if _word_count(text, 7) > 6:
        return False
    t = re.sub(r"^(by|By|BY)\s+", "", text.strip())
    parts = t.split()
    if not 2 <= len(parts) <= 5 or any(ch.isdigit() for ch in t) or _ends_sentence(t):
        return False
    return all(p[:1].isupper() for p in parts if p.lower() not in {"de", "van", "von", "bin", "al", "da", "del"})


_PULLQUOTE_SOURCE_CHARS = 20_000
_PULLQUOTE_MAX_WORDS = 120


def _pull_quotes(texts: list[str]) -> set[int]:
    """Blocks whose words all reappear, in order, inside a longer block."""
    # a pull-quote is short, and repeats a paragraph of ordinary length: longer blocks take no part
    seqs = [" ".join(words(t)) if len(t) <= _PULLQUOTE_SOURCE_CHARS else "" for t in texts]
    shingles: dict[str, set[int]] = {}
    for i, s in enumerate(seqs):
        w = s.split()
        for j in range(max(0, len(w) - 7)):
            shingles.setdefault(" ".join(w[j : j + 8]), set()).add(i)
    found: set[int] = set()
    for i, s in enumerate(seqs):
        w = s.split()
        if not 8 <= len(w) <= _PULLQUOTE_MAX_WORDS:
            continue
        for other in shingles.get(" ".join(w[:8]), set()) - {i}:
            longer = len(seqs[other]) > len(s) or (len(seqs[other]) == len(s) and other < i)
            if longer and f" {s} " in f" {seqs[other]} ":
                found.add(i)
                break
    return found


def repair(raw: str, markdown: bool = False) -> Layout:
    """Split raw text into repaired, numbered paragraphs with roles, title, author and affiliation."""
    blocks = _split_title_link(raw, _blocks(raw))
    # Merge blocks cut by page breaks (in linear time: only a block's ends and word count matter).
    merged: list[list[Line]] = []
    merged_words: list[int] = []
    for block in blocks:
        words_in_block = sum(_word_count(raw[a:b], 1 << 62) for a, b in block)
        if merged:
            prev = merged[-1]
            ends = _text(raw, prev) if len(prev) <= 3 else f"{_text(raw, prev[:2])} {_text(raw, prev[-1:])}"
            if _should_join(ends, _text(raw, block[:2]), merged_words[-1]) and not _is_field(raw, prev[-1]):
                prev.extend(block)
                merged_words[-1] += words_in_block
                continue
        merged.append(list(block))
        merged_words.append(words_in_block)
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
        if roles[i] == "body" and looks_like_name(texts[i]):
            roles[i] = "author"
            nxt = i + 1
            if nxt < len(texts) and _word_count(texts[nxt], 31) <= 30 and not _ends_sentence(texts[nxt]):
                roles[nxt] = "affiliation"
            break
    for i, t in enumerate(texts):
        if roles[i] == "body" and (_is_structural(t) and _HEADING_MD.match(t) or _looks_like_heading(t)):
            roles[i] = "heading"

    del texts  # a copy of the whole text: gone before the paragraphs make another
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
    return _word_count(text, 9) <= 8 and not _ends_sentence(text) and not text.rstrip().endswith(",")
