"""What a new generation takes from the previous one, so a corpus change costs only what changed.

A document whose bytes are unchanged is not read again: its passages come from the previous
generation, with those dropped as repeats of another document's (kept aside in repeats.jsonl), so
they come back if that other document goes. A passage whose text (and sentence split) the previous generation holds keeps its
vectors and token lists; only new or changed text is embedded and tokenised. A removed document
simply has no passages any more. The previous generation is used only when it was built with the
same model, chunking and format (the indexer checks); the result is then what a full rebuild
gives: the same passages in the same order, repeats dropped the same way, the same vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qa.index import store
from qa.index import vectors as vector_index
from qa.ingest.chunks import Passage

#: what a passage's vectors and tokens depend on: the text embedded and where its sentences fall
Key = tuple[str, tuple[tuple[int, int], ...]]


def key(p: Passage) -> Key:
    return p.search_text(), tuple((s.start, s.end) for s in p.sentences)


@dataclass(frozen=True)
class Previous:
    """The previous generation, opened for reuse."""

    index: store.Index
    vectors: np.ndarray  # the passages' vectors, row order
    tokens: list[list[list[str]]]  # each passage's sentences' token lists
    rows: dict[Key, int]  # passage content -> its row
    by_doc: dict[str, list[Passage]]

    @classmethod
    def of(cls, index: store.Index) -> Previous:
        rows: dict[Key, int] = {}
        by_doc: dict[str, list[Passage]] = {}
        for p in index.passages:
            rows.setdefault(key(p), p.id)
            by_doc.setdefault(p.doc, []).append(p)
        for at, p in store.read_repeats(index):  # back in its place, in the order the build cut them
            by_doc.setdefault(p.doc, []).insert(at, p)
        return cls(index, vector_index.all_vectors(index.vectors), store.read_tokens(index), rows, by_doc)

    def unchanged(self, sources: dict[str, str]) -> dict[str, str]:
        """Documents whose bytes are those the previous build read: doc -> content hash."""
        have = self.index.manifest.get("sources") or {}
        out = {}
        for d in self.index.manifest.get("documents", []):
            doc, content = d["doc"], d.get("content_sha256")
            if isinstance(content, str) and sources.get(doc) == have.get(doc) == d.get("sha256"):
                out[doc] = content
        return out

    def entries(self) -> dict[str, dict[str, Any]]:
        return {d["doc"]: dict(d) for d in self.index.manifest.get("documents", [])}

    def passages_of(self, doc: str) -> list[Passage]:
        return self.by_doc.get(doc, [])

    def row(self, p: Passage) -> int | None:
        return self.rows.get(key(p))

    def sentence_vectors(self, row: int) -> np.ndarray:
        rows = self.index.sentence_rows
        return np.asarray(self.index.sentence_vectors[int(rows[row]) : int(rows[row + 1])])

    def scorer_vectors(self, p: Passage, texts: list[str], fingerprint: str | None) -> list[np.ndarray] | None:
        """The answer scorer's vectors of `p`'s sentences, read as `texts`, when the previous
        generation holds the same passage read the same way (a table row is read under its caption)
        and kept vectors made by the scorer with this fingerprint; else None."""
        kept, row = self.index.scorer_rows(fingerprint), self.row(p)
        if kept is None or row is None:
            return None
        old = self.index.passages[row]
        if [old.reading_text(i) for i in range(len(old.sentences))] != texts:
            return None
        rows = self.index.sentence_rows
        return list(np.asarray(kept[int(rows[row]) : int(rows[row + 1])]))
