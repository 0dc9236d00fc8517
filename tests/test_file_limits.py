"""The per-file time limit (issue 26) and hostile PDFs for the renderer and OCR (CASES.md 40).

A PDF is read in a worker process that is killed when the limit passes, so one hostile page (a
million tiny glyphs) is refused in one line naming the file and the limit, and the batch goes on.
Small limits keep these fast; the slow file is at least ten times slower than the limit it meets.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from qa import Assistant, Settings
from qa.errors import InputError
from qa.index import store
from qa.ingest import readpdf, timelimit
from qa.ingest.formats.pdfocr import tesseract
from tests.conftest import ARTICLE, TREATY
from tests.pdfmaker import encrypted_pdf, text_pdf
from tests.pdfscans import huge_page, looping_resources, noise_page, tiny_glyphs

LIMIT = 2  # seconds; a PDF reader process reads 15 million glyphs in 6 s on the fastest 2-core test machine
# seen (an Intel Xeon; 3 million took 2.3 s there, too close to the limit), so the slow file has 30 million
NOTES = "Harbour notes\n\nThe lighthouse at Dalian was built by a Danish engineer in 1893.\n"


def slow_pdf() -> bytes:
    return tiny_glyphs(millions=30)


# -- the setting ------------------------------------------------------------------------------------


def test_the_limit_is_a_setting_with_an_environment_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("QA_FILE_SECONDS", raising=False)
    assert Settings(corpus_dir=tmp_path, index_dir=tmp_path).file_seconds == 120
    monkeypatch.setenv("QA_FILE_SECONDS", "30")
    assert Settings(corpus_dir=tmp_path, index_dir=tmp_path).file_seconds == 30
    for bad in ("0", "-5", "soon", "1e9"):
        monkeypatch.setenv("QA_FILE_SECONDS", bad)
        with pytest.raises(InputError, match="QA_FILE_SECONDS must be a whole number of seconds") as e:
            Settings(corpus_dir=tmp_path, index_dir=tmp_path)
        assert "\n" not in str(e.value)
    monkeypatch.delenv("QA_FILE_SECONDS")
    with pytest.raises(InputError, match="file_seconds must be more than 0"):
        Settings(corpus_dir=tmp_path, index_dir=tmp_path, file_seconds=0)


# -- a slow file ------------------------------------------------------------------------------------


def test_a_slow_pdf_is_refused_in_one_line_and_the_batch_goes_on(tmp_path, fake_embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "slow.pdf").write_bytes(slow_pdf())
    (corpus / "notes.txt").write_text(NOTES, encoding="utf-8")
    text_pdf(corpus / "report.pdf", ["The new pumping station cost 4.2 million crowns and opened in May."])
    readpdf.forget()
    warnings: list[str] = []
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", file_seconds=LIMIT)
    a = Assistant(settings, embedder=fake_embedder, warn=warnings.append, scorer=None, reader=None)
    assert {d["doc"] for d in a.documents()} == {"corpus/notes.txt", "corpus/report.pdf"}
    refusals = [w for w in warnings if w.startswith("skipped ")]
    assert refusals == [f"skipped corpus/slow.pdf: took longer than {LIMIT} s to read (the per-file limit; "
                        "QA_FILE_SECONDS sets it)"]
    assert a.index.manifest["ingest"]["skipped"] == [{"doc": "corpus/slow.pdf", "reason": "too slow"}]
    # the refusal is remembered: the next refresh does not wait for the file again
    calls: list[str] = []
    real = timelimit.run

    def counting(task, *args, **kwargs):
        calls.append(task)
        return real(task, *args, **kwargs)

    (corpus / "more.txt").write_text("More\n\nThe ferry sails at nine.\n", encoding="utf-8")
    try:
        timelimit.run = counting  # type: ignore[assignment]
        a.reload()
    finally:
        timelimit.run = real  # type: ignore[assignment]
    assert calls == [] and "corpus/more.txt" in {d["doc"] for d in a.documents()}


def test_an_upload_that_reads_too_slowly_is_refused_and_the_rest_added(tmp_path, fake_embedder):
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", file_seconds=LIMIT)
    settings.corpus_dir.mkdir()
    shutil.copy(ARTICLE, settings.corpus_dir / ARTICLE.name)
    a = Assistant(settings, embedder=fake_embedder, scorer=None, reader=None)
    generation = a.index.path
    (tmp_path / "slow.pdf").write_bytes(slow_pdf())
    (tmp_path / "notes.txt").write_text(NOTES, encoding="utf-8")
    readpdf.forget()
    done = a.add([(tmp_path / "slow.pdf", "slow.pdf"), (tmp_path / "notes.txt", "notes.txt")])
    assert done.refused == [f"skipped slow.pdf: took longer than {LIMIT} s to read (the per-file limit; "
                            "QA_FILE_SECONDS sets it)"]
    assert [d["doc"] for d in done.added] == ["corpus/notes.txt"]
    assert not (settings.corpus_dir / "slow.pdf").exists() and a.index.path != generation


# -- CASES.md 40: hostile PDFs ----------------------------------------------------------------------


def hostile(folder: Path) -> dict[str, set[str]]:
    """Writes the hostile PDFs; name -> the outcomes allowed ("read", or a refusal's kind)."""
    good = text_pdf(folder / "good-source.pdf", ["The pumping station opened in May."]).read_bytes()
    (folder / "good-source.pdf").unlink()
    (folder / "huge-page.pdf").write_bytes(huge_page())
    (folder / "tiny-glyphs.pdf").write_bytes(tiny_glyphs(millions=1))
    (folder / "looping.pdf").write_bytes(looping_resources())
    (folder / "noise.pdf").write_bytes(noise_page())
    encrypted_pdf(folder / "locked.pdf", user_password="letmein")
    (folder / "truncated.pdf").write_bytes(good[: len(good) // 2])
    return {
        "huge-page.pdf": {"read"},
        "tiny-glyphs.pdf": {"read", "too slow"},
        "looping.pdf": {"read", "not a readable PDF"},
        "noise.pdf": {"no text layer", "too slow"},  # OCR finds no words, or is stopped at the limit
        "locked.pdf": {"encrypted"},
        "truncated.pdf": {"read", "not a readable PDF"},
    }


@pytest.fixture
def private_temp(tmp_path, monkeypatch) -> Path:
    """A temporary folder of this test's own, where workers started from now on keep their files."""
    temp = tmp_path / "temp"
    temp.mkdir()
    timelimit.stop_workers()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    yield temp
    timelimit.stop_workers()


@pytest.mark.skipif(tesseract() is None, reason="needs Tesseract (scripts/setup installs it)")
def test_hostile_pdfs_are_refused_or_read_each_in_one_line_and_the_assistant_goes_on(
        tmp_path, embedder, private_temp):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    allowed = hostile(corpus)
    (corpus / "notes.txt").write_text(NOTES, encoding="utf-8")
    readpdf.forget()
    warnings: list[str] = []
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", file_seconds=3)
    a = Assistant(settings, embedder=embedder, warn=warnings.append)
    documents = {d["doc"] for d in a.documents()}
    skipped = {s["doc"]: s["reason"] for s in a.index.manifest["ingest"]["skipped"]}
    for name, outcomes in allowed.items():
        doc = f"corpus/{name}"
        lines = [w for w in warnings if w.startswith(f"skipped {doc}: ")]
        if doc in documents:
            assert "read" in outcomes and lines == [], (name, lines)
        else:
            assert skipped.get(doc) in outcomes, (name, skipped.get(doc), lines)
            assert len(lines) == 1 and "\n" not in lines[0] and "Traceback" not in lines[0], lines
    assert "corpus/huge-page.pdf" in documents  # a 20,000-point page is read like any other
    answer = a.ask("Who built the lighthouse at Dalian?").answer
    assert answer is not None and answer.citation.doc == "corpus/notes.txt"
    # no half-written index: one complete generation, nothing left beside it
    generation = a.index.path
    assert store.load(generation, store.read_manifest(generation)).passages
    # uploads of the same files while serving: each refused in one line, the index unchanged
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    hostile(uploads)
    readpdf.forget()
    done = a.add([(p, p.name) for p in sorted(uploads.iterdir()) if p.name in {"noise.pdf", "locked.pdf",
                                                                                "truncated.pdf", "looping.pdf"}])
    for line in done.refused:
        assert line.split(":")[0] in {"skipped noise.pdf", "skipped locked.pdf", "skipped truncated.pdf",
                                      "skipped looping.pdf"} and "\n" not in line
    assert "skipped locked.pdf: encrypted (it needs a password)" in done.refused
    assert a.ask("Who built the lighthouse at Dalian?").answer is not None
    timelimit.stop_workers()
    assert list(private_temp.iterdir()) == []  # Tesseract's page images went with their workers


@pytest.mark.slow
@pytest.mark.skipif(tesseract() is None, reason="needs Tesseract (scripts/setup installs it)")
def test_a_watching_server_goes_on_past_hostile_pdfs(article_assistant, tmp_path):
    from tests.uiserver import start, stop

    server = start(tmp_path, article_assistant.settings.corpus_dir, article_assistant.settings.index_dir,
                   env={"QA_FILE_SECONDS": "3"}, args=["--watch"])
    try:
        incoming = tmp_path / "incoming"
        incoming.mkdir()
        allowed = hostile(incoming)
        (incoming / "notes.txt").write_text(NOTES, encoding="utf-8")
        for path in sorted(incoming.iterdir()):
            shutil.copy(path, server.corpus / path.name)
        deadline = time.monotonic() + 180
        docs: set[str] = set()
        while "corpus/notes.txt" not in docs and time.monotonic() < deadline:
            time.sleep(1)
            docs = {d["doc"] for d in httpx.get(server.url + "api/documents", timeout=30).json()}
        assert "corpus/notes.txt" in docs, server.output()
        log = server.output()
        for name, outcomes in allowed.items():
            named = [line for line in log.splitlines() if f"refused {name}: " in line]
            if f"corpus/{name}" not in docs:
                assert len(named) == 1, (name, log)
            else:
                assert "read" in outcomes and named == []
        for question, doc in (("Who built the lighthouse at Dalian?", "corpus/notes.txt"),
                              (TREATY, "corpus/" + ARTICLE.name)):
            r = httpx.post(server.url + "api/ask", json={"question": question}, timeout=60)
            assert r.status_code == 200 and r.json()["answer"]["citation"]["doc"] == doc
    finally:
        stop(server)
