"""The peers' passages for benchmarks/peers.py: comparable in size to qa's, cut the simple way.

qa cuts each paragraph into passages of whole sentences of at most 120 words, balanced in length.
Neither peer splits sentences offline (both need NLTK data fetched at run time), so txtai gets each
paragraph (text between blank lines) cut into ceil(words / 120) runs of words of equal length: the
same count and size as qa's where a paragraph's sentences fall evenly. Haystack cuts with its own
DocumentSplitter (by word, 120 words) instead; see haystack_build.py.

Standard library only: it runs under the peers' venv python.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path

MAX_WORDS = 120  # qa's Settings.max_words

_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def corpus_files(corpus: Path) -> list[Path]:
    """The corpus's .txt files, sorted by name (the harness has already refused anything else)."""
    return sorted(p for p in corpus.iterdir() if p.is_file() and p.suffix == ".txt")


def paragraph_chunks(text: str, max_words: int = MAX_WORDS) -> Iterator[str]:
    """Each paragraph cut into ceil(words / max_words) runs of words of (nearly) equal length."""
    for paragraph in _BLANK_LINE.split(text):
        words = paragraph.split()
        if not words:
            continue
        n = math.ceil(len(words) / max_words)
        for i in range(n):
            part = words[len(words) * i // n : len(words) * (i + 1) // n]
            yield " ".join(part)
