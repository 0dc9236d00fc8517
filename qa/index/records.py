"""The passage records of a generation, parsed one row at a time on first use.

passages.jsonl holds one JSON record per line (an open format, read by anything); sentence_rows.npy
holds where each passage's sentences begin among the sentence vectors. Loading checks both files'
SHA-256, the number of lines and the row table's shape, none of which parses a record, so loading
does not grow with parsing the corpus. A record is parsed, and checked so that no query can index
out of range, the first time it is used; a damaged one is then refused with one line naming the
file and the line (the file's checksum matched: only a writer that also rewrote the manifest can
have damaged it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

import numpy as np

from qa.errors import StoreError
from qa.index.manifest import REBUILD
from qa.ingest.chunks import Passage


def sentence_rows(passages: Sequence[Passage]) -> np.ndarray:
    """Passage i's sentences are rows out[i]:out[i + 1] of the sentence vectors."""
    rows = np.zeros(len(passages) + 1, dtype=np.int64)
    rows[1:] = np.cumsum([len(p.sentences) for p in passages])
    return rows


class Passages(Sequence[Passage]):
    """The passages of a generation, in id order; each record parsed once, when first used.

    Safe to share between threads: two threads parsing the same row get equal passages and one of
    them is kept.
    """

    def __init__(self, path: Path, data: bytes, rows: np.ndarray, parsed: Sequence[Passage] | None = None) -> None:
        self.path = path
        self.rows = rows  # sentence rows, one more than there are passages
        self._data = data
        n = len(rows) - 1
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A)[:n] + 1
        if len(ends) < n:  # held in memory (no data), or a last line without its newline
            ends = np.append(ends, np.full(n - len(ends), len(data)))
        self._starts = np.concatenate([np.zeros(1, dtype=np.int64), ends.astype(np.int64)])  # line i: [i, i+1)
        self._parsed: list[Passage | None] = list(parsed) if parsed is not None else [None] * (len(rows) - 1)

    @classmethod
    def held(cls, passages: Sequence[Passage]) -> Passages:
        """Passages already in memory (the build that just wrote them)."""
        return cls(Path(), b"", sentence_rows(passages), parsed=passages)

    @classmethod
    def of_file(cls, path: Path, data: bytes, rows: np.ndarray, n: int, n_sentences: int) -> Passages:
        """passages.jsonl's `data` (checked against the manifest) with its row table, both checked
        for the `n` passages and `n_sentences` sentences the manifest counts; no record is parsed."""
        lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        if lines != n:
            raise StoreError(f"index file {path} does not match its manifest ({lines} passages, "
                             f"the manifest says {n}); {REBUILD}")
        rows_path = path.with_name("sentence_rows.npy")
        if (rows.dtype != np.int64 or rows.shape != (n + 1,) or int(rows[0]) != 0 or int(rows[-1]) != n_sentences
                or bool(np.any(np.diff(rows) < 1))):
            raise StoreError(f"index file {rows_path} does not match its manifest; {REBUILD}")
        return cls(path, data, rows)

    def __len__(self) -> int:
        return len(self._parsed)

    @overload
    def __getitem__(self, i: int) -> Passage: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Passage]: ...

    def __getitem__(self, i: int | slice) -> Passage | Sequence[Passage]:
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(len(self))))
        p = self._parsed[i]
        if p is None:
            row = i if i >= 0 else len(self) + i
            p = self._parsed[row] = self._parse(row)
        return p

    def __iter__(self) -> Iterator[Passage]:
        return (self[i] for i in range(len(self)))

    def _parse(self, row: int) -> Passage:
        n = row + 1  # the line number a person sees
        line = self._data[int(self._starts[row]) : int(self._starts[row + 1])]
        try:
            p = Passage.from_record(json.loads(line.decode("utf-8")))
        except (ValueError, TypeError, KeyError, AttributeError) as e:  # UnicodeDecodeError is a ValueError
            raise StoreError(f"index file {self.path} line {n} is not a valid passage record; {REBUILD}") from e
        ok = (
            p.id == row
            and 0 <= p.start < p.end
            and p.sentences
            and all(0 <= s.start < s.end <= len(p.text) and p.start <= s.raw_start < s.raw_end <= p.end for s in p.sentences)
        )
        if not ok:
            raise StoreError(f"index file {self.path} line {n} has out-of-range ids or offsets; {REBUILD}")
        if len(p.sentences) != int(self.rows[row + 1] - self.rows[row]):
            raise StoreError(f"index file {self.path} line {n} has {len(p.sentences)} sentences where "
                             f"sentence_rows.npy counts {int(self.rows[row + 1] - self.rows[row])}; {REBUILD}")
        return p
