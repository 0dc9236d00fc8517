"""Characters of a PDF page that are not body text: rotated text and margin line numbers.

Decided per page from the characters pdfminer read (or the words PDFium read, `pdfwords`), before
they are grouped into lines, so what is dropped never disturbs the reading order of what is kept:
- text that does not run left to right along the page (arXiv's identifier stamped up the left
  margin, a vertical "Draft" watermark): a character whose text matrix is not horizontal, dropped
  only while horizontal characters are the page's majority (a page set sideways keeps its text);
- line numbers in the margin: digits standing wholly outside the page's other text, in the outer
  fifth of the page, on at least three different lines (a lone page number is left to the running
  line check; digits inside a table or a paragraph are never outside the text).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

#: a character is horizontal when its baseline rises at most this much per unit of run
SLOPE = 0.1
#: margin digits stand at least this many points clear of the page's other text
GAP = 1.0
#: ... inside this share of the page width from its left or right edge
EDGE = 0.2
#: ... and on at least this many different lines of the page
ROWS = 3


class Char(Protocol):
    """What is read of a character (a pdfminer LTChar) or a word (`pdfwords.Word`)."""

    @property
    def matrix(self) -> tuple[float, float, float, float, float, float]: ...
    @property
    def x0(self) -> float: ...
    @property
    def x1(self) -> float: ...
    @property
    def y0(self) -> float: ...

    def get_text(self) -> str: ...


def not_body(chars: Sequence[Char], page_x0: float, page_x1: float) -> set[int]:
    """Indexes into `chars` of the page's rotated characters and margin line numbers."""
    rotated: list[int] = []
    digits: list[int] = []
    left = right = None
    for i, c in enumerate(chars):  # one pass: this runs for every character of every page
        a, b = c.matrix[0], c.matrix[1]
        if not (a > 0 and abs(b) <= SLOPE * a):
            rotated.append(i)
            continue
        text = c.get_text()
        if text.isdigit():
            digits.append(i)
        elif not text.isspace():
            left = c.x0 if left is None or c.x0 < left else left
            right = c.x1 if right is None or c.x1 > right else right
    # rotated text is the exception on an ordinary page: not body text; a page set sideways keeps it
    drop = set(rotated) if 2 * len(rotated) < len(chars) else set()
    if not digits or left is None or right is None:
        return drop
    width = page_x1 - page_x0
    for side in (
        [i for i in digits if chars[i].x1 < left - GAP and chars[i].x1 <= page_x0 + EDGE * width],
        [i for i in digits if chars[i].x0 > right + GAP and chars[i].x0 >= page_x1 - EDGE * width],
    ):
        if len({round(chars[i].y0) for i in side}) >= ROWS:
            drop.update(side)
    return drop
