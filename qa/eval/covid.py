"""COVID-QA dev: long scientific papers, each question asked of its own paper and of all of them.

`../shared/benchmarks/covid-qa-dev` (see its SOURCE.md): 49 whole papers and 841 questions written
by biomedical experts, every one answered by a span of its paper. The papers are indexed together,
once; each question is asked twice: limited to its own paper (the document filter, as a reader who
picks one document does: `Assistant.ask(docs=[paper])`), and over all papers. The answers are
often a sentence or more, so two figures are kept for the quote: strict (its range covers an
annotated span) and overlap (it overlaps one). A passage holds the answer when it comes from the
question's paper and covers a span, or, for a span that no passage of the index covers whole (one
running across a passage's end), overlaps it. Every question is answerable, so each abstention is
a false one. The naive baseline (200-word windows, dense only, qa.eval.kit) runs on the same
questions in both settings.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.answer.compose import Rules
from qa.answer.judge import Judge, Reads, Spots
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
from qa.index.store import Index
from qa.ingest.documents import Document, load_corpus
from qa.models.embedder import Embedder
from qa.search.retrieval import Fusion

QUESTIONS = "questions.jsonl"
_GIVE = "give --covid DIR, a folder holding questions.jsonl and docs/"
#: the two ways each question is asked
SETTINGS = {"own": "each question limited to its own paper", "together": "all papers searched together"}


@dataclass(frozen=True)
class CovidQuestion:
    id: str
    doc_id: str  # the paper's file name without .txt
    question: str
    spans: tuple[tuple[int, int], ...]  # [start, end) in the paper as read from disk
    answers: tuple[str, ...] = ()


def check_set(folder: Path) -> None:
    """An InputError naming what is missing and where it was looked for, unless `folder` holds the
    COVID-QA dev set (its questions file and docs/). The set is not part of the repository."""
    where = Path(folder).absolute()
    if not where.is_dir():
        raise InputError(f"no COVID-QA set at {where}: the folder does not exist (the COVID-QA papers are not "
                         f"part of the repository; {_GIVE})")
    if not (where / QUESTIONS).is_file():
        raise InputError(f"no COVID-QA questions in {where}: {QUESTIONS} is missing ({_GIVE})")
    if not (where / "docs").is_dir():
        raise InputError(f"no COVID-QA papers in {where}: docs/ is missing ({_GIVE})")


def load_questions(folder: Path, limit: int | None = None) -> list[CovidQuestion]:
    """The set's questions, in file order (the first `limit` only, when given)."""
    check_set(folder)
    path = Path(folder) / QUESTIONS
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            spans = tuple((int(a), int(b)) for a, b in r["answer_char_spans"])
            q = CovidQuestion(str(r["id"]), str(r["doc_id"]), str(r["question"]), spans, tuple(r.get("answers", ())))
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(f"{path}, line {n}: not a COVID-QA question record ({e})") from e
        if not q.spans:
            raise InputError(f"{path}, line {n}: the question has no answer span")
        out.append(q)
    if not out:
        raise InputError(f"the COVID-QA questions file {path} is empty")
    return out[:limit] if limit else out


def load_papers(folder: Path, doc_ids: Sequence[str], settings: Settings) -> dict[str, Document]:
    """The papers, read as the product reads a corpus (copied together into a temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="qa-covid-") as tmp:
        corpus = Path(tmp) / "covid"
        corpus.mkdir()
        for doc_id in dict.fromkeys(doc_ids):
            source = Path(folder) / "docs" / f"{doc_id}.txt"
            try:
                shutil.copy(source, corpus / source.name)
            except OSError as e:
                raise InputError(f"cannot read the COVID-QA paper {source.absolute()}: {e.strerror or e}") from e
        documents = {Path(d.doc).stem: d for d in load_corpus(corpus, settings.max_file_bytes)}
    missing = [d for d in dict.fromkeys(doc_ids) if d not in documents]
    if missing:
        raise InputError(f"the COVID-QA paper {missing[0]} could not be read")
    return documents


def covers(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(start <= a and b <= end for a, b in spans)


def overlaps(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(start < b and a < end for a, b in spans)


class _Holds:
    """Whether a passage of an index holds a question's answer (see the module's docstring)."""

    def __init__(self, index: Index, questions: Sequence[CovidQuestion], papers: dict[str, Document]) -> None:
        by_doc: dict[str, list[tuple[int, int]]] = {}
        for p in index.passages:
            by_doc.setdefault(p.doc, []).append((p.start, p.end))
        self.whole = {q.id: any(covers(a, b, q.spans) for a, b in by_doc.get(papers[q.doc_id].doc, []))
                      for q in questions}

    def __call__(self, q: CovidQuestion, doc: str, where: str, start: int, end: int) -> bool:
        if doc != where:
            return False
        return covers(start, end, q.spans) if self.whole[q.id] else overlaps(start, end, q.spans)


def run_covid(
    folder: Path,
    settings: Settings,
    embedder: CachedEmbedder,
    fusion: Fusion | None = None,
    rules: Rules | None = None,
    scorer: Judge | None = None,
    reader: Reads | None = None,
    limit: int | None = None,
    baseline: bool = True,
    papers: dict[str, Document] | None = None,
    questions: Sequence[CovidQuestion] | None = None,
    max_words: int | None = None,
    question_embedder: Embedder | None = None,
    settings_run: Sequence[str] = tuple(SETTINGS),
    index: Index | None = None,
    span: Spots | None = None,
) -> dict[str, Any]:
    """R@1, R@5, MRR@10, answer@1 strict and overlap, false abstentions and latency, for the system
    and the baseline, each question limited to its own paper and over all papers; per paper too.
    `index`: the system's index of `papers` when the caller built it already; `span`: the span model, which helps
    choose the quote as it does in `Assistant.ask`."""
    questions = list(questions) if questions is not None else load_questions(folder, limit)
    papers = papers or load_papers(folder, [q.doc_id for q in questions], settings)
    corpus = list(papers.values())
    index = index or system_index(corpus, max_words or settings.max_words, embedder)
    engine = Engine.of(index, fusion, rules, scorer, reader, span)
    base = Engine.of(baseline_index(corpus, embedder)) if baseline else None
    holds, base_holds = _Holds(index, questions, papers), _Holds(base.index, questions, papers) if base else None
    asker = question_embedder or embedder
    for q in questions[:3]:  # warm every path before timing anything
        ask(engine, asker, q.question, docs=[papers[q.doc_id].doc])
        ask(engine, asker, q.question)
    rows: list[dict[str, Any]] = []
    for q in questions:
        where = papers[q.doc_id].doc
        row: dict[str, Any] = {"id": q.id, "paper": q.doc_id}
        for name in settings_run:
            result = ask(engine, asker, q.question, docs=[where] if name == "own" else None)
            a = result.answer
            quote = (a.citation.start, a.citation.end) if a is not None else None
            row[name] = {
                "rank": first_rank([holds(q, h.passage.doc, where, h.passage.start, h.passage.end) for h in result.hits]),
                "answered": a is not None,
                "strict": quote is not None and a is not None and a.citation.doc == where and covers(*quote, q.spans),
                "overlap": quote is not None and a is not None and a.citation.doc == where and overlaps(*quote, q.spans),
                "pair": a is not None and two_sentences(result),
                "seconds": result.timings["total"],
            }
            if base is not None and base_holds is not None:
                b = bare_dense(base.index, asker, q.question, docs=[where] if name == "own" else None)
                ps = base.index.passages
                p, s = ps[b.answer[0]], ps[b.answer[0]].sentences[b.answer[1]]
                row["base_" + name] = {
                    "rank": first_rank([base_holds(q, ps[r].doc, where, ps[r].start, ps[r].end) for r in b.rows]),
                    "answered": True,
                    "strict": p.doc == where and covers(s.raw_start, s.raw_end, q.spans),
                    "overlap": p.doc == where and overlaps(s.raw_start, s.raw_end, q.spans),
                    "pair": False,
                    "seconds": b.seconds,
                }
        rows.append(row)
    out: dict[str, Any] = {"questions": len(rows), "papers": len({q.doc_id for q in questions}),
                           "passages": len(index.passages),
                           "mean_passage_words": sum(p.n_words for p in index.passages) / max(1, len(index.passages))}
    for name in settings_run:
        section: dict[str, Any] = {"setting": SETTINGS[name], "system": figures([r[name] for r in rows])}
        if base is not None:
            section["baseline"] = figures([r["base_" + name] for r in rows])
        section["latency"] = {"system": latency_figures([r[name]["seconds"] for r in rows])}
        if base is not None:
            section["latency"]["bare_dense"] = latency_figures([r["base_" + name]["seconds"] for r in rows])
        section["per_paper"] = {
            paper: figures([r[name] for r in rows if r["paper"] == paper])
            for paper in dict.fromkeys(r["paper"] for r in rows)
        }
        section["false_abstentions"] = [r["id"] for r in rows if not r[name]["answered"]]
        out[name] = section
    return out


def figures(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures of some questions' rows (rank, answered, strict, overlap, pair)."""
    r = ranking_figures([row["rank"] for row in rows])
    n = max(1, len(rows))
    return {"questions": len(rows), "R@1": r["hit@1"], "R@3": r["hit@3"], "R@5": r["hit@5"], "mrr@10": r["mrr@10"],
            "answer@1": sum(1 for row in rows if row["strict"]) / n,
            "answer_overlap@1": sum(1 for row in rows if row["overlap"]) / n,
            "false_abstention_rate": sum(1 for row in rows if not row["answered"]) / n,
            "two_sentence_answers": two_sentence_share([{"answered": row["answered"], "pair": row["pair"]} for row in rows])}


ROWS = ("R@1", "R@5", "mrr@10", "answer@1", "answer_overlap@1", "false_abstention_rate", "two_sentence_answers")


def render(report: dict[str, Any]) -> list[str]:
    """The readable form: for each setting, the system next to the baseline, then a line per paper."""
    lines: list[str] = []
    for name in SETTINGS:
        if name not in report:
            continue
        s = report[name]
        lines.append("")
        lines.append(f"COVID-QA dev: {report['questions']} questions, {report['papers']} papers "
                     f"({report['passages']} passages, {report['mean_passage_words']:.1f} words each), {s['setting']}")
        lines.append(f"  {'':<28}{'system':>10}{'baseline':>10}")
        for key in ROWS:
            lines.append(f"  {key:<28}{_fmt(s['system'].get(key)):>10}{_fmt(s.get('baseline', {}).get(key)):>10}")
        lat, bare = s["latency"]["system"], s["latency"].get("bare_dense", {})
        lines.append(f"  {'latency p50 / p95 (ms)':<28}{lat['p50_ms']:>5.1f} /{lat['p95_ms']:>5.1f}"
                     f"   bare dense {bare.get('p50_ms', 0):.1f} / {bare.get('p95_ms', 0):.1f}")
        lines.append("  per paper (questions: R@1, R@5, answer@1 strict / overlap):")
        for paper, f in s["per_paper"].items():
            lines.append(f"    {paper[:44]:<45}{f['questions']:>3}: {f['R@1']:.2f} {f['R@5']:.2f} "
                         f"{f['answer@1']:.2f} / {f['answer_overlap@1']:.2f}")
    return lines


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if isinstance(v, float) else str(v)
