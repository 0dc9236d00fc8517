"""The `qa` command, run as a user would: real model, real index files, one-line errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ARTICLE

COMMANDS = ["index", "ask", "add", "remove", "list", "show", "serve", "eval"]


def run(*args: str, stdin: str | None = None, env: dict | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "qa", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> list[str]:
    """A corpus with the article and an index built by `qa index`."""
    root = tmp_path_factory.mktemp("cli")
    (root / "corpus").mkdir()
    shutil.copy(ARTICLE, root / "corpus" / ARTICLE.name)
    done = run("index", "--corpus", str(root / "corpus"), "--index", str(root / "index"))
    assert done.returncode == 0, done.stderr
    assert "passages from 1 document" in done.stdout
    return ["--corpus", str(root / "corpus"), "--index", str(root / "index")]


def assert_one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("qa: error: ")
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_every_subcommand_has_help_with_an_example():
    top = run("--help")
    assert top.returncode == 0
    for command in COMMANDS:
        assert command in top.stdout
        done = run(command, "--help")
        assert done.returncode == 0
        assert "example:" in done.stdout
        assert "--corpus" in done.stdout and "--index" in done.stdout


def test_help_does_not_import_torch():
    code = "import sys, qa.cli; qa.cli.parser().format_help(); print('torch' in sys.modules, 'gradio' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False False"


def test_ask_prints_the_answer_and_numbered_citations(dirs):
    done = run("ask", *dirs, "When did Pyongyang test a nuclear device?")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    first = out.splitlines()[0]
    assert "October 2006" in first and first.rstrip().endswith("[1]")
    assert "[1] China and North Korea: The Uneasy Partnership, paragraph 11" in out
    assert "\x1b[" not in out  # not a terminal: no escape sequences
    # what the chat page shows: the confidence in words, no raw scores (those are in --json)
    assert re.search(r"^    Confidence: (high|medium|low) \(", out, flags=re.M)
    assert "score" not in out.lower() and "»" in out and "«" in out


def test_text_and_json_show_the_same_passages_the_numbers_only_in_json(dirs):
    question = "Why did Russia downgrade its ties with North Korea?"
    text, js = run("ask", *dirs, "-k", "3", question), run("ask", *dirs, "-k", "3", "--json", question)
    assert text.returncode == js.returncode == 0, text.stderr + js.stderr
    data, out = json.loads(js.stdout), text.stdout
    heads = [line for line in out.splitlines() if re.match(r"\[\d+\] ", line)]
    assert len(heads) == len(data["passages"]) == 3
    for head, p in zip(heads, data["passages"], strict=True):
        c = p["citation"]
        assert head.startswith(f"[{p['rank']}] {c['title']}, ")
        assert head.endswith(f"characters {c['start']}-{c['end']} of {c['doc']}")
        assert isinstance(p["score"], float) and f"{p['score']:.2f}" not in head
    from qa.serve.render import CONFIDENCE

    value = data["answer"]["confidence"]
    word = next(w for least, w, _ in CONFIDENCE if value >= least)
    assert f"    Confidence: {word} (" in out and f"{value:.2f}" not in out
    assert out.splitlines()[0] == f"“{data['answer']['text']}” [{data['answer']['citation']['id']}]"


def test_on_a_pipe_no_progress_bars_and_no_escape_codes(dirs, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(dirs[1], corpus)
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nThe Yalu river bridge opened to traffic in 2030.\n")
    where = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    built = run("index", *where, "--force")
    added = run("add", *where, str(notes))
    # (a body sentence quoted: a byline quote, which no model reads, shows no confidence)
    asked = run("ask", *where, "When was the treaty between China and North Korea renewed?")
    batch = run("ask", *where, "-", stdin="Who wrote the article?\nWho won the FIFA World Cup?\n")
    for done in (built, added, asked, batch):
        assert done.returncode == 0, done.stderr
        for stream in (done.stdout, done.stderr):
            assert "\x1b" not in stream and "\r" not in stream and "%|" not in stream
        assert all(line.startswith("qa: ") for line in done.stderr.splitlines())  # one-line messages only
    assert "passages from 1 document" in built.stdout
    assert "Confidence: " in asked.stdout and "The documents do not answer this." in batch.stdout
    assert "score" not in (asked.stdout + batch.stdout).lower()


def run_on_a_terminal(*args: str, columns: int = 60) -> tuple[int, str]:
    """`qa ARGS` with its stdout on a pseudo-terminal `columns` wide (stderr a file): the status, and
    what the terminal got (with stderr after it when the command failed)."""
    import fcntl
    import pty
    import struct
    import tempfile
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")} | {"TERM": "xterm"}
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen([sys.executable, "-m", "qa", *args], stdin=subprocess.DEVNULL, stdout=follower,
                                 stderr=errors, env=env)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 1 << 16)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(leader)
        status = child.wait(timeout=600)
        errors.seek(0)
        out = b"".join(chunks).decode("utf-8").replace("\r\n", "\n")
        return status, out + errors.read().decode("utf-8", "replace") if status else out


def test_on_a_terminal_the_answer_is_bold_and_lines_fit(dirs):
    status, out = run_on_a_terminal("ask", *dirs, "-k", "2", "Why did Russia downgrade its ties with North Korea?")
    assert status == 0, out
    assert out.startswith("\x1b[1m“At the same time") and "\x1b[1m»" in out and "«\x1b[0m" in out
    plain = re.sub(r"\x1b\[[01]m", "", out)
    assert "\x1b" not in plain and "Confidence: " in plain and "score" not in plain.lower()
    passages = plain.split("\n\n")[1:]
    assert len(passages) == 2
    assert all(len(line) <= 60 for p in passages for line in p.splitlines()[1:])  # the terminal's width


def test_ask_json_has_the_documented_shape(dirs):
    done = run("ask", *dirs, "--json", "-k", "3", "How many additional visits did Kim make to China?")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) >= {"question", "query", "answer", "passages"}
    assert data["query"] == data["question"]
    assert "three additional visits" in data["answer"]["text"]
    assert len(data["passages"]) == 3
    raw = ARTICLE.read_text(encoding="utf-8")
    for rank, p in enumerate(data["passages"], 1):
        assert set(p) >= {"rank", "score", "text", "highlight", "citation"}
        assert p["rank"] == rank and isinstance(p["score"], float)
        c = p["citation"]
        assert set(c) >= {"id", "doc", "title", "paragraph", "start", "end"}
        assert c["doc"] == "corpus/" + ARTICLE.name and c["id"] == rank
        assert 0 <= c["start"] < c["end"] <= len(raw)
        for a, b in p["highlight"]:
            assert 0 <= a < b <= len(p["text"])
    answer = data["answer"]
    cited = next(p for p in data["passages"] if p["citation"]["id"] == answer["citation"]["id"])
    (a, b), = cited["highlight"]
    assert cited["text"][a:b] == answer["text"]
    c = answer["citation"]
    assert "".join(raw[c["start"] : c["end"]].split()) == "".join(answer["text"].split())


def test_batch_mode_reads_questions_and_conversations_from_stdin(dirs):
    lines = [
        "Who wrote the article?",
        "",
        json.dumps({"question": "When was it renewed?", "history": ["What treaty did China and North Korea sign in 1961?"]}),
        json.dumps({"question": "What did Beijing criticize in 1980?"}),
    ]
    done = run("ask", *dirs, "--json", "-", stdin="\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["question"] for r in results] == [
        "Who wrote the article?",
        "When was it renewed?",
        "What did Beijing criticize in 1980?",
    ]
    assert "1961" in results[1]["query"] and results[1]["query"] != results[1]["question"]
    assert "hereditary transfer of power" in results[2]["answer"]["text"]


def test_batch_mode_reports_bad_lines_and_carries_on(dirs):
    done = run("ask", *dirs, "--json", "-", stdin='{"question": ""}\n{broken\nWho wrote the article?\n')
    assert done.returncode == 1
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [("error" in r) for r in results] == [True, True, False]
    assert len(done.stderr.strip().splitlines()) == 2 and "Traceback" not in done.stderr


@pytest.mark.parametrize("question", ["", "   ", "\x01\x1b\u200b\u202e"])
def test_empty_question_is_one_line_error(question):
    assert_one_line_error(run("ask", question), "Please type a question")


def test_too_long_question_is_one_line_error():
    assert_one_line_error(run("ask", "--question", "a " * 5000), "too long")


def test_missing_corpus_is_one_line_error(tmp_path):
    done = run("ask", "--corpus", str(tmp_path / "nowhere"), "--index", str(tmp_path / "index"), "Who wrote it?")
    assert_one_line_error(done, "corpus folder not found", "nowhere")


def test_unreadable_index_is_one_line_error(dirs, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(dirs[3], index)
    gen = next(index.glob("gen-*"))
    (gen / "passages.faiss").write_bytes(b"\x00" * 64)
    done = run("ask", dirs[0], dirs[1], "--index", str(index), "Who wrote it?")
    assert_one_line_error(done, "index corrupt", "qa index --force")
    fixed = run("index", dirs[0], dirs[1], "--index", str(index), "--force")
    assert fixed.returncode == 0, fixed.stderr
    assert run("ask", dirs[0], dirs[1], "--index", str(index), "Who wrote it?").returncode == 0


def test_a_corpus_change_rebuilds_and_says_so(dirs, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(dirs[1], corpus)
    index = tmp_path / "index"
    shutil.copytree(dirs[3], index)
    (corpus / "notes.md").write_text("# Notes\n\nThe Yalu river bridge opened to traffic in 2030.\n")
    done = run("ask", "--corpus", str(corpus), "--index", str(index), "--json", "When did the Yalu bridge open?")
    assert done.returncode == 0, done.stderr
    assert "out of date" in done.stderr and "notes.md" in done.stderr
    assert json.loads(done.stdout)["passages"][0]["citation"]["doc"] == "corpus/notes.md"
