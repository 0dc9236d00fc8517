"""Where the shipped system's SQuAD misses are: what the top passage and the quoted sentence hold instead.

    QA_EVAL_CACHE=/tmp/qa-vectors .venv/bin/python eval/miss_analysis.py --questions /tmp/held-out.jsonl \
        --dump /tmp/held-out-misses.jsonl
    QA_EVAL_CACHE=/tmp/qa-vectors .venv/bin/python eval/miss_analysis.py --together --dump /tmp/eval-misses.jsonl

Reporting only: nothing here chooses a setting. It runs the product's defaults (Settings(), Rules(),
Fusion(), the shipped scorer and reader) and sorts each miss of the strict measure (`qa eval`'s: the
passage's raw span covers an annotated answer span) by what went wrong:

- passage misses (R@1): the top passage is the answer's own paragraph, another part of it (a
  paragraph longer than a passage is split); or it holds one of the annotated answer strings
  somewhere else (the words are there, not at the annotated place); or the answer's passage ranks
  2-3, 4-5, lower;
- answer misses with the right top passage (answer@1): abstained; the quote holds an answer string
  elsewhere; the answer's sentence is beside the quote (same passage); further away.

The lenient figures (the passage or the quote holds an answer string anywhere: open-domain QA's
"answer string" measure, as DPR reports it) are printed beside the strict ones, never instead.
`--dump` writes every miss (question, answers, top passage, quote) for reading.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.config import Settings  # noqa: E402
from qa.eval.kit import CachedEmbedder, Engine, ask, first_rank, system_index  # noqa: E402
from qa.eval.squad import covers, load_documents, load_squad  # noqa: E402
from qa.models.embedder import MiniLM  # noqa: E402
from qa.models.reader import Reader  # noqa: E402
from qa.models.scorer import Scorer  # noqa: E402
from qa.models.span import SpanModel  # noqa: E402


def norm(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation or articles, single spaces."""
    text = re.sub(r"\b(a|an|the)\b", " ", re.sub(r"[^\w\s]", " ", text.lower()))
    return " ".join(text.split())


def holds(text: str, answers: Sequence[str]) -> bool:
    t = f" {norm(text)} "
    return any(f" {a} " in t for a in (norm(x) for x in answers) if a)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--squad", default=str(ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-dev"))
    p.add_argument("--questions", default=None, help="a questions file (default: the evaluation documents')")
    p.add_argument("--together", action="store_true", help="all the documents one corpus (default: each its own)")
    p.add_argument("--dump", default=None, help="write every miss here, one JSON object a line")
    args = p.parse_args(argv)
    settings = Settings()
    embedder = CachedEmbedder.from_env(MiniLM(threads=settings.torch_threads))
    scorer = Scorer(threads=settings.torch_threads)
    reader = Reader(threads=settings.torch_threads)
    span = SpanModel(threads=settings.torch_threads)  # it helps choose the quote, as in Assistant.ask
    folder = Path(args.squad)
    questions = load_squad(folder, name=args.questions)
    docs = load_documents(folder, [q.doc_id for q in questions], settings)
    groups = [list(docs)] if args.together else [[d] for d in docs]
    kinds: Counter[str] = Counter()
    lenient: Counter[str] = Counter()
    dump = []
    n = 0
    for group in groups:
        engine = Engine.of(system_index([docs[d] for d in group], settings.max_words, embedder),
                           scorer=scorer, reader=reader, span=span)
        passages = engine.index.passages
        for q in (q for q in questions if q.doc_id in group):
            n += 1
            where = docs[q.doc_id].doc
            gold = {(pa.doc, pa.paragraph) for pa in passages
                    if pa.doc == where and any(pa.start <= a < pa.end for a, _ in q.spans)}
            result = ask(engine, embedder, q.question)
            hits = result.hits
            strict = [h.passage.doc == where and covers(h.passage.start, h.passage.end, q.spans) for h in hits]
            rank = first_rank(strict)
            loose = [holds(h.passage.text, q.answers) for h in hits]
            lenient["R@1"] += bool(loose[:1] and loose[0])
            lenient["R@5"] += any(loose[:5])
            a = result.answer
            quote_ok = a is not None and a.citation.doc == where and covers(a.citation.start, a.citation.end, q.spans)
            lenient["answer@1"] += a is not None and holds(a.text, q.answers)
            kinds["R@1 strict"] += rank == 1
            kinds["answer@1 strict"] += quote_ok
            if rank != 1:
                top = hits[0].passage if hits else None
                if top is not None and (top.doc, top.paragraph) in gold:
                    kind = "passage: the answer's paragraph, another part of it"
                elif top is not None and loose[0]:
                    kind = "passage: another passage holding an answer string"
                elif rank in (2, 3):
                    kind = "passage: the answer's ranks 2-3"
                elif rank in (4, 5):
                    kind = "passage: the answer's ranks 4-5"
                else:
                    kind = "passage: the answer's below 5"
            elif quote_ok:
                continue
            elif a is None:
                kind = "answer: abstained"
            elif holds(a.text, q.answers):
                kind = "answer: the quote holds an answer string elsewhere"
            else:
                top = hits[0].passage
                near = [i for i, s in enumerate(top.sentences) if covers(s.raw_start, s.raw_end, q.spans)]
                said = [i for i, s in enumerate(top.sentences) if s.raw_start <= a.citation.start < s.raw_end]
                kind = ("answer: the answer's sentence beside the quote" if near and said and abs(near[0] - said[0]) == 1
                        else "answer: another sentence of the right passage")
            kinds[kind] += 1
            dump.append({"id": q.id, "doc": q.doc_id, "kind": kind, "question": q.question,
                         "answers": sorted(set(q.answers)), "rank": rank,
                         "top": hits[0].passage.text if hits else None, "quote": a.text if a else None})
    print(f"{n} questions ({'together' if args.together else 'each document its own corpus'}), "
          f"passages of at most {settings.max_words} words, the shipped models and rules\n")
    print("| figure | strict | lenient (an answer string anywhere) |\n|---|---|---|")
    print(f"| R@1 | {kinds['R@1 strict'] / n:.3f} | {lenient['R@1'] / n:.3f} |")
    print(f"| R@5 | | {lenient['R@5'] / n:.3f} |")
    print(f"| answer@1 | {kinds['answer@1 strict'] / n:.3f} | {lenient['answer@1'] / n:.3f} |\n")
    print("| miss | questions | share of all |\n|---|---|---|")
    for kind in sorted(k for k in kinds if k.startswith(("passage", "answer:"))):
        print(f"| {kind} | {kinds[kind]} | {kinds[kind] / n:.3f} |")
    if args.dump:
        Path(args.dump).write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in dump), encoding="utf-8")
    embedder.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
