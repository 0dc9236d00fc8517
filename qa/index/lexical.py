"""Lexical ranking: BM25 (bm25s) over stemmed content words, on a scale that means the same for every query.

Scores are divided by the query's own ceiling, the summed IDF of its terms (a term the corpus never
uses counts at the highest IDF), so 1.0 is roughly "every query word once, at average length" and
a query whose words the corpus lacks scores low everywhere instead of 1.0 at its best match.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from qa.disk import npy_reading
from qa.ingest.chunks import Passage

_TOKEN = re.compile(r"\w+")
_POSSESSIVE = re.compile(r"(\w)['’]s\b")
# a capitalised word that does not open the text or a sentence
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]*")
_ACRONYM = re.compile(r"\b((?:\w\.){2,})")
K1, B = 1.2, 0.75
#: shortest word matched despite a typo (shorter ones are too often another word)
MIN_FUZZY = 5


@lru_cache(maxsize=1)
def _bm25s() -> Any:
    """bm25s, imported without scipy and tqdm when nothing has loaded them yet: both are optional to
    it (it builds its matrices with numpy, csc_backend="numpy", as every index here does anyway, and
    shows no progress bars), and a cold `qa ask` then skips their imports (half a second)."""
    import sys

    blocked = [m for m in ("scipy", "tqdm") if m not in sys.modules] if "bm25s" not in sys.modules else []
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # bm25s's guarded imports fall back
    try:
        import bm25s
    finally:
        for name in blocked:
            del sys.modules[name]
    return bm25s


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    return frozenset(_bm25s().stopwords.STOPWORDS_EN_PLUS)


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def _fold(text: str) -> str:
    """Lower case without accents, so 'Café' and 'cafe' meet."""
    if text.isascii():  # nothing to decompose (most text): the same result, without a pass per character
        return text.lower()
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def tokens(text: str) -> list[str]:
    """Content-word stems: "Sanctions imposed on Pyongyang's" -> ['sanction', 'impos', 'pyongyang']."""
    stop = _stopwords()
    # "U.N." and "U.S." become "un" / "us"; "Beijing-Pyongyang" gives both words; "Kim's" gives "kim".
    text = _ACRONYM.sub(lambda m: m.group(1).replace(".", ""), _fold(text))
    text = _POSSESSIVE.sub(r"\1", text)
    found = [t for t in _TOKEN.findall(text) if t not in stop and (len(t) > 1 or t.isdigit())]
    return list(_stemmer().stemWords(found))


class Lexical:
    """BM25 over a fixed list of texts; scores every text for a query, on the query's own scale.

    Built once at index time (`build`), saved with the generation as bm25s's own files (JSON and
    .npy) and memory-mapped at load, so loading never tokenises the corpus again.
    """

    def __init__(self, texts: Sequence[str] = (), tokenized: Sequence[list[str]] | None = None) -> None:
        corpus = list(tokenized) if tokenized is not None else [tokens(t) for t in texts]
        bm25 = _bm25s().BM25(k1=K1, b=B, csc_backend="numpy")
        df: dict[str, int] = {}
        if corpus:
            df = _index(bm25, [doc or [""] for doc in corpus])
            df.pop("", None)  # the stand-in for an empty text is no word
        self._setup(bm25, len(corpus), df)

    def _setup(self, bm25: Any, n: int, df: dict[str, int]) -> None:
        self._bm25 = bm25
        self.n = n
        self.df = df  # also the vocabulary: a term is known when it has a document frequency
        self._by_length: dict[int, list[str]] | None = None  # the vocabulary by word length, for typos (lazy)

    def save(self, folder: Path) -> list[Path]:
        """Writes bm25s's files into `folder` (an empty index writes none); returns them."""
        folder.mkdir()
        if self.n:
            self._bm25.save(str(folder), show_progress=False)
        return sorted(folder.iterdir())

    @classmethod
    def load(cls, folder: Path, n: int) -> Lexical:
        """The index `save` wrote for `n` texts, its score matrix memory-mapped. The document
        frequencies are the matrix's column lengths (every stored BM25 score is positive)."""
        bm25s = _bm25s()
        self = cls.__new__(cls)
        if not n:
            self._setup(bm25s.BM25(k1=K1, b=B), 0, {})
            return self
        with npy_reading():  # bm25s reads .npy files: one thread at a time (qa.disk)
            bm25 = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
        counts = np.diff(np.asarray(bm25.scores["indptr"])).tolist()  # one column per term
        df = {t: i for t, i in bm25.vocab_dict.items() if t}  # bm25s adds "" for empty texts
        if bm25.scores["num_docs"] != n or any(not 0 <= i < len(counts) for i in df.values()):
            raise ValueError(f"the lexical index in {folder} does not hold {n} texts")
        self._setup(bm25, n, {t: counts[i] for t, i in df.items()})
        return self

    def idf(self, term: str) -> float:
        """Lucene's IDF; a term the corpus never uses gets the highest."""
        df = self.df.get(term, 0)
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def ceiling(self, query_tokens: Sequence[str]) -> float:
        return sum(self.idf(t) for t in query_tokens)

    def scores(self, query: str | Sequence[str]) -> np.ndarray:
        """Each text's BM25 over the query's ceiling: 1 for every query word once at average length."""
        q = tokens(query) if isinstance(query, str) else list(query)
        known = [t for t in q if t in self.df]
        if not known or not self.n:
            return np.zeros(self.n, dtype=np.float32)
        raw = np.asarray(self._bm25.get_scores(known), dtype=np.float32)
        return raw * np.float32((1 + K1) / self.ceiling(q))

    def unknown_names(self, text: str) -> tuple[str, ...]:
        """Names in the text that no indexed text uses ("Who won the FIFA World Cup?" -> FIFA, Cup).

        A misspelt name is not unknown: a word of five letters or more one edit (or one swap of
        neighbours) away from an indexed word counts as that word ("Primier" -> "premier"). A text
        in capitals only has no names to tell.
        """
        if not any(ch.islower() for ch in text):  # shouted: capitals no longer tell names apart
            return ()
        out = []
        for m in _NAME.finditer(text.strip()):
            found = tokens(m.group(0))
            if found and not any(t in self.df or self._near(t) for t in found):
                out.append(m.group(0))
        return tuple(out)

    def _near(self, term: str) -> bool:
        if len(term) < MIN_FUZZY:
            return False
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        if self._by_length is None:  # one edit changes the length by one at most
            by_length: dict[int, list[str]] = {}
            for w in self.df:
                by_length.setdefault(len(w), []).append(w)
            self._by_length = by_length
        n = len(term)
        return any(
            process.extractOne(term, self._by_length.get(size, ()), scorer=OSA.distance, score_cutoff=1) is not None
            for size in (n, n - 1, n + 1)
        )


def _index(bm25: Any, corpus: list[list[str]]) -> dict[str, int]:
    """`bm25.index(corpus)` (bm25s's Lucene BM25, numpy backend) computed with numpy instead of
    bm25s's loop over documents, which was most of a refresh's time at scale: the same vocabulary,
    the same float32 scores bit for bit (the same float64 operations element by element, then the
    same cast), the same CSC layout; only the term ids differ (bm25s numbers them in set order).
    Returns each term's document frequency. `tests/test_incremental.py` compares it with bm25s."""
    bm25s = _bm25s()
    flat = list(itertools.chain.from_iterable(corpus))
    vocab_dict = {t: i for i, t in enumerate(dict.fromkeys(flat))}  # terms numbered in order of first use
    lengths = np.array([len(doc) for doc in corpus], dtype=np.int64)
    ids = np.fromiter(map(vocab_dict.__getitem__, flat), dtype=np.int64, count=len(flat))
    vocab = len(vocab_dict)
    pairs, tf = np.unique(np.repeat(np.arange(len(corpus), dtype=np.int64), lengths) * vocab + ids, return_counts=True)
    docs, cols = pairs // vocab, pairs % vocab
    df = np.bincount(cols, minlength=vocab)
    n, l_avg = len(corpus), lengths.mean()
    idf = np.array([math.log(1 + (n - d + 0.5) / (d + 0.5)) for d in df.tolist()], dtype=bm25.dtype)
    tf_array = tf.astype(bm25.dtype)
    tfc = tf_array / (bm25.k1 * ((1 - bm25.b) + bm25.b * lengths[docs] / l_avg) + tf_array)
    scores = (idf[cols] * tfc).astype(bm25.dtype)
    int_dtype = np.dtype(bm25.int_dtype)
    data, indices, indptr = bm25s.scoring._np_csc_python(scores, docs.astype(int_dtype), cols.astype(int_dtype),
                                                         (n, vocab))
    if "" not in vocab_dict:
        vocab_dict[""] = vocab  # as bm25s does: an id past the matrix, never scored
    bm25.scores = {"data": data.astype(bm25.dtype), "indices": indices, "indptr": indptr, "num_docs": n}
    bm25.vocab_dict = vocab_dict
    bm25.unique_token_ids_set = set(vocab_dict.values())
    bm25.nonoccurrence_array = None  # Lucene BM25 has none
    return dict(zip(vocab_dict, df.tolist(), strict=False))


def sentence_tokens(passage: Passage) -> list[list[str]]:
    """The token lists of a passage's sentences (what the sentence BM25 indexes)."""
    return [tokens(passage.sentence_text(i)) for i in range(len(passage.sentences))]


def heading_tokens(passages: Sequence[Passage]) -> list[list[str]]:
    """The words each body passage is read with besides its own (`tables` with `headings`): its
    document's title, where the passages come from more than one document (a title that every
    passage shares tells none apart, and would only take its words' weight away), and its section's
    heading path ("Results > Costs"), where the format has headings."""
    titled = len({p.title for p in passages if p.role == "body"}) > 1
    return [tokens(" ".join(part for part in (p.title if titled else None, p.section) if part))
            if p.role == "body" else [] for p in passages]


def tables(passages: Sequence[Passage], per_sentence: Sequence[list[list[str]]],
           headings: bool = True) -> tuple[Lexical, Lexical]:
    """The passages' and the sentences' BM25, from each passage's sentences' token lists. A body
    passage's tokens are its sentences' (and, with `headings`, its title's and section heading's:
    `heading_tokens`); a title or byline is ranked by its spelled-out text."""
    extra = heading_tokens(passages) if headings else [[] for _ in passages]
    passage_tokens = [
        [*(t for s in sents for t in s), *more] if p.role == "body" else tokens(p.search_text())
        for p, sents, more in zip(passages, per_sentence, extra, strict=True)
    ]
    return Lexical(tokenized=passage_tokens), Lexical(tokenized=[s for sents in per_sentence for s in sents])
