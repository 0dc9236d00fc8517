"""`qa eval --covid`: long papers, each question of its own paper and of all of them, on a tiny
made-up set in the shape of ../shared/benchmarks/covid-qa-dev (two small papers, a few questions)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from qa.errors import InputError
from qa.eval.covid import check_set, covers, figures, load_questions, overlaps

BATS = """Bats as reservoirs of coronaviruses in southern China

https://example.org/papers/bats

Authors: Chen, Wei; Garcia, Ana
Date: 2019-04-02
License: cc-by

Abstract: Bats carry many coronaviruses without falling ill. We sampled 420 bats in four caves of Yunnan province between 2015 and 2017.

Text: Coronaviruses were found in 73 of the 420 bats sampled, mostly in horseshoe bats. The caves were visited every spring and every autumn.

Virus loads were highest in juvenile bats in the autumn, when colonies are crowded. Adult bats shed little virus during the winter months.

The sequences cluster with human strains, which suggests that spillover from bats to people is possible where people enter the caves.
"""

MASKS = """Surgical masks and respirators for health care workers

https://example.org/papers/masks

Authors: Smith, John
Date: 2020-02-11
License: cc-by

Abstract: We compared surgical masks with N95 respirators in 1,200 nurses over two winters.

Text: Influenza was confirmed in 8% of the nurses who wore surgical masks and in 7% of those who wore respirators. The difference was not significant.

Nurses found the respirators less comfortable, and many took them off during long shifts. Fit testing was done once, at the start of the study.

Hand hygiene was taught to every nurse in both groups before the first winter.
"""

QUESTIONS = [
    ("b1", "bats", "In which province are the four caves where the bats were sampled?",
     "We sampled 420 bats in four caves of Yunnan province between 2015 and 2017."),
    ("b2", "bats", "When were virus loads highest in bats?",
     "Virus loads were highest in juvenile bats in the autumn, when colonies are crowded."),
    ("m1", "masks", "In what share of nurses wearing surgical masks was influenza confirmed?",
     "Influenza was confirmed in 8% of the nurses who wore surgical masks"),
    ("m2", "masks", "Why did nurses take off their respirators?",
     "Nurses found the respirators less comfortable, and many took them off during long shifts."),
]


def make_set(folder: Path) -> Path:
    """The made-up set: docs/ with two papers, questions.jsonl with each answer's span in its paper."""
    (folder / "docs").mkdir(parents=True)
    texts = {"bats": BATS, "masks": MASKS}
    for name, text in texts.items():
        (folder / "docs" / f"{name}.txt").write_text(text, encoding="utf-8")
    lines = []
    for qid, doc, question, answer in QUESTIONS:
        at = texts[doc].index(answer)
        lines.append(json.dumps({"id": qid, "doc_id": doc, "question": question, "answers": [answer],
                                 "answer_char_spans": [[at, at + len(answer)]]}))
    (folder / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


KEYS = {"R@1", "R@5", "mrr@10", "answer@1", "answer_overlap@1", "false_abstention_rate", "questions"}


@pytest.fixture(scope="module")
def covid_report(article_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """`qa eval --covid DIR --json` on the made-up set (and one article question), and the same run's text."""
    from qa.cli import main
    from qa.eval.evaluate import render

    tmp = tmp_path_factory.mktemp("covid")
    folder = make_set(tmp / "covid-qa")
    small = tmp / "small.jsonl"
    small.write_text(json.dumps({"id": "a", "question": "When did Pyongyang test a nuclear device?",
                                 "gold": ["October 2006"], "kind": "literal", "history": []}) + "\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["eval", "--set", str(small), "--covid", str(folder), "--json", "--corpus", str(article_corpus),
                     "--index", str(tmp / "i")]) == 0
    report = json.loads(out.getvalue())
    assert not (tmp / "i").exists()  # evaluation never writes an index
    return report, render(report)


def test_each_question_is_asked_of_its_own_paper_and_of_all_papers(covid_report: tuple[dict[str, Any], str]) -> None:
    c = covid_report[0]["covid"]
    assert c["questions"] == len(QUESTIONS) and c["papers"] == 2
    for setting in ("own", "together"):
        s = c[setting]
        assert set(s["system"]) >= KEYS and set(s["baseline"]) >= KEYS
        assert {"p50_ms", "p95_ms"} <= set(s["latency"]["system"]) and "bare_dense" in s["latency"]
        assert set(s["per_paper"]) == {"bats", "masks"}
        assert [s["per_paper"][p]["questions"] for p in ("bats", "masks")] == [2, 2]
    # plain questions about two short papers: the passage holding the answer comes first, the quote
    # overlaps the answer, and limited to its own paper no question can find the other paper's passage
    own = c["own"]["system"]
    assert own["R@1"] == 1.0 and own["answer_overlap@1"] >= own["answer@1"] >= 0.75
    assert c["own"]["false_abstentions"] == [] and own["false_abstention_rate"] == 0.0
    assert c["own"]["baseline"]["R@5"] == 1.0  # the baseline's windows: a whole small paper each


def test_the_text_report_has_both_settings_and_each_paper(covid_report: tuple[dict[str, Any], str]) -> None:
    text = covid_report[1]
    assert "COVID-QA dev: 4 questions, 2 papers" in text
    assert "each question limited to its own paper" in text and "all papers searched together" in text
    assert "answer_overlap@1" in text and "bats" in text and "masks" in text


def test_covid_without_its_set_is_one_line_naming_it_before_any_work(tmp_path: Path, capsys) -> None:
    from qa.cli import main, parser
    from qa.eval import COVID_DEFAULT

    assert parser().parse_args(["eval", "--covid"]).covid == str(COVID_DEFAULT)
    assert Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "covid-qa-dev" == COVID_DEFAULT
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "questions.jsonl").write_text("")
    nowhere = ["--corpus", str(tmp_path / "no-corpus"), "--index", str(tmp_path / "index")]
    for folder, fragment in ((tmp_path / "missing", "the folder does not exist"),
                             (tmp_path, "questions.jsonl is missing"), (partial, "docs/ is missing")):
        assert main(["eval", "--covid", str(folder), *nowhere]) == 1
        captured = capsys.readouterr()
        line, = captured.err.strip().splitlines()
        assert captured.out == "" and str(folder.absolute()) in line and "--covid DIR" in line and fragment in line
    assert not (tmp_path / "index").exists()


def test_bad_question_records_are_refused_with_their_line(tmp_path: Path) -> None:
    folder = make_set(tmp_path / "set")
    check_set(folder)
    assert [q.id for q in load_questions(folder, limit=3)] == ["b1", "b2", "m1"]
    (folder / "questions.jsonl").write_text('{"id": "x", "doc_id": "bats", "question": "Q?", "answer_char_spans": []}\n')
    with pytest.raises(InputError, match="line 1: the question has no answer span"):
        load_questions(folder)
    (folder / "questions.jsonl").write_text("{not json\n")
    with pytest.raises(InputError, match="line 1: not a COVID-QA question record"):
        load_questions(folder)


def test_strict_and_overlap_hits() -> None:
    spans = [(100, 200)]
    assert covers(90, 210, spans) and overlaps(90, 210, spans)
    assert not covers(150, 250, spans) and overlaps(150, 250, spans)  # a quote holding half a long answer
    assert not overlaps(200, 260, spans) and not overlaps(40, 100, spans)
    rows: list[dict[str, Any]] = [{"rank": 1, "answered": True, "strict": True, "overlap": True, "pair": False},
            {"rank": 4, "answered": True, "strict": False, "overlap": True, "pair": True},
            {"rank": None, "answered": False, "strict": False, "overlap": False, "pair": False}]
    f = figures(rows)
    assert f["R@1"] == pytest.approx(1 / 3) and f["R@5"] == pytest.approx(2 / 3)
    assert f["answer@1"] == pytest.approx(1 / 3) and f["answer_overlap@1"] == pytest.approx(2 / 3)
    assert f["false_abstention_rate"] == pytest.approx(1 / 3) and f["two_sentence_answers"] == 0.5
