#!/usr/bin/env python
"""Fits the abstention model (qa/models/abstainer.py) on what the answer step computes, on CPU.

    nice .venv/bin/python -m qa.models.training.abstain        # the shipped run -> qa/models/abstain_model/
    .venv/bin/python -m qa.models.training.abstain --more-docs 1 --per-doc 6 --held-out-limit 6 \\
        --unanswerable-limit 6 --no-covid --out /tmp/a                        # a smoke run (a minute)

What it does, deterministically (documents and questions chosen by SHA-256, no randomness; the
data's SHA-256 recorded), with the data rules of qa/models/training/scorer.py (the same refusal of
the evaluation material, checked here for both files):
1. chooses documents the shipped scorer and reader never trained on: the ones their cards hold
   out, and --more-docs articles of squad_train_more.jsonl while neither card names that file;
2. asks each of their answerable questions (at most --per-doc a document) three times through the
   whole answer step (`qa.eval.kit.ask`, the shipped retrieval, scorer and reader): of its own
   document (answerable), of its document without the paragraphs that hold its answer (a near
   miss) and of another article (out of scope); and SQuAD 2.0's unanswerable questions of their
   own documents; each time it keeps what the abstention model reads (`Result.evidence`) and
   whether the would-be quote covers an annotated answer;
3. fits two logistic regressions on those figures (qa/models/training/abstain_fit.py): P(the
   documents answer) on every case, the kinds of unanswered case weighed equally, and P(the quote is
   right) on the questions as they come (answerable ones of their own document and the
   unanswerable); measured by two-fold cross-fitting over documents (no case is judged by a model
   fitted on its document);
4. chooses the threshold: the highest at which at most --held-out-false of the answerable
   questions and, with COVID-QA's development papers (--covid; each question asked of its own
   paper; for choosing only, never fitted), at most --covid-false of those are refused;
5. writes weights.json, abstain.json (SHA-256, canary, the reader's and scorer's hashes it was
   fitted with, the record) and MODEL_CARD.md into --out atomically.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from qa.models.bundled import offline_env, sha256
from qa.models.training.abstain_fit import CHOOSING, KINDS, fit_and_write
from qa.models.training.scorer import DATA, MODELS, SHARED, assert_no_evaluation_material, read_rows

MORE = SHARED / "training" / "squad_train_more.jsonl"
#: what a case is asked of: one document (its title, its text), or a folder of documents
Corpus = tuple[str, str] | Path
COVID = SHARED / "benchmarks" / "covid-qa-dev"


@dataclass(frozen=True)
class Case:
    """One question asked of one corpus."""

    qid: str
    question: str
    title: str  # the question's own document (its fold)
    corpus: str  # which corpus it is asked of (a key of `corpora`)
    kind: str  # one of KINDS, or CHOOSING
    spans: tuple[tuple[int, int], ...] = ()  # raw answer spans in the corpus document (answerable only)
    doc: str | None = None  # limit the search to this document (COVID-QA)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--more", type=Path, default=MORE)
    ap.add_argument("--covid", type=Path, default=COVID)
    ap.add_argument("--no-covid", action="store_true", help="choose the threshold on held-out questions only")
    ap.add_argument("--out", type=Path, default=MODELS / "abstain_model")
    ap.add_argument("--more-docs", type=int, default=30, help="squad_train_more.jsonl articles (chosen by title hash)")
    ap.add_argument("--per-doc", type=int, default=40,
                    help="answerable questions of each of those articles at most (chosen by id hash; the held-out documents give all theirs)")
    ap.add_argument("--held-out-limit", type=int, default=None, help="the held-out documents' questions: N at most (tests)")
    ap.add_argument("--unanswerable-limit", type=int, default=None, help="SQuAD 2.0's unanswerable: N at most (tests)")
    ap.add_argument("--covid-limit", type=int, default=None, help="COVID-QA questions: N at most (tests)")
    ap.add_argument("--held-out-false", type=float, default=0.02, help="answerable questions refused, at most (held out)")
    ap.add_argument("--covid-false", type=float, default=0.03, help="COVID-QA questions refused, at most")
    ap.add_argument("--features", type=Path, default=None,
                    help="keep the extracted figures in this JSON-lines file and reuse them when it matches the data")
    ap.add_argument("--threads", type=int, default=1)
    return ap.parse_args(argv)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def pipeline_hash() -> str:
    """SHA-256 of the code the figures come from (every module of qa but the interfaces, as parsed:
    comments aside), recorded with them: figures read back from a --features file written by other
    code are said to be."""
    import ast

    package = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).parts[0] not in ("serve", "cli.py", "watch_cli.py", "corpus_cli.py"):
            h.update(path.relative_to(package).as_posix().encode() + b"\0" + ast.dump(ast.parse(path.read_bytes())).encode())
    return h.hexdigest()


# -- which documents, which questions -------------------------------------------------------------


def model_cards() -> list[dict[str, Any]]:
    from qa.models.reader import CHECK_FILE as READER_CHECK
    from qa.models.reader import Reader
    from qa.models.scorer import CHECK_FILE as SCORER_CHECK
    from qa.models.scorer import Scorer
    from qa.models.span import CHECK_FILE as SPAN_CHECK
    from qa.models.span import SpanModel

    # the span model helps choose the quote, so the documents asked are ones none of the three trained on
    return [json.loads((m.folder / check).read_text())
            for m, check in ((Reader(), READER_CHECK), (Scorer(), SCORER_CHECK), (SpanModel(), SPAN_CHECK))]


def unseen_titles(cards: list[dict[str, Any]], more_titles: list[str], n: int) -> tuple[list[str], list[str]]:
    """(held-out titles of qa_train.jsonl, titles of squad_train_more.jsonl) the shipped models never
    trained on: what every card holds out, and `n` articles of squad_train_more.jsonl (the first by the
    SHA-256 of their titles) among those no card trained on: all of them for a card whose data does
    not name that file, its held-out and reserved documents for one that does (RESERVED_MORE_DOCS)."""
    held = set.intersection(*(set(c["training"]["held_out_documents"]) for c in cards))
    unseen = set(more_titles)
    for c in cards:
        if "squad_train_more" in json.dumps(c["training"].get("data", "")):
            unseen &= set(c["training"]["held_out_documents"]) | set(c["training"].get("reserved_documents", []))
    more = sorted(unseen, key=_hash)[:n]
    return sorted(held - set(more)), more


def documents(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each title's paragraphs in the order they first appear."""
    out: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for r in rows:
        if r["context"] not in seen:
            seen.add(r["context"])
            out[r["title"]].append(r["context"])
    return dict(out)


def _holds(paragraph: str, answers: list[str]) -> bool:
    """Does the paragraph hold one of the answers (as words, ignoring case)? Answers under four
    characters ("L", "2") are too common to tell."""
    return any(len(a) >= 4 and re.search(r"(?<!\w)" + re.escape(a.lower()) + r"(?!\w)", paragraph.lower()) for a in answers)


def cases(rows: list[dict[str, Any]], paragraphs: dict[str, list[str]], answerable_titles: list[str],
          unanswerable: list[dict[str, Any]], per_doc: int, capped: set[str]) -> tuple[list[Case], dict[str, Corpus]]:
    """The cases and the corpora they are asked of (key -> (the document's title, its text), or a
    folder of documents); at most `per_doc` answerable questions of each document in `capped`."""
    corpora: dict[str, Corpus] = {}
    out: list[Case] = []
    order = sorted(answerable_titles, key=_hash)
    for n, title in enumerate(order):
        texts = paragraphs[title]
        corpora[title] = (title, "\n\n".join(texts))
        starts = [sum(len(t) + 2 for t in texts[:i]) for i in range(len(texts))]
        mine = [r for r in rows if r["title"] == title and not r["is_impossible"]]
        mine = sorted(mine, key=lambda r: _hash(r["id"]))[: per_doc if title in capped else None]
        away = order[(n + 1) % len(order)]
        for r in mine:
            at = texts.index(r["context"])
            spans = tuple((starts[at] + s, starts[at] + s + len(a)) for a, s in zip(r["answers"], r["answer_starts"], strict=True))
            kept = [i for i, t in enumerate(texts) if i != at and not _holds(t, r["answers"])]
            out.append(Case(r["id"], r["question"], title, title, "answerable", spans))
            if kept:  # (a document of one paragraph has no near miss)
                near = f"{title}#without-" + _hash(",".join(map(str, kept)))[:12]
                corpora[near] = (title, "\n\n".join(texts[i] for i in kept))
                out.append(Case(r["id"], r["question"], title, near, "near"))
            if away != title:
                out.append(Case(r["id"], r["question"], title, away, "away"))
    for r in unanswerable:
        corpora.setdefault(r["title"], (r["title"], "\n\n".join(paragraphs[r["title"]])))
        out.append(Case(r["id"], r["question"], r["title"], r["title"], "unanswerable"))
    return out, corpora


def covid_cases(folder: Path, limit: int | None) -> tuple[list[Case], dict[str, Corpus]]:
    """COVID-QA's development questions, each asked of its own paper within all 49 (for choosing only)."""
    rows = [json.loads(line) for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = rows[:limit] if limit else rows
    corpus = "covid-qa-dev"
    out = [Case(r["id"], r["question"], r["doc_id"], corpus, CHOOSING, doc=r["doc_id"]) for r in rows]
    return out, {corpus: folder / "docs"}


# -- asking ---------------------------------------------------------------------------------------


def ask_all(all_cases: list[Case], corpora: dict[str, Corpus], threads: int, done: dict[int, dict[str, Any]],
            keep: Any = None, log: Any = print) -> list[dict[str, Any]]:
    """Each case through the whole answer step: its figures, whether the would-be quote covers an
    answer span, and whether today's hand-set rules abstained. `done`: the cases already asked (by
    number), skipped; `keep(n, row)` is told of each one asked."""
    from qa.answer.compose import Rules
    from qa.config import Settings
    from qa.eval.kit import CachedEmbedder, Engine, ask, system_index
    from qa.eval.squad import doc_id
    from qa.ingest.documents import load_corpus, read_document
    from qa.models.embedder import MiniLM
    from qa.models.reader import Reader
    from qa.models.scorer import Scorer
    from qa.models.span import SpanModel

    settings = Settings()
    embedder = CachedEmbedder.from_env(MiniLM(threads=threads))
    scorer, reader = Scorer(threads=threads), Reader(threads=threads, remember=200_000)
    span = SpanModel(threads=threads) if settings.span else None  # it helps choose the quote, as in Assistant.ask
    rules = replace(Rules(), learned_abstention=False)
    by_corpus: dict[str, list[tuple[int, Case]]] = defaultdict(list)
    for n, c in enumerate(all_cases):
        if n not in done:
            by_corpus[c.corpus].append((n, c))
    t0, asked = time.time(), 0
    with tempfile.TemporaryDirectory(prefix="qa-abstain-") as tmp:
        for g, (key, mine) in enumerate(by_corpus.items()):
            source = corpora[key]
            if isinstance(source, Path):  # a folder of documents (COVID-QA)
                docs = load_corpus(source, settings.max_file_bytes)
                names = {Path(d.doc).stem: d.doc for d in docs}
            else:  # one document, named as the SQuAD sample names it (its title comes from the name)
                title, text = source
                path = Path(tmp) / _hash(key)[:16] / f"{doc_id(title)}.txt"
                path.parent.mkdir()
                path.write_text(text, encoding="utf-8")
                docs = [read_document(path, "corpus/" + path.name, settings.max_file_bytes)[0]]
                names = {}
            engine = Engine.of(system_index(docs, settings.max_words, embedder), rules=rules, scorer=scorer, reader=reader,
                               span=span)
            for n, c in mine:
                result = ask(engine, embedder, c.question, docs=[names[c.doc]] if c.doc else None)
                e = result.evidence  # None: no passage found, or none the models read (the hand-set rules decide)
                right = e is not None and c.kind == "answerable" and any(e.start <= a and b <= e.end for a, b in c.spans)
                done[n] = {"qid": c.qid, "title": c.title, "kind": c.kind, "signals": e.signals if e else None,
                           "right": right, "rules_abstain": result.answer is None}
                if keep is not None:
                    keep(n, done[n])
                asked += 1
            if g % 20 == 0 or g == len(by_corpus) - 1:
                log(f"train_abstain: {asked} more cases asked, {len(done)} of {len(all_cases)} in all ({g + 1} of "
                    f"{len(by_corpus)} corpora, {time.time() - t0:.0f} s)", flush=True)
    embedder.save()
    return [done[n] for n in range(len(all_cases))]


# -- main -----------------------------------------------------------------------------------------


def _parsed(line: str) -> dict[str, Any] | None:
    """A line of the --features file, or None for the last one of a run stopped while writing it."""
    try:
        row: dict[str, Any] = json.loads(line)
        return row
    except ValueError:
        return None


def gather(args: argparse.Namespace) -> tuple[list[Case], dict[str, Corpus], dict[str, Any]]:
    """The cases (and COVID-QA's, unless --no-covid), their corpora, and what the record says of the data."""
    rows = read_rows(args.data)
    more_rows = read_rows(args.more) if args.more.is_file() else []
    checked = {"qa_train": assert_no_evaluation_material(rows)}
    if more_rows:
        checked["squad_train_more"] = assert_no_evaluation_material(more_rows)
    cards = model_cards()
    held, more = unseen_titles(cards, sorted({r["title"] for r in more_rows}), args.more_docs)
    paragraphs = documents(rows) | documents([r for r in more_rows if r["title"] in more])
    pool = [r for r in rows if r["title"] in held] + [r for r in more_rows if r["title"] in more]
    if args.held_out_limit:
        pool = [r for r in pool if r["title"] in held][: args.held_out_limit] + [r for r in pool if r["title"] in more]
    unanswerable = sorted((r for r in rows if r["is_impossible"]), key=lambda r: _hash(r["id"]))[: args.unanswerable_limit]
    titles = sorted({r["title"] for r in pool})
    found, corpora = cases(pool, paragraphs, titles, unanswerable, args.per_doc, set(more))
    record = {"data": {p.name: sha256(p) for p in (args.data, args.more) if p.is_file()}, "excluded_and_checked": checked,
              "held_out_documents": sorted(t for t in titles if t in held), "more_documents": sorted(t for t in titles if t in more),
              "unanswerable_documents": sorted({r["title"] for r in unanswerable}), "per_doc": args.per_doc,
              "fitted_with": {"reader": cards[0]["files"]["model.onnx"], "scorer": cards[1]["files"]["model.onnx"],
                              "span": cards[2]["files"]["model.onnx"]},
              "pipeline": pipeline_hash()}
    if not args.no_covid:
        covid, covid_corpora = covid_cases(args.covid, args.covid_limit)
        found, corpora = found + covid, corpora | covid_corpora
        record["data"]["covid-qa-dev/questions.jsonl"] = sha256(args.covid / "questions.jsonl")
    return found, corpora, record


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    offline_env()
    t0 = time.time()
    found, corpora, record = gather(args)
    counts = {k: sum(1 for c in found if c.kind == k) for k in (*KINDS, CHOOSING)}
    print(f"train_abstain: {len(found)} cases {counts} over {len(corpora)} corpora", flush=True)
    key = _hash(json.dumps([record["data"], record["fitted_with"], [c.__dict__ for c in found]], default=list))
    done: dict[int, dict[str, Any]] = {}
    keep = None
    if args.features:  # one line a case asked, appended as it goes: a run stopped half way goes on from there
        lines = args.features.read_text().splitlines() if args.features.is_file() else []
        head = json.loads(lines[0]) if lines else {}
        if head.get("key") == key:
            done = {int(row.pop("n")): row for row in map(_parsed, lines[1:]) if row}
            print(f"train_abstain: figures of {len(done)} cases read back from {args.features}", flush=True)
            if head.get("pipeline") != record["pipeline"]:
                record["pipeline"] = head.get("pipeline")
                record["pipeline_changed_since"] = True
                print("train_abstain: they were computed by other code than this (qa's modules have changed since); "
                      "rerun without --features, or with a new file, to compute them again", flush=True)
        else:
            args.features.write_text(json.dumps({"key": key, "pipeline": record["pipeline"]}) + "\n")
        stream = args.features.open("a")

        def keep(n: int, row: dict[str, Any]) -> None:
            stream.write(json.dumps({"n": n} | row) + "\n")
            stream.flush()

    before = len(done)
    asked = ask_all(found, corpora, args.threads, done, keep)
    record["asked"] = len(asked) - before
    record["counts"] = counts
    record["read_back"] = before  # cases whose figures were read back from --features
    record["seconds"] = round(time.time() - t0, 1)
    fit_and_write(asked, record, args)
    print(f"train_abstain: wrote {args.out} in {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
