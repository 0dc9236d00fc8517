"""Tables on a PDF page, found from its ruling lines and the words between them.

Two kinds are found, as papers and reports set them:
- a ruled table: horizontal and vertical rules that meet (cell borders, a frame with inner
  lines). Its columns lie between the vertical rules and its rows between the horizontal ones, so
  a cell's text wrapped over several lines stays one cell;
- a rules-only table (LaTeX's booktabs, a word processor's "horizontal lines" style): horizontal
  rules of the same length stacked over each other, a partial rule under a header over several
  columns allowed between them. Its rows are the lines of text between the top and bottom rule,
  its columns the gaps between the words that the fullest rows share.
What lies between the rules must read as a table: cells in at least two columns on at least half
of the rows (so a frame round a figure, a page's header and footer rules round its prose, or a
rule over a footnote is no table), and, without vertical rules, a few words a cell (prose in two
columns is not one; `_tabular`).

A table's caption ("Table 2: ...", "TABLE II") is the box that starts so and stands just above or
under it, across the same columns: it leads the table's text, followed by one line per row, cells
parted by " | ", so that a row reads across. pdfplumber's table finder works the same way from
pdfminer's layout; this reads PDFium's words and rules, and is only asked on pages with two
horizontal rules or more.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace

from qa.ingest.formats.pdflines import Box
from qa.ingest.formats.pdfwords import Rule, Word

#: rules this close (points) are one, and rules meet when one reaches this close to the other
SNAP = 2.0
#: words further apart than this many times their type size are in different cells
CELL_GAP = 0.8
#: a table's cells hold on average at most this many words when no vertical rule parts them
CELL_WORDS = 5.0
#: a caption stands at most this many times its type size (plus a few points) from its table
CAPTION_REACH = 2.5
CAPTION = re.compile(r"^(?:Table|TABLE|Tab\.)\s+(?:\d+|[IVXLC]+)\b(?:\s*[:.]|\s*$|\s+[A-Z])")
#: a page with more distinct rules than this one way is a drawing: no table is looked for
MAX_RULES = 400


@dataclass(frozen=True)
class Table:
    """A table found on a page: its box (points, y up), rows of cells, and caption."""

    x0: float
    x1: float
    bottom: float
    top: float
    rows: tuple[tuple[str, ...], ...]
    #: PDFium's index of its first character: where it stands in the drawing order
    first: int
    caption: str | None = None

    def lines(self) -> list[str]:
        """Its text: the caption, then each row with its cells parted by " | "."""
        out = [self.caption] if self.caption else []
        for row in self.rows:
            cells = list(row)
            while cells and not cells[-1]:
                cells.pop()
            if cells:
                out.append(" |".join([cells[0], *(f" {c}" if c else "" for c in cells[1:])]))
        return out


def has_rules(rules: Sequence[Rule]) -> bool:
    """The cheap sign of a table: two horizontal rules on the page."""
    return sum(1 for r in rules if r.horizontal) >= 2


def _merged(rules: Sequence[Rule], horizontal: bool) -> list[Rule]:
    """Collinear rules that touch joined into one (a border drawn cell by cell)."""
    rs = sorted((r for r in rules if r.horizontal == horizontal), key=lambda r: r.at)
    groups: list[list[Rule]] = []
    for r in rs:
        if groups and r.at - groups[-1][-1].at <= SNAP:
            groups[-1].append(r)
        else:
            groups.append([r])
    out: list[Rule] = []
    for group in groups:
        at = sum(r.at for r in group) / len(group)
        runs: list[list[float]] = []
        for r in sorted(group, key=lambda r: r.start):
            if runs and r.start <= runs[-1][1] + SNAP:
                runs[-1][1] = max(runs[-1][1], r.end)
            else:
                runs.append([r.start, r.end])
        out.extend(Rule(horizontal, at, a, b) for a, b in runs)
    return out


def _meet(h: Rule, v: Rule) -> bool:
    return h.start - SNAP <= v.at <= h.end + SNAP and v.start - SNAP <= h.at <= v.end + SNAP


def _components(hs: list[Rule], vs: list[Rule]) -> list[tuple[list[Rule], list[Rule]]]:
    """Groups of horizontal and vertical rules that meet each other (union-find)."""
    parent = list(range(len(hs) + len(vs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, h in enumerate(hs):
        for j, v in enumerate(vs):
            if _meet(h, v):
                parent[find(i)] = find(len(hs) + j)
    groups: dict[int, tuple[list[Rule], list[Rule]]] = {}
    for i, h in enumerate(hs):
        groups.setdefault(find(i), ([], []))[0].append(h)
    for j, v in enumerate(vs):
        groups.setdefault(find(len(hs) + j), ([], []))[1].append(v)
    return list(groups.values())


def _inside(w: Word, x0: float, x1: float, bottom: float, top: float) -> bool:
    cx, cy = (w.x0 + w.x1) / 2, (w.bottom + w.top) / 2
    return x0 - SNAP <= cx <= x1 + SNAP and bottom - SNAP <= cy <= top + SNAP


def _rows(words: Sequence[Word]) -> list[list[Word]]:
    """Words grouped by baseline, top to bottom, each row left to right."""
    rows: list[list[Word]] = []
    for w in sorted(words, key=lambda w: -w.baseline):
        if rows and abs(rows[-1][0].baseline - w.baseline) <= 0.45 * max(rows[-1][0].size, w.size):
            rows[-1].append(w)
        else:
            rows.append([w])
    return [sorted(r, key=lambda w: w.x0) for r in rows]


def _cells(row: Sequence[Word]) -> list[list[Word]]:
    """A row's words parted where the gap between two is wider than CELL_GAP times their size."""
    cells: list[list[Word]] = []
    for w in row:
        if cells and w.x0 - cells[-1][-1].x1 <= CELL_GAP * max(w.size, cells[-1][-1].size):
            cells[-1].append(w)
        else:
            cells.append([w])
    return cells


def _columns_from_text(rows: Sequence[Sequence[list[Word]]]) -> list[tuple[float, float]]:
    """Column spans: the cells of the fullest rows, overlapping ones merged."""
    most = max(len(r) for r in rows)
    spans = sorted((c[0].x0, c[-1].x1) for r in rows if len(r) == most for c in r)
    columns: list[list[float]] = []
    for a, b in spans:
        if columns and a < columns[-1][1]:
            columns[-1][1] = max(columns[-1][1], b)
        else:
            columns.append([a, b])
    return [(a, b) for a, b in columns]


def _column_of(x0: float, x1: float, columns: Sequence[tuple[float, float]]) -> int:
    """The column a span overlaps most (the nearest when it overlaps none)."""
    def score(c: tuple[float, float]) -> float:
        overlap = min(x1, c[1]) - max(x0, c[0])
        return overlap if overlap > 0 else -min(abs(x0 - c[1]), abs(c[0] - x1))

    return max(range(len(columns)), key=lambda i: score(columns[i]))


def _text(words: Sequence[Word]) -> str:
    return " ".join(w.text for w in sorted(words, key=lambda w: (-round(w.baseline), w.x0)))


def _grid(words: list[Word], columns: list[tuple[float, float]], bands: list[tuple[float, float]] | None
          ) -> list[list[str]]:
    """The table's cells, row by row: rows are the bands between rules when given, else text lines."""
    if bands is not None:
        rows = [[w for w in words if lo <= (w.bottom + w.top) / 2 <= hi] for lo, hi in bands]
        rows = [r for r in rows if r]
    else:
        rows = _rows(words)
    out = []
    for row in rows:
        slots: list[list[Word]] = [[] for _ in columns]
        for cell in _cells(sorted(row, key=lambda w: w.x0)) if bands is None else [[w] for w in row]:
            slots[_column_of(cell[0].x0, cell[-1].x1, columns)].extend(cell)
        out.append([_text(s) for s in slots])
    return out


def _ruled(hs: list[Rule], vs: list[Rule], words: list[Word]) -> Table | None:
    """The table inside rules that meet, or None when it does not read as one."""
    x0, x1 = min(h.start for h in hs), max(h.end for h in hs)
    bottom, top = min(v.start for v in vs), max(v.end for v in vs)
    inside = [w for w in words if _inside(w, x0, x1, bottom, top)]
    if not inside:
        return None
    xs = _distinct(sorted(v.at for v in vs))
    ys = _distinct(sorted(h.at for h in hs))
    columns = list(zip(xs, xs[1:], strict=False))
    if len(columns) < 2:  # a frame with rules between its rows only: columns from the text
        if not _tabular(sorted(inside, key=lambda w: -(w.bottom + w.top))):
            return None
        columns = _columns_from_text([_cells(r) for r in _rows(inside)])
    bands = list(zip(ys, ys[1:], strict=False))[::-1]  # top to bottom
    rows = _grid(inside, columns, bands if len(bands) >= 2 else None)
    filled = sum(1 for r in rows for c in r if c)
    if sum(1 for r in rows if sum(1 for c in r if c) >= 2) < max(2, len(rows) / 2) or (
            filled < 0.4 * len(rows) * len(columns)):
        return None
    return Table(x0, x1, bottom, top, tuple(map(tuple, rows)), min(w.first for w in inside))


def _distinct(values: list[float]) -> list[float]:
    out: list[float] = []
    for v in values:
        if not out or v - out[-1] > SNAP:
            out.append(v)
    return out


def _tabular(words: Sequence[Word]) -> bool:
    """Do these words (between two rules, top down) read as rows of cells? At least half the rows
    have two cells or more, of CELL_WORDS words or fewer on average (of three or fewer when most
    rows have two: two columns of prose are not a table). Prose is told within its first rows,
    before the rest is looked at."""
    several = cells = total = rows = pairs = 0
    row: list[Word] = []
    for w in [*words, None]:
        if w is not None and row and abs(row[0].baseline - w.baseline) <= 0.45 * max(row[0].size, w.size):
            row.append(w)
            continue
        if row:
            parts = _cells(sorted(row, key=lambda w: w.x0))
            rows += 1
            cells += len(parts)
            total += len(row)
            several += len(parts) >= 2
            pairs += len(parts) == 2
            if rows >= 8 and (total > CELL_WORDS * cells or several < rows / 4):
                return False
        row = [w] if w is not None else []
    if not rows or several < max(1, rows / 2) or total > CELL_WORDS * cells:
        return False
    return pairs <= rows / 2 or total <= 3 * cells


class _Heights:
    """A page's words by the height of their middle, to take those between two rules at once."""

    def __init__(self, words: Sequence[Word]) -> None:
        self.words = sorted(words, key=lambda w: w.bottom + w.top)
        self.middles = [(w.bottom + w.top) / 2 for w in self.words]

    def between(self, x0: float, x1: float, bottom: float, top: float) -> list[Word]:
        """The words whose middle lies between the two heights and across [x0, x1], top down."""
        a, b = bisect_left(self.middles, bottom - SNAP), bisect_right(self.middles, top + SNAP)
        return [w for w in reversed(self.words[a:b]) if x0 - SNAP <= (w.x0 + w.x1) / 2 <= x1 + SNAP]


def _stacked(hs: list[Rule], words: list[Word]) -> list[Table]:
    """Tables between horizontal rules of one length, stacked (see the module's docstring)."""
    tables: list[Table] = []
    ordered = sorted(hs, key=lambda r: -r.at)
    heights = _Heights(words)
    used: set[int] = set()
    for first in ordered:
        if id(first) in used:
            continue
        tolerance = max(4.0, 0.03 * (first.end - first.start))
        same = [r for r in ordered if abs(r.start - first.start) <= tolerance and abs(r.end - first.end) <= tolerance]
        used.update(id(r) for r in same)
        run: list[Rule] = []
        for upper, lower in zip(same, same[1:], strict=False):
            between = heights.between(first.start, first.end, lower.at, upper.at)
            if between and _tabular(between):
                run = run or [upper]
                run.append(lower)
                continue
            if len(run) >= 2:
                tables.extend(_table_between(run[0], run[-1], heights))
            run = []
        if len(run) >= 2:
            tables.extend(_table_between(run[0], run[-1], heights))
    return tables


def _table_between(upper: Rule, lower: Rule, heights: _Heights) -> list[Table]:
    inside = heights.between(upper.start, upper.end, lower.at, upper.at)
    rows = [_cells(r) for r in _rows(inside)]
    columns = _columns_from_text(rows)
    if len(columns) < 2:
        return []
    grid = _grid(inside, columns, None)
    return [Table(upper.start, upper.end, lower.at, upper.at, tuple(map(tuple, grid)), min(w.first for w in inside))]


def find_tables(rules: Sequence[Rule], words: Sequence[Word]) -> list[Table]:
    """The tables of a page, from its rules and words (both from `pdfwords`)."""
    if not has_rules(rules):
        return []
    hs, vs = _merged(rules, True), _merged(rules, False)
    if len(hs) > MAX_RULES or len(vs) > MAX_RULES:  # a drawing (a map, a plot), not a table
        return []
    tables: list[Table] = []
    loose: list[Rule] = []
    pool = list(words)
    for ch, cv in _components(hs, vs):
        table = _ruled(ch, cv, pool) if len(ch) >= 2 and len(cv) >= 2 else None
        if table is None:
            loose.extend(ch)
        else:
            tables.append(table)
            pool = [w for w in pool if not _inside(w, table.x0, table.x1, table.bottom, table.top)]
    tables.extend(_stacked(loose, pool))
    return tables


def in_table(word: Word, tables: Sequence[Table]) -> bool:
    return any(_inside(word, t.x0, t.x1, t.bottom, t.top) for t in tables)


def _caption_text(box: Box) -> str:
    text = ""
    for line in box.lines:
        if text.endswith("-") and line.text[:1].islower():
            text = text[:-1] + line.text
        else:
            text = f"{text} {line.text}" if text else line.text
    return text


def with_captions(tables: Sequence[Table], boxes: Sequence[Box]) -> tuple[list[Table], list[Box]]:
    """Each table with its caption box (taken out of the boxes), and the boxes left."""
    taken: set[int] = set()
    out: list[Table] = []
    for t in tables:
        best, best_gap = None, None
        for i, box in enumerate(boxes):
            if i in taken or not CAPTION.match(box.lines[0].text) or box.x0 >= t.x1 or box.x1 <= t.x0:
                continue
            reach = CAPTION_REACH * box.lines[0].size + 6
            gap = min(abs(box.bottom - t.top), abs(t.bottom - box.top))
            if gap <= reach and (best_gap is None or gap < best_gap):
                best, best_gap = i, gap
        if best is None:
            out.append(t)
        else:
            taken.add(best)
            out.append(replace(t, caption=_caption_text(boxes[best]), first=min(t.first, boxes[best].first)))
    return out, [b for i, b in enumerate(boxes) if i not in taken]
