"""Faults while serving, and the temp dir over a server's life (CASES.md 9, 14).

One server for the module, started in a data dir that earlier runs left behind. A test-only hook
inside it can make "show in context" fail unexpectedly, with a path and a secret in the exception.
The last test kills it and starts another, so the order of the tests matters.
"""

from __future__ import annotations

import fcntl
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.uiserver import Server, call, join, start, stop

TREATY = "What treaty did China and North Korea sign in 1961?"
GENERIC = "Something went wrong on the server; its log has the details."
DAY = 24 * 3600


def _leftovers(home: Path) -> dict[str, Path]:
    """What earlier runs left in the data dir's temp root (CASES.md 14)."""
    root = home / "gradio_tmp"
    root.mkdir(parents=True)
    made = {"dead": root / "run-1-dead", "live": root / "run-2-live", "old": root / "old-upload",
            "fresh": root / "fresh.txt"}
    for key in ("dead", "live", "old"):
        made[key].mkdir()
        (made[key] / "doc.txt").write_text("left behind")
    made["fresh"].write_text("another server's, perhaps")
    (root / "run-1-dead.lock").write_text("")
    (root / "run-2-live.lock").write_text("")
    os.utime(made["old"], (time.time() - 2 * DAY, time.time() - 2 * DAY))
    return made


@pytest.fixture(scope="module")
def world(article_assistant, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    made = _leftovers(tmp / "home")
    holder = (tmp / "home" / "gradio_tmp" / "run-2-live.lock").open("a")  # a live server's lock
    fcntl.flock(holder, fcntl.LOCK_EX)
    s = start(tmp, article_assistant.settings.corpus_dir, article_assistant.settings.index_dir, hooks=("fault",))
    yield tmp, s, made
    stop(s)
    holder.close()


@pytest.fixture(scope="module")
def server(world) -> Server:
    return world[1]


def _error(done: dict) -> str:
    assert done["success"] is False, done
    message = done["output"].get("error") or ""
    assert "Traceback" not in message and not any(w.startswith("/") for w in message.split()), message
    return message


def _answers(server: Server) -> str:
    status, event, data = call(server, "ask", {"data": [TREATY]})
    assert event == "complete", data
    return data[0]["answer"]["text"]


# -- 14. the temp dir -----------------------------------------------------------------------------------


def test_temp_dir_is_private_and_inside_the_data_dir(server):
    temp = server.temp
    assert temp.parent == server.home / "gradio_tmp"
    for folder in (temp, temp.parent, server.home):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert (temp.parent / f"{temp.name}.lock").is_file()


def test_start_up_sweeps_what_stopped_servers_left(world):
    _tmp, server, made = world
    assert not made["dead"].exists() and not (made["dead"].parent / "run-1-dead.lock").exists()
    assert not made["old"].exists()  # older than the cache age
    assert made["live"].exists() and made["fresh"].exists()  # another live server's, and young


# -- 9. error hygiene -----------------------------------------------------------------------------


def test_unexpected_failure_shows_a_generic_message_and_logs_the_trace(server):
    session = "fault"
    assert join(server, "respond", [TREATY, 3, None], session=session)["success"] is True
    assert join(server, "show_context", ["1", None, None], session=session)["success"] is True
    server.fault_flag.write_text("on")
    try:
        done = join(server, "show_context", ["1", None, None], session=session)
    finally:
        server.fault_flag.unlink()
    assert _error(done) == GENERIC
    assert "s3cr3t" not in str(done) and "/srv" not in str(done) and "RuntimeError" not in str(done)
    log = server.output()
    assert "Traceback" in log and "s3cr3t-t0ken" in log and "handler show_context failed" in log
    assert join(server, "show_context", ["1", None, None], session=session)["success"] is True
    assert _answers(server)


def test_a_document_removed_while_serving(server):
    session = "removed"
    doc = next(server.corpus.iterdir())
    assert join(server, "respond", [TREATY, 3, None], session=session)["success"] is True
    saved = doc.read_bytes()
    doc.unlink()
    try:
        message = _error(join(server, "show_context", ["1", None, None], session=session))
    finally:
        doc.write_bytes(saved)
    assert "no longer in the corpus" in message and "qa index" in message
    assert _answers(server)


def _upload(server: Server, name: str, text: str) -> dict:
    path = httpx.post(server.url + "gradio_api/upload", files={"files": (name, text.encode())}, timeout=30).json()[0]
    return join(server, "ingest", [[{"path": path, "meta": {"_type": "gradio.FileData"}}]], timeout=180)


def test_a_corrupt_index_while_serving(server):
    """The damaged index is refused with one clear line when the server next reads it; the index in
    memory keeps answering meanwhile; with the pointer repaired, the same upload works."""
    answer = _answers(server)
    pointer = server.index / "CURRENT"
    good = pointer.read_text()
    pointer.write_text("garbage\n")
    log_start = len(server.output())
    try:
        assert _answers(server) == answer  # served from memory
        message = _error(_upload(server, "lighthouse.txt", "The Zorbleck lighthouse was painted green in 1887."))
    finally:
        pointer.write_text(good)
    assert "qa index" in message and "index" in message, message
    assert "lighthouse.txt" not in {p.name for p in server.corpus.iterdir()}  # the upload was taken back
    assert "Traceback" in server.output()[log_start:]  # the log has the whole story
    assert _upload(server, "lighthouse.txt", "The Zorbleck lighthouse was painted green in 1887.")["success"]
    assert _answers(server) == answer


def test_missing_passages_file_is_rebuilt_from_the_corpus(server):
    gen = server.index / server.index.joinpath("CURRENT").read_text().strip()
    (gen / "passages.jsonl").unlink()
    answer = _answers(server)  # still served from memory
    done = _upload(server, "harbour.txt", "The Varrow harbour opened in 1902 for the Quillon ferry.")
    assert done["success"] is True, done  # the corpus is intact: a new generation is written
    fresh = server.index / server.index.joinpath("CURRENT").read_text().strip()
    assert fresh != gen and (fresh / "passages.jsonl").is_file()
    assert _answers(server) == answer


# -- 14. originals stay where they are; a restart starts clean -------------------------------------


def test_originals_are_never_copied_elsewhere(world):
    tmp, server, _ = world
    marker = "The Kessel Point tower keeps a brass bell from 1843, rung by hand."
    session = "originals"
    assert join(server, "respond", [TREATY, 5, None], session=session)["success"] is True
    assert join(server, "show_context", ["1", None, None], session=session)["success"] is True
    assert _upload(server, "kessel.txt", marker + "\n")["success"] is True
    article = next(p for p in server.corpus.iterdir() if p.name.startswith("china")).read_bytes()
    copies = []
    for path in tmp.rglob("*"):
        if path.is_file() and server.index not in path.parents and not path.name.endswith(".log"):
            data = path.read_bytes()
            if data == article or article[:3000] in data or data == (marker + "\n").encode():
                copies.append(path)
    assert sorted(copies) == sorted([server.corpus / "kessel.txt", next(p for p in server.corpus.iterdir()
                                                                          if p.name.startswith("china"))])


def test_a_restart_clears_the_cache(world, article_assistant):
    tmp, server, _ = world
    path = Path(httpx.post(server.url + "gradio_api/upload", files={"files": ("note.txt", b"kept?")},
                           timeout=30).json()[0])
    assert path.is_file()
    killed = server.temp
    server.proc.send_signal(signal.SIGKILL)  # no chance to clean up
    server.proc.wait(timeout=30)
    assert killed.exists()
    again = start(tmp, server.corpus, copy_corpus=False)
    try:
        assert not killed.exists() and not path.exists()
        assert again.temp != killed and again.temp.is_dir()
        assert httpx.get(again.url + "gradio_api/file=" + str(path), timeout=10).status_code in (403, 404)
        assert _answers(again)
        mine = again.temp
    finally:
        stop(again)
    assert again.proc.returncode == 0
    assert not mine.exists() and not Path(f"{mine}.lock").exists()  # a clean stop removes its own


def test_stop_without_a_server_process_leaves_nothing(tmp_path):
    """Importing the page (e.g. in a script) claims a temp dir and gives it back at exit."""
    env = {**os.environ, "QA_HOME": str(tmp_path / "home")}
    run = subprocess.run([sys.executable, "-c", "import os, qa.serve.ui; print(os.environ['GRADIO_TEMP_DIR'])"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert Path(run.stdout.strip()).parent == tmp_path / "home" / "gradio_tmp"
    assert list((tmp_path / "home" / "gradio_tmp").iterdir()) == []
