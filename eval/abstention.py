"""Knowing when not to answer (issue 25 part 4): the shipped abstention model against the hand-set
rules, in the same run, on the article's dev set and on COVID-QA's development questions.

    QA_EVAL_CACHE=/tmp/qa-vectors .venv/bin/python eval/abstention.py [--covid ../shared/benchmarks/covid-qa-dev] [--json]

Article: abstention recall (of its 11 unanswerable questions), false abstentions (of its 80
answerable ones), answer@1 and hit@1, and the reliability of the confidence shown (in each band,
how often the quote was right; an unanswerable question answered is a wrong quote). COVID-QA (every
question answerable, each asked of its own paper with the document filter, all 49 papers in one
index): how many are refused. The abstention model's own held-out figures (cross-fitted on training
documents) are in qa/models/abstain_model/MODEL_CARD.md. Nothing here chooses a setting.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.answer.compose import Rules  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.eval.evaluate import DEFAULT_SET, contains_gold, load_set  # noqa: E402
from qa.eval.kit import CachedEmbedder, Engine, ask, first_rank, system_index  # noqa: E402
from qa.ingest.documents import load_corpus  # noqa: E402
from qa.models.embedder import MiniLM  # noqa: E402
from qa.models.reader import Reader  # noqa: E402
from qa.models.scorer import Scorer  # noqa: E402
from qa.models.span import SpanModel  # noqa: E402

BANDS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0000001)
COVID = ROOT.parent / "shared" / "benchmarks" / "covid-qa-dev"


def reliability(conf: list[float], right: list[bool]) -> list[dict[str, Any]]:
    p, r = np.asarray(conf, dtype=float), np.asarray(right, dtype=bool)
    out = []
    for lo, hi in zip(BANDS[:-1], BANDS[1:], strict=True):
        m = (p >= lo) & (p < hi)
        out.append({"band": f"{lo:.1f}-{min(hi, 1.0):.1f}", "n": int(m.sum()),
                    "confidence": round(float(p[m].mean()), 3) if m.any() else None,
                    "right": round(float(r[m].mean()), 3) if m.any() else None})
    return out


def article(engine: Engine, embedder: Any, questions: list[Any]) -> dict[str, Any]:
    rows = []
    for q in questions:
        res = ask(engine, embedder, q.question, q.history)
        a = res.answer
        rows.append({"id": q.id, "answerable": q.answerable, "answered": a is not None,
                     "rank": first_rank([contains_gold(h.passage.text, q.gold) for h in res.hits]) if q.answerable else None,
                     "right": a is not None and q.answerable and contains_gold(a.text, q.gold),
                     "confidence": a.confidence if a is not None else None})
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    answered = [r for r in rows if r["answered"] and r["confidence"] is not None]
    return {"abstention_recall": sum(not r["answered"] for r in una) / max(1, len(una)),
            "false_abstentions": sum(not r["answered"] for r in ans), "answerable": len(ans), "unanswerable": len(una),
            "answer@1": sum(r["right"] for r in ans) / max(1, len(ans)),
            "hit@1": sum(1 for r in ans if r["rank"] == 1) / max(1, len(ans)),
            "answered_unanswerable": [r["id"] for r in una if r["answered"]],
            "refused_answerable": [r["id"] for r in ans if not r["answered"]],
            "reliability": reliability([r["confidence"] for r in answered], [r["right"] for r in answered])}


def covid(engines: dict[str, Engine], embedder: Any, folder: Path, docs: dict[str, str]) -> dict[str, Any]:
    rows = [json.loads(x) for x in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    out: dict[str, Any] = {}
    for name, engine in engines.items():
        refused = 0
        for r in rows:
            res = ask(engine, embedder, r["question"], docs=[docs[r["doc_id"]]])
            refused += res.answer is None
        out[name] = {"questions": len(rows), "refused": refused, "false_abstention_rate": refused / max(1, len(rows))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--covid", type=Path, default=COVID)
    ap.add_argument("--no-covid", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    settings = Settings()
    embedder = CachedEmbedder.from_env(MiniLM())
    scorer, reader = Scorer(), Reader(remember=200_000)  # both variants read the same sentences: once
    span = SpanModel(remember=200_000)  # it helps choose the quote, as in Assistant.ask
    variants = {"learned": Rules(), "rules": replace(Rules(), learned_abstention=False)}
    index = system_index(load_corpus(ROOT / "corpus", settings.max_file_bytes), settings.max_words, embedder)
    questions = load_set(DEFAULT_SET)
    report: dict[str, Any] = {"article": {n: article(Engine.of(index, rules=r, scorer=scorer, reader=reader, span=span), embedder, questions)
                                          for n, r in variants.items()}}
    if not args.no_covid:
        papers = load_corpus(args.covid / "docs", settings.max_file_bytes)
        covid_index = system_index(papers, settings.max_words, embedder)
        engines = {n: Engine.of(covid_index, rules=r, scorer=scorer, reader=reader, span=span) for n, r in variants.items()}
        report["covid"] = covid(engines, embedder, args.covid, {Path(d.doc).stem: d.doc for d in papers})
    embedder.save()
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    a = report["article"]
    print("| article dev set | abstention model | hand-set rules |\n|---|---|---|")
    for key in ("abstention_recall", "false_abstentions", "answer@1", "hit@1"):
        print(f"| {key} | {a['learned'][key]:.3f} | {a['rules'][key]:.3f} |" if isinstance(a["learned"][key], float)
              else f"| {key} | {a['learned'][key]} | {a['rules'][key]} |")
    for n in variants:
        print(f"\n{n}: unanswerable answered {a[n]['answered_unanswerable']}; answerable refused {a[n]['refused_answerable']}")
        print("| confidence | answers | mean confidence | quote right |\n|---|---|---|---|")
        for r in a[n]["reliability"]:
            print(f"| {r['band']} | {r['n']} | {r['confidence'] if r['confidence'] is not None else '-'} | "
                  f"{r['right'] if r['right'] is not None else '-'} |")
    if "covid" in report:
        c = report["covid"]
        print(f"\nCOVID-QA dev ({c['learned']['questions']} questions, each of its own paper): refused "
              f"{c['learned']['refused']} ({c['learned']['false_abstention_rate']:.3f}) with the abstention model, "
              f"{c['rules']['refused']} ({c['rules']['false_abstention_rate']:.3f}) with the hand-set rules")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
