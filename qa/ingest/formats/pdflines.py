"""A page's words (in the order the page draws them) into lines, and lines into text boxes.

A line is a run of words on one baseline, left to right, with no gap wider than `GAP` times the
type size (a wider gap parts two columns, or a margin number from its line); a box is a run of
lines of like type that follow each other down the page, each under and overlapping the last, at
the page's usual line spacing for that type: a paragraph, a heading, a caption, a list item. The
spacing is measured on the page (`leading_of`: the step from one baseline to the next inside a
paragraph), not taken from the fonts' ascent and descent, which differ from font to font (a
monospaced font's are often a third smaller): a step more than `LEADING` times it is a paragraph
break. A double-spaced page keeps its paragraphs whole.

The boxes keep the drawing order, which for the PDFs that word processors and LaTeX write is the
reading order, columns one after the other. `in_reading_order` says when it is not: a box of two
lines or more that starts above the one before it without lying to its right (a return up the same
column, or back to a column on its left), or lines of three words or more side by side on one
baseline (two columns drawn across, row by row). Such a page is read by pdfminer's layout analysis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from qa.ingest.formats.pdfwords import Word

#: words further apart than this many times the type size are not on one line
GAP = 1.5
#: words closer than this many times the type size touch (no space between them)
TOUCH = 0.08
#: lines of one box differ in type size by at most this share
SIZE_SHARE = 0.15
#: the step from one line's baseline to the next's is at most this many times the page's usual
#: step for that type size (plus half a point)
LEADING = 1.12
#: this many pairs of long lines side by side on one baseline: columns drawn across the page
ACROSS = 3


@dataclass(frozen=True)
class Part:
    """A block of a page as read, in reading order: a text box's lines, or a table's (its caption,
    then one line a row). Whichever engine read the page, this is what it gives."""

    lines: tuple[str, ...]
    table: bool = False


@dataclass(frozen=True, slots=True)
class Line:
    """Words along one baseline, left to right, with their box and median type size."""

    words: tuple[Word, ...]
    text: str
    x0: float
    x1: float
    bottom: float
    top: float
    baseline: float
    size: float

    @classmethod
    def of(cls, words: Sequence[Word]) -> Line:
        parts = [words[0].text]
        for prev, w in zip(words, words[1:], strict=False):
            # words that touch were parted by PDFium's line break, not a space (after a superscript)
            parts.append(w.text if w.x0 - prev.x1 < TOUCH * w.size else f" {w.text}")
        return cls(tuple(words), "".join(parts), words[0].x0, words[-1].x1,
                   min(w.bottom for w in words), max(w.top for w in words), words[0].baseline,
                   median(w.size for w in words))


@dataclass(frozen=True, slots=True)
class Box:
    """Lines read as one block: a paragraph, a heading, a caption."""

    lines: tuple[Line, ...]

    @property
    def x0(self) -> float:
        return min(line.x0 for line in self.lines)

    @property
    def x1(self) -> float:
        return max(line.x1 for line in self.lines)

    @property
    def top(self) -> float:
        return self.lines[0].top

    @property
    def bottom(self) -> float:
        return self.lines[-1].bottom

    @property
    def first(self) -> int:
        """PDFium's index of its first character: where it stands in the drawing order."""
        return self.lines[0].words[0].first


def lines_of(words: Sequence[Word]) -> list[Line]:
    """Runs of words along one baseline, left to right, in drawing order."""
    lines: list[Line] = []
    current: list[Word] = []
    for w in words:
        if current:
            head, prev = current[0], current[-1]
            size = max(head.size, w.size)
            if (abs(w.baseline - head.baseline) <= 0.45 * size and prev.x1 - 0.25 * size <= w.x0 <= prev.x1 + GAP * size):
                current.append(w)
                continue
            lines.append(Line.of(current))
        current = [w]
    if current:
        lines.append(Line.of(current))
    return lines


def _continues(prev: Line, line: Line, leading: dict[float, float]) -> bool:
    """Does `line` go on the box whose last line is `prev`?"""
    a, b = prev.size, line.size
    if abs(a - b) > SIZE_SHARE * max(a, b):
        return False
    if line.x0 >= prev.x1 or line.x1 <= prev.x0:  # they do not overlap across the page
        return False
    step = prev.baseline - line.baseline
    if step <= 0.5 * min(a, b):  # not under it
        return False
    usual = leading.get(_bucket(max(a, b)), 1.2 * max(a, b))  # without a usual step: single spacing
    return step <= LEADING * usual + 0.5


def _bucket(size: float) -> float:
    return round(size * 2) / 2


def leading_of(lines: Sequence[Line]) -> dict[float, float]:
    """The page's usual baseline-to-baseline step inside a paragraph for each type size (to the
    half point): among the steps from a line to the next of that size under it, across their
    overlap, the tightest that a fifth of them keep (list items and paragraph breaks step further;
    a rare tighter step, a line opening with a raised mark, is not the rule)."""
    steps: dict[float, list[float]] = {}
    for prev, line in zip(lines, lines[1:], strict=False):
        size = max(prev.size, line.size)
        step = prev.baseline - line.baseline
        if (_bucket(prev.size) == _bucket(line.size) and 0.9 * size <= step <= 3 * size
                and line.x0 < prev.x1 and line.x1 > prev.x0):
            steps.setdefault(_bucket(size), []).append(step)
    out = {}
    for size, found in steps.items():
        if len(found) >= 2:  # one pair of lines tells nothing
            out[size] = sorted(found)[len(found) // 5]
    return out


def boxes_of(lines: Sequence[Line]) -> list[Box]:
    """Runs of lines that read as one block, in drawing order."""
    leading = leading_of(lines)
    boxes: list[list[Line]] = []
    for line in lines:
        if boxes and _continues(boxes[-1][-1], line, leading):
            boxes[-1].append(line)
        else:
            boxes.append([line])
    return [Box(tuple(b)) for b in boxes]


def in_reading_order(lines: Sequence[Line], boxes: Sequence[Box]) -> bool:
    """False when the drawing order is not the reading order (see the module's docstring)."""
    across = 0
    for left, right in zip(lines, lines[1:], strict=False):
        if abs(left.baseline - right.baseline) <= 0.45 * max(left.size, right.size) and right.x0 > left.x1 and min(
                len(left.words), len(right.words)) >= 3:
            across += 1
    if across >= ACROSS:
        return False
    big = [b for b in boxes if len(b.lines) >= 2]
    for before, after in zip(big, big[1:], strict=False):
        tolerance = 0.5 * after.lines[0].size
        if after.bottom > before.top + tolerance and after.x0 < before.x1 - tolerance:  # above, not to its right
            return False
    return True
