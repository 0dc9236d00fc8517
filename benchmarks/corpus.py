"""Benchmark corpora: the article and the 48 SQuAD documents of ../shared/benchmarks, repeated with
varied text so that no copy's passages repeat another's (repeats would be indexed once).

A copy past the first rotates the sentences of every paragraph, shifts every digit and names its
copy in a first paragraph; the text stays English prose of the same size and vocabulary.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = ROOT / "corpus" / "china-and-north-korea-the-uneasy-partnership.txt"
SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-dev"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z“\"])")


def sources() -> list[Path]:
    return [ARTICLE, *sorted((SQUAD / "docs").glob("*.txt"))]


def varied(text: str, copy: int) -> str:
    """The text as copy number `copy` (0: unchanged)."""
    if not copy:
        return text
    paragraphs = []
    for para in text.split("\n\n"):
        parts = _SENTENCE_END.split(para.strip())
        turn = copy % len(parts)
        paragraphs.append(" ".join(parts[turn:] + parts[:turn]))
    shifted = re.sub(r"\d", lambda m: str((int(m.group(0)) + copy) % 10), "\n\n".join(paragraphs))
    return f"Copy {copy} of this document, variant {copy * 7919 % 1000}.\n\n{shifted}"


def make_corpus(folder: Path, copies: int | None = None, characters: int | None = None,
                only: list[Path] | None = None) -> int:
    """Writes `copies` copies of every source (or of `only`), or as many as reach `characters`;
    returns the size."""
    folder.mkdir(parents=True)
    texts = [(src, src.read_text(encoding="utf-8")) for src in (only or sources())]
    size, c = 0, 0
    while (copies is not None and c < copies) or (copies is None and size < (characters or 0)):
        for src, text in texts:
            out = varied(text, c)
            (folder / f"{c:03d}-{src.name}").write_text(out, encoding="utf-8")
            size += len(out)
        c += 1
    return size


def questions(n: int) -> list[str]:
    lines = (SQUAD / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    step = max(1, len(lines) // n)
    return [json.loads(line)["question"] for line in lines[::step][:n]]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def ask_times(assistant: Any, embedder: Any, qs: list[str]) -> tuple[list[float], list[float]]:
    """Seconds per question: the bare work every answer needs (encode + one FAISS search), and the
    whole `ask`; a few questions first to warm the caches."""
    import numpy as np

    for q in qs[:5]:
        assistant.ask(q)
    bare, full = [], []
    for q in qs:
        t = time.perf_counter()
        v = embedder.encode([q])
        assistant.index.vectors.search(np.asarray(v, dtype=np.float32), 10)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        assistant.ask(q)
        full.append(time.perf_counter() - t)
    return bare, full
