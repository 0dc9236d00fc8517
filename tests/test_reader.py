"""The answer reader: the shipped model's hashes and canary, what it prefers, which sentences it is
asked about, its uses in the answer (rerank, answer, abstain, confidence), and the training script
(a tiny run). Refusals of a damaged copy are tested beside the scorer's (tests/test_scorer.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from qa.answer import judge
from qa.answer.compose import NOT_ANSWERED, Rules, compose
from qa.ingest.chunks import Passage, Sentence, sentence_before
from qa.models.bundled import sha256
from qa.models.reader import CANARY_TOLERANCE, CHECK_FILE, MODEL_FOLDER, NULL, Reader, reading

from .conftest import ROOT, SHARED, TREATY
from .training_runs import run_main

DATA = SHARED / "training" / "qa_train.jsonl"


def _train_reader():
    """The reader's training script (`python -m qa.models.training.reader`) as a module."""
    from qa.models.training import reader as train_reader

    return train_reader


@pytest.fixture(scope="module")
def real() -> Reader:
    r = Reader()
    r.warm_up()
    return r


def test_shipped_model_matches_its_hashes_and_canary(real):
    card = json.loads((MODEL_FOLDER / CHECK_FILE).read_text())
    assert {n: sha256(MODEL_FOLDER / n) for n in card["files"]} == card["files"]
    c = card["canary"]
    assert abs(float(real.logits(c["question"], [c["sentence"]])[0]) - c["logit"]) < CANARY_TOLERANCE
    assert (MODEL_FOLDER / "model.onnx").stat().st_size <= 30_000_000
    # a real run, not a smoke run: the steps of the run and of those it went on from (its lineage)
    steps = card["training"]["steps"] + sum(run["steps"] for run in card["training"].get("lineage", []))
    assert card["training"]["limit"] is None and steps >= 500
    from qa.models.training.reader import model_card

    written = (MODEL_FOLDER / "MODEL_CARD.md").read_text()
    assert written == model_card(card)  # the training script's own card, never edited by hand
    assert "## Held-out figures" in written


def test_it_prefers_the_sentence_that_answers_over_its_neighbour(real):
    """The miss that made the reader: the right passage, the wrong sentence of it."""
    question = "In which years was the treaty renewed?"
    answer = "The treaty was renewed twice, in 1981 and in 2001, each time for twenty years."
    neighbour = "The treaty was signed in 1961 by the two governments in Beijing."
    p = real.probabilities(question, [answer, neighbour, "Paris is the capital of France."])
    assert p.shape == (3,) and np.all((p >= 0) & (p <= 1))
    assert p[0] > p[1] > p[2] - 1e-6
    assert np.array_equal(real.logits(question, [answer]), real.logits(question, [answer]))  # deterministic


class _Table:
    """A reader (or scorer) whose probability is given per sentence text; counts what it is asked."""

    def __init__(self, table: dict[str, float]) -> None:
        self.table, self.asked, self.before = table, [], []

    def probabilities(self, question: str, sentences: list[str], before: list[str] | None = None) -> np.ndarray:
        self.asked.extend(sentences)
        self.before.extend(before or [])
        return np.array([self.table.get(s, 0.0) for s in sentences], dtype=np.float32)

    def cosines(self, question: str, sentences: list[str]) -> np.ndarray:
        return np.array([self.table.get(s, 0.0) for s in sentences], dtype=np.float32)

    def probability(self, cosines: np.ndarray) -> np.ndarray:
        return cosines


def test_a_questions_readings_run_side_by_side_and_give_what_one_after_another_gives(monkeypatch):
    """The pairs of one question are read on as many threads as there are cores, each pair alone:
    the margins are bit for bit those of a reader reading them one after another, the no-answer
    reading among them."""
    import threading

    question = "When was the treaty renewed?"
    sentences = ["The treaty was renewed in 1981 and again in 2001.", "It was signed in 1961.",
                 "Kim visited Beijing in 2018.", "Trade between the two grew.", "China sent an envoy."]
    before = ["", sentences[0], "", sentences[2], sentences[3]]
    alone = Reader()
    alone.side_by_side = 1
    one_after_another = alone.margins(question, sentences, before)
    as_before = alone.logits(question, sentences, before) - alone.logits(question, [NULL])[0]
    side = Reader()
    side.warm_up()
    run, threads = side._session.run, set()  # the process's one session of the reader, which both share

    def spied(*args, **kwargs):
        threads.add(threading.get_ident())
        return run(*args, **kwargs)

    monkeypatch.setattr(side._session, "run", spied)
    got = side.margins(question, sentences, before)
    assert got.tobytes() == one_after_another.tobytes() == as_before.tobytes()
    if side.side_by_side > 1:  # six readings (the no-answer one too), none on the asking thread
        assert len(threads) > 1 and threading.get_ident() not in threads
    else:
        assert threads == {threading.get_ident()}
    assert side.logits(question, [sentences[1], sentences[1]]).tolist() == [side.logits(question, [sentences[1]])[0]] * 2


def test_it_reads_only_the_few_sentences_the_scorer_likes_best(article_assistant):
    passages = list(article_assistant.index.passages[:4])
    prior = [np.linspace(0.1, 0.2, len(p.sentences)) + n / 10 for n, p in enumerate(passages)]
    prior[3][:] = -np.inf  # may not move anything (a title): never read
    fake = _Table({})
    got = judge.read(fake, "q", passages, prior, 3)
    assert len(fake.asked) == 3 and [len(g) for g in got] == [len(p.sentences) for p in passages]
    best = sorted(((float(v), r, i) for r, pr in enumerate(prior) for i, v in enumerate(pr) if v > -np.inf), reverse=True)[:3]
    assert fake.asked == [passages[r].sentence_text(i) for _, r, i in best]
    fake.asked.clear()
    none = judge.read(fake, "q", passages, [np.full_like(p, -np.inf) for p in prior], 3)
    assert fake.asked == [] and all(not g.any() for g in none)
    fake.asked.clear()
    assert best[1][0] > best[2][0]
    judge.read(fake, "q", passages, prior, 3, within=best[0][0] - (best[1][0] + best[2][0]) / 2)  # the best two only
    assert fake.asked == [passages[r].sentence_text(i) for _, r, i in best[:2]]


def _passage(id_: int, doc: str, paragraph: int, start: int, sentences: list[str]) -> Passage:
    text, spans, at = " ".join(sentences), [], 0
    for t in sentences:
        spans.append(Sentence(at, at + len(t), start + at, start + at + len(t)))
        at += len(t) + 1
    return Passage(id_, doc, "T", paragraph, start, start + len(text), text, tuple(spans))


def test_the_sentence_before_a_candidate_is_found_in_its_paragraph_only():
    rows = [_passage(0, "a", 0, 0, ["A title."]),
            _passage(1, "a", 1, 10, ["One.", "Two."]),
            _passage(2, "a", 1, 20, ["Three.", "Four."]),  # the same paragraph, cut in two passages
            _passage(3, "a", 2, 40, ["Five."]),
            _passage(4, "b", 2, 60, ["Six."])]  # another document
    assert sentence_before(rows, 1, 1) == "One."
    assert sentence_before(rows, 2, 0) == "Two." and sentence_before(rows, 2, 1) == "Three."
    assert sentence_before(rows, 1, 0) == "" and sentence_before(rows, 3, 0) == "" and sentence_before(rows, 4, 0) == ""
    assert sentence_before(rows, 0, 0) == ""
    assert reading("Four.", "Three.") == "Four. [SEP] Three." and reading("One.", "") == reading("One.", " ") == "One."


def test_a_paragraphs_first_sentence_is_read_under_its_sections_heading():
    """Two sections that say the same words ("counted twice in spring, at dawn" / "at dusk") differ
    only by their headings: read with its heading where nothing of its paragraph comes before it,
    the reader can tell which answers "When were the swallows counted?"."""
    swallows = replace(_passage(1, "a", 1, 10, ["Counted at dusk.", "Twice."]), section="Swallows")
    cut = replace(_passage(2, "a", 1, 40, ["Again."]), section="Swallows")  # the same paragraph, cut
    table = replace(_passage(3, "a", 2, 60, ["A | 1"]), role="table", section="Table 1: Counts")
    rows = [_passage(0, "a", 0, 0, ["A title."]), swallows, cut, table]
    assert sentence_before(rows, 1, 0, heading=True) == "Swallows" and sentence_before(rows, 1, 0) == ""
    assert sentence_before(rows, 1, 1, heading=True) == "Counted at dusk."  # later sentences: the one before
    assert sentence_before(rows, 2, 0, heading=True) == "Twice."  # a cut paragraph: its sentence before
    assert sentence_before(rows, 0, 0, heading=True) == "" and sentence_before(rows, 3, 0, heading=True) == ""


def test_compose_gives_the_reader_the_sentence_before_each_candidate(article_assistant):
    a, question = article_assistant, TREATY
    candidates, _ = _setup(a, question)
    fake = _Table({})
    compose(question, question, a.index, candidates, 5, Rules(), None, fake)
    assert len(fake.asked) == Rules().reader_candidates == len(fake.before)
    rows = {p.sentence_text(i): (row, i) for row, p in enumerate(a.index.passages) for i in range(len(p.sentences))}
    assert fake.before == [sentence_before(a.index.passages, *rows[s]) for s in fake.asked]


def test_a_reader_trained_with_context_reads_it(real, tmp_path):
    """The shipped reader was trained with the sentence before (its card says so) and reads it; a
    reader whose card does not say so is given the sentence alone."""
    question, sentence, before = "When was it renewed?", "It was renewed in 1981.", "The treaty of friendship was signed in 1961."
    assert real.reads_context
    with_context = real.logits(question, [sentence], [before])[0]
    alone = real.logits(question, [sentence])[0]
    assert with_context == real.logits(question, [reading(sentence, before)])[0] and with_context != alone
    with pytest.raises(ValueError, match="one sentence before each"):
        real.logits(question, [sentence, sentence], [before])
    folder = tmp_path / "reader"
    shutil.copytree(MODEL_FOLDER, folder)
    card = json.loads((folder / CHECK_FILE).read_text())
    del card["context"]
    (folder / CHECK_FILE).write_text(json.dumps(card))
    plain = Reader(folder)
    assert not plain.reads_context and plain.logits(question, [sentence], [before])[0] == alone


def test_a_reader_with_a_no_answer_score_weighs_each_sentence_against_it(tmp_path):
    """A reader whose card says "null" reads the question alone too, and its probabilities are of
    each sentence's margin over that no-answer logit; one whose card does not, of the logit itself."""
    question, sentences = "When was the treaty renewed?", ["It was renewed in 1981.", "Paris is in France."]
    folders = {}
    for null in (True, False):
        folders[null] = tmp_path / str(null)
        shutil.copytree(MODEL_FOLDER, folders[null])
        card = json.loads((folders[null] / CHECK_FILE).read_text())
        card["null"] = null
        (folders[null] / CHECK_FILE).write_text(json.dumps(card))
    with_null, without = Reader(folders[True]), Reader(folders[False])
    assert with_null.knows_no_answer and not without.knows_no_answer
    logits = without.logits(question, sentences)
    assert np.array_equal(without.margins(question, sentences), logits)
    assert np.array_equal(with_null.logits(question, sentences), logits)
    no_answer = with_null.logits(question, [NULL])[0]
    assert np.allclose(with_null.margins(question, sentences), logits - no_answer)
    assert np.allclose(with_null.probabilities(question, sentences), with_null.probability(logits - no_answer))
    assert with_null.margins(question, []).shape == (0,)


@pytest.mark.skipif(not DATA.is_file(), reason="needs ../shared/training/qa_train.jsonl")
def test_training_examples_without_their_answer_hold_none_of_its_words():
    """--null's extra examples: the question once more with hard negatives only (one more than
    usual, so the columns line up), labelled 0; none of them holds an answer's words."""
    import random

    train_reader = _train_reader()

    with DATA.open(encoding="utf-8") as f:
        rows = [json.loads(next(f)) for _ in range(400)]
    rows = [r for r in rows if not r["is_impossible"]]
    data, labels, _ = train_reader.examples(rows, rows, 3, random.Random(1), context=True, removed=1.0)
    assert len(data) == len(labels) and 0 < labels.count(0) <= labels.count(1)
    answers = {r["question"]: [a.lower() for a in r["answers"]] for r in rows}
    assert all(len(d) == 5 for d in data)
    for d, y in zip(data, labels, strict=True):
        if y == 0:
            assert not any(a in t.lower() for t in d[1:] for a in answers[d[0]])
            assert len(set(d[1:])) == 4
    plain, plain_labels, _ = train_reader.examples(rows, rows, 3, random.Random(1), context=True)
    assert set(plain_labels) == {1} and len(plain) == labels.count(1)


def _setup(a, question: str):
    candidates = a._live.retriever.search(question, a.embedder.encode([question])[0], k=15)
    plain = compose(question, question, a.index, candidates, 5, Rules(), None)
    return candidates, plain


def test_the_reader_chooses_the_answer_sentence_and_gives_the_confidence(article_assistant):
    a, question = article_assistant, TREATY
    candidates, plain = _setup(a, question)
    assert plain.answer is not None
    top = plain.hits[0].passage
    other = next(i for i in range(len(top.sentences)) if top.sentence_text(i) not in plain.answer.text)
    liked = top.sentence_text(other)
    scorer = _Table({top.sentence_text(i): 0.5 for i in range(len(top.sentences))})
    rules = replace(Rules(), scorer_rerank=0.0, scorer_answer=0.0, reader_answer=5.0, reader_candidates=8,
                    learned_abstention=False)  # the reader's own confidence (else the abstention model's)
    read = compose(question, question, a.index, candidates, 5, rules, scorer, _Table({liked: 0.97}))
    assert read.answer is not None and liked in read.answer.text
    assert read.answer.confidence == pytest.approx(0.97)
    off = compose(question, question, a.index, candidates, 5, replace(rules, reader_answer=0.0), scorer, _Table({liked: 0.97}))
    assert off.answer is not None and off.answer.text == plain.answer.text  # weight 0: it only shows its confidence


def test_the_reader_abstains_when_no_candidate_answers(article_assistant):
    a, question = article_assistant, TREATY
    candidates, _ = _setup(a, question)
    scorer = _Table({p.sentence_text(i): 0.5 for p in a.index.passages for i in range(len(p.sentences))})
    rules = replace(Rules(), reader_abstain=0.3)
    low = compose(question, question, a.index, candidates, 5, rules, scorer, _Table({}))
    assert low.answer is None and low.reason == NOT_ANSWERED and low.hits  # the passages are still shown
    some = {p.sentence_text(i): 0.9 for p in a.index.passages for i in range(len(p.sentences))}
    assert compose(question, question, a.index, candidates, 5, rules, scorer, _Table(some)).answer is not None


def test_the_reader_moves_a_passage_whose_sentence_it_reads_as_the_answer(article_assistant):
    a, question = article_assistant, TREATY
    candidates, plain = _setup(a, question)
    third = plain.hits[2].passage
    scorer = _Table({p.sentence_text(i): 0.5 for h in plain.hits for p in [h.passage] for i in range(len(p.sentences))})
    liked = {third.sentence_text(i): 0.99 for i in range(len(third.sentences))}
    rules = replace(Rules(), scorer_rerank=0.0, reader_rerank=2.0, reader_candidates=40)
    moved = compose(question, question, a.index, candidates, 5, rules, scorer, _Table(liked))
    assert moved.hits[0].passage.id == third.id
    assert moved.hits[0].score >= moved.hits[1].score  # the shown score is the one they are ordered by


def test_the_assistant_uses_the_real_reader(article_assistant):
    assert article_assistant.reader is not None
    result = article_assistant.ask(TREATY)
    assert result.answer is not None and 0.0 <= result.to_json()["answer"]["confidence"] <= 1.0


def test_training_script_refuses_evaluation_material(tmp_path):
    train_reader = _train_reader()

    row = {"id": "x", "source": "squad-v1.1-dev", "title": "Oxygen", "context": "Oxygen is a gas.",
           "question": "What is oxygen?", "answers": ["a gas"], "answer_starts": [10], "is_impossible": False}
    data = tmp_path / "leak.jsonl"
    data.write_text(json.dumps(row) + "\n")
    with pytest.raises(AssertionError, match="evaluation documents"):
        train_reader.main(["--data", str(data), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_the_training_scripts_defaults_are_the_shipped_readers_recipe():
    """Rerunning qa/models/training/reader.py with no options trains what ships (its card's settings); only
    the precision follows the machine (bfloat16 where the CPU computes it natively)."""
    train_reader = _train_reader()
    from qa.models.training.scorer import RESERVED_MORE_DOCS

    card = json.loads((MODEL_FOLDER / CHECK_FILE).read_text())["training"]
    # a reader trained in several runs (--init, each going on from the last) records them (--lineage):
    # the defaults are its first run's, and each later run went on from the one before
    runs = [*card.get("lineage", []), card]
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert later["init"] is not None
        if later["init"]["form"] == "int8":
            assert later["init"]["weights_sha256"] == earlier["model_sha256"]
    shipped = runs[0]
    defaults = vars(train_reader.parse(["--out", "unused"]))
    assert defaults["max_seq_length"] is None and defaults["bf16"] is None  # chosen when it runs
    # a card written before --freeze-layers and --in-batch existed trained all layers with one in-batch negative
    before = {"freeze_layers": 0, "in_batch": 1}
    # a run that --minutes (or --stop-after) ended early planned more steps than it took: its plan is the default
    planned = {"steps": shipped.get("planned_steps") or shipped["steps"]}
    for key in ("layers", "steps", "batch", "negatives", "lr", "context", "freeze_layers", "in_batch", "removed"):
        assert defaults[key] == planned.get(key, before.get(key) if shipped.get(key) is None else shipped[key]), key
    read = (shipped.get("read") or {}).get("slice")  # the first run read the seed's fixed order from its start
    assert read is not None and defaults["examples_from"] == read[0] == 0
    assert defaults["threads"] == card["threads"]
    assert defaults["null"] is bool(shipped.get("null")) and shipped["max_seq_length"] == (112 if shipped["context"] else 80)
    files = shipped["data"] if isinstance(shipped["data"], list) else [shipped["data"]]
    assert shipped["seed"] == train_reader.SEED and files == [p.name for p in defaults["data"]]
    reserved = shipped.get("reserved_documents") or card.get("reserved_documents") or []  # a lineage entry keeps no list
    assert card["limit"] is None and (reserved == [] if files == ["qa_train.jsonl"] else len(reserved) == RESERVED_MORE_DOCS)


@pytest.mark.slow
@pytest.mark.skipif(not DATA.is_file(), reason="needs ../shared/training/qa_train.jsonl")
def test_training_script_trains_a_tiny_model_that_loads(tmp_path):
    out = tmp_path / "reader"  # the run in this process; --card-only below runs the script as a command
    assert train_here("--limit", "24", "--steps", "2", "--batch", "4", "--held-out-limit", "8", "--threads", "1",
                      "--layers", "2", "--freeze-layers", "1", "--null", "--scaling", "8", "--data", str(DATA),
                      "--out", str(out)) == ""
    card = json.loads((out / CHECK_FILE).read_text())
    assert card["training"]["steps"] == 2 and card["training"]["layers"] == 2
    assert card["training"]["data_sha256"] == {DATA.name: sha256(DATA)} and card["training"]["excluded_and_checked"]["titles"]
    assert card["training"]["freeze_layers"] == 1 and card["training"]["reserved_documents"] == []
    # the data-scaling table: after 8 questions (step 2 of 4 a step), and at the end
    assert [(x["questions"], x["step"]) for x in card["training"]["scaling"]] == [(8, 2), (8, 2)]
    written = (out / "MODEL_CARD.md").read_text()
    assert "## Held-out figures" in written and "first 2 of the six layers" in written
    train_reader = _train_reader()

    bf16 = train_reader.fast_bf16()  # bfloat16 only where the CPU computes it natively
    assert card["training"]["bf16"] is bf16 and ("bfloat16 mixed precision" if bf16 else "fp32, the word embeddings") in written
    assert card["context"] == "previous" and card["max_seq_length"] == 112 and "the sentence before it" in written
    assert "## Data scaling" in written and "the first 1 layers kept as bundled" in written
    assert card["null"] is True and "no-answer logit" in written and "without_own_paragraph" in card["evaluation"]["abstention"]
    (out / "MODEL_CARD.md").unlink()  # --card-only writes the same card again from reader.json alone
    subprocess.run([sys.executable, "-m", "qa.models.training.reader", "--card-only", "--out", str(out)],
                   check=True, timeout=120, cwd=ROOT)
    assert (out / "MODEL_CARD.md").read_text() == written
    r = Reader(out)
    r.warm_up()  # what the script writes passes the loader's own checks
    assert r.probabilities("Who?", ["Somebody."]).shape == (1,) and r.reads_context and r.knows_no_answer


def test_training_reads_several_files_and_keeps_the_reserved_articles_out(tmp_path):
    """--data takes the whole pool; of squad_train_more.jsonl, RESERVED_MORE_DOCS articles (the
    abstention model's unseen documents) are neither trained on nor measured; a question id twice is refused."""
    import argparse

    from qa.models.training.scorer import MORE, RESERVED_MORE_DOCS, data_split, reserved_titles

    def row(i: int, title: str, source: str) -> dict:
        return {"id": f"{title}-{i}", "source": source, "title": title, "context": f"{title} was founded in {1800 + i}.",
                "question": f"When was {title} founded?", "answers": [str(1800 + i)], "answer_starts": [len(title) + 15],
                "is_impossible": False}

    first = tmp_path / "qa_train.jsonl"
    first.write_text("".join(json.dumps(row(i, f"Dev_{i}", "squad-v1.1-dev")) + "\n" for i in range(8)))
    more = tmp_path / MORE.name
    titles = [f"More_{i}" for i in range(RESERVED_MORE_DOCS + 10)]
    more.write_text("".join(json.dumps(row(i, t, "squad-v1.1-train")) + "\n" for i, t in enumerate(titles)))
    args = argparse.Namespace(data=[first, more], limit=None, held_out_limit=None)
    rows, _, held, train, held_rows = data_split(args)
    assert len(rows) == 8 + len(titles) and args.reserved == reserved_titles(titles)
    trained = {r["title"] for r in train}
    assert not trained & set(args.reserved) and not trained & set(held) and len(trained) == 2 + 10
    assert {r["title"] for r in held_rows} == set(held)
    more.write_text(more.read_text() + json.dumps(row(0, "More_0", "squad-v1.1-train")) + "\n")
    with pytest.raises(AssertionError, match="twice"):
        data_split(args)


def train_here(*args: str) -> str:
    """The reader's training script run in this process (tests/training_runs.py); the one line it
    refused with, or "" when it wrote its model."""
    from qa.models.training.reader import main

    return run_main(main, *args)


@pytest.mark.slow
@pytest.mark.skipif(not DATA.is_file(), reason="needs ../shared/training/qa_train.jsonl")
def test_a_run_kept_can_be_trained_further(tmp_path):
    """--keep saves the trained torch weights; --init goes on from them (its own layer count), and the
    card names where it started."""
    common = ["--limit", "16", "--steps", "1", "--batch", "4", "--held-out-limit", "2", "--threads", "1",
              "--scaling", "", "--data", str(DATA)]
    assert train_here(*common, "--layers", "1", "--keep", str(tmp_path / "kept"), "--out", str(tmp_path / "one")) == ""
    assert (tmp_path / "kept" / "model.safetensors").is_file()
    assert train_here(*common, "--init", str(tmp_path / "kept"), "--out", str(tmp_path / "two")) == ""
    card = json.loads((tmp_path / "two" / CHECK_FILE).read_text())["training"]
    assert card["layers"] == 1 and card["init"]["weights_sha256"] == sha256(tmp_path / "kept" / "model.safetensors")
    assert "continued from the reader in" in (tmp_path / "two" / "MODEL_CARD.md").read_text()
    assert json.loads((tmp_path / "one" / CHECK_FILE).read_text())["training"]["init"] is None
    # a reader as shipped (its int8 export only) goes on too, on the questions of the files named
    assert train_here(*common, "--init", str(tmp_path / "one"), "--train-files", DATA.name,
                      "--out", str(tmp_path / "three")) == ""
    card = json.loads((tmp_path / "three" / CHECK_FILE).read_text())["training"]
    assert card["layers"] == 1 and card["init"]["form"] == "int8" and card["train_files"] == [DATA.name]
    assert card["init"]["weights_sha256"] == sha256(tmp_path / "one" / "model.onnx")
    assert "int8 weights, dequantized" in (tmp_path / "three" / "MODEL_CARD.md").read_text()
    # --lineage records the runs it went on from in the card (first to last), the weights unchanged
    before = (tmp_path / "three" / "model.onnx").read_bytes()
    subprocess.run([sys.executable, "-m", "qa.models.training.reader", "--card-only", "--out", str(tmp_path / "three"),
                    "--lineage", str(tmp_path / "one" / CHECK_FILE)], check=True, timeout=120, cwd=ROOT)
    card = json.loads((tmp_path / "three" / CHECK_FILE).read_text())
    (first,) = card["training"]["lineage"]
    assert first["init"] is None and first["steps"] == 1 and first["model_sha256"] == sha256(tmp_path / "one" / "model.onnx")
    assert first["model_sha256"] == card["training"]["init"]["weights_sha256"]  # the link: the int8 export went on
    assert (tmp_path / "three" / "model.onnx").read_bytes() == before and card["files"]["model.onnx"] == sha256(tmp_path / "three" / "model.onnx")
    assert "## Lineage: 2 runs" in (tmp_path / "three" / "MODEL_CARD.md").read_text()
    # refused from the arguments alone, before torch loads, writing nothing
    wrong = subprocess.run([sys.executable, "-m", "qa.models.training.reader", *common, "--train-files", "other.jsonl",
                            "--out", str(tmp_path / "four")], capture_output=True, text=True, timeout=900, cwd=ROOT,
                           env=os.environ | {"PYTHONPROFILEIMPORTTIME": "1"})
    assert wrong.returncode != 0 and "is not among --data" in wrong.stderr and not (tmp_path / "four").exists()
    assert "import time:" in wrong.stderr and not re.search(r"\|\s+(torch|sentence_transformers)$", wrong.stderr, re.M)
    empty = train_here(*common, "--init", str(tmp_path), "--out", str(tmp_path / "four"))
    assert "holds neither" in empty and not (tmp_path / "four").exists()


@pytest.mark.slow
@pytest.mark.skipif(not DATA.is_file(), reason="needs ../shared/training/qa_train.jsonl")
def test_a_run_reads_a_slice_of_the_fixed_order_and_stops_at_its_time_limit(tmp_path):
    """--examples-from reads examples N .. N + steps x batch of the seed's order (pieces of a long run
    read disjoint questions); --minutes ends training when time is up, --stop-after at a step, and the
    card says so."""
    common = ["--limit", "24", "--steps", "3", "--batch", "4", "--held-out-limit", "2", "--threads", "1",
              "--scaling", "", "--layers", "1", "--data", str(DATA)]
    assert train_here(*common, "--examples-from", "4", "--minutes", "0.0001", "--out", str(tmp_path / "one")) == ""
    t = json.loads((tmp_path / "one" / CHECK_FILE).read_text())["training"]
    assert t["steps"] == 1 and t["planned_steps"] == 3 and t["minutes"] == 0.0001
    read = t["read"]
    assert read["slice"] == [4, 16] and read["examples"] == 4 and read["whole_slice"] is False
    assert 0 < read["slice_questions"] <= 12 and read["slice_with_answer"] <= 12
    card = (tmp_path / "one" / "MODEL_CARD.md").read_text()
    assert "read examples 4 to 16 of the" in card and "stopped at its 0.0001-minute limit after 1 of 3 planned steps" in card
    assert train_here(*common, "--examples-from", "4", "--stop-after", "2", "--out", str(tmp_path / "again")) == ""
    t = json.loads((tmp_path / "again" / CHECK_FILE).read_text())["training"]
    assert t["steps"] == 2 and t["planned_steps"] == 3 and t["stop_after"] == 2 and t["read"]["examples"] == 8
    assert "stopped by --stop-after after 2 of 3 planned steps" in (tmp_path / "again" / "MODEL_CARD.md").read_text()
    past = train_here(*common, "--examples-from", "100000", "--out", str(tmp_path / "two"))
    assert "is past the" in past and not (tmp_path / "two").exists()


def test_a_slice_below_zero_is_refused_at_once(tmp_path):
    from qa.models.training.reader import main

    with pytest.raises(SystemExit, match="--examples-from -4 is below 0"):
        main(["--examples-from", "-4", "--out", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()


def test_the_shipped_readers_int8_weights_come_back_as_its_network():
    """qa.models.training.dequantize: every parameter of the six-layer network named and shaped from
    the shipped export, and the network then scores as the export does (within int8's rounding)."""
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder

    from qa.models.bundled import model_dir
    from qa.models.reader import Reader
    from qa.models.training import dequantize

    folder = ROOT / "qa" / "models" / "reader_model"
    assert dequantize.layers(folder / "model.onnx") == 6
    model = CrossEncoder(str(model_dir()), num_labels=1, device="cpu", local_files_only=True,
                         config_kwargs={"num_hidden_layers": 6})
    assert dequantize.load_into(model[0].model, folder / "model.onnx") == len(
        [k for k in model[0].model.state_dict() if not k.endswith("position_ids")])
    question = "When did North Korea first test a nuclear weapon?"
    sentences = ["North Korea carried out its first nuclear test in October 2006.",
                 "China is North Korea's largest trading partner.", "The Korean War ended in 1953 with an armistice."]
    model[0].model.eval()
    with torch.no_grad():
        ours = model.predict([[question, s] for s in sentences], activation_fn=torch.nn.Identity())
    shipped = Reader(folder).logits(question, sentences)
    # the export quantises its activations per run too, so the two differ by int8's rounding, which
    # grows with the logit (0.06 at most for the reader of 2026-12-02, 0.27 of 2.2 for the continued one)
    assert np.allclose(ours, shipped, rtol=0.15, atol=0.1), (ours, shipped)
    assert list(np.argsort(ours)) == list(np.argsort(shipped)) and int(np.argmax(ours)) == 0


def test_the_lineage_count_reads_each_runs_share_of_the_fixed_order():
    """scripts/reader_questions.py: a run's chance of having read example i of the fixed order."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("reader_questions", ROOT / "scripts" / "reader_questions.py")
    assert spec is not None and spec.loader is not None
    count = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(count)
    drawn = count.chance({"steps": 10, "batch": 16, "read": None}, 640)  # 160 of 640 at random
    assert drawn(0) == drawn(639) == 0.25
    whole = count.chance({"read": {"slice": [100, 200], "examples": 100, "whole_slice": True}}, 640)
    assert [whole(i) for i in (99, 100, 199, 200)] == [0.0, 1.0, 1.0, 0.0]
    part = count.chance({"read": {"slice": [0, 200], "examples": 50, "whole_slice": False}}, 640)
    assert part(0) == 0.25 and part(200) == 0.0
    # the shipped card's runs, the earlier ones first, each with what the count needs
    card = json.loads((MODEL_FOLDER / CHECK_FILE).read_text())
    for run in [*card["training"].get("lineage", []), card["training"]]:
        assert {"data", "train_files", "negatives", "removed", "context", "null", "steps", "batch", "read"} <= set(run)
