"""Warm answer latency on long papers and on the article, one thread, against today's path in the same run.

    QA_EVAL_CACHE=/tmp/qa-vectors .venv/bin/python -m benchmarks.longdocs [--questions 120] [--rounds 3] [--json]

Three workloads: questions of COVID-QA dev (`../shared/benchmarks/covid-qa-dev`, 49 papers of ~3,500
words indexed together) each limited to its own paper, as a reader who picks one document asks
(`docs=[paper]`: the narrowed rules, `Rules.narrowed`); the same questions over all the papers (an
open search); and the article's dev questions over the article. Paths, each on an index built for it
(passage and sentence vectors from QA_EVAL_CACHE):
- "today": the answer path before issue 25 part 3 (no headings read by BM25, no deeper reranking
  for a limited search, the models reading 5 passages) and before part 4 (no learned abstention),
  everything else as in the tree;
- "not narrowed": the tree's path, with a limited search reranked as an open one;
- "5 passages": the tree's path with the models reading 5 passages and the reader up to 5 sentences
  in an open search, as before every search reranked 20 (`SHALLOW`);
- "tree": the tree's path as shipped;
- "marks only": the tree's path with the span model marking the quote's words but not helping choose
  the quote (the path before "The span model helps choose the quote", docs/quality.md);
- "one by one": the tree's path with the reader reading a question's pairs one after another, and
  the span model its sentences, as before they were read side by side (`CheckedModel.side_by_side`,
  as many at once as there are cores); each path's ratio to it is printed too;
- "span one by one": the tree's path with only the span model reading one sentence after another
  and nothing begun ahead (the reader's pairs side by side): the path before the span model's
  readings went side by side;
- "span not ahead": the tree's path with the span model's readings side by side, but none begun
  while the reader reads (`SpanModel.begin`);
- "float questions": the tree's path with each question embedded by the float export, as before
  questions were read by the index's int8 copy ("today" embeds its questions in float too);
- "reader before" (with --reader-before DIR): the tree's path with that reader instead of the shipped
  one (the reader before a retraining, issue 25 part 1); each path's ratio to it is printed too.
The scorer and the reader run on one onnxruntime thread each (the reader's pairs and the span model's
sentences side by side, each on its own thread, on every path but "one by one"); the reader remembers nothing, so every ask pays for
its readings (the scorer keeps the vectors of sentences it has met, as in a serving process). Every
question is asked once on each path to warm it, then the rounds alternate the paths question by
question; prints each path's median and the median of per-question ratios to "today". Every path but
"today" (before issue 25 part 2) ends as `Assistant.ask` does, marking the short answer inside the
quote (its own span model, each reading forgotten before a question is timed, so none is reused from
another path or round).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.answer import shortanswer  # noqa: E402
from qa.answer.compose import Rules  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.eval import COVID_DEFAULT  # noqa: E402
from qa.eval.covid import load_papers, load_questions  # noqa: E402
from qa.eval.evaluate import DEFAULT_SET, load_set  # noqa: E402
from qa.eval.kit import CachedEmbedder, Engine, ask, system_index  # noqa: E402
from qa.ingest.documents import load_corpus  # noqa: E402
from qa.models.embedder import MiniLM  # noqa: E402
from qa.models.reader import Reader  # noqa: E402
from qa.models.scorer import Scorer  # noqa: E402
from qa.models.span import SpanModel  # noqa: E402

#: what the models read in an open search before every search reranked 20 passages (docs/quality.md,
#: "Reranking deeper in every search"): 5 passages, up to 5 sentences for the reader
SHALLOW: dict[str, Any] = {"scorer_depth": 5, "reader_candidates": 5}


class NotAhead(SpanModel):
    """The span model reading nothing ahead: each sentence when the answer step asks for it."""

    def begin(self, question: str, text: str) -> None:
        pass


def today_rules() -> Rules:
    """The shipped Rules with this issue's changes to the answer path undone."""
    rules = replace(Rules(), **SHALLOW)
    undone: dict[str, Any] = {"narrow_depth": rules.scorer_depth, "narrow_reader_candidates": rules.reader_candidates,
                              "narrow_reader_within": rules.reader_within, "narrow_answer_depth": rules.answer_depth}
    if "learned_abstention" in {f.name for f in fields(Rules)}:
        undone["learned_abstention"] = False
    return replace(rules, **undone)


def not_narrowed() -> Rules:
    rules = Rules()
    return replace(rules, narrow_depth=rules.scorer_depth, narrow_reader_candidates=rules.reader_candidates,
                   narrow_reader_within=rules.reader_within, narrow_answer_depth=rules.answer_depth)


def answer(engine: Engine, embedder: Any, question: str, history: tuple[str, ...], docs: list[str] | None) -> None:
    """One question as `Assistant.ask` answers it: the passages, the quote, and its short answer marked."""
    result = ask(engine, embedder, question, history, k=5, docs=docs)
    if isinstance(engine.span, SpanModel):
        shortanswer.mark(result, engine.span)


#: the paths whose questions are embedded by the float export (the rest: by the int8 copy, as shipped)
FLOAT_QUESTIONS = ("today", "float questions")


def timed(engines: dict[str, Engine], embedders: dict[bool, Any],
          asks: list[tuple[str, tuple[str, ...], list[str] | None]], rounds: int) -> dict[str, Any]:
    """`embedders`: the questions' embedder, in float (True) and as shipped (False)."""
    for question, history, docs in asks:  # warm every path
        for name, engine in engines.items():
            answer(engine, embedders[name in FLOAT_QUESTIONS], question, history, docs)
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(rounds):
        for question, history, docs in asks:
            for name, engine in engines.items():
                if isinstance(engine.span, SpanModel):
                    engine.span.forget()  # the question's whole cost, none of its readings kept from before
                embedder = embedders[name in FLOAT_QUESTIONS]
                t = time.perf_counter()
                answer(engine, embedder, question, history, docs)
                times[name].append(time.perf_counter() - t)
    out = {"asks_each": len(times["today"]),
           "p50_ms": {name: round(1000 * statistics.median(t), 2) for name, t in times.items()},
           "ratio_to_today": {name: round(statistics.median(a / b for a, b in zip(t, times["today"], strict=True)), 3)
                              for name, t in times.items()}}
    for base in ("one by one", "reader before"):
        if base in times:
            out["ratio_to_" + base.replace(" ", "_")] = {
                name: round(statistics.median(a / b for a, b in zip(t, times[base], strict=True)), 3)
                for name, t in times.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--covid", type=Path, default=COVID_DEFAULT)
    ap.add_argument("--questions", type=int, default=120, help="COVID-QA questions, spread evenly over the set")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--reader-before", type=Path, default=None, help="a reader folder to time the tree's path with as well")
    ap.add_argument("--paths", default="", help="only these paths, comma-separated (\"today\" and \"one by one\" always run)")
    args = ap.parse_args(argv)
    settings = Settings()
    embedder = CachedEmbedder.from_env(MiniLM(threads=1))
    scorer, reader = Scorer(threads=1), Reader(threads=1)
    one_by_one = Reader(threads=1)  # the same session, its pairs read one after another
    one_by_one.side_by_side = 1
    before = Reader(args.reader_before, threads=1) if args.reader_before else None
    scorer.warm_up()
    reader.warm_up()
    if before is not None:
        before.warm_up()
    figures: dict[str, Any] = {"rules": {"today": vars(today_rules()), "tree": vars(Rules())}}

    covid = load_questions(args.covid)
    step = max(1, len(covid) // args.questions)
    chosen = covid[::step][: args.questions]
    papers = load_papers(args.covid, [q.doc_id for q in covid], settings)
    corpus = list(papers.values())
    indexes = {h: system_index(corpus, settings.max_words, embedder, headings=h) for h in (False, True)}
    def paths(index: dict[bool, Any]) -> dict[str, Engine]:
        """The paths, each on its index (without headings for "today"; with them for the rest)."""
        def span(side_by_side: bool = True, ahead: bool = True) -> SpanModel:  # one a path: none reuses another's readings
            model = SpanModel(threads=1) if ahead else NotAhead(threads=1)
            if not side_by_side:
                model.side_by_side = 1
            return model

        out = {"today": Engine.of(index[False], rules=today_rules(), scorer=scorer, reader=reader),
               "not narrowed": Engine.of(index[True], rules=not_narrowed(), scorer=scorer, reader=reader, span=span()),
               "marks only": Engine.of(index[True], rules=replace(Rules(), span_answer=0.0), scorer=scorer, reader=reader,
                                       span=span()),
               "5 passages": Engine.of(index[True], rules=replace(Rules(), **SHALLOW), scorer=scorer, reader=reader,
                                       span=span()),
               "one by one": Engine.of(index[True], rules=Rules(), scorer=scorer, reader=one_by_one, span=span(False)),
               "span one by one": Engine.of(index[True], rules=Rules(), scorer=scorer, reader=reader, span=span(False)),
               "span not ahead": Engine.of(index[True], rules=Rules(), scorer=scorer, reader=reader, span=span(True, False)),
               "float questions": Engine.of(index[True], rules=Rules(), scorer=scorer, reader=reader, span=span()),
               "tree": Engine.of(index[True], rules=Rules(), scorer=scorer, reader=reader, span=span())}
        if before is not None:
            out["reader before"] = Engine.of(index[True], rules=Rules(), scorer=scorer, reader=before, span=span())
        if args.paths:
            wanted = {"today", "one by one", *(p.strip() for p in args.paths.split(","))}
            if wanted - set(out):
                raise SystemExit(f"longdocs: no path {', '.join(sorted(wanted - set(out)))} (paths: {', '.join(out)})")
            out = {name: engine for name, engine in out.items() if name in wanted}
        return out

    engines = paths(indexes)
    embedders = {False: embedder, True: CachedEmbedder(MiniLM(threads=1, int8=False))}  # questions only
    figures["paper"] = {"papers": len(corpus), "passages": len(indexes[True].passages),
                        **timed(engines, embedders, [(q.question, (), [papers[q.doc_id].doc]) for q in chosen], args.rounds)}
    figures["papers"] = {"papers": len(corpus), "passages": len(indexes[True].passages),
                         **timed(engines, embedders, [(q.question, (), None) for q in chosen], args.rounds)}

    documents = load_corpus(settings.corpus_dir, settings.max_file_bytes)
    article = {h: system_index(documents, settings.max_words, embedder, headings=h) for h in (False, True)}
    engines = paths(article)
    figures["article"] = {"passages": len(article[True].passages),
                          **timed(engines, embedders, [(q.question, q.history, None) for q in load_set(DEFAULT_SET)],
                                  args.rounds)}
    embedder.save()
    if args.json:
        print(json.dumps(figures))
        return 0
    for name, label in (("paper", "a question limited to its own paper (COVID-QA dev)"),
                        ("papers", "the same questions over all the papers (an open search)"), ("article", "the article")):
        f = figures[name]
        print(f"{label}: {f['passages']} passages, {f['asks_each']} asks a path, k=5, one thread, warm")
        for path, p50 in f["p50_ms"].items():
            other = f", to one by one {f['ratio_to_one_by_one'][path]:.2f}"
            other += (f", to reader before {f['ratio_to_reader_before'][path]:.2f}" if "ratio_to_reader_before" in f else "")
            print(f"  {path:<15} p50 {p50:6.1f} ms   median ratio to today {f['ratio_to_today'][path]:.2f}{other}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
