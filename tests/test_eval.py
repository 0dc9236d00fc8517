"""`qa eval`: the question set, the scores, the baseline's windows, and the command's output."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa.errors import InputError
from qa.eval.evaluate import DEFAULT_SET, contains_gold, load_set
from qa.eval.kit import CachedEmbedder, first_rank, latency_figures, ranking_figures
from qa.eval.squad import covers
from tests.conftest import needs_shared

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = ROOT / "corpus" / "china-and-north-korea-the-uneasy-partnership.txt"
SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-dev"


def test_dev_set_is_well_formed_and_every_gold_is_verbatim_in_the_article() -> None:
    from qa.ingest.documents import read_document

    questions = load_set(DEFAULT_SET)
    assert len(questions) >= 60
    assert len({q.id for q in questions}) == len(questions)
    kinds = {q.kind for q in questions}
    assert {"literal", "paraphrase", "meta", "date", "followup", "unanswerable"} <= kinds
    doc, _ = read_document(ARTICLE, "corpus/" + ARTICLE.name, 10**8)
    text = "\n".join(p.text for p in doc.paragraphs)
    for q in questions:
        assert bool(q.gold) == (q.kind != "unanswerable"), q.id
        for g in q.gold:
            assert contains_gold(text, [g]), f"{q.id}: {g!r} is not in the article"
        assert bool(q.history) == (q.kind == "followup"), q.id


def test_load_set_refuses_bad_records(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": "Q?", "gold": [], "kind": "riddle"}\n')
    with pytest.raises(InputError, match="kind must be one of"):
        load_set(bad)
    bad.write_text("not json\n")
    with pytest.raises(InputError, match="line 1"):
        load_set(bad)
    with pytest.raises(InputError, match="cannot read"):
        load_set(tmp_path / "missing.jsonl")


def test_scores() -> None:
    assert first_rank([False, False, True, True]) == 3
    assert first_rank([False]) is None
    f = ranking_figures([1, 3, None, 6])
    assert f["hit@1"] == 0.25 and f["hit@3"] == 0.5 and f["hit@5"] == 0.5
    assert f["mrr@10"] == pytest.approx((1 + 1 / 3 + 1 / 6) / 4)
    lat = latency_figures([0.010, 0.020, 0.030])
    assert lat["p50_ms"] == pytest.approx(20.0)
    assert contains_gold("a  long\nperiod of time", ["long period"])
    assert not contains_gold("a long period", ["Long period"])
    assert covers(10, 20, [(12, 15)]) and not covers(10, 20, [(5, 15)])


def test_fixed_windows_keep_exact_offsets() -> None:
    from qa.ingest.chunks import fixed_windows
    from qa.ingest.documents import read_document

    doc, _ = read_document(ARTICLE, "corpus/" + ARTICLE.name, 10**8)
    windows = fixed_windows(doc, 200)
    assert all(p.n_words <= 200 for p in windows) and sum(p.n_words for p in windows) == len(doc.raw.split())
    for p in windows:
        assert " ".join(doc.raw[p.start : p.end].split()) == p.text
        for s in p.sentences:
            assert " ".join(doc.raw[s.raw_start : s.raw_end].split()) == p.text[s.start : s.end]


def test_cached_embedder_caches_indexed_texts_only(tmp_path: Path) -> None:
    from qa.models.embedder import FakeEmbedder

    calls: list[list[str]] = []

    class Counting(FakeEmbedder):
        def encode(self, texts: list[str]) -> np.ndarray:
            calls.append(list(texts))
            return super().encode(texts)

    e = CachedEmbedder(Counting(), tmp_path / "cache")
    with e.indexing():
        first = e.encode(["alpha beta", "gamma"])
        again = e.encode(["gamma", "alpha beta"])
    assert np.allclose(first[::-1], again) and len(calls) == 1
    e.encode(["a question"])
    e.encode(["a question"])
    assert len(calls) == 3  # questions are always encoded afresh
    e.save()
    reloaded = CachedEmbedder(Counting(), tmp_path / "cache")
    with reloaded.indexing():
        reloaded.encode(["gamma"])
    assert len(calls) == 3


ARTICLE_KEYS = {"hit@1", "hit@3", "hit@5", "mrr@10", "answer@1", "abstention_precision", "abstention_recall",
                "false_abstentions", "false_abstention_rate", "followup_hit@3", "mean_passage_words",
                "two_sentence_answers"}


@pytest.fixture(scope="module")
def eval_report(article_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """`qa eval --json` run once on three article questions, and on six SQuAD questions when the
    sample is beside the repository; the report and the --index folder it was given."""
    from qa.cli import main

    tmp = tmp_path_factory.mktemp("eval")
    small = tmp / "small.jsonl"
    lines = [json.dumps(r) for r in (
        {"id": "a", "question": "When did Pyongyang test a nuclear device?", "gold": ["October 2006"],
         "kind": "literal", "history": []},
        {"id": "b", "question": "When was it renewed?", "gold": ["renewed twice in 1981, 2001"], "kind": "followup",
         "history": ["What treaty did China and North Korea sign in 1961?"]},
        {"id": "c", "question": "What is the capital of Australia?", "gold": [], "kind": "unanswerable",
         "history": []},
    )]
    small.write_text("\n".join(lines) + "\n")
    args = ["eval", "--set", str(small), "--json", "--corpus", str(article_corpus), "--index", str(tmp / "i")]
    if SQUAD.is_dir():
        args += ["--squad", str(SQUAD), "--limit", "6"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    return json.loads(out.getvalue()), tmp / "i"


def test_eval_json_prints_every_figure(eval_report: tuple[dict[str, Any], Path]) -> None:
    report, index = eval_report
    a = report["article"]
    assert a["questions"] == 3
    assert set(a["system"]) >= ARTICLE_KEYS and set(a["baseline"]) >= ARTICLE_KEYS
    assert {"p50_ms", "p95_ms"} <= set(a["latency"]["system"]) and "ratio_p50" in a["latency"]
    assert a["system"]["abstention_recall"] == 1.0
    # the same run without the reader, and without either trained model
    assert set(report["article_without_reader"]["system"]) >= ARTICLE_KEYS
    assert set(report["article_without_scorer"]["system"]) >= ARTICLE_KEYS
    assert not index.exists()  # evaluation never writes an index


@needs_shared("benchmarks/squad-v1.1-dev")
def test_eval_json_prints_the_squad_figures(eval_report: tuple[dict[str, Any], Path]) -> None:
    q = eval_report[0]["squad"]
    assert q["questions"] == 6
    assert {"R@1", "R@5", "mrr@10", "answer@1"} <= set(q["system"]) and {"R@1", "R@5"} <= set(q["baseline"])


def _qa(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_squad_without_its_sample_is_one_line_naming_it_before_any_work(tmp_path: Path) -> None:
    """`qa eval --squad` where the sample is missing names what is missing and where it looked, at
    once: before the article's run (a missing corpus would otherwise be reported first)."""
    from qa.cli import parser
    from qa.eval import SQUAD_DEFAULT

    assert parser().parse_args(["eval", "--squad"]).squad == str(SQUAD_DEFAULT)
    assert SQUAD == SQUAD_DEFAULT  # ../shared beside the repository
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "questions.jsonl").write_text("")
    nowhere = ["--corpus", str(tmp_path / "no-corpus"), "--index", str(tmp_path / "index")]
    for folder, fragments in ((tmp_path / "missing", ["the folder does not exist", "not part of the repository"]),
                              (tmp_path, ["neither questions_eval_docs.jsonl nor questions.jsonl"]),
                              (partial, ["docs/ is missing"])):
        done = _qa("eval", "--squad", str(folder), *nowhere, cwd=tmp_path)
        assert done.returncode == 1 and done.stdout == ""
        line, = done.stderr.strip().splitlines()
        assert line.startswith("qa: error: ") and str(folder) in line and "--squad DIR" in line
        assert all(f in line for f in fragments), line
    assert not (tmp_path / "index").exists()


def test_an_install_without_the_dev_set_says_so_in_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    """A wheel holds the package, not eval/: `qa eval` then names the file and the fix."""
    from qa.cli import main
    from qa.eval import evaluate

    monkeypatch.setattr(evaluate, "DEFAULT_SET", tmp_path / "eval" / "article_dev.jsonl")
    assert main(["eval", "--corpus", str(tmp_path / "corpus"), "--index", str(tmp_path / "index")]) == 1
    line, = capsys.readouterr().err.strip().splitlines()
    assert str(tmp_path / "eval" / "article_dev.jsonl") in line and "give --set PATH" in line
    assert main(["eval", "--set", str(tmp_path / "mine.jsonl"), "--corpus", str(tmp_path / "c")]) == 1
    assert "cannot read the question set" in capsys.readouterr().err  # --set needs no dev set


def test_eval_finds_the_article_dev_set_from_any_folder(tmp_path: Path) -> None:
    """The default question set is found from the package, not the current folder: run elsewhere,
    `qa eval` gets past loading it (to the empty corpus it was pointed at)."""
    assert DEFAULT_SET == ROOT / "eval" / "article_dev.jsonl" and DEFAULT_SET.is_file()
    empty = tmp_path / "corpus"
    empty.mkdir()
    done = _qa("eval", "--corpus", str(empty), "--index", str(tmp_path / "index"), cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    line, = done.stderr.strip().splitlines()
    assert line == f"qa: error: no documents in {empty} to evaluate against"


@needs_shared("training/qa_train.jsonl")
@needs_shared("benchmarks/squad-v1.1-dev")
def test_every_held_out_question_is_written_with_its_answer_spans(tmp_path: Path) -> None:
    """eval/held_out_questions.py: the held-out training documents' questions, each answer's span
    exactly its text in the sample's document, and none of the evaluation documents."""
    from qa.eval.squad import load_squad

    out = tmp_path / "held-out.jsonl"
    subprocess.run([sys.executable, str(ROOT / "eval" / "held_out_questions.py"), "--out", str(out)], check=True, timeout=300)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) > 500 and len({r["id"] for r in rows}) == len(rows)
    evaluation = {q.doc_id for q in load_squad(SQUAD)}  # the evaluation documents' questions file
    assert evaluation and not evaluation & {r["doc_id"] for r in rows}
    for r in rows:
        text = (SQUAD / "docs" / f"{r['doc_id']}.txt").read_text(encoding="utf-8")
        assert [text[a:b] for a, b in r["answer_char_spans"]] == r["answers"]
    assert len(load_squad(SQUAD, name=str(out))) == len(rows)  # the ablation's --questions reads it


def _script(name: str) -> Any:
    """eval/NAME.py loaded as a module (the eval scripts are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "eval" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ablation_settings_name_rules_and_fusion_fields() -> None:
    """eval/scorer_ablation.py --extra: Rules fields and Fusion fields in one setting, each typed as
    its field; the scorer's short form leaves retrieval as shipped."""
    from qa.search.retrieval import Fusion

    ablation = _script("scorer_ablation")
    name, rules, fusion = ablation.setting("wide:reader_answer=3,scorer_depth=8,scorer_reads_query=True,dense_weight=0.5")
    assert name == "wide" and fusion == Fusion(dense_weight=0.5)
    assert (rules.reader_answer, rules.scorer_depth, rules.scorer_reads_query) == (3.0, 8, True)
    assert isinstance(rules.scorer_depth, int) and rules.scorer_rerank == 0.0  # unnamed fields stay off
    name, rules, fusion = ablation.setting("short:0.8,1.6,0,query")
    assert (rules.scorer_rerank, rules.scorer_answer, rules.scorer_reads_query) == (0.8, 1.6, True)
    assert fusion == Fusion()
    with pytest.raises(ValueError):  # Fusion's own check: a weight is between 0 and 1
        ablation.setting("bad:dense_weight=1.5")


def test_miss_analysis_matches_answer_strings_as_squad_normalises_them() -> None:
    """eval/miss_analysis.py's lenient measure: an annotated answer string anywhere in a text, after
    SQuAD's normalisation (case, punctuation, articles), whole words only."""
    analysis = _script("miss_analysis")
    assert analysis.norm("The  Treaty of Paris, 1763!") == "treaty of paris 1763"
    assert analysis.holds("It was signed in Paris on 10 February 1763.", ["the 10 February 1763"])
    assert analysis.holds("the twelfth most populous city", ["12th", "twelfth"])
    assert not analysis.holds("the 12th-century church", ["2th"])  # whole words, not parts of them
    assert not analysis.holds("anything at all", ["", "the"])  # nothing left after normalising matches nothing
