"""Questions a table answers by its columns: the cell under the column a question names ("... the
Tumen pump in 2020?" under "Pump | 2019 | 2020 | 2021"), and the row whose figure in that column is
the largest or the smallest ("Which pump was the cheapest to run in 2021?"). The answer is still a
row quoted from the source: comparing the figures only chooses which one.
"""

from __future__ import annotations

import re

from qa.index.lexical import tokens
from qa.ingest.chunks import Passage

#: superlatives asking for the row with the largest figure, and for the smallest ("least expensive":
#: the first one said decides)
#: ("oldest", "fastest" and their opposites are left out: a column of years or of times reads them
#: the other way round)
_LARGEST = ("most", "highest", "largest", "biggest", "greatest", "maximum", "longest", "deepest", "tallest",
            "heaviest", "dearest", "costliest", "busiest", "warmest", "hottest")
_SMALLEST = ("least", "lowest", "smallest", "fewest", "minimum", "cheapest", "shortest", "shallowest",
             "lightest", "coldest", "coolest")
_SUPERLATIVE = re.compile(rf"\b(?:(?P<max>{'|'.join(_LARGEST)})|(?P<min>{'|'.join(_SMALLEST)}))\b", re.I)
_FIGURE = re.compile(r"(?<![\w.])[-−]?\d[\d,]*(?:\.\d+)?")
#: a row that sums or averages the others is not one of them ("Total | 642 | 625")
_SUMMARY = re.compile(r"^\W*(?:sub-?)?(?:totals?|sum|all|overall|average|mean|median)\b", re.I)


def superlative(question: str) -> str | None:
    """"max" when the question asks for the largest ("the most eels"), "min" for the smallest
    ("the cheapest", "the least expensive"), None when it asks for neither."""
    return _direction(_SUPERLATIVE.search(question))


def _direction(said: re.Match[str] | None) -> str | None:
    return None if said is None else "max" if said.group("max") else "min"


def named_column(question: str, headers: list[str]) -> int | None:
    """The one column (never the first, which names the rows) whose header's words the question
    all says; None when it names none, or more than one."""
    asked = set(tokens(question))
    named = [c for c, h in enumerate(headers) if c > 0 and (words := tokens(h)) and set(words) <= asked]
    return named[0] if len(named) == 1 else None


def figure(cell: str) -> float | None:
    """The first figure in a cell ("1,204", "4.1 m", "-3"), or None."""
    m = _FIGURE.search(cell)
    return None if m is None else float(m.group(0).replace(",", "").replace("−", "-"))


def extreme_row(question: str, p: Passage, whole: bool) -> int | None:
    """The row (sentence index of `p`, a table's passage) holding the largest or smallest figure in
    the one column the question names, when it asks for one ("the most eels in summer"), a total or
    average row left out; naming none, in the table's only column of figures ("Which pump is the
    cheapest?" of "Pump | Cost per hour"; not for "most" or "least", which may qualify what no
    figure measures). None when it asks for none, names no one column and the
    table has several of figures ("Pump | 2019 | 2020": which year?), `p` does not hold the whole
    table (`whole`: a long table's rows run on into the next passage, so the extreme may lie
    there), fewer than two rows hold a figure there, or two rows share the extreme."""
    said = _SUPERLATIVE.search(question)
    header = p.table_header() if p.role == "table" and whole else None
    if said is None or header is None:
        return None
    direction = _direction(said)
    texts = [(i, p.sentence_text(i)) for i in range(len(p.sentences))]
    rows = [(i, t.split("|")) for i, t in texts
            if t != header and t.count("|") == header.count("|") and not _SUMMARY.match(t)]
    column = named_column(question, [h.strip() for h in header.split("|")])
    if column is None and said.group(0).lower() not in ("most", "least"):
        # none named: the table's one column of figures, where it has only one, for a superlative
        # of amount ("cheapest", "highest"); "most" and "least" qualify any word ("the most
        # reliable"), which the figures may not measure
        counted = [c for c in range(1, header.count("|") + 1) if sum(figure(cells[c]) is not None for _, cells in rows) >= 2]
        column = counted[0] if len(counted) == 1 else None
    if column is None:
        return None
    found = [(value, i) for i, cells in rows if (value := figure(cells[column])) is not None]
    if len(found) < 2:
        return None
    best = max(v for v, _ in found) if direction == "max" else min(v for v, _ in found)
    tied = [i for v, i in found if v == best]
    return tied[0] if len(tied) == 1 else None


#: the most rows a table quoted whole may have (a longer one is quoted by the row picked alone)
WHOLE_ROWS = 12


def quoted_rows(p: Passage, i: int, whole: bool) -> tuple[int, int]:
    """The lines of table passage `p` to quote when line `i` is picked: the row alone; when `i` is
    the caption or the header, which hold no figure of their own ("What were the running costs in
    2021?" finds the header "Pump | 2019 | 2020 | 2021"), the table from there to its last row, when
    `p` holds all of it (`whole`) in at most WHOLE_ROWS rows."""
    header = p.table_header()
    if header is None or not whole:
        return i, i
    at = next(j for j in range(len(p.sentences)) if p.sentence_text(j) == header)
    last = len(p.sentences) - 1
    return (i, last) if i <= at and last - at <= WHOLE_ROWS else (i, i)
