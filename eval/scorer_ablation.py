"""The answer scorer's and reader's uses, one by one, on the article dev set and on held-out TRAINING documents.

    QA_EVAL_CACHE=/tmp/qa-vectors .venv/bin/python eval/scorer_ablation.py [--squad ../shared/benchmarks/squad-v1.1-dev]
    ... eval/scorer_ablation.py --questions /tmp/held-out.jsonl   # every held-out question (eval/held_out_questions.py)
    ... eval/scorer_ablation.py --only-extra --extra "both:scorer_rerank=0.8,scorer_answer=1.6,reader_answer=2"
    ... eval/scorer_ablation.py --only-extra --max-words 200 --extra "fused:scorer_rerank=0.8,dense_weight=0.5"

Settings are chosen here, never on the SQuAD evaluation documents: the held-out documents are the
training documents that qa/models/training/scorer.py kept out of training (recorded in the model's
scorer.json; qa/models/training/reader.py holds out the same ones), with their questions from the
sample's `questions.jsonl`. Prints one Markdown table: scorer off / rerank only / answer only /
abstain only / all, at a few weights each, and any --extra setting (Rules or Fusion fields,
key=value); --max-words cuts both sets' passages at another size.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.answer.compose import Rules  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.eval.evaluate import DEFAULT_SET, load_set, run_article  # noqa: E402
from qa.eval.kit import CachedEmbedder, Engine, system_index  # noqa: E402
from qa.eval.squad import doc_id, load_documents, load_squad, run_squad  # noqa: E402
from qa.ingest.documents import load_corpus  # noqa: E402
from qa.models.embedder import MiniLM  # noqa: E402
from qa.models.reader import Reader  # noqa: E402
from qa.models.scorer import Scorer  # noqa: E402
from qa.search.retrieval import Fusion  # noqa: E402


class _Remembering:
    """Remembers every vector it computes, questions included: settings differ only after
    retrieval, so each question is encoded once for the whole grid (no latency is measured here)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.memo: dict[str, np.ndarray] = {}
        self.name, self.dim = getattr(inner, "name", "scorer"), getattr(inner, "dim", 384)

    def encode(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if todo:
            self.memo.update(zip(todo, self.inner.encode(todo), strict=True))
        return np.vstack([self.memo[t] for t in texts]) if texts else self.inner.encode([])

    # the scorer's side (qa.answer.judge.Judge)
    def cosines(self, question: str, sentences: list[str]) -> np.ndarray:
        return np.asarray(self.inner.sentence_vectors(sentences) @ self.encode([question])[0])

    def probability(self, cosines: np.ndarray) -> np.ndarray:
        return np.asarray(self.inner.probability(cosines))


OFF = replace(Rules(), scorer_rerank=0.0, scorer_answer=0.0, scorer_abstain=0.0, scorer_reads_query=False,
              reader_rerank=0.0, reader_answer=0.0, reader_abstain=0.0)


def setting(text: str) -> tuple[str, Rules, Fusion]:
    """NAME:rerank,answer,abstain[,query] (the scorer's weights), or NAME:field=value,... (any Rules or
    Fusion field: "dense_weight=0.5" changes how retrieval fuses its evidence)."""
    name, weights = text.split(":", 1)
    values = weights.split(",")
    if "=" not in weights:
        r, a, t = (float(x) for x in values[:3])
        return name, replace(OFF, scorer_rerank=r, scorer_answer=a, scorer_abstain=t,
                             scorer_reads_query=values[3:] == ["query"]), Fusion()
    fields = {k: v for k, v in (x.split("=", 1) for x in values)}
    fused = {k: v for k, v in fields.items() if k in Fusion.__dataclass_fields__}
    ruled = {k: v for k, v in fields.items() if k not in fused}

    def typed(obj: object, k: str, v: str) -> Any:
        kind = type(getattr(obj, k))
        return v == "True" if kind is bool else kind(v)

    return (name, replace(OFF, **{k: typed(OFF, k, v) for k, v in ruled.items()}),
            Fusion(**{k: typed(Fusion(), k, v) for k, v in fused.items()}))


def reads(rules: Rules) -> bool:
    return bool(rules.reader_rerank or rules.reader_answer or rules.reader_abstain)


GRID = [
    (name, rules, Fusion())
    for name, rules in (
        [("scorer off", OFF)]
        + [(f"rerank only, {w}", replace(OFF, scorer_rerank=w)) for w in (0.1, 0.2, 0.4, 0.8)]
        + [(f"answer only, {w}", replace(OFF, scorer_answer=w)) for w in (0.1, 0.2, 0.4, 0.8)]
        + [(f"abstain only, below {t}", replace(OFF, scorer_abstain=t)) for t in (0.02, 0.05, 0.1, 0.2)]
    )
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--squad", default=str(ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-dev"))
    p.add_argument("--extra", action="append", default=[],
                   help="another setting, NAME:rerank,answer,abstain[,query] (e.g. all:0.2,0.4,0.05; query: the scorer reads the searched text, a follow-up joined to its question), or NAME:FIELD=VALUE,... (Rules or Fusion fields)")
    p.add_argument("--only-extra", action="store_true", help="run the --extra settings (and scorer off) only")
    p.add_argument("--questions", default="questions.jsonl",
                   help="the held-out questions: the sample's (40 a document), or a file eval/held_out_questions.py wrote "
                        "(every answerable question of those documents)")
    p.add_argument("--max-words", type=int, default=None,
                   help="passage size for both sets (default: the product's, Settings.max_words)")
    args = p.parse_args(argv)
    settings = Settings() if args.max_words is None else Settings(max_words=args.max_words)
    embedder = CachedEmbedder.from_env(MiniLM(threads=settings.torch_threads))
    scorer = Scorer(threads=settings.torch_threads)
    scorer.warm_up()
    held = [doc_id(t) for t in scorer.card["training"]["held_out_documents"]]
    judge_memo = _Remembering(scorer)
    folder = Path(args.squad)
    questions = load_squad(folder, name=args.questions, doc_ids=held)  # a path of its own, or a file in the sample
    docs = load_documents(folder, held, settings)
    article = load_set(DEFAULT_SET)
    index = system_index(load_corpus(settings.corpus_dir, settings.max_file_bytes), settings.max_words, embedder)
    questions_memo = _Remembering(embedder)
    grid = list(GRID[:1] if args.only_extra else GRID)
    grid.extend(setting(extra) for extra in args.extra)
    reader = Reader(threads=settings.torch_threads, remember=200_000)  # each (question, sentence) read once for the grid
    print(f"held-out training documents: {', '.join(held)} ({len(questions)} questions); "
          f"passages of at most {settings.max_words} words\n")
    print("| setting | art. hit@1 | hit@3 | answer@1 | abst. recall | false abst. | follow-up hit@3 "
          "| held-out R@1 | R@3 | R@5 | answer@1 | false abst. |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, rules, fusion in grid:
        judge = None if rules == OFF else judge_memo
        read = reader if judge is not None and reads(rules) else None
        a = run_article(article, Engine.of(index, fusion, rules, judge, read), questions_memo, latency=False)["system"]
        s = run_squad(folder, settings, embedder, fusion, rules, documents=docs, questions=questions,
                      baseline=False, scorer=judge, reader=read, question_embedder=questions_memo)["system"]
        print(f"| {name} | {a['hit@1']:.3f} | {a['hit@3']:.3f} | {a['answer@1']:.3f} | {a['abstention_recall']:.3f} "
              f"| {a['false_abstentions']} | {a['followup_hit@3']:.3f} | {s['R@1']:.3f} | {s['R@3']:.3f} | {s['R@5']:.3f} "
              f"| {s['answer@1']:.3f} | {s['false_abstention_rate']:.3f} |", flush=True)
    embedder.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
