"""The span model (qa.models.span) and the short answer inside the quote (qa.answer.shortanswer):
the shipped model's hashes and canary, a damaged copy refused, the span in the Python API and its
JSON, the terminal and a pipe (`qa ask`), the Markdown export, the chat message and MCP; none for a
why-question; QA_SPAN=0; raw offsets through the document's own map where its text is not one to
one with the file; and the training script (its defaults, its refusal of evaluation material, a
tiny run that loads). The REST API and the page are tested with a real server in
tests/test_span_serve.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa import terminal
from qa.answer import shortanswer
from qa.assistant import Assistant
from qa.config import Settings
from qa.errors import ModelError
from qa.ingest.chunks import chunk
from qa.ingest.documents import read_document
from qa.models.bundled import sha256
from qa.models.span import CANARY_TOLERANCE, CHECK_FILE, MODEL_FOLDER, Found, SpanModel, best_span, kind
from qa.models.spanscore import exact_match, f1, normalize
from qa.serve import mcpview, render

from .conftest import ARTICLE, ROOT, SHARED, needs_shared
from .training_runs import run_main

DATA = SHARED / "training" / "qa_train.jsonl"
#: a question whose answer has a short answer inside its sentence ("In March 2018, Kim Jong-Un made his
#: first official visit to Beijing ...")
WHEN = "When did Kim Jong-Un make his first official visit to Beijing?"
#: its answer sentence is a clause (the new Russian government downgraded its ties ... and decided
#: not to renew the treaty): a reason, no short answer
WHY = "Why did Russia downgrade its ties with North Korea?"


def _train_span():
    from qa.models.training import span as train_span

    return train_span


@pytest.fixture(scope="module")
def real() -> SpanModel:
    m = SpanModel()
    m.warm_up()
    return m


@pytest.fixture(scope="module")
def treaty(article_assistant):
    """The answer to WHEN, with its short answer."""
    return article_assistant.ask(WHEN)


# -- the shipped model ------------------------------------------------------------------------------


def test_shipped_model_matches_its_hashes_and_canary(real):
    card = json.loads((MODEL_FOLDER / CHECK_FILE).read_text())
    assert {n: sha256(MODEL_FOLDER / n) for n in card["files"]} == card["files"]
    c = card["canary"]
    found = real.find(c["question"], c["sentence"])
    assert found is not None and abs(found.score - c["score"]) < CANARY_TOLERANCE
    # the recorded span scores what training recorded, and is the best one or within the int8
    # kernels' noise of it: "1981" and "1981 and again in 2001" (for "When was the treaty renewed?")
    # end 0.004 apart on an AVX2 CPU, where the longer one comes first
    start, end, encoded = real.logits(c["question"], c["sentence"])
    at = c["sentence"].index(c["span"])
    first = next(i for i, (a, _b) in enumerate(encoded.offsets) if a == at)
    last = next(i for i, (_a, b) in enumerate(encoded.offsets) if b == at + len(c["span"]))
    recorded = float(start[first] + end[last])
    assert abs(recorded - c["score"]) < CANARY_TOLERANCE and found.score - recorded < 0.05
    assert (MODEL_FOLDER / "model.onnx").stat().st_size <= 30_000_000
    t = card["training"]
    assert t["limit"] is None and t["data"] == ["qa_train.jsonl", "squad_train_more.jsonl"]
    # drawn from the whole pool less the held-out and reserved documents (the run read steps x batch of them)
    assert t["questions"] > 85_000 and len(t["reserved_documents"]) == 30
    assert t["epochs"] == round(t["steps"] * t["batch"] / t["questions"], 3)
    from qa.models.training.span import model_card

    written = (MODEL_FOLDER / "MODEL_CARD.md").read_text()
    assert written == model_card(card)  # the training script's own card, never edited by hand
    assert "## Held-out figures" in written and "## When there is no span" in written
    assert "why" in card["rule"]["no_span_kinds"] and 0 < card["rule"]["max_share"] < 1


def test_a_damaged_or_missing_file_is_refused_in_one_line(tmp_path):
    broken = tmp_path / "span_model"
    shutil.copytree(MODEL_FOLDER, broken)
    data = bytearray((broken / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (broken / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="span model .* has changed or damaged files \\(model.onnx\\)") as e:
        SpanModel(broken).warm_up()
    assert "\n" not in str(e.value) and "qa.models.training.span" in str(e.value)
    (broken / CHECK_FILE).unlink()
    with pytest.raises(ModelError, match="is missing \\(span.json not found\\)"):
        SpanModel(broken).warm_up()


def test_a_wrong_canary_is_refused(tmp_path):
    folder = tmp_path / "span_model"
    shutil.copytree(MODEL_FOLDER, folder)
    card = json.loads((folder / CHECK_FILE).read_text())
    card["canary"]["score"] += 5
    (folder / CHECK_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="failed its self-check"):
        SpanModel(folder).warm_up()


def test_question_kinds():
    assert kind("Why did Russia downgrade its ties?") == "why" and kind("How come it failed?") == "why"
    assert kind("How many soldiers died?") == "how much" and kind("How did it end?") == "how"
    assert kind("In which year was it signed?") == "which" and kind("Whose idea was it?") == "who"
    assert kind("Name the treaty.") == "other"


def test_the_best_span_starts_before_it_ends_and_is_not_too_long():
    start = np.array([0.0, 5.0, 0.0, 0.0])
    end = np.array([9.0, 0.0, 0.0, 6.0])  # the best end comes before the best start: not allowed
    i, j, logp = best_span(start, end)
    assert (i, j) == (1, 3) and logp < 0
    rng = np.random.default_rng(7)
    for _ in range(20):  # the best allowed pair, as a search over every pair finds it
        s, e = rng.normal(size=12) * 3, rng.normal(size=12) * 3
        ls, le = s - np.logaddexp.reduce(s), e - np.logaddexp.reduce(e)
        want = max((ls[a] + le[b], a, b) for a in range(12) for b in range(a, min(12, a + 4)))
        i, j, logp = best_span(s, e, max_tokens=4)
        assert (i, j) == want[1:] and logp == pytest.approx(want[0], abs=1e-5)


def test_squad_scoring():
    assert normalize("The  Treaty, of 1961!") == "treaty of 1961"
    assert exact_match("the Treaty of 1961", ["Treaty of 1961"]) == 1.0
    assert f1("Treaty of Friendship", ["Treaty on Friendship"]) == pytest.approx(2 / 3)
    assert f1("", ["x"]) == 0.0 and exact_match("x", []) == 0.0


# -- the short answer in every interface -------------------------------------------------------------


def test_the_short_answer_is_marked_inside_the_quote(treaty):
    a = treaty.answer
    assert a is not None and a.span is not None
    s = a.span
    assert 0 <= s.start < s.end <= len(a.text) and a.text[s.start : s.end] == s.text
    assert s.text == "March 2018" and len(s.text) < len(a.text) / 2
    raw = ARTICLE.read_text(encoding="utf-8")
    assert " ".join(raw[s.raw_start : s.raw_end].split()) == s.text  # the file's own characters
    assert a.citation.start <= s.raw_start < s.raw_end <= a.citation.end
    assert 0.5 <= s.confidence <= 1.0
    assert treaty.to_json()["answer"]["span"] == {"text": s.text, "start": s.start, "end": s.end, "raw_start": s.raw_start,
                                                  "raw_end": s.raw_end, "confidence": round(s.confidence, 4)}
    assert treaty.timings["span"] >= 0


def test_no_span_for_a_why_question(article_assistant, real):
    result = article_assistant.ask(WHY)
    assert result.answer is not None and "downgraded its ties" in result.answer.text
    assert result.answer.span is None and result.to_json()["answer"]["span"] is None
    assert real.find(WHY, result.answer.text) is not None  # the model has a best span; the rule refuses it
    assert real.answer(WHY, result.answer.text) is None


@pytest.mark.parametrize("question", ["Who wrote this article?", "What is the title of this piece?"])
def test_no_span_inside_a_title_or_byline_quote(article_assistant, question):
    """The span model was trained on body sentences: a title or byline quoted is the short answer itself."""
    result = article_assistant.ask(question)
    assert result.answer is not None and result.hits[result.answer.citation.id - 1].passage.role != "body"
    assert result.answer.span is None


def test_qa_span_0_turns_it_off(monkeypatch, article_assistant):
    monkeypatch.setenv("QA_SPAN", "0")
    settings = Settings(corpus_dir=article_assistant.settings.corpus_dir, index_dir=article_assistant.settings.index_dir)
    assert settings.span is False
    off = Assistant(settings, embedder=article_assistant.embedder, load=False)
    assert off.span is None
    monkeypatch.delenv("QA_SPAN")
    assert Settings().span is True


def test_the_terminal_underlines_it_and_a_line_says_it(treaty):
    s = treaty.answer.span
    plain = terminal.render_text(treaty)
    lines = plain.splitlines()
    assert lines[0] == f"“{treaty.answer.text}” [{treaty.answer.citation.id}]"  # »…« and the quote stay the sentence
    assert lines[1] == f"    Short answer: {s.text}" and "\x1b" not in plain
    styled = terminal.render_text(treaty, color=True)
    assert f"\x1b[4m{s.text}\x1b[24m" in styled.splitlines()[0]


def test_qa_ask_on_a_pipe_prints_it_without_escape_codes(article_corpus, tmp_path):
    env = {**os.environ, "QA_TORCH_THREADS": "1", "TERM": "xterm"}
    base = [sys.executable, "-m", "qa", "ask", "--corpus", str(article_corpus), "--index", str(tmp_path / "index")]
    text = subprocess.run([*base, WHEN], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert text.returncode == 0, text.stderr[-2000:]
    assert "\x1b" not in text.stdout
    short = next(line for line in text.stdout.splitlines() if line.startswith("    Short answer: "))
    assert short == "    Short answer: March 2018"
    js = subprocess.run([*base, "--json", WHEN], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert js.returncode == 0, js.stderr[-2000:]
    span = json.loads(js.stdout)["answer"]["span"]
    assert short == f"    Short answer: {span['text']}" and set(span) == {"text", "start", "end", "raw_start", "raw_end", "confidence"}
    why = subprocess.run([*base, "--json", WHY], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert json.loads(why.stdout)["answer"]["span"] is None


def test_the_chat_message_and_the_markdown_export_bold_it(treaty):
    js = treaty.to_json()
    s = treaty.answer.span
    message = render.reply(js)
    quote = message.splitlines()[0]
    assert f"<strong>{render.text(s.text)}</strong>" in quote and quote.count("<strong>") == 1
    exported = render.export_markdown([js])
    assert f"**{s.text}**" in exported and exported.count("**") == 2
    # no span: the quote as before
    bare = {**js, "answer": {**js["answer"], "span": None}}
    assert "<strong>" not in render.reply(bare) and "**" not in render.export_markdown([bare])
    # a span out of range (hand-made JSON) is ignored, never sliced
    odd = {**js, "answer": {**js["answer"], "span": {**js["answer"]["span"], "end": 10**6}}}
    assert "<strong>" not in render.reply(odd)


def test_mcp_passes_it_through(treaty):
    out = mcpview.ask_output(treaty)
    assert out["span"] == treaty.to_json()["answer"]["span"]
    assert f"    short answer: {treaty.answer.span.text}" in mcpview.ask_text(treaty, out).splitlines()


# -- raw offsets --------------------------------------------------------------------------------------


class _Fixed:
    """A span model that always marks `word` (fast, for the offsets' unit tests)."""

    def __init__(self, word: str) -> None:
        self.word = word

    def warm_up(self) -> None:
        pass

    def answer(self, question: str, text: str) -> Found | None:
        at = text.find(self.word)
        return None if at < 0 else Found(at, at + len(self.word), 0.9, 0.9, 0.1, 1.0)

    def scores(self, question: str, texts: list[str]) -> list[float]:  # helping choose the quote: sure where the word is
        return [10.0 if self.word in text else 0.0 for text in texts]

    def begin(self, question: str, text: str) -> None:
        pass


def test_raw_offsets_through_the_documents_map_where_text_and_file_differ(tmp_path, fake_embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # a hyphen across a line break and a run of spaces: the paragraph's text is shorter than the file's
    raw = ("Harbour notes\n\nThe lighthouse keeper re-\nported that the  lamp was lit in 1887 by Ada\n"
           "Fenwick. It burned whale oil until 1921.\n")
    (corpus / "notes.txt").write_text(raw, encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    qa = Assistant(settings, embedder=fake_embedder, span=_Fixed("Ada Fenwick"))  # type: ignore[arg-type]
    result = qa.ask("Who lit the lamp in 1887?")
    s = result.answer.span if result.answer else None
    assert s is not None and s.text == "Ada Fenwick"
    assert raw[s.raw_start : s.raw_end] == "Ada\nFenwick"
    # the same through the map alone, for a word past the joined hyphen and the spaces
    document, _ = read_document(corpus / "notes.txt", "corpus/notes.txt", 10**6)
    p = next(p for p in chunk([document], 120) if "1887" in p.text)
    a = p.text.index("1887")
    mapped = shortanswer.DocumentMap(lambda doc: document)(p, a, a + 4)
    assert mapped is not None and raw[mapped[0] : mapped[1]] == "1887"
    assert shortanswer.raw_offsets(p, a, a + 4, None) is None  # not one to one, and no map: no offsets


def test_mark_leaves_a_result_without_answer_or_span_as_it_is(treaty):
    assert shortanswer.mark(treaty, None) is treaty
    bare = replace(treaty, answer=replace(treaty.answer, span=None))
    assert shortanswer.mark(bare, _Fixed("no such words")) is bare
    marked = shortanswer.mark(bare, _Fixed("Beijing"))
    assert marked.answer.span is not None and marked.answer.span.text == "Beijing"
    assert ARTICLE.read_text(encoding="utf-8")[marked.answer.span.raw_start : marked.answer.span.raw_end] == "Beijing"
    abstained = replace(treaty, answer=None)
    assert shortanswer.mark(abstained, _Fixed("Beijing")) is abstained


# -- the training script ------------------------------------------------------------------------------


def test_the_training_scripts_defaults_are_the_shipped_recipe():
    """Rerunning qa/models/training/span.py with no options trains what ships (its card's settings)."""
    train_span = _train_span()
    shipped = json.loads((MODEL_FOLDER / CHECK_FILE).read_text())["training"]
    defaults = vars(train_span.parse(["--out", "unused"]))
    for key in ("layers", "batch", "lr", "threads", "max_seq_length", "freeze_layers"):
        assert defaults[key] == shipped[key], key
    # steps 0: whole passes (--epochs), which the card records with the steps they came to
    assert (defaults["steps"], defaults["epochs"]) == (0, shipped["epochs_asked"]) or defaults["steps"] == shipped["steps"]
    assert defaults["freeze_embeddings"] is shipped["frozen_word_embeddings"] and defaults["bf16"] is shipped["bf16"]
    assert [p.name for p in defaults["data"]] == shipped["data"] and shipped["seed"] == train_span.SEED
    # the articles the scorer and the reader keep for the abstention model (which it helps choose quotes for)
    from qa.models.training.scorer import RESERVED_MORE_DOCS

    reserved = json.loads((ROOT / "qa" / "models" / "reader_model" / "reader.json").read_text())["training"]["reserved_documents"]
    assert len(shipped["reserved_documents"]) == RESERVED_MORE_DOCS and shipped["reserved_documents"] == reserved


def test_training_script_refuses_evaluation_material(tmp_path):
    row = {"id": "x", "source": "squad-v1.1-dev", "title": "Normans", "context": "The Normans came.",
           "question": "Who came?", "answers": ["The Normans"], "answer_starts": [0], "is_impossible": False}
    data = tmp_path / "leak.jsonl"
    data.write_text(json.dumps(row) + "\n")
    with pytest.raises(AssertionError, match="evaluation documents"):
        _train_span().main(["--data", str(data), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_answers_across_a_sentence_boundary_are_skipped_and_counted():
    train_span = _train_span()
    from qa.models import wordpieces
    from qa.models.bundled import model_dir

    tokenizer = wordpieces.shared(model_dir() / "tokenizer.json")
    context = "The lamp was lit in 1887. It burned oil until 1921."
    rows = [{"question": "When was it lit?", "context": context, "answers": ["1887"], "answer_starts": [20]},
            {"question": "What?", "context": context, "answers": ["1887. It"], "answer_starts": [20]}]
    data, skipped = train_span.examples(rows, tokenizer, 96)
    assert len(data) == 1 and skipped == {"across_sentences": 1, "cut_off": 0}
    ids, _types, first, a, b = data[0]
    assert tokenizer.decode(ids[a : b + 1]) == "1887" and a >= first


@pytest.mark.slow
@pytest.mark.skipif(not DATA.is_file(), reason="needs ../shared/training/qa_train.jsonl")
def test_training_script_trains_a_tiny_model_that_loads(tmp_path):
    def tiny(out: Path, steps: int, *more: str) -> None:  # in this process; --card-only below runs it as a command
        assert run_main(_train_span().main, "--data", str(DATA), "--limit", "24", "--steps", str(steps), "--batch", "4",
                        "--held-out-limit", "12", "--threads", "1", "--layers", "2", "--out", str(out), *more) == ""

    out = tmp_path / "span"
    tiny(out, 2, "--keep", str(tmp_path / "kept"))
    assert (tmp_path / "kept" / "model.safetensors").is_file()  # the fp32 weights, for a later --init
    card = json.loads((out / CHECK_FILE).read_text())
    assert card["training"]["steps"] == 2 and card["training"]["layers"] == 2
    assert card["training"]["data_sha256"] == {"qa_train.jsonl": sha256(DATA)}
    assert card["training"]["excluded_and_checked"]["titles"] and card["evaluation"]["all"]["questions"] > 0
    written = (out / "MODEL_CARD.md").read_text()
    assert "## Held-out figures" in written and "first 2 of the six layers" in written
    (out / "MODEL_CARD.md").unlink()  # --card-only writes the same card again from span.json alone
    subprocess.run([sys.executable, "-m", "qa.models.training.span", "--card-only", "--out", str(out)],
                   check=True, timeout=120, cwd=ROOT)
    assert (out / "MODEL_CARD.md").read_text() == written
    m = SpanModel(out)
    m.warm_up()  # what the script writes passes the loader's own checks
    found = m.find("When was it lit?", "The lamp was lit in 1887.")
    assert found is not None and 0 <= found.start < found.end <= len("The lamp was lit in 1887.")
    assert Path(out / "tokenizer.json").is_file()
    # a second pass goes on from the kept weights, and its card says so
    again = tmp_path / "again"
    tiny(again, 1, "--init", str(tmp_path / "kept"))
    init = json.loads((again / CHECK_FILE).read_text())["training"]["init"]
    assert init["weights_sha256"] == sha256(tmp_path / "kept" / "model.safetensors")
    assert "going on from the weights" in (again / "MODEL_CARD.md").read_text()


def test_a_span_is_widened_to_whole_words():
    from qa.models.span import whole_words

    text = "against any “unprovoked aggression” directed at North Korea."
    a = text.index("voked")
    assert text[slice(*whole_words(text, a, text.index(" directed")))] == "unprovoked aggression”"
    assert whole_words(text, 0, 7) == (0, 7) and whole_words(text, 1, 3) == (0, 7)


@needs_shared("benchmarks/squad-v1.1-dev")
def test_qa_eval_squad_scores_the_short_answer_of_each_right_quote(embedder, real):
    from qa.eval.evaluate import SQUAD_ROWS
    from qa.eval.kit import CachedEmbedder
    from qa.eval.squad import load_squad, run_squad

    folder = SHARED / "benchmarks" / "squad-v1.1-dev"
    questions = [q for q in load_squad(folder) if q.doc_id == "Super_Bowl_50"][:8]
    out = run_squad(folder, Settings(), CachedEmbedder(embedder), questions=questions, baseline=False, span=real)
    s = out["system"]
    assert 0 < s["span_questions"] <= round(s["answer@1"] * len(questions))  # the right quotes only
    assert 0.0 <= s["span_em"] <= s["span_f1"] <= 1.0 and 0.0 <= s["span_given"] <= 1.0
    assert s["span_em"] <= s["span_em_always"] and s["span_f1"] <= s["span_f1_always"]  # the rule only takes spans away
    assert {"span_em", "span_f1", "span_given"} <= set(SQUAD_ROWS)
    assert "span_em" not in run_squad(folder, Settings(), CachedEmbedder(embedder), questions=questions,
                                      baseline=False)["system"]


def test_the_confidence_fit_converges_on_figures_bunched_near_zero():
    """log P(span) of a sharp span model sits near 0 with a long tail; plain Newton steps from (1, 0)
    overshot there and diverged (a = 160,894 on the first whole-pass model: every span confidence 1).
    The fit (shared with the scorer and the reader) halves a step until the likelihood improves."""
    from qa.models.training.scorer import calibrate

    rng = np.random.default_rng(0)
    x = np.where(rng.random(400) < 0.8, -rng.exponential(0.05, 400), -rng.uniform(1, 12, 400))
    y = rng.random(400) < 1 / (1 + np.exp(-(1.1 * x + 2.7)))
    fit = calibrate([(i, float(v), bool(t)) for i, (v, t) in enumerate(zip(x, y, strict=True))])
    assert 0.5 < fit["a"] < 2 and 1.5 < fit["b"] < 4, fit
    assert fit["check_ece"] < 0.1 and fit["check_brier"] < 0.15, fit


# -- the span model helps choose the quote (compose's `span`, judge.spot) ------------------------------


class _Spots:
    """A span model whose score is given per sentence text (else 0); counts what it is asked."""

    def __init__(self, table: dict[str, float]) -> None:
        self.table, self.asked, self.begun = table, [], []

    def scores(self, question: str, texts: list[str]) -> list[float]:
        self.asked.extend(texts)
        return [self.table.get(text, 0.0) for text in texts]

    def begin(self, question: str, text: str) -> None:
        self.begun.append(text)


def test_spot_reads_only_the_best_few_sentences_the_reader_likes_that_could_still_win(article_assistant):
    from qa.answer import judge

    passages = [p for p in article_assistant.index.passages if p.role == "body" and len(p.sentences) > 2][:3]
    assert len(passages) == 3
    scores = [np.linspace(0.0, 0.3, len(p.sentences), dtype=np.float32) + 2.0 * n for n, p in enumerate(passages)]
    reads = [np.ones(len(p.sentences), np.float32) for p in passages]  # the reader sure of each: its share whole
    best = sorted(((float(v), r, i) for r, sc in enumerate(scores) for i, v in enumerate(sc)), reverse=True)
    fake = _Spots({passages[best[1][1]].sentence_text(best[1][2]): 50.0})
    got = judge.spot(fake, "q", passages, scores, reads, 3, 1.0, 7.0, 3.0)
    near = [(r, i) for v, r, i in best[:3] if v >= best[0][0] - 1.0]
    assert fake.asked == [passages[r].sentence_text(i) for r, i in near]  # the third passage only: the rest is > 1 behind
    r, i = best[1][1], best[1][2]
    assert got[r][i] == pytest.approx(scores[r][i] + 1.0 / (1.0 + np.exp(-(50.0 - 7.0) / 3.0)))
    assert int(np.argmax(got[r])) == i  # the runner-up with a sure span now leads
    assert all(np.array_equal(g, s) for n, (g, s) in enumerate(zip(got, scores, strict=True)) if n != r)  # others unchanged
    untouched = [np.array(s) for s in scores]
    judge.spot(fake, "q", passages, scores, reads, 3, 1.0, 7.0, 3.0)
    assert all(np.array_equal(a, b) for a, b in zip(untouched, scores, strict=True))  # the caller's arrays are not changed
    # a sentence the reader did not read is never read by the span model either (no model would judge that quote)
    reads[r][i] = 0.0
    fake.asked.clear()
    got = judge.spot(fake, "q", passages, scores, reads, 3, 1.0, 7.0, 3.0)
    assert passages[r].sentence_text(i) not in fake.asked and got[r][i] == scores[r][i]
    # nor one the reader reads as unlikely: its share is the reader's probability's, too small to overtake
    reads[r][i] = 0.01
    fake.asked.clear()
    got = judge.spot(fake, "q", passages, scores, reads, 3, 1.0, 7.0, 3.0)
    assert passages[r].sentence_text(i) not in fake.asked and int(np.argmax(got[r])) != i


def test_compose_lets_the_span_model_choose_between_sentences_the_reader_reads_alike(article_assistant):
    """The quote most often missed: the sentence that restates the question beside the one that
    answers it. The reader reads both alike; the one holding a sure span is quoted."""
    from qa.answer.compose import Rules, compose

    from .conftest import TREATY
    from .test_reader import _setup, _Table

    a, question = article_assistant, TREATY
    candidates, plain = _setup(a, question)
    top = next(h.passage for h in plain.hits if h.passage.role == "body" and len(h.passage.sentences) > 1)
    body = list(range(len(top.sentences)))
    even = _Table({top.sentence_text(i): 0.9 for i in body})  # the scorer and the reader, alike for each sentence
    rules = replace(Rules(), scorer_rerank=0.0, scorer_answer=0.0, reader_rerank=5.0, learned_abstention=False,
                    reader_candidates=40, reader_within=float("inf"), span_candidates=40,
                    span_answer=10.0)  # every sentence read, and within reach
    alike = compose(question, question, a.index, candidates, 5, rules, even, even)
    assert alike.answer is not None and alike.hits[0].passage.id == top.id
    other = next(i for i in body if top.sentence_text(i) not in alike.answer.text)
    spots = _Spots({top.sentence_text(other): 12.0})
    chosen = compose(question, question, a.index, candidates, 5, rules, even, even, span=spots)
    assert chosen.answer is not None and top.sentence_text(other) in chosen.answer.text
    bodies = {h.passage.sentence_text(i) for h in chosen.hits[: rules.answer_depth] if h.passage.role == "body"
              for i in range(len(h.passage.sentences))}
    assert top.sentence_text(other) in spots.asked and set(spots.asked) <= bodies  # body sentences of the answer's passages
    off = compose(question, question, a.index, candidates, 5, replace(rules, span_answer=0.0), even, even, span=_Spots({}))
    assert off.answer is not None and off.answer.text == alike.answer.text


def test_the_real_span_model_scores_the_answering_sentence_above_the_restating_one(real):
    question = "When was the treaty renewed?"
    answers = "It was renewed in 1981 and again in 2001, each time for twenty years."
    restates = "The renewal of the treaty was much debated by the two governments."
    assert real.score(question, answers) > real.score(question, restates) + 2.0
    assert real.score(question, "") == float("-inf")


def test_a_questions_sentences_are_read_side_by_side_and_score_what_one_after_another_gives(monkeypatch):
    """The sentences the span model reads for one question go on as many threads as there are cores,
    each alone: the scores are bit for bit those read one after another; one given twice is read once."""
    import threading

    question = "When was the treaty renewed?"
    texts = ["It was renewed in 1981 and again in 2001, each time for twenty years.",
             "The renewal of the treaty was much debated by the two governments.",
             "Kim visited Beijing in 2018.", "", "It was renewed in 1981 and again in 2001, each time for twenty years."]
    alone = SpanModel(remember=0)
    alone.side_by_side = 1
    one_after_another = [alone.score(question, t) for t in texts]
    side = SpanModel(remember=0)
    side.warm_up()
    run, threads = side._session.run, []  # the process's one session of the span model, which both share

    def spied(*args, **kwargs):
        threads.append(threading.get_ident())
        return run(*args, **kwargs)

    monkeypatch.setattr(side._session, "run", spied)
    got = side.scores(question, texts)
    assert np.array(got, np.float64).tobytes() == np.array(one_after_another, np.float64).tobytes()
    assert len(threads) == 4  # four distinct texts, the empty one too
    if side.side_by_side > 1:
        assert len(set(threads)) > 1 and threading.get_ident() not in threads
    else:
        assert set(threads) == {threading.get_ident()}


def test_a_sentence_begun_ahead_is_read_once_on_the_models_threads_and_scores_as_one_read_when_asked(monkeypatch):
    """`begin` reads a sentence on the model's own threads; the `score` that asks for it later takes
    that reading (no second run) and gets the same figure as a model that read it when asked."""
    import threading

    question = "When was the treaty renewed?"
    text = "It was renewed in 1981 and again in 2001, each time for twenty years."
    asked_then = SpanModel(remember=0).score(question, text)
    model = SpanModel()
    model.warm_up()
    run, threads = model._session.run, []

    def spied(*args, **kwargs):
        threads.append(threading.get_ident())
        return run(*args, **kwargs)

    monkeypatch.setattr(model._session, "run", spied)
    model.begin(question, text)
    model.begin(question, text)  # begun twice: read once
    assert model.score(question, text) == asked_then
    assert model.find(question, text) is not None and len(threads) == 1
    if model.side_by_side > 1:
        assert threads[0] != threading.get_ident()
    model.forget()
    model.begin(question, "Never asked for.")  # begun, forgotten: asked later, read again
    model.forget()
    assert model.score(question, text) == asked_then and len(threads) >= 2
    alone = SpanModel(remember=0)  # nothing kept: nothing begun
    alone.warm_up()
    monkeypatch.setattr(alone, "_threads", lambda: pytest.fail("a model that keeps nothing begins nothing"))
    alone.begin(question, text)


def test_compose_begins_the_body_sentence_the_reader_reads_first(article_assistant):
    """While the reader reads, the span model is given the body sentence ranked first before it: the
    one the quote most often is, which judge.spot then reads (taking what was begun)."""
    from qa.answer.compose import Rules, compose

    from .conftest import TREATY
    from .test_reader import _setup, _Table

    a = article_assistant
    candidates, _ = _setup(a, TREATY)
    bodies = [p.sentence_text(i) for p in a.index.passages if p.role == "body" for i in range(len(p.sentences))]
    even = _Table(dict.fromkeys(bodies, 0.9))  # the reader alike for every sentence: its order stays the one before it
    spots = _Spots({})
    result = compose(TREATY, TREATY, a.index, candidates, 5, Rules(), None, even, span=spots)
    assert result.answer is not None and len(spots.begun) == 1
    assert spots.begun[0] in bodies and spots.begun[0] == even.asked[0] and spots.begun[0] in spots.asked
    assert spots.begun[0] in result.answer.text
    none = _Spots({})
    compose(TREATY, TREATY, a.index, candidates, 5, Rules(), None, None, span=none)  # no reader: nothing begun
    assert not none.begun


def test_the_quotes_reading_while_choosing_is_the_one_its_words_are_marked_with(article_assistant):
    """With the span model choosing, marking the quote's words costs no further reading."""
    span = article_assistant.span
    result = article_assistant.ask(WHEN)
    assert result.answer is not None and result.answer.span is not None
    readings = dict(span._cache)
    assert (WHEN, result.answer.text) in readings  # read while choosing it ...
    again = shortanswer.mark(replace(result, answer=replace(result.answer, span=None)), span)
    assert again.answer.span == result.answer.span and dict(span._cache).keys() == readings.keys()  # ... and not again
