"""`qa eval`: answer quality on a question set (the article's by default) and on the SQuAD sample.

Every figure stands next to a naive baseline measured in the same run: dense retrieval alone over
fixed 200-word windows, quoting the top window's closest sentence, never abstaining, ignoring the
conversation. Latency is warm and per question; the system's is compared with the bare dense
encode+search of the baseline.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.answer.compose import Rules
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
    round_all,
    system_index,
    two_sentence_share,
    two_sentences,
)
from qa.ingest.documents import load_corpus
from qa.models.embedder import Embedder
from qa.places import seed
from qa.search.retrieval import Fusion

DEFAULT_SET = Path(__file__).resolve().parents[2] / "eval" / "article_dev.jsonl"
KINDS = ("literal", "paraphrase", "meta", "date", "followup", "unanswerable")


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    gold: tuple[str, ...]  # verbatim source words; the answer sentence must contain one
    kind: str
    history: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.gold)


def load_set(path: Path) -> list[Question]:
    """A question set: JSON lines with id, question, gold (list), kind and history (list)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"cannot read the question set {path}: {e.strerror or e}") from e
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            q = Question(str(r["id"]), str(r["question"]), tuple(r.get("gold") or ()), str(r.get("kind", "literal")),
                         tuple(r.get("history") or ()))
        except (ValueError, KeyError, TypeError) as e:
            raise InputError(f"{path}, line {n}: not a question record ({e})") from e
        if q.kind not in KINDS:
            raise InputError(f"{path}, line {n}: kind must be one of {', '.join(KINDS)} (got {q.kind!r})")
        out.append(q)
    if not out:
        raise InputError(f"the question set {path} is empty")
    return out


def _norm(text: str) -> str:
    return " ".join(text.split())


def contains_gold(text: str, gold: Sequence[str]) -> bool:
    t = _norm(text)
    return any(_norm(g) in t for g in gold)


def run_article(
    questions: Sequence[Question],
    engine: Engine,
    embedder: Embedder,
    baseline: Engine | None = None,
    mode: str = "hybrid",
    latency: bool = True,
) -> dict[str, Any]:
    """Figures for one engine (and the baseline) on a question set about its corpus."""
    if latency:  # warm both paths before timing anything
        for q in questions[:3]:
            ask(engine, embedder, q.question, q.history, mode=mode)
            if baseline is not None:
                bare_dense(baseline.index, embedder, q.question)
    rows: list[dict[str, Any]] = []
    timed: list[float] = []
    bare: list[float] = []
    for q in questions:
        result = ask(engine, embedder, q.question, q.history, mode=mode)
        timed.append(result.timings["total"])
        row: dict[str, Any] = {
            "id": q.id,
            "kind": q.kind,
            "rank": first_rank([contains_gold(h.passage.text, q.gold) for h in result.hits]) if q.answerable else None,
            "answered": result.answer is not None,
            "correct": q.answerable and result.answer is not None and contains_gold(result.answer.text, q.gold),
            "pair": result.answer is not None and two_sentences(result),
            "query": result.query,
        }
        if baseline is not None:
            b = bare_dense(baseline.index, embedder, q.question)
            bare.append(b.seconds)
            p = baseline.index.passages
            row["base_rank"] = first_rank([contains_gold(p[r].text, q.gold) for r in b.rows]) if q.answerable else None
            row["base_correct"] = q.answerable and contains_gold(p[b.answer[0]].sentence_text(b.answer[1]), q.gold)
        rows.append(row)
    words = [p.n_words for p in engine.index.passages]
    out: dict[str, Any] = {"questions": len(questions), "system": _figures(rows, words)}
    out["system"]["self_contained_rewritten"] = _pollution(questions)
    if baseline is not None:
        out["baseline"] = _figures(
            [{**r, "rank": r["base_rank"], "correct": r["base_correct"], "answered": True, "pair": False}
             for r in rows],
            [p.n_words for p in baseline.index.passages])
    if latency:
        out["latency"] = {"system": latency_figures(timed)}
        if baseline is not None:
            out["latency"]["bare_dense"] = latency_figures(bare)
            b50 = out["latency"]["bare_dense"]["p50_ms"]
            out["latency"]["ratio_p50"] = out["latency"]["system"]["p50_ms"] / b50 if b50 else 0.0
    out["per_kind"] = per_kind(rows)
    out["misses"] = [r["id"] for r in rows if (r["rank"] is None or r["rank"] > 3 or not r["correct"])
                     and r["kind"] != "unanswerable"]
    out["wrongly_answered"] = [r["id"] for r in rows if r["kind"] == "unanswerable" and r["answered"]]
    out["false_abstentions"] = [r["id"] for r in rows if r["kind"] != "unanswerable" and not r["answered"]]
    return out


def _figures(rows: list[dict[str, Any]], words: list[int]) -> dict[str, Any]:
    answerable = [r for r in rows if r["kind"] != "unanswerable"]
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    followups = [r for r in answerable if r["kind"] == "followup"]
    abstained = [r for r in rows if not r["answered"]]
    false_abst = sum(1 for r in answerable if not r["answered"])
    out: dict[str, Any] = ranking_figures([r["rank"] for r in answerable])
    out["answer@1"] = sum(1 for r in answerable if r["correct"]) / max(1, len(answerable))
    out["abstention_precision"] = (
        sum(1 for r in abstained if r["kind"] == "unanswerable") / len(abstained) if abstained else None
    )
    out["abstention_recall"] = sum(1 for r in unanswerable if not r["answered"]) / max(1, len(unanswerable))
    out["false_abstentions"] = false_abst
    out["false_abstention_rate"] = false_abst / max(1, len(answerable))
    out["followup_hit@3"] = ranking_figures([r["rank"] for r in followups])["hit@3"] if followups else 0.0
    out["two_sentence_answers"] = two_sentence_share(rows)
    out["mean_passage_words"] = sum(words) / max(1, len(words))
    out["max_passage_words"] = max(words, default=0)
    return out


def per_kind(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """hit@1, hit@3 and answer@1 per kind of question; for the unanswerable, how many abstained."""
    out: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        mine = [r for r in rows if r["kind"] == kind]
        if not mine:
            continue
        if kind == "unanswerable":
            out[kind] = {"n": len(mine), "abstained": sum(1 for r in mine if not r["answered"]) / len(mine)}
            continue
        ranks = ranking_figures([r["rank"] for r in mine])
        out[kind] = {"n": len(mine), "hit@1": ranks["hit@1"], "hit@3": ranks["hit@3"],
                     "answer@1": sum(1 for r in mine if r["correct"]) / len(mine)}
    return out


def _pollution(questions: Sequence[Question]) -> int:
    """Self-contained questions whose searched query changes when asked after another question."""
    from qa.answer.followup import resolve

    standalone = [q for q in questions if q.kind != "followup" and not q.history]
    return sum(
        1 for i, q in enumerate(standalone) if resolve(q.question, [standalone[i - 1].question]) != q.question
    )


# -- the command ----------------------------------------------------------------------------------


def main(args: argparse.Namespace, settings: Settings) -> int:
    from qa.models.embedder import MiniLM
    from qa.models.reader import Reader
    from qa.models.scorer import Scorer
    from qa.models.span import SpanModel

    limit = getattr(args, "limit", None)
    if limit is not None and limit < 1:
        raise InputError("--limit must be at least 1")
    if not args.qset and not DEFAULT_SET.is_file():
        raise InputError(f"the article's question set is not at {DEFAULT_SET} (eval/article_dev.jsonl comes with "
                         "the repository, not inside the package); give --set PATH")
    if args.squad:  # a missing SQuAD sample is one line before any work, not after the article's run
        from qa.eval.squad import check_sample

        check_sample(Path(args.squad))
    if getattr(args, "covid", None):
        from qa.eval.covid import check_set

        check_set(Path(args.covid))
    questions = load_set(Path(args.qset) if args.qset else DEFAULT_SET)
    embedder = CachedEmbedder.from_env(MiniLM(threads=settings.torch_threads))
    fusion, rules = Fusion(), Rules()
    seed(settings.corpus_dir)  # the per-user corpus gets the example article on first use
    documents = load_corpus(settings.corpus_dir, settings.max_file_bytes)
    if not documents:
        raise InputError(f"no documents in {settings.corpus_dir} to evaluate against")
    scorer = Scorer(threads=settings.torch_threads) if settings.scorer else None
    reader = Reader(threads=settings.torch_threads) if settings.reader else None
    span = SpanModel(threads=settings.torch_threads) if settings.span else None  # helps choose the quote; its words, on SQuAD
    index = system_index(documents, settings.max_words, embedder)
    engine = Engine.of(index, fusion, rules, scorer, reader, span)
    base = Engine.of(baseline_index(documents, embedder))
    report: dict[str, Any] = {
        "settings": {"max_words": settings.max_words, "fusion": vars(fusion), "rules": vars(rules),
                     "scorer": scorer is not None, "reader": reader is not None},
        "article": run_article(questions, engine, embedder, base),
    }
    # the same run without the reader (the scorer alone), and without either trained model
    if reader is not None and scorer is not None:
        report["article_without_reader"] = run_article(questions, Engine.of(index, fusion, rules, scorer), embedder)
    if scorer is not None or reader is not None:
        report["article_without_scorer"] = run_article(questions, Engine.of(index, fusion, rules), embedder)
    if args.squad:
        from qa.eval.squad import load_documents, load_squad, run_squad

        folder = Path(args.squad)
        squad = load_squad(folder, limit)
        docs = load_documents(folder, [q.doc_id for q in squad], settings)
        for key, together in (("squad_together", True), ("squad", False)):
            report[key] = run_squad(folder, settings, embedder, fusion, rules, documents=docs, together=together,
                                    questions=squad, scorer=scorer, reader=reader, span=span)
            if reader is not None and scorer is not None:
                report[key + "_without_reader"] = run_squad(folder, settings, embedder, fusion, rules, documents=docs,
                                                            together=together, questions=squad, baseline=False, scorer=scorer)
            if scorer is not None or reader is not None:
                report[key + "_without_scorer"] = run_squad(folder, settings, embedder, fusion, rules, documents=docs,
                                                            together=together, questions=squad, baseline=False)
    if getattr(args, "covid", None):
        from qa.eval.covid import run_covid

        report["covid"] = run_covid(Path(args.covid), settings, embedder, fusion, rules, scorer, reader, limit, span=span)
    embedder.save()
    report = round_all(report)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(render(report))
    return 0


ARTICLE_ROWS = ("hit@1", "hit@3", "hit@5", "mrr@10", "answer@1", "abstention_precision", "abstention_recall",
                "false_abstentions", "followup_hit@3", "two_sentence_answers", "mean_passage_words",
                "max_passage_words")
SQUAD_ROWS = ("R@1", "R@5", "mrr@10", "answer@1", "false_abstention_rate", "two_sentence_answers",
              "mean_passage_words", "span_em", "span_f1", "span_given", "span_em_always", "span_f1_always")


def render(report: dict[str, Any]) -> str:
    """The readable form: one table per question set, system next to baseline."""
    lines = []
    a = report["article"]
    lines.append(f"Article dev set: {a['questions']} questions")
    lines.extend(_table(ARTICLE_ROWS, a["system"], a.get("baseline", {}), _without(report, "article")))
    lines.append(f"  {'self-contained rewritten':<28}{a['system']['self_contained_rewritten']:>10}")
    if "latency" in a:
        lines.append(_latency(a["latency"]))
    for what, label in (("reader", "the reader"), ("scorer", "the models")):
        bare = report.get(f"article_without_{what}", {})
        if "latency" in bare:
            lines.append(f"  {f'without {label} p50 / p95':<28}{bare['latency']['system']['p50_ms']:>5.1f} /"
                         f"{bare['latency']['system']['p95_ms']:>5.1f}")
    for kind, f in a.get("per_kind", {}).items():
        figures = ", ".join(f"{k} {_fmt(v)}" for k, v in f.items() if k != "n")
        lines.append(f"  {kind} ({f['n']}): {figures}")
    for key in ("misses", "wrongly_answered", "false_abstentions"):
        if a.get(key):
            lines.append(f"  {key.replace('_', ' ')}: {', '.join(a[key])}")
    for key in ("squad_together", "squad"):
        if key not in report:
            continue
        q = report[key]
        lines.append("")
        lines.append(f"SQuAD v1.1 dev: {q['questions']} questions, {q['documents']} documents, {q['setting']} "
                     "(strict hits)")
        lines.extend(_table(SQUAD_ROWS, q["system"], q.get("baseline", {}), _without(report, key)))
        if "latency" in q:
            lines.append(_latency(q["latency"]))
    if "covid" in report:
        from qa.eval.covid import render as render_covid

        lines.extend(render_covid(report["covid"]))
    return "\n".join(lines)


def _latency(latency: dict[str, Any]) -> str:
    s, b = latency["system"], latency.get("bare_dense", {})
    line = (f"  {'latency p50 / p95 (ms)':<28}{s['p50_ms']:>5.1f} /{s['p95_ms']:>5.1f}"
            f"   bare dense {b.get('p50_ms', 0):.1f} / {b.get('p95_ms', 0):.1f}")
    return line + (f"   ratio {latency['ratio_p50']:.2f}" if "ratio_p50" in latency else "")


def _without(report: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    """The same run's figures without the reader and without either model, where measured."""
    names = {"reader": "no reader", "scorer": "no models"}
    return {label: report[f"{key}_without_{what}"]["system"] for what, label in names.items()
            if f"{key}_without_{what}" in report}


def _table(keys: Sequence[str], system: dict[str, Any], baseline: dict[str, Any],
           without: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """System next to the baseline (and, when measured, the system without the reader and without
    either trained model)."""
    without = without or {}
    head = f"  {'':<28}{'system':>10}" + "".join(f"{label:>11}" for label in without) + f"{'baseline':>10}"
    lines = [head]
    for key in keys:
        middle = "".join(f"{_fmt(figures.get(key)):>11}" for figures in without.values())
        lines.append(f"  {key:<28}{_fmt(system.get(key)):>10}{middle}{_fmt(baseline.get(key)):>10}")
    return lines


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if v < 10 else f"{v:.1f}"
    return str(v)
