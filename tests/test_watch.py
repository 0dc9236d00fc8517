"""A watched corpus folder (`qa watch`, `qa serve --watch`; qa.serve.watch) and CASES.md case 42.

The watcher runs in this process on a thread (`Watcher.run` until its stop event is set), over a
real index on disk in tmp_path, with the real model; the folder settles after SETTLE seconds here
(2 by default), and the writers below pause far less than that between their pieces. Waiting is
for an outcome (a deadline only guards against a hang), never for a time.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ARTICLE, TREATY
from tests.pdfmaker import text_pdf
from tests.uiserver import join, start, stop

SETTLE = 1.5  # seconds of quiet before a refresh (the product's default is 2)
PAUSE = 0.15  # between the pieces of a slow copy: ten times shorter than SETTLE
DAM = "The Varrow dam was finished in 1931 by the engineer Alma Kessel."
DAM_Q = "Who finished the Varrow dam?"


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    """Polls `condition` until it is true; the deadline only turns a hang into a failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Watched:
    """A watcher running on a thread over an assistant's corpus, and what it logged."""

    watcher: Any
    assistant: Any
    corpus: Path
    lines: list[str] = field(default_factory=list)
    thread: threading.Thread | None = None

    def after(self, rebuilds: int) -> list[str]:
        """Waits until `rebuilds` refreshes have run (and the loop is back to watching)."""
        wait_for(lambda: self.watcher.rebuilds >= rebuilds, f"refresh {rebuilds}")
        return self.lines

    def documents(self) -> set[str]:
        return {d["doc"] for d in self.assistant.documents()}

    def top_doc(self, question: str) -> str:
        return self.assistant.ask(question, k=3).hits[0].citation.doc


@pytest.fixture
def watched(settings, embedder, article_assistant) -> Iterator[Callable[..., Watched]]:
    """Starts a watcher over `settings` (a copy of the article's corpus and of its index on disk)
    with the real model; the answer scorer and reader are off, as `qa watch` has them (retrieval is
    what is checked)."""
    from qa import Assistant
    from qa.serve.watch import Watcher

    shutil.copytree(article_assistant.settings.index_dir, settings.index_dir)  # built once for the run
    running: list[Watched] = []

    def make(progress: Callable[[float, str], None] | None = None) -> Watched:
        lines: list[str] = []
        watcher = Watcher(settings, lines.append, settle=SETTLE, progress=progress)
        a = Assistant(settings.with_(scorer=False, reader=False), embedder=embedder)
        w = Watched(watcher, a, settings.corpus_dir, lines)
        w.thread = threading.Thread(target=watcher.run, args=(a,), daemon=True)
        w.thread.start()
        wait_for(watcher.watching.is_set, "the watcher to start")
        running.append(w)
        return w

    yield make
    for w in running:
        w.watcher.stop.set()
        assert w.thread is not None
        w.thread.join(timeout=60)
        assert not w.thread.is_alive()


def write_slowly(path: Path, data: bytes, pieces: int) -> None:
    """Writes `data` in `pieces` appends, PAUSE apart, as a slow copy does."""
    size = -(-len(data) // pieces)
    with path.open("wb") as f:
        for i in range(0, len(data), size):
            f.write(data[i : i + size])
            f.flush()
            time.sleep(PAUSE)


# -- which names count -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [".#notes.txt", "notes.txt~", ".notes.txt.swp", "~$report.docx", "draft.tmp",
                                  "report.pdf.part", "report.pdf.crdownload", ".hidden.md", "#notes.txt#",
                                  "photo.png", "data.csv", "notes.TXT.tmp"])
def test_temporary_hidden_and_unsupported_names_are_ignored(name, tmp_path):
    from watchfiles import Change

    from qa.serve.watch import _Relevant, ignored

    assert ignored(name)
    relevant = _Relevant(tmp_path)
    assert not relevant(Change.added, str(tmp_path / name))
    assert not relevant(Change.modified, str(tmp_path / name))


@pytest.mark.parametrize("name", ["notes.txt", "Report.PDF", "minutes.docx", "page.htm", "README.md"])
def test_documents_count(name, tmp_path):
    from watchfiles import Change

    from qa.serve.watch import _Relevant, ignored

    assert not ignored(name)
    assert _Relevant(tmp_path)(Change.added, str(tmp_path / name))
    assert not _Relevant(tmp_path)(Change.added, str(tmp_path / ".git" / name))  # a hidden folder


def test_a_folder_moved_in_or_out_counts(tmp_path):
    from watchfiles import Change

    from qa.serve.watch import _Relevant

    (tmp_path / "papers.2024").mkdir()
    relevant = _Relevant(tmp_path)
    assert relevant(Change.added, str(tmp_path / "papers.2024"))
    assert relevant(Change.deleted, str(tmp_path / "old-papers"))
    assert not relevant(Change.deleted, str(tmp_path / "x.tmp"))


def test_word_owner_files_are_not_read(corpus):
    """Word writes "~$name.docx" beside an open document: neither the walk nor the index reads it."""
    from qa.ingest.documents import corpus_files

    (corpus / "~$minutes.docx").write_bytes(b"\x05owner" + b"\x00" * 150)
    assert [p.name for p in corpus_files(corpus)] == [ARTICLE.name]


# -- the watcher, in this process --------------------------------------------------------------------


def test_a_dropped_file_becomes_answerable(watched):
    w = watched()
    assert w.watcher.rebuilds == 0 and w.lines == []
    (w.corpus / "dam.txt").write_text(DAM, encoding="utf-8")
    assert w.after(1) == ["added dam.txt (1 passage)"]
    assert "corpus/dam.txt" in w.documents()
    result = w.assistant.ask(DAM_Q, k=3)
    assert result.hits[0].citation.doc == "corpus/dam.txt" and "Alma Kessel" in result.answer.text


def test_a_changed_file_is_reindexed_alone_and_a_removed_one_drops_out(watched):
    said: list[str] = []
    w = watched(progress=lambda _f, message: said.append(message))
    (w.corpus / "dam.txt").write_text(DAM, encoding="utf-8")
    w.after(1)
    said.clear()
    article = len(w.assistant.index.passages) - 1
    (w.corpus / "dam.txt").write_text("The Varrow dam was raised by four metres in 1990 by Tomas Wendt.",
                                      encoding="utf-8")
    assert w.after(2)[-1] == "updated dam.txt (1 passage)"
    assert f"embedding 1 passages ({article} unchanged)" in said  # the previous generation lent the article
    assert "Tomas Wendt" in w.assistant.ask("Who raised the Varrow dam?", k=3).answer.text
    (w.corpus / "dam.txt").unlink()
    assert w.after(3)[-1] == "removed dam.txt"
    assert w.documents() == {f"corpus/{ARTICLE.name}"}
    assert w.top_doc(DAM_Q) != "corpus/dam.txt"
    assert w.assistant.ask(TREATY).answer is not None


def test_editor_files_and_other_types_are_ignored(watched):
    w = watched()
    for name in (".#dam.txt", "dam.txt~", ".dam.txt.swp", "~$report.docx", "draft.tmp", "report.pdf.part",
                 "report.pdf.crdownload", ".hidden.txt", "photo.png", "data.csv"):
        (w.corpus / name).write_bytes(b"\x00\x01 not a document " * 20)
    (w.corpus / "dam.txt").write_text(DAM, encoding="utf-8")
    assert w.after(1) == ["added dam.txt (1 passage)"]  # nothing refused, nothing else added
    assert w.documents() == {f"corpus/{ARTICLE.name}", "corpus/dam.txt"}


# -- CASES.md 42: a watched folder under churn ---------------------------------------------------------


def test_a_slow_copy_is_indexed_once_whole(watched, tmp_path):
    """CASES.md 42, scaled down from a 50 MB PDF growing for 10 s: a text file of about 15 KB and a
    PDF of about seven pages, each written in 20 pieces over about 3 s (pauses well inside the settle time).
    Neither is read before it is whole: one refresh each, nothing refused, all of it indexed."""
    from qa.ingest.documents import read_document

    w = watched()
    closing = "The last page says the spillway gates were painted green by Ines Maro."
    text = "\n\n".join([f"Paragraph {i} of the long report tells of water level {i * 7} at the weir." for i in range(200)]
                       + [closing]).encode()
    write_slowly(w.corpus / "long.txt", text, pieces=20)
    assert w.after(1) == ["added long.txt (201 passages)"]
    entry = next(d for d in w.assistant.documents() if d["doc"] == "corpus/long.txt")
    assert entry["characters"] == len(text)
    assert "Ines Maro" in w.assistant.ask("Who painted the spillway gates green?").answer.text

    shift = ("On shift {n} the turbine hall log records that the warden walked the gallery, read the gauges "
             "on all four generators, noted the oil pressure and the bearing temperatures, checked the cooling "
             "water intake for debris and signed the sheet before handing over to the next warden on duty.")
    paragraphs = [shift.format(n=n) for n in range(80)] + ["The turbine hall was opened by Oskar Lind in 1952."]
    pdf = text_pdf(tmp_path / "made.pdf", paragraphs, title="Turbine hall log")
    write_slowly(w.corpus / "log.pdf", pdf.read_bytes(), pieces=20)
    lines = w.after(2)
    assert len(lines) == 2 and re.fullmatch(r"added log\.pdf \((\d+) pages, 81 passages\)", lines[1]), lines
    entry = next(d for d in w.assistant.documents() if d["doc"] == "corpus/log.pdf")
    assert entry["pages"] == read_document(pdf, "made.pdf", 10**8)[0].pages > 5
    assert w.top_doc("Who opened the turbine hall?") == "corpus/log.pdf"


def test_an_editor_save_through_a_temporary_file_is_one_update(watched):
    w = watched()
    notes = w.corpus / "notes.txt"
    notes.write_text(DAM, encoding="utf-8")
    w.after(1)
    # gedit / VS Code style: write a temporary file beside it, then rename it over the document
    tmp = w.corpus / ".notes.txt.tmp-4f2a"
    tmp.write_text("The Varrow dam keeper in 2001 was Petra Holm.", encoding="utf-8")
    os.replace(tmp, notes)
    assert w.after(2) == ["added notes.txt (1 passage)", "updated notes.txt (1 passage)"]
    # vim / emacs style: the old file becomes a backup "notes.txt~", the new one is written afresh
    os.replace(notes, w.corpus / "notes.txt~")
    notes.write_text("The Varrow dam keeper in 2011 was Jonas Brekke.", encoding="utf-8")
    (w.corpus / "notes.txt~").unlink()
    assert w.after(3)[2:] == ["updated notes.txt (1 passage)"]
    assert "Jonas Brekke" in w.assistant.ask("Who was the Varrow dam keeper in 2011?").answer.text


def test_a_file_deleted_while_it_is_indexed(watched):
    deleted: list[str] = []

    def progress(_fraction: float, message: str) -> None:
        doomed = w.corpus / "doomed.txt"
        if message.startswith("embedding") and doomed.exists():
            doomed.unlink()  # read already, being embedded: gone before the generation is saved
            deleted.append(message)

    w = watched(progress=progress)
    (w.corpus / "doomed.txt").write_text("The doomed memo says the sluice was closed on Tuesday.", encoding="utf-8")
    (w.corpus / "dam.txt").write_text(DAM, encoding="utf-8")
    wait_for(lambda: deleted, "the deletion")
    # the deletion came during the first refresh: a second one takes the file out again
    lines = w.after(2)
    assert w.documents() == {f"corpus/{ARTICLE.name}", "corpus/dam.txt"}
    assert lines[-1] == "removed doomed.txt" and not any(line.startswith("refused") for line in lines)
    assert w.top_doc(DAM_Q) == "corpus/dam.txt"


def test_many_files_dropped_at_once_are_one_refresh(watched):
    """200 small files in one burst (the real model: about 200 one-sentence passages to embed)."""
    w = watched()
    for i in range(200):
        (w.corpus / f"station-{i:03d}.txt").write_text(
            f"The keeper of gauging station {i:03d} is called Warden{i:03d}.", encoding="utf-8")
    lines = w.after(1)
    assert len(lines) == 200 and all(line.startswith("added station-") for line in lines)
    assert len(w.documents()) == 201 and w.watcher.rebuilds == 1
    for i in range(200):
        hit = w.assistant.ask(f"Who is the keeper of gauging station {i:03d}?", k=1).hits[0]
        assert hit.citation.doc == f"corpus/station-{i:03d}.txt", i


def test_a_file_that_cannot_be_read_is_named_once(watched):
    w = watched()
    (w.corpus / "broken.pdf").write_bytes(b"%PDF-1.7\n this is not a PDF at all")
    (w.corpus / "blob.txt").write_bytes(bytes(range(256)) * 40)
    lines = w.after(1)
    assert sorted(lines) == ["refused blob.txt: looks binary", "refused broken.pdf: not a readable PDF (data format error)"]
    (w.corpus / "dam.txt").write_text(DAM, encoding="utf-8")
    assert w.after(2)[2:] == ["added dam.txt (1 passage)"]  # the broken ones are not named again
    assert w.documents() == {f"corpus/{ARTICLE.name}", "corpus/dam.txt"}
    (w.corpus / "broken.pdf").write_bytes(b"%PDF-1.7\n still not a PDF")  # changed: named again
    assert w.after(3)[3:] == ["refused broken.pdf: not a readable PDF (data format error)"]


def test_the_previous_generation_is_served_until_the_new_one_is_complete(watched, settings):
    from qa.index import store

    seen: list[tuple[Path | None, Path, bool]] = []

    def progress(fraction: float, _message: str) -> None:
        if fraction < 1.0:  # during the refresh: on disk and in memory, the old generation, answering
            result = w.assistant.ask(TREATY)
            seen.append((store.current_generation(settings.index_dir), w.assistant.index.path,
                         result.answer is not None and "corpus/dam.txt" not in w.documents()))

    w = watched(progress=progress)
    old = w.assistant.index.path
    (w.corpus / "dam.txt").write_text(DAM, encoding="utf-8")
    w.after(1)
    assert seen and all(current == old and served == old and answered for current, served, answered in seen)
    assert w.assistant.index.path != old == seen[-1][1]
    assert store.current_generation(settings.index_dir) == w.assistant.index.path
    assert w.top_doc(DAM_Q) == "corpus/dam.txt"


def test_a_refresh_that_fails_keeps_the_previous_index(watched):
    """Every document taken away leaves nothing to index: said in one line, the last index served."""
    w = watched()
    (w.corpus / ARTICLE.name).unlink()
    lines = w.after(1)
    assert len(lines) == 1 and lines[0].startswith("could not refresh the index (no indexable text in ")
    assert w.assistant.ask(TREATY).answer is not None
    shutil.copy(ARTICLE, w.corpus / ARTICLE.name)
    w.after(2)
    assert w.lines[1:] == []  # the article is back as it was indexed: nothing changed


def test_an_empty_folder_is_indexed_when_its_first_document_comes(tmp_path, embedder):
    from qa import Assistant, Settings
    from qa.serve.watch import Watcher

    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", scorer=False, reader=False)
    settings.corpus_dir.mkdir()
    lines: list[str] = []
    watcher = Watcher(settings, lines.append, settle=SETTLE)
    a = Assistant(settings, embedder=embedder, load=False)  # `qa watch` goes on when there is nothing to index
    thread = threading.Thread(target=watcher.run, args=(a,), daemon=True)
    thread.start()
    try:
        wait_for(watcher.watching.is_set, "the watcher to start")
        (settings.corpus_dir / "empty.txt").write_text("  \n", encoding="utf-8")
        wait_for(lambda: watcher.rebuilds == 1, "the first refresh")
        assert lines == ["refused empty.txt: empty",
                         f"could not refresh the index (no indexable text in {settings.corpus_dir} (0 indexed, "
                         "1 skipped (1 empty); add .pdf, .docx, .html, .md or .txt files))"]
        (settings.corpus_dir / "dam.txt").write_text(DAM, encoding="utf-8")
        wait_for(lambda: watcher.rebuilds == 2, "the second refresh")
        assert lines[2:] == ["added dam.txt (1 passage)"]
        assert a.ask(DAM_Q).hits[0].citation.doc == "corpus/dam.txt"
    finally:
        watcher.stop.set()
        thread.join(60)


# -- the commands -----------------------------------------------------------------------------------


def test_qa_watch_command(article_assistant, embedder, tmp_path):
    """`qa watch` in a process of its own: a dropped file gets its line and lands in the index on
    disk, and Ctrl+C stops it cleanly (exit status 0)."""
    from qa import Assistant

    corpus = tmp_path / "corpus"
    shutil.copytree(article_assistant.settings.corpus_dir, corpus)
    shutil.copytree(article_assistant.settings.index_dir, tmp_path / "index")  # no build at start
    log = tmp_path / "watch.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "qa", "watch", "--corpus", str(corpus), "--index",
                                 str(tmp_path / "index"), "--settle", "0.5"], stdout=out, stderr=subprocess.STDOUT,
                                cwd=tmp_path, env={**os.environ, "QA_TORCH_THREADS": "1"})
    try:
        wait_for(lambda: "watching" in log.read_text() or proc.poll() is not None, "qa watch to start")
        assert proc.poll() is None, log.read_text()
        (corpus / "dam.txt").write_text(DAM, encoding="utf-8")
        wait_for(lambda: "added dam.txt" in log.read_text(), "the added line")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert log.read_text().splitlines() == [f"qa: watching {corpus}/ (1 document indexed); Ctrl+C to stop",
                                            "qa: added dam.txt (1 passage)", "qa: stopped watching"]
    from qa import Settings

    a = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", scorer=False, reader=False),
                  embedder=embedder)
    assert a.ask(DAM_Q, k=3).hits[0].citation.doc == "corpus/dam.txt"


def test_qa_watch_refuses_a_bad_settle_time(tmp_path):
    run = subprocess.run([sys.executable, "-m", "qa", "watch", "--corpus", str(tmp_path), "--settle", "0"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr == "qa: error: --settle must be more than 0 and at most 3600 seconds (got 0.0).\n"


def test_serve_watch_follows_the_folder(article_assistant, tmp_path):
    """`qa serve --watch`: a file dropped into the corpus is listed by the REST API and answered,
    and the page's corpus panel and document picker list it after the next question."""
    s = start(tmp_path, article_assistant.settings.corpus_dir, article_assistant.settings.index_dir,
              args=["--watch"])
    try:
        session = "watch-page"  # the page's state (the generation it shows) is kept per session
        before = join(s, "follow", [[], None], session=session)
        assert before["success"], before
        assert "Varrow" not in before["output"]["data"][0]
        (s.corpus / "dam.txt").write_text(DAM, encoding="utf-8")

        def listed() -> bool:
            docs = httpx.get(s.url + "api/documents", timeout=30).json()
            return any(d["doc"] == "corpus/dam.txt" for d in docs)

        wait_for(listed, "the new document in /api/documents")
        r = httpx.post(s.url + "api/ask", json={"question": DAM_Q, "k": 3}, timeout=60)
        assert r.status_code == 200 and r.json()["passages"][0]["citation"]["doc"] == "corpus/dam.txt"
        after = join(s, "follow", [[], None], session=session)
        panel, picker = after["output"]["data"][0], after["output"]["data"][1]
        assert "dam.txt" in panel and any("dam.txt" in label for label, _key in picker["choices"])
        same = join(s, "follow", [[], None], session=session)  # nothing changed since: nothing sent
        assert same["success"] and "choices" not in (same["output"]["data"][1] or {})
        assert "added dam.txt (1 passage)" in s.output()
    finally:
        stop(s)
