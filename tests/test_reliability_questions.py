"""Questions through the Python API and the CLI (CASES.md 15-18): empty, huge, hostile Unicode,
NFC versus NFD, and terminal output without raw escape sequences."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import unicodedata

import pytest

from qa import Assistant, Settings
from qa.errors import InputError
from qa.text import is_invisible
from tests.conftest import ARTICLE, ROOT

QUESTION = "When did Pyongyang test a nuclear device?"


class Spy:
    """Wraps an embedder and records every text it is asked to encode."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.fingerprint = getattr(inner, "fingerprint", None)
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return self.inner.encode(texts)


@pytest.fixture(scope="module")
def fake_assistant(tmp_path_factory):
    from qa.models.embedder import FakeEmbedder

    root = tmp_path_factory.mktemp("questions")
    (root / "corpus").mkdir()
    shutil.copy(ARTICLE, root / "corpus" / ARTICLE.name)
    spy = Spy(FakeEmbedder())
    a = Assistant(Settings(corpus_dir=root / "corpus", index_dir=root / "index"), embedder=spy)
    return a, spy


def top(result, digits: int = 6):
    return [(h.citation.passage_id, round(h.score, digits)) for h in result.hits]


def run(*args, stdin: str | None = None, env: dict | None = None):
    return subprocess.run([sys.executable, "-m", "qa", *args], input=stdin, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})}, cwd=ROOT)


# -- 15. empty input -------------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["", "   ", "\n\t ", "\x00\x01\x1b", "\x1b[31m\x1b[0m", "\u200b\u202e\ufeff", None, ["a"]])
def test_empty_question_is_refused_before_any_encoding(fake_assistant, question):
    a, spy = fake_assistant
    spy.calls.clear()
    with pytest.raises(InputError, match=r"^Please type a question\.$"):
        a.ask(question)
    assert spy.calls == []


def test_cli_refuses_control_only_questions_from_stdin(article_assistant):
    s = article_assistant.settings
    done = run("ask", "--corpus", str(s.corpus_dir), "--index", str(s.index_dir), "--json", "-",
               stdin="\x00\x01\x1b\n\u200b\n")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert [json.loads(line)["error"] for line in done.stdout.splitlines()] == ["Please type a question."] * 2
    assert done.stderr.count("Please type a question.") == 2


# -- 16. huge input --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [100_000, 10**6])
def test_huge_question_is_refused_with_its_size(fake_assistant, size):
    a, spy = fake_assistant
    spy.calls.clear()
    limit = a.settings.max_question_chars
    with pytest.raises(InputError, match=rf"^Question is too long \({size} characters; the limit is {limit}\)\.$"):
        a.ask("a" * size)
    with pytest.raises(InputError, match="Question is too long"):
        a.ask("word " * (limit // 2))  # long only once cleaned
    assert spy.calls == []


def test_cli_refuses_huge_questions():
    done = run("ask", "--question", "a" * 100_000)  # near the kernel's 128 KiB limit for one argument
    assert done.returncode == 1 and "Question is too long (100000 characters; the limit is 2000)" in done.stderr


def test_cli_refuses_a_million_character_question_from_stdin(article_assistant):
    s = article_assistant.settings
    done = run("ask", "--corpus", str(s.corpus_dir), "--index", str(s.index_dir), "--json", "-",
               stdin="a" * 10**6 + "\n")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert json.loads(done.stdout)["error"] == "Question is too long (1000000 characters; the limit is 2000)."


# -- 17. hostile Unicode -----------------------------------------------------------------------------

HOSTILE = [
    "\ud800",  # a lone surrogate (JSON "\ud800")
    "\udcff",  # what surrogateescape makes of an invalid byte in argv
    "\x00",
    "\x1b[31m",
    "\x1b]0;owned\x07",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200b",
    "\u200c",
    "\u200d",
    "\ufeff",
]


@pytest.mark.parametrize("junk", HOSTILE)
def test_hostile_characters_are_removed_before_embedding_and_display(fake_assistant, junk):
    a, spy = fake_assistant
    clean = a.ask(QUESTION)
    spy.calls.clear()
    words = QUESTION.split()
    hostile = f"{junk}{words[0]} {junk}" + " ".join(w + junk for w in words[1:])
    result = a.ask(hostile)
    assert top(result) == top(clean)  # the answer is still sensible: the same one
    assert result.question == QUESTION
    for texts in spy.calls:
        for text in texts:
            assert not any(is_invisible(ch) for ch in text), repr(text)
            text.encode("utf-8")  # no surrogate reaches the tokenizer
    json.dumps(result.to_json(), ensure_ascii=False).encode("utf-8")


def test_lone_surrogate_with_the_real_model(article_assistant):
    result = article_assistant.ask("\ud800" + QUESTION)
    assert result.answer and "October 2006" in result.answer.text


def test_cli_survives_invalid_utf8_bytes_in_argv(article_assistant):
    s = article_assistant.settings
    done = subprocess.run(
        [sys.executable, "-m", "qa", "ask", "--corpus", str(s.corpus_dir), "--index", str(s.index_dir), "--json",
         b"When did Pyongyang \xff\xfe test a nuclear device?"],
        capture_output=True, timeout=600, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["question"] == QUESTION and "October 2006" in out["answer"]["text"]


def _pty_run(args: list[str]) -> bytes:
    """Runs the CLI with stdout and stderr on a terminal; returns everything the terminal received."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "qa", *args], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, cwd=ROOT, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 600)
        if not ready:
            proc.kill()
            raise AssertionError("the CLI hung")
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) == 0, b"".join(chunks)
    return b"".join(chunks)


# Our own styling (bold on, all off; the short answer underlined on and off) is the only escape
# sequence allowed on a terminal.
OURS = re.compile(rb"\x1b\[(1|0|4|24)m")


def _assert_terminal_safe(out: bytes) -> str:
    rest = OURS.sub(b"", out)
    assert b"\x1b" not in rest and b"\x9b" not in rest, out
    text = rest.decode("utf-8")
    bad = [ch for ch in text if ch not in "\r\n\t" and is_invisible(ch)]
    assert bad == [], [hex(ord(ch)) for ch in bad]
    return text


def test_cli_output_to_a_terminal_has_no_raw_escape_sequences(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    evil = "\x1b]0;owned\x07\x1b[2J\u202eevil\x1b[31m"
    (corpus / f"notes{evil}.txt").write_text(
        f"Evil \x1b[5mnotes {evil}\n\n"
        f"The Zorblax bridge {evil}opened to traffic in 2031, \x1b[8mhidden\x1b[0m said \u2066officials\u2069.\n"
        "It carries coal trucks over the Tumen river every day.\n\n"
        + "The river marks the border between the two countries for most of its length. " * 8 + "\n",
        encoding="utf-8",
    )
    (corpus / "binary\x1b[31m.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))  # a skip message
    dirs = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    shown = _assert_terminal_safe(_pty_run(["index", *dirs]))
    assert "skipped" in shown and "indexed" in shown
    shown = _assert_terminal_safe(_pty_run(["ask", *dirs, f"When did the Zorblax bridge {evil}open?"]))
    assert "2031" in shown


# -- 18. Unicode normalisation --------------------------------------------------------------------------


def test_nfc_and_nfd_questions_rank_identically(fake_assistant, article_assistant):
    q = "Did Kim Jong-il meet the café owners in Zürich or Pyongyang?"
    nfc, nfd = unicodedata.normalize("NFC", q), unicodedata.normalize("NFD", q)
    assert nfc != nfd
    for a in (fake_assistant[0], article_assistant):
        x, y = a.ask(nfc), a.ask(nfd)
        assert [h.citation.passage_id for h in x.hits] == [h.citation.passage_id for h in y.hits]
        for hx, hy in zip(x.hits, y.hits, strict=True):
            assert abs(hx.score - hy.score) <= 1e-6
        assert x.question == y.question == nfc


def test_a_document_stored_in_nfd_gives_nfc_citations(tmp_path, fake_embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    name = unicodedata.normalize("NFD", "Étude du café à Zürich.txt")
    text = unicodedata.normalize(
        "NFD",
        "Le café de Zürich coûte cher selon l'étude de Hélène Dupré, publiée à Genève.\n\n"
        "À São Paulo, le café coûte moins cher qu'à Zürich, dit l'étude.\n",
    )
    (corpus / name).write_text(text, encoding="utf-8")
    a = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=fake_embedder)
    for q in ("Combien coûte le café à Zürich?", unicodedata.normalize("NFD", "Combien coûte le café à Zürich?")):
        result = a.ask(q)
        assert result.hits and result.answer
        data = result.to_json()
        for p in data["passages"]:
            for value in (p["text"], p["citation"]["title"]):
                assert unicodedata.is_normalized("NFC", value), value
            c = p["citation"]
            raw_slice = text[c["start"] : c["end"]]
            assert unicodedata.normalize("NFC", raw_slice).split() == p["text"].split()
        assert unicodedata.is_normalized("NFC", data["answer"]["text"]) and "café" in " ".join(
            p["text"] for p in data["passages"])
    assert unicodedata.is_normalized("NFC", a.documents()[0]["title"])


def test_nfd_file_name_gives_an_nfc_title(tmp_path, fake_embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    name = unicodedata.normalize("NFD", "café_notes.txt")
    (corpus / name).write_text("The café opened in 1999. It serves coffee to visitors from Pyongyang.\n")
    a = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=fake_embedder)
    assert a.documents()[0]["title"] == "café notes"
    assert a.ask("When did the café open?").hits[0].citation.title == "café notes"
