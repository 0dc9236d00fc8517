"""The answer scorer (and, where they share a shape, the answer reader): the shipped models' hashes
and canaries, refusals of a damaged copy, the torch-free query path, the scorer's uses in the
answer, and the training script (a tiny run). The reader's own uses: tests/test_reader.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.answer import judge
from qa.errors import ModelError
from qa.models import reader
from qa.models.bundled import sha256
from qa.models.reader import Reader
from qa.models.scorer import CANARY_TOLERANCE, MODEL_FOLDER, RESTORE, Scorer

from .conftest import ROOT, SHARED, TREATY
from .training_runs import run_main

DATA = SHARED / "training" / "qa_train.jsonl"
MORE = SHARED / "training" / "squad_train_more.jsonl"
DATA_SHA256 = "f8ea62bb3171fba70bd702fe53374b0c7226fdd1f9f5b0b4bfcc79f00db43132"  # ../shared/training/README.md
MORE_SHA256 = "7bbf4988ad4e0880f160460c38974f8d48812b69d2282b7dc0289749c61cedeb"


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    s = Scorer()
    s.warm_up()
    return s


#: each shipped model: its class, folder, check file, restore hint, environment variable and canary field
MODELS = {
    "scorer": (Scorer, MODEL_FOLDER, "scorer.json", RESTORE, "QA_SCORER_DIR", "cosine"),
    "reader": (Reader, reader.MODEL_FOLDER, reader.CHECK_FILE, reader.RESTORE, reader.READER_DIR_ENV, "logit"),
}


@pytest.fixture(params=sorted(MODELS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def copy(tmp_path: Path, kind: str) -> Path:
    folder = tmp_path / MODELS[kind][1].name
    shutil.copytree(MODELS[kind][1], folder)
    return folder


def refused(folder: Path, *fragments: str) -> str:
    model, _, _, restore, _, _ = MODELS["reader" if folder.name == reader.MODEL_FOLDER.name else "scorer"]
    with pytest.raises(ModelError) as info:
        model(folder).warm_up()
    message = str(info.value)
    assert str(folder) in message and restore in message and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_shipped_model_matches_its_hashes_and_canary(scorer):
    card = json.loads((MODEL_FOLDER / "scorer.json").read_text())
    assert {n: sha256(MODEL_FOLDER / n) for n in card["files"]} == card["files"]
    c = card["canary"]
    got = float(scorer.encode([c["question"]])[0] @ scorer.encode([c["sentence"]])[0])
    assert abs(got - c["cosine"]) < CANARY_TOLERANCE
    assert (MODEL_FOLDER / "model.onnx").stat().st_size <= 30_000_000
    # the whole pool (issue 25 part 1), less the held-out documents and the abstention model's articles
    assert card["training"]["data_sha256"] == {DATA.name: DATA_SHA256, MORE.name: MORE_SHA256}
    assert card["training"]["limit"] is None and card["training"]["steps"] * card["training"]["batch"] >= card["training"]["triplets"]
    assert card["training"]["train_questions"] >= 60_000 and len(card["training"]["reserved_documents"]) == 30
    assert (MODEL_FOLDER / "MODEL_CARD.md").is_file()


def test_scores_are_probabilities_and_prefer_the_answer(scorer):
    question = "When did North Korea conduct its first nuclear test?"
    sentences = ["North Korea conducted its first nuclear test in October 2006.",
                 "The capital of France is Paris, on the Seine."]
    p = scorer.probability(scorer.cosines(question, sentences))
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1)) and p[0] > p[1]
    again = scorer.sentence_vectors(sentences)  # remembered, identical
    assert np.array_equal(again, scorer.sentence_vectors(sentences))


def test_a_question_begun_ahead_scores_as_one_computed_on_the_spot(scorer):
    question, sentences = "Who signed the treaty?", ["The treaty was signed by Zhou Enlai and Kim Il-sung."]
    now = scorer.cosines(question, sentences)
    scorer.begin(question)
    scorer.begin(question)  # begun twice: one vector in flight
    assert np.array_equal(scorer.cosines(question, sentences), now)
    assert question not in scorer._pending  # used once, then forgotten
    for n in range(100):  # begun and never used: the oldest are dropped, never piled up
        scorer.begin(f"question {n}?")
    assert len(scorer._pending) <= 64


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json", "check file"])
def test_a_missing_file_is_refused(copy, kind, name):
    (copy / (MODELS[kind][2] if name == "check file" else name)).unlink()
    refused(copy, "missing")


def test_a_changed_weight_byte_is_refused_by_its_hash(copy):
    path = copy / "model.onnx"
    with path.open("r+b") as f:
        f.seek(path.stat().st_size // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    refused(copy, "changed or damaged", "model.onnx")


def test_a_garbled_check_file_is_refused(copy, kind):
    (copy / MODELS[kind][2]).write_text("{not json")
    refused(copy, "damaged")


def test_the_canary_catches_weights_whose_hash_was_rewritten(copy, kind):
    check, field = copy / MODELS[kind][2], MODELS[kind][5]
    card = json.loads(check.read_text())
    card["canary"][field] = card["canary"][field] - 0.2 - abs(card["canary"][field])  # as if the weights had changed
    check.write_text(json.dumps(card))
    refused(copy, "self-check", "canary")


def test_instances_of_one_folder_share_its_checked_model_until_a_file_changes(copy, kind):
    """A second instance (a second Assistant in the same process) borrows the first one's checked
    session instead of loading and hashing the files again; once any file changes on disk the next
    instance loads and checks it afresh, so damage done after the first load is still refused."""
    model = MODELS[kind][0]
    first, second = model(copy), model(copy)
    first.warm_up()
    second.warm_up()
    assert second._session is first._session and second.card == first.card
    other = model(copy, threads=2)
    other.warm_up()
    assert other._session is not first._session  # another thread count: a session of its own
    with (copy / "tokenizer.json").open("a") as f:
        f.write(" ")  # same content to JSON, another SHA-256 and size
    refused(copy, "changed or damaged", "tokenizer.json")
    assert first.probability(np.zeros(1)).shape == (1,)  # what was checked before stays usable


def test_cli_with_a_damaged_model_exits_with_one_line(copy, kind, tmp_path, article_assistant):
    index = tmp_path / "index"
    shutil.copytree(article_assistant.settings.index_dir, index)
    (copy / "tokenizer.json").write_text("{}")
    done = subprocess.run(
        [sys.executable, "-m", "qa", "ask", "--corpus", str(article_assistant.settings.corpus_dir),
         "--index", str(index), TREATY],
        capture_output=True, text=True, timeout=300, env={**os.environ, MODELS[kind][4]: str(copy)},
    )
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qa: error: ") and str(copy) in lines[0], done.stderr


def test_the_query_path_never_imports_torch():
    code = ("import sys; from qa.models.scorer import Scorer; from qa.models.reader import Reader; s = Scorer(); "
            "p = s.probability(s.cosines('Who signed it?', ['China signed it.'])); "
            "r = Reader().probabilities('Who signed it?', ['China signed it.']); "
            "assert 0 <= float(p[0]) <= 1 and 0 <= float(r[0]) <= 1; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_answer_carries_its_confidence(article_assistant):
    result = article_assistant.ask(TREATY)
    assert article_assistant.scorer is not None and result.answer is not None
    c = result.to_json()["answer"]["confidence"]
    assert 0.0 <= c <= 1.0


class _Fixed:
    """A judge whose cosines are given per sentence text (for the rules, not the model)."""

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table

    def cosines(self, question: str, sentences: list[str]) -> np.ndarray:
        return np.array([self.table.get(s, 0.0) for s in sentences], dtype=np.float32)

    def probability(self, cosines: np.ndarray) -> np.ndarray:
        return cosines


def test_rerank_moves_a_passage_whose_sentence_answers_up():
    probs = [np.array([0.1, 0.2]), np.array([0.9]), np.array([0.0])]
    assert judge.rerank_order([0.8, 0.7, 0.6], judge.lift(probs, 0.5)) == [1, 0, 2]
    assert judge.rerank_order([0.8, 0.7, 0.6], judge.lift(probs, 0.0)) == [0, 1, 2]


def test_probabilities_follow_each_passages_sentences(article_assistant):
    passages = list(article_assistant.index.passages[:3])
    texts = [p.sentence_text(i) for p in passages for i in range(len(p.sentences))]
    table = {t: n / 100 for n, t in enumerate(texts)}
    got = judge.probabilities(_Fixed(table), "q", passages)
    assert [len(g) for g in got] == [len(p.sentences) for p in passages]
    assert np.allclose(np.concatenate(got), [table[t] for t in texts])


def test_training_script_refuses_evaluation_material(tmp_path):
    from qa.models.training import scorer as train_scorer

    row = {"id": "x", "source": "squad-v1.1-dev", "title": "Warsaw", "context": "Warsaw is a city.",
           "question": "What is Warsaw?", "answers": ["a city"], "answer_starts": [10], "is_impossible": False}
    data = tmp_path / "leak.jsonl"
    data.write_text(json.dumps(row) + "\n")
    with pytest.raises(AssertionError, match="evaluation documents"):
        train_scorer.main(["--data", str(data), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.skipif(not (DATA.is_file() and MORE.is_file()),
                    reason="needs ../shared/training/qa_train.jsonl and squad_train_more.jsonl")
def test_training_script_trains_a_tiny_model_that_loads(tmp_path):
    from qa.models.training.scorer import main

    out = tmp_path / "scorer"  # the run in this process (tests/training_runs.py), then the script as a command
    assert run_main(main, "--limit", "16", "--steps", "2", "--batch", "4", "--held-out-limit", "8", "--threads", "1",
                    "--out", str(out)) == ""
    helped = subprocess.run([sys.executable, "-m", "qa.models.training.scorer", "--help"], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert helped.returncode == 0 and "--held-out-limit" in helped.stdout, helped.stderr[-2000:]
    card = json.loads((out / "scorer.json").read_text())
    assert card["training"]["steps"] == 2 and len(card["training"]["loss_log"]) == 2
    assert card["training"]["data_sha256"] == {DATA.name: sha256(DATA), MORE.name: sha256(MORE)}  # the pool, by default
    assert card["training"]["bf16"] in (True, False) and card["training"]["hardware"]
    # the abstention model's unseen articles (qa/models/training/abstain.py reads them from this card)
    from qa.models.training.scorer import RESERVED_MORE_DOCS

    assert len(card["training"]["reserved_documents"]) == RESERVED_MORE_DOCS
    assert "Reserved for the abstention model" in (out / "MODEL_CARD.md").read_text()
    assert card["training"]["excluded_and_checked"]["titles"]
    assert "## Held-out figures" in (out / "MODEL_CARD.md").read_text()
    s = Scorer(out)
    s.warm_up()  # what the script writes passes the loader's own checks
    assert s.probability(s.cosines("Who?", ["Somebody."])).shape == (1,)


def test_the_card_says_what_stayed_as_bundled():
    from qa.models.training.scorer import frozen_text

    assert frozen_text(3) == "word embeddings and layers 0-2"
    assert frozen_text(0) == "word embeddings only"  # every layer trained: no "layers 0--1"


def test_the_shipped_card_is_the_one_the_script_writes():
    """MODEL_CARD.md is not edited by hand: it is what the training script writes from scorer.json."""
    from qa.models.training.scorer import model_card

    card = json.loads((MODEL_FOLDER / "scorer.json").read_text())
    assert (MODEL_FOLDER / "MODEL_CARD.md").read_text() == model_card(card)


def test_a_title_the_scorer_likes_never_moves_passages_or_answers(article_assistant):
    """The scorer was trained on body text: a title or byline repeats the question's names and scores
    high without answering, so its probability moves nothing (it may still be shown as a confidence)."""
    from qa.answer.compose import Rules, compose

    a, rules = article_assistant, Rules(scorer_rerank=0.8, scorer_answer=1.6)
    question = "Who wrote this article?"
    candidates = a._live.retriever.search(question, a.embedder.encode([question])[0], k=15)
    plain = compose(question, question, a.index, candidates, 5, rules, None)
    below = [h.passage for h in plain.hits[1:] if h.passage.role != "body"]  # could be lifted to the top
    assert below, [h.passage.role for h in plain.hits]
    liked = {p.sentence_text(i): 1.0 for p in below for i in range(len(p.sentences))}
    judged = compose(question, question, a.index, candidates, 5, rules, _Fixed(liked))
    assert [h.passage.id for h in judged.hits] == [h.passage.id for h in plain.hits]
    assert judged.answer is not None and plain.answer is not None and judged.answer.text == plain.answer.text


def test_the_training_script_takes_the_whole_pool_and_its_card_names_each_file(tmp_path):
    from qa.models.training import scorer as train_scorer

    args = train_scorer.parse(["--data", str(tmp_path / "qa_train.jsonl"), str(tmp_path / "squad_train_more.jsonl")])
    assert [p.name for p in args.data] == ["qa_train.jsonl", "squad_train_more.jsonl"]
    assert [p.name for p in train_scorer.parse([]).data] == ["qa_train.jsonl", "squad_train_more.jsonl"]  # the shipped run's
    assert train_scorer.parse([]).steps == 0  # one pass over the triplets
    one = {"data": "qa_train.jsonl", "data_sha256": "ab"}
    two = {"data": ["qa_train.jsonl", "squad_train_more.jsonl"],
           "data_sha256": {"qa_train.jsonl": "ab", "squad_train_more.jsonl": "cd"}}
    assert train_scorer._files(one) == "`qa_train.jsonl` (SHA-256 `ab`)"
    assert train_scorer._files(two) == "`qa_train.jsonl` (SHA-256 `ab`), `squad_train_more.jsonl` (SHA-256 `cd`)"
