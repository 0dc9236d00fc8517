"""The SQuAD v1.1 evaluation documents: retrieval with strict span hits (see its SOURCE.md).

The eight evaluation documents' questions (`questions_eval_docs.jsonl`, else the older sample
`questions.jsonl`), in two settings: each document its own corpus, or all of them indexed together
(one library). A passage is a strict hit when it comes from the question's document and its raw
span covers one of the question's `answer_char_spans`; an answer sentence is right when its raw
span does. With the span model, the short answer inside each right quote is scored against the
annotated answers (exact match and F1, SQuAD's normalisation): with its no-span rule (a question
given no span counts 0) and as the best span always given.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.answer import shortanswer
from qa.answer.compose import Rules
from qa.answer.judge import Judge, Reads
from qa.config import Settings
from qa.errors import InputError
from qa.eval.kit import (
    CachedEmbedder,
    Engine,
    ask,
    bare_dense,
    baseline_index,
    first_rank,
    latency_figures,
    ranking_figures,
    system_index,
    two_sentence_share,
    two_sentences,
)
from qa.ingest.documents import Document, load_corpus
from qa.models.embedder import Embedder
from qa.models.spanscore import exact_match, f1
from qa.search.retrieval import Fusion


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    doc_id: str
    question: str
    spans: tuple[tuple[int, int], ...]
    answers: tuple[str, ...] = ()  # the annotated strings, one a span


EVAL_QUESTIONS = "questions_eval_docs.jsonl"


def doc_id(title: str) -> str:
    """The sample's name for a SQuAD document: its title without punctuation
    ("Jacksonville,_Florida" -> "Jacksonville_Florida"), the name of its file in docs/."""
    return re.sub(r"\W", "", title)


_GIVE = "give --squad DIR, a folder holding questions.jsonl and docs/"


def check_sample(folder: Path) -> None:
    """An InputError naming what is missing and where it was looked for, unless `folder` holds a
    SQuAD sample (its questions file and docs/). The sample is not part of the repository."""
    where = Path(folder).absolute()
    if not where.is_dir():
        raise InputError(f"no SQuAD sample at {where}: the folder does not exist (the SQuAD evaluation "
                         f"documents are not part of the repository; {_GIVE})")
    if not any((where / name).is_file() for name in (EVAL_QUESTIONS, "questions.jsonl")):
        raise InputError(f"no SQuAD questions in {where}: neither {EVAL_QUESTIONS} nor questions.jsonl ({_GIVE})")
    if not (where / "docs").is_dir():
        raise InputError(f"no SQuAD documents in {where}: docs/ is missing ({_GIVE})")


def load_squad(folder: Path, limit: int | None = None, name: str | None = None,
               doc_ids: Sequence[str] | None = None) -> list[SquadQuestion]:
    """The questions of `name` (default: the evaluation documents' file when there is one),
    optionally only those about `doc_ids`."""
    check_sample(folder)
    path = folder / (name or (EVAL_QUESTIONS if (folder / EVAL_QUESTIONS).is_file() else "questions.jsonl"))
    if not path.is_file():
        raise InputError(f"no SQuAD questions file {path.absolute()}")
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            spans = tuple((int(a), int(b)) for a, b in r["answer_char_spans"])
            if doc_ids is None or r["doc_id"] in doc_ids:
                out.append(SquadQuestion(r["id"], r["doc_id"], r["question"], spans, tuple(r.get("answers", ()))))
    return out[:limit] if limit else out


def load_documents(folder: Path, doc_ids: Sequence[str], settings: Settings) -> dict[str, Document]:
    """Each document read as the product reads a corpus (copied to a temporary folder of its own)."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="qa-squad-") as tmp:
        for doc_id in dict.fromkeys(doc_ids):
            corpus = Path(tmp) / doc_id
            corpus.mkdir()
            source = folder / "docs" / f"{doc_id}.txt"
            try:
                shutil.copy(source, corpus / source.name)
            except OSError as e:
                raise InputError(f"cannot read the SQuAD document {source.absolute()}: {e.strerror or e}") from e
            docs = load_corpus(corpus, settings.max_file_bytes)
            if len(docs) != 1:
                raise InputError(f"the SQuAD document {doc_id} could not be read")
            out[doc_id] = docs[0]
    return out


def covers(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(start <= a and b <= end for a, b in spans)


def run_squad(
    folder: Path,
    settings: Settings,
    embedder: CachedEmbedder,
    fusion: Fusion | None = None,
    rules: Rules | None = None,
    limit: int | None = None,
    baseline: bool = True,
    mode: str = "hybrid",
    max_words: int | None = None,
    documents: dict[str, Document] | None = None,
    together: bool = False,
    questions: Sequence[SquadQuestion] | None = None,
    scorer: Judge | None = None,
    reader: Reads | None = None,
    question_embedder: Embedder | None = None,
    span: Any = None,
) -> dict[str, Any]:
    """R@1, R@5, MRR@10 and answer-sentence@1 over the questions, for the system and the baseline;
    each document its own corpus, or (`together`) all of them one corpus."""
    questions = list(questions) if questions is not None else load_squad(folder, limit)
    docs = documents or load_documents(folder, [q.doc_id for q in questions], settings)
    rows: list[dict[str, Any]] = []
    timed: list[float] = []
    bare: list[float] = []
    words: list[int] = []
    groups = [list(docs)] if together else [[d] for d in docs]
    by_name = {d.doc: d for d in docs.values()}
    raw_map = shortanswer.DocumentMap(lambda doc: by_name[doc], keep=len(by_name))
    for group in groups:
        mine = [q for q in questions if q.doc_id in group]
        if not mine:
            continue
        corpus = [docs[d] for d in group]
        engine = Engine.of(system_index(corpus, max_words or settings.max_words, embedder), fusion, rules, scorer, reader, span)
        words.extend(p.n_words for p in engine.index.passages)
        base = Engine.of(baseline_index(corpus, embedder)) if baseline else None
        for q in mine:
            where = docs[q.doc_id].doc

            def hit(p: Any, start: int, end: int, q: SquadQuestion = q, where: str = where) -> bool:
                return bool(p.doc == where and covers(start, end, q.spans))

            result = ask(engine, question_embedder or embedder, q.question, mode=mode)
            timed.append(result.timings["total"])
            a = result.answer
            row: dict[str, Any] = {
                "rank": first_rank([hit(h.passage, h.passage.start, h.passage.end) for h in result.hits]),
                "answered": a is not None,
                "correct": a is not None and hit(result.hits[a.citation.id - 1].passage, a.citation.start, a.citation.end),
                "pair": a is not None and two_sentences(result),
            }
            if span is not None and row["correct"] and q.answers:
                row |= _span_row(span, q, shortanswer.mark(result, span, raw_map))
            if base is not None:
                b = bare_dense(base.index, embedder, q.question)
                bare.append(b.seconds)
                ps = base.index.passages
                p, s = ps[b.answer[0]], ps[b.answer[0]].sentences[b.answer[1]]
                row["base_rank"] = first_rank([hit(ps[r], ps[r].start, ps[r].end) for r in b.rows])
                row["base_correct"] = hit(p, s.raw_start, s.raw_end)
                row["base_words"] = p.n_words
            rows.append(row)
    out: dict[str, Any] = {
        "questions": len(rows),
        "documents": len({q.doc_id for q in questions}),
        "setting": "all documents together" if together else "each document its own corpus",
        "system": _figures(rows, "rank", "correct", words),
    }
    out["system"]["false_abstention_rate"] = sum(1 for r in rows if not r["answered"]) / max(1, len(rows))
    out["system"]["two_sentence_answers"] = two_sentence_share(rows)
    if span is not None:
        out["system"] |= _span_figures(rows)
    if baseline:
        out["baseline"] = _figures(rows, "base_rank", "base_correct", [])
        out["baseline"]["false_abstention_rate"] = 0.0
        out["baseline"]["two_sentence_answers"] = 0.0
        out["latency"] = {"system": latency_figures(timed), "bare_dense": latency_figures(bare)}
    else:
        out["latency"] = {"system": latency_figures(timed)}
    return out


def _span_row(model: Any, q: SquadQuestion, marked: Any) -> dict[str, Any]:
    """The short answer of a right quote against the annotated answers: with the no-span rule (none
    counts 0) and the model's best span whatever the rule says."""
    a = marked.answer
    given = a.span.text if a.span is not None else ""
    best = model.find(q.question, a.text)
    always = a.text[best.start : best.end] if best is not None else ""
    return {"span_given": a.span is not None, "span_em": exact_match(given, q.answers), "span_f1": f1(given, q.answers),
            "span_em_always": exact_match(always, q.answers), "span_f1_always": f1(always, q.answers)}


def _span_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Over the questions whose quote is right: the short answer's EM and F1 (none given counts 0),
    the share given one, EM and F1 over those, and EM and F1 of the best span always given."""
    scored = [r for r in rows if "span_em" in r]
    n = max(1, len(scored))
    given = [r for r in scored if r["span_given"]]
    return {"span_questions": len(scored), "span_em": sum(r["span_em"] for r in scored) / n,
            "span_f1": sum(r["span_f1"] for r in scored) / n, "span_given": len(given) / n,
            "span_em_given": sum(r["span_em"] for r in given) / max(1, len(given)),
            "span_f1_given": sum(r["span_f1"] for r in given) / max(1, len(given)),
            "span_em_always": sum(r["span_em_always"] for r in scored) / n,
            "span_f1_always": sum(r["span_f1_always"] for r in scored) / n}


def _figures(rows: list[dict[str, Any]], rank: str, correct: str, words: list[int]) -> dict[str, Any]:
    r = ranking_figures([row[rank] for row in rows])
    out = {"R@1": r["hit@1"], "R@3": r["hit@3"], "R@5": r["hit@5"], "mrr@10": r["mrr@10"]}
    out["answer@1"] = sum(1 for row in rows if row[correct]) / max(1, len(rows))
    if words:
        out["mean_passage_words"] = sum(words) / len(words)
    return out
