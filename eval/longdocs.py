"""Issue 25 part 3's levers, one at a time, on COVID-QA dev, the held-out training documents and the article.

    QA_EVAL_CACHE=/tmp/qa-vectors .venv/bin/python eval/longdocs.py --extra "NAME:FIELD=VALUE,..." [--max-words N]
    ... eval/longdocs.py --questions /tmp/held-out.jsonl   # every held-out question (eval/held_out_questions.py)
    ... eval/longdocs.py --sets covid                     # COVID-QA only (also: heldout, article, squad)

Settings are chosen on COVID-QA dev (`../shared/benchmarks/covid-qa-dev`, for choosing, never for
training), the held-out training documents (those the shipped scorer's card names) and the article
dev set; `--sets squad` adds the SQuAD evaluation documents, all eight together, for reporting what
a choice did there, never for choosing. Each row is one setting: the shipped `Rules`, `Fusion` and
passages with the given fields changed (`--extra` "NAME:" alone is the shipped defaults). Prints one
Markdown table; no latency is measured here (benchmarks/longdocs.py does that).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.answer.compose import Rules  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.eval.covid import load_papers, load_questions, run_covid  # noqa: E402
from qa.eval.evaluate import DEFAULT_SET, load_set, run_article  # noqa: E402
from qa.eval.kit import CachedEmbedder, Engine, system_index  # noqa: E402
from qa.eval.squad import doc_id, load_documents, load_squad, run_squad  # noqa: E402
from qa.ingest.documents import load_corpus  # noqa: E402
from qa.models.embedder import MiniLM  # noqa: E402
from qa.models.reader import Reader  # noqa: E402
from qa.models.scorer import Scorer  # noqa: E402
from qa.models.span import SpanModel  # noqa: E402
from qa.search.retrieval import Fusion  # noqa: E402

SHARED = ROOT.parent / "shared"


class Remembering:
    """Remembers every vector it computes, questions included: settings differ only after
    retrieval, so each question is encoded once for the whole run (no latency is measured here)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.memo: dict[str, np.ndarray] = {}
        self.name, self.dim = getattr(inner, "name", "scorer"), getattr(inner, "dim", 384)
        self.vectors = getattr(inner, "vectors", "float32")

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


@dataclass(frozen=True)
class Setting:
    name: str
    rules: Rules
    fusion: Fusion
    max_words: int | None = None
    #: the held-out documents' and the article's questions asked as if limited to their document
    #: (each is its corpus's only document, so the same candidates, with `Rules.narrowed()`)
    limited: bool = False


class Counting:
    """The reader, counting the sentences it is asked to read (remembered ones too: what a process
    that remembers nothing would read)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.read = inner, 0

    def probabilities(self, question: str, sentences: list[str], before: list[str] | None = None) -> np.ndarray:
        self.read += len(sentences)
        return np.asarray(self.inner.probabilities(question, sentences, before))


def setting(text: str) -> Setting:
    """NAME:FIELD=VALUE,... : Rules or Fusion fields, max_words, or limited=True, changed from the
    shipped defaults."""
    name, _, rest = text.partition(":")
    fields = dict(x.split("=", 1) for x in rest.split(",") if x.strip())
    max_words = int(fields.pop("max_words")) if "max_words" in fields else None
    limited = fields.pop("limited", "False") == "True"
    fused = {k: v for k, v in fields.items() if k in Fusion.__dataclass_fields__}
    ruled = {k: v for k, v in fields.items() if k not in fused}

    def typed(obj: object, k: str, v: str) -> Any:
        kind = type(getattr(obj, k))
        return v == "True" if kind is bool else float(v) if kind is float else kind(v)

    return Setting(name, replace(Rules(), **{k: typed(Rules(), k, v) for k, v in ruled.items()}),
                   Fusion(**{k: typed(Fusion(), k, v) for k, v in fused.items()}), max_words, limited)


def read_headings(parts: set[str]) -> None:
    """For measuring only: each body passage read with its document's title and section ("Title >
    Section. text") by the embedder ("embed"); BM25 reads them as shipped (`Settings.headings`), or
    not ("nobm25"). Whether the reader reads them is a Rules field (`reader_reads_heading=False`)."""
    from qa.index import lexical
    from qa.ingest import chunks

    def heading(p: Any) -> str:
        return " > ".join(x for x in (p.title, p.section) if x)

    def joined(head: str, text: str) -> str:
        return f"{head}{'' if head[-1:] in '.?!:' else '.'} {text}".strip() if head else text

    if "embed" in parts:
        plain = chunks.Passage.search_text

        def search_text(self: Any) -> str:
            return joined(heading(self), self.text) if self.role == "body" else plain(self)

        chunks.Passage.search_text = search_text  # type: ignore[method-assign]
    if "nobm25" in parts:  # BM25 without them (Settings.headings off), as before issue 25
        plain_tables = lexical.tables

        def tables(passages: Any, per_sentence: Any, headings: bool = True) -> Any:
            return plain_tables(passages, per_sentence, False)

        lexical.tables = tables


COLUMNS = ("| setting | own R@1 | R@5 | answer@1 | overlap@1 | false abst. | together R@1 | R@5 | answer@1 | overlap@1 "
           "| false abst. | held-out R@1 | R@5 | answer@1 | false abst. | art. hit@1 | hit@3 | answer@1 | abst. recall "
           "| false abst. | SQuAD eval R@1 | R@5 | answer@1 | false abst. |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--extra", action="append", default=[], help="NAME:FIELD=VALUE,... (Rules or Fusion fields, max_words)")
    p.add_argument("--covid", type=Path, default=SHARED / "benchmarks" / "covid-qa-dev")
    p.add_argument("--squad", type=Path, default=SHARED / "benchmarks" / "squad-v1.1-dev")
    p.add_argument("--questions", default="questions.jsonl", help="the held-out questions (eval/held_out_questions.py)")
    p.add_argument("--sets", default="covid,heldout,article", help="comma-separated: covid, heldout, article, squad")
    p.add_argument("--limit", type=int, default=None, help="first N COVID-QA questions only")
    p.add_argument("--covid-settings", default="own,together", help="own (each question of its paper), together, or both")
    p.add_argument("--headings", default="", help="for measuring: embed: the embedder reads each body passage with "
                                                  "its document's title and section; nobm25: BM25 does not")
    args = p.parse_args(argv)
    sets = set(args.sets.split(","))
    if args.headings:
        read_headings(set(args.headings.split(",")))
    embedder = CachedEmbedder.from_env(MiniLM(threads=Settings().torch_threads))
    scorer = Scorer(threads=1)
    scorer.warm_up()
    judge = Remembering(scorer)
    reader = Counting(Reader(threads=1, remember=500_000))
    span = SpanModel(threads=1, remember=200_000)
    asker = Remembering(embedder)
    covid_q = load_questions(args.covid, args.limit) if "covid" in sets else []
    held = [doc_id(t) for t in scorer.card["training"]["held_out_documents"]]
    held_q = load_squad(args.squad, name=args.questions, doc_ids=held) if "heldout" in sets else []
    squad_q = load_squad(args.squad) if "squad" in sets else []
    article = load_set(DEFAULT_SET) if "article" in sets else []
    print(COLUMNS)
    print("|" + "---|" * (COLUMNS.count("|") - 1), flush=True)
    covid_settings = tuple(args.covid_settings.split(","))
    for extra in args.extra or ["shipped:"]:
        chosen = setting(extra)
        name, rules, fusion, max_words = chosen.name, chosen.rules, chosen.fusion, chosen.max_words
        one_doc = rules.narrowed() if chosen.limited else rules  # the held-out documents' and the article's
        settings = Settings() if max_words is None else Settings(max_words=max_words)
        t0 = time.perf_counter()
        cells: list[str] = []
        reader.read, readings = 0, 0.0
        if covid_q:
            papers = load_papers(args.covid, [q.doc_id for q in covid_q], settings)
            c = run_covid(args.covid, settings, embedder, fusion, rules, judge, reader, papers=papers, questions=covid_q,
                          baseline=False, question_embedder=asker, settings_run=covid_settings, span=span)
            embedder.save()
            readings = reader.read / max(1, len(covid_q) * len(covid_settings))
            for key in ("own", "together"):
                if key not in c:
                    cells += ["-"] * 5
                    continue
                f = c[key]["system"]
                cells += [f"{f['R@1']:.3f}", f"{f['R@5']:.3f}", f"{f['answer@1']:.3f}", f"{f['answer_overlap@1']:.3f}",
                          f"{f['false_abstention_rate']:.3f}"]
        else:
            cells += ["-"] * 10
        if held_q:
            docs = load_documents(args.squad, held, settings)
            s = run_squad(args.squad, settings, embedder, fusion, one_doc, documents=docs, questions=held_q, baseline=False,
                          scorer=judge, reader=reader, question_embedder=asker, span=span)["system"]
            cells += [f"{s['R@1']:.3f}", f"{s['R@5']:.3f}", f"{s['answer@1']:.3f}", f"{s['false_abstention_rate']:.3f}"]
        else:
            cells += ["-"] * 4
        if article:
            index = system_index(load_corpus(settings.corpus_dir, settings.max_file_bytes), settings.max_words, embedder)
            a = run_article(article, Engine.of(index, fusion, one_doc, judge, reader, span), asker, latency=False)["system"]
            cells += [f"{a['hit@1']:.3f}", f"{a['hit@3']:.3f}", f"{a['answer@1']:.3f}", f"{a['abstention_recall']:.3f}",
                      str(a["false_abstentions"])]
        else:
            cells += ["-"] * 5
        if squad_q:
            docs = load_documents(args.squad, [q.doc_id for q in squad_q], settings)
            s = run_squad(args.squad, settings, embedder, fusion, rules, documents=docs, questions=squad_q, baseline=False,
                          together=True, scorer=judge, reader=reader, question_embedder=asker, span=span)["system"]
            cells += [f"{s['R@1']:.3f}", f"{s['R@5']:.3f}", f"{s['answer@1']:.3f}", f"{s['false_abstention_rate']:.3f}"]
        else:
            cells += ["-"] * 4
        embedder.save()
        read = f", COVID-QA readings a question {readings:.2f}" if covid_q else ""
        print(f"| {name} | " + " | ".join(cells) + f" |  <!-- {time.perf_counter() - t0:.0f} s{read} -->", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
