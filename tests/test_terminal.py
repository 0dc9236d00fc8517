"""`qa ask`'s readable form (qa.terminal) and the progress bar (qa.console), on real results of the
real model: what the chat page shows, as text; scores only in the JSON; styling only on a terminal."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pytest

from qa import console, terminal
from qa.serve import render

WHY = "Why did Russia downgrade its ties with North Korea?"
OFF_TOPIC = "Who won the FIFA World Cup?"
#: a figure like the scores' (0.80, 1.86): none may appear outside the document's own text
NUMBER = re.compile(r"\b\d+\.\d+\b")


class Tty(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def answered(article_assistant):
    result = article_assistant.ask(WHY, k=3)
    assert result.answer is not None and result.answer.confidence is not None
    return result


@pytest.fixture(scope="module")
def abstained(article_assistant):
    result = article_assistant.ask(OFF_TOPIC, k=2)
    assert result.answer is None and result.reason
    return result


def outside_passages(text: str, result) -> str:
    """`text` without the passages' own words (which may hold figures of their own)."""
    for h in result.hits:
        for word in h.passage.text.split():
            text = text.replace(word, "")
    return text


def test_the_text_says_the_confidence_in_words_and_shows_no_scores(answered):
    out = terminal.render_text(answered)
    lines = out.splitlines()
    assert lines[0] == f"“{answered.answer.text}” [{answered.answer.citation.id}]"
    assert lines[1] == f"    [{answered.answer.citation.id}] {answered.answer.citation.label()}"
    word = terminal.confidence_words(answered.answer.confidence)
    assert lines[2] == f"    {word}" and re.fullmatch(r"Confidence: (high|medium|low) \(.+\)", word)
    assert "score" not in out.lower() and f"{answered.answer.confidence:.2f}" not in out
    for h in answered.hits:
        assert f"{h.score:.2f}" not in outside_passages(out, answered)
    assert not NUMBER.search(outside_passages(out, answered))
    assert "\x1b" not in out and "\x01" not in out and "\x02" not in out


def test_the_passages_come_in_rank_order_under_their_numbered_citations(answered):
    out = terminal.render_text(answered)
    heads = [line for line in out.splitlines() if re.match(r"\[\d+\] ", line)]
    assert heads == [f"[{h.rank}] {h.citation.label()}" for h in answered.hits]
    assert [h.rank for h in answered.hits] == list(range(1, len(answered.hits) + 1))
    # the answer sentence is marked inside its own passage (each other passage's best sentence too,
    # as on the chat page); every passage is all there, wrapped and indented
    blocks = out.split("\n\n")[1:]
    cited = answered.answer.citation.id
    for h, block in zip(answered.hits, blocks, strict=True):
        body = " ".join(line.strip() for line in block.splitlines()[1:])
        if h.rank == cited:
            assert f"»{answered.answer.text}«" in body
        assert all(line.startswith("    ") and len(line) <= terminal.WIDTH for line in block.splitlines()[1:])
        assert body.replace("»", "").replace("«", "").split() == h.passage.text.split()


def test_the_json_keeps_the_numbers(answered):
    data = answered.to_json()
    assert 0.0 <= data["answer"]["confidence"] <= 1.0
    assert all(isinstance(p["score"], float) for p in data["passages"])


def test_an_abstention_says_so_and_marks_nothing(abstained):
    out = terminal.render_text(abstained)
    first = out.splitlines()[0]
    assert first == f"{render.ABSTAIN} {abstained.reason} The nearest passages may still help:"
    assert "»" not in out and "«" not in out and "Confidence" not in out and "score" not in out.lower()
    assert len(re.findall(r"^\[\d+\] ", out, flags=re.M)) == len(abstained.hits) == 2


def test_a_rewritten_follow_up_says_what_was_searched(article_assistant):
    result = article_assistant.ask("When was it renewed?", history=["What treaty did China and North Korea sign in 1961?"])
    assert result.query != result.question
    out = terminal.render_text(result)
    assert f"    Searched for: {result.query}" in out.split("\n\n")[0].splitlines()  # in the answer's block


def test_confidence_words_are_the_chat_pages():
    assert terminal.confidence_words(None) == "" and terminal.confidence_words(1.5) == ""
    for value in (0.97, 0.8, 0.65, 0.5, 0.2, 0.0):
        word, meaning = next((w, m) for least, w, m in render.CONFIDENCE if value >= least)
        assert terminal.confidence_words(value) == f"Confidence: {word} ({meaning})"
        assert f">Confidence: {word}<" in render.confidence({"confidence": value})
    assert terminal.confidence_words(0.97).startswith("Confidence: high")
    assert terminal.confidence_words(0.2).startswith("Confidence: low")


def test_bold_only_when_asked_and_document_escapes_never_pass(answered):
    hostile = "\x1b[31mred\x1b[0m \x1b]0;title\x07 \u202eevil\u200b \x01 \x02"
    hits = tuple(replace(h, passage=replace(h.passage, text=h.passage.text + " " + hostile)) for h in answered.hits)
    result = replace(answered, hits=hits, query=answered.query + " \x1b[2J")
    plain = terminal.render_text(result)
    assert "\x1b" not in plain and "\u202e" not in plain and "\x01" not in plain and "\x02" not in plain
    styled = terminal.render_text(result, color=True)
    marks = sum(1 for h in answered.hits if h.highlight)  # each passage's best sentence, as on the page
    assert styled.count("\x1b[1m") == styled.count("\x1b[0m") == 1 + marks  # the quote, then the marks
    assert f"\x1b[1m“{answered.answer.text}”\x1b[0m" in styled and "\x1b[1m»" in styled and "«\x1b[0m" in styled
    assert re.sub(r"\x1b\[[01]m", "", styled) == plain


def test_a_narrow_terminal_gets_narrower_lines(answered):
    out = terminal.render_text(answered, columns=50)
    passages = "\n".join(out.split("\n\n")[1:])
    assert all(len(line) <= 50 for line in passages.splitlines() if not line.startswith("["))


def test_styling_and_width_follow_the_stream(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert terminal.wants_color(Tty()) and not terminal.wants_color(io.StringIO())
    assert terminal.width(io.StringIO()) == terminal.WIDTH
    monkeypatch.setenv("COLUMNS", "60")
    assert terminal.width(Tty()) == 60
    monkeypatch.setenv("COLUMNS", "20")
    assert terminal.width(Tty()) == 40
    monkeypatch.setenv("NO_COLOR", "1")
    assert not terminal.wants_color(Tty())
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not terminal.wants_color(Tty())


def test_progress_is_a_bar_on_a_terminal_and_nothing_on_a_pipe(monkeypatch):
    clock = iter(range(0, 1000, 2))  # each look at the clock is two seconds later: past the bar's delay
    monkeypatch.setattr(console.time, "monotonic", lambda: float(next(clock)))
    pipe = io.StringIO()
    monkeypatch.setattr(console.sys, "stderr", pipe)
    with console.progress() as callback:
        assert callback is None
    assert pipe.getvalue() == ""
    tty = Tty()
    monkeypatch.setattr(console.sys, "stderr", tty)
    with console.progress() as callback:
        assert callback is not None
        callback(0.5, "embedding passages")
        callback(1.0, "writing the index")
    assert "embedding passages" in tty.getvalue() or "writing the index" in tty.getvalue()
    assert "50%" in tty.getvalue() or "100%" in tty.getvalue()
