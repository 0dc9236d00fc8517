"""Lexical ranking: BM25 (bm25s) over stemmed, stop-word-filtered tokens."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

_TOKEN = re.compile(r"\w+")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def _fold(text: str) -> str:
    """Lower case without accents, so 'Café' and 'cafe' meet."""
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def tokens(text: str) -> list[str]:
    """Content-word stems: 'Sanctions imposed on Pyongyang' -> ['sanction', 'impos', 'pyongyang']."""
    stop = _stopwords()
    # "U.N." and "U.S." become "un" / "us"; "Beijing-Pyongyang" gives both words.
    text = re.sub(r"\b((?:\w\.){2,})", lambda m: m.group(1).replace(".", ""), _fold(text))
    found = [t for t in _TOKEN.findall(text) if t not in stop or len(t) == 4 and t.isdigit()]
    return _stemmer().stemWords(found)


class Lexical:
    """BM25 over a fixed list of texts; scores every text for a query."""

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        self.n = len(texts)
        self._bm25 = bm25s.BM25(k1=1.2, b=0.75)
        corpus = [tokens(t) or [""] for t in texts]
        if self.n:
            self._bm25.index(corpus, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        q = [t for t in tokens(query) if t in getattr(self._bm25, "vocab_dict", {})]
        if not q or not self.n:
            return np.zeros(self.n, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(q), dtype=np.float32)
