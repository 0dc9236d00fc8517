"""Scanned PDFs (issue 26): pages without a text layer are read by Tesseract, with word boxes.

The scan is made here: a born-digital paper rendered to page images and wrapped again as an
image-only PDF. It must read as its original does (the words, the pages, the title from the
largest type), be answered with the right page by the real model, give word boxes where the
original's characters stand, and, without Tesseract, be refused in one line naming the package.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from qa import Assistant, Settings
from qa.errors import InputError
from qa.ingest import readpdf, timelimit
from qa.ingest.documents import ingest
from qa.ingest.formats.pdfocr import ocr_words, tesseract
from tests.pdfscans import PAGES, TITLE, mixed, paper, scanned

pytestmark = pytest.mark.skipif(tesseract() is None, reason="needs Tesseract (apt-get install tesseract-ocr "
                                                            "tesseract-ocr-eng; scripts/setup installs it)")

INSTALL = "apt-get install tesseract-ocr tesseract-ocr-eng"


def words_of(text: str) -> Counter[str]:
    return Counter(re.findall(r"[a-z0-9]+", text.lower()))


def recovered(original: str, read: str) -> float:
    """The share of the original's words (with their counts) that the reading has."""
    want = words_of(original)
    return sum((want & words_of(read)).values()) / sum(want.values())


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scan")
    return scanned(paper(folder / "original.pdf"), folder / "survey.pdf")


@pytest.fixture(scope="module")
def read_scan(scan: Path, tmp_path_factory: pytest.TempPathFactory):
    """The scan read as the index build reads it (a worker, the per-file limit), with its progress."""
    corpus = tmp_path_factory.mktemp("scan-corpus") / "corpus"
    corpus.mkdir()
    shutil.copy(scan, corpus / "survey.pdf")
    readpdf.forget()
    told: list[tuple[float, str]] = []
    result = ingest(corpus, 10**8, seconds=120, progress=lambda f, what: told.append((f, what)))
    return result, told


def test_a_scan_reads_as_its_original(read_scan):
    result, told = read_scan
    [document] = result.documents
    original = TITLE + " " + " ".join(p for page in PAGES for p in page)
    share = recovered(original, document.raw)
    assert share >= 0.97, (share, document.raw)
    assert document.pages == 2 and document.format == "pdf"
    assert document.title == TITLE  # the largest type on the first page, read from its picture
    where = document.raw.find("Ada Lindqvist")
    assert where >= 0 and document.page_at(where) == 2
    assert document.page_at(document.raw.find("Elmsby")) == 1
    # progress, page by page, through the index build's callback
    assert [what for _f, what in told] == ["OCR of page 1 (1 of 2 scanned) in corpus/survey.pdf",
                                           "OCR of page 2 (2 of 2 scanned) in corpus/survey.pdf"]
    assert [f for f, _what in told] == sorted(f for f, _what in told)


def test_a_scan_is_indexed_and_answered_with_its_page(scan, embedder, tmp_path):
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", file_seconds=120)
    settings.corpus_dir.mkdir()
    (settings.corpus_dir / "notes.txt").write_text("Notes\n\nThe ferry to Elmsby sails at nine.\n", encoding="utf-8")
    a = Assistant(settings, embedder=embedder)
    told: list[tuple[float, str]] = []
    done = a.add([(scan, "survey.pdf")], progress=lambda f, what: told.append((f, what)))
    assert done.refused == []
    [added] = done.added
    assert added["doc"] == "corpus/survey.pdf" and added["pages"] == 2 and added["title"] == TITLE
    result = a.ask("Who finished the Varrow dam?")
    assert result.answer is not None
    assert "Ada Lindqvist" in result.answer.text
    assert result.answer.citation.doc == "corpus/survey.pdf" and result.answer.citation.page == 2
    context = a.context(result.answer.citation)
    assert context["page"] == 2 and "Ada Lindqvist" in context["page_text"]
    # the page view marks the quote on the scanned page with OCR's word boxes
    [word] = [w for w in ocr_words(scan.read_bytes(), 2) if w.text.startswith("Lindqvist")]
    [marked] = [b["boxes"] for b in context["boxes"] if b["page"] == 2]
    x0, y0, x1, y1 = word.box  # inside a marked line (boxes are rounded to 5 decimals)
    assert any(left - 0.01 <= x0 < x1 <= right + 0.01 and top - 0.01 <= y0 < y1 <= bottom + 0.01
               for left, top, right, bottom in marked), (marked, word.box)
    # the upload's progress: the first half reads the file (here from what the check read), the
    # second indexes it; never backwards
    fractions = [f for f, _what in told]
    assert fractions == sorted(fractions) and fractions[0] >= 0 and fractions[-1] == 1.0


def test_each_scanned_page_brings_its_own_time(scan, tmp_path):
    """A scan longer than the file's limit allows is read: each page OCR begins adds page_seconds
    (Settings.page_seconds); without that allowance it is refused, and a page slower than its
    allowance is refused with both limits named. The limits are fractions of the time the scan
    takes here, so the test holds on a machine of any speed."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(scan, corpus / "survey.pdf")
    ingest(corpus, 10**8, seconds=120)  # a warm worker: its start counts against no limit
    readpdf.forget()
    started = time.monotonic()
    assert len(ingest(corpus, 10**8, seconds=120, page_seconds=0).documents) == 1
    took = time.monotonic() - started  # OCR of both pages, nearly all of it
    readpdf.forget()
    refused = ingest(corpus, 10**8, seconds=took / 10, page_seconds=0)
    assert refused.documents == [] and refused.skipped == [("corpus/survey.pdf", "too slow")]
    # the refusal is remembered for its limits only: with time for each page the scan is read
    [document] = ingest(corpus, 10**8, seconds=took / 10, page_seconds=took * 5).documents
    assert document.pages == 2 and "Ada Lindqvist" in document.raw
    readpdf.forget()
    tight = ingest(corpus, 10**8, seconds=took / 10, page_seconds=took / 20, warn=(said := []).append)
    assert tight.documents == [] and len(said) == 1
    assert re.fullmatch(r"skipped corpus/survey\.pdf: took longer than [\d.]+ s to read \(the per-file limit, "
                        r"[\d.]+ s, and [\d.]+ s for (the scanned page|each of the 2 scanned pages) begun; QA_FILE_SECONDS and "
                        r"QA_PAGE_SECONDS set them\)", said[0]), said


def test_a_grant_moves_the_deadline_by_the_pages_allowance():
    with timelimit.within(timelimit.Limits(10, deadline=1_000_000.0, page_seconds=30, granted=(told := []).append)):
        timelimit.grant_page()
        timelimit.grant_page()
        assert timelimit.limits().deadline == 1_000_060.0 and told == [30, 30]
    with timelimit.within(timelimit.Limits(10, deadline=1_000_000.0, page_seconds=0, granted=told.append)):
        timelimit.grant_page()
        assert timelimit.limits().deadline == 1_000_000.0 and told == [30, 30]


def test_page_seconds_is_a_setting_with_an_environment_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("QA_PAGE_SECONDS", raising=False)
    assert Settings(corpus_dir=tmp_path, index_dir=tmp_path).page_seconds == 30
    monkeypatch.setenv("QA_PAGE_SECONDS", "0")
    assert Settings(corpus_dir=tmp_path, index_dir=tmp_path).page_seconds == 0
    monkeypatch.setenv("QA_PAGE_SECONDS", "soon")
    with pytest.raises(InputError, match="QA_PAGE_SECONDS must be a whole number of seconds"):
        Settings(corpus_dir=tmp_path, index_dir=tmp_path)


def test_word_boxes_stand_where_the_originals_characters_do(scan):
    import pypdfium2 as pdfium

    original = pdfium.PdfDocument(str(scan.parent / "original.pdf"))
    try:
        page = original[1]
        width, height = page.get_size()
        text = page.get_textpage()
        start = text.get_text_range().find("Lindqvist")
        boxes = [text.get_charbox(start + i) for i in range(len("Lindqvist"))]
        left, right = min(b[0] for b in boxes) / width, max(b[2] for b in boxes) / width
        top, bottom = 1 - max(b[3] for b in boxes) / height, 1 - min(b[1] for b in boxes) / height
    finally:
        original.close()
    words = ocr_words(scan.read_bytes(), 2)
    [word] = [w for w in words if w.text.startswith("Lindqvist")]
    x0, y0, x1, y1 = word.box
    assert abs(x0 - left) < 0.01 and abs(x1 - right) < 0.015, (word.box, (left, top, right, bottom))
    assert abs(y0 - top) < 0.01 and abs(y1 - bottom) < 0.01, (word.box, (left, top, right, bottom))
    assert 0 <= word.confidence <= 100  # Tesseract is unsure of names outside its dictionary: words are kept whatever it says
    same_line = [w.text for w in words if w.line == word.line]
    assert "engineer" in same_line and "Ada" in same_line
    assert ocr_words(scan.read_bytes(), 2) == words  # kept: the page view asks again and again


def test_a_mixed_pdf_reads_both_pages_and_without_tesseract_its_text_page(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    mixed(corpus / "mixed.pdf", tmp_path)
    readpdf.forget()
    [document] = ingest(corpus, 10**8, seconds=120).documents
    assert "Elmsby" in document.raw and "Ada Lindqvist" in document.raw
    assert document.page_at(document.raw.find("Ada Lindqvist")) == 2
    monkeypatch.setenv("QA_TESSERACT", str(tmp_path / "no-tesseract"))
    [document] = ingest(corpus, 10**8, seconds=120).documents
    assert "Elmsby" in document.raw and "Lindqvist" not in document.raw


@pytest.mark.parametrize("how", ["setting", "PATH"])
def test_without_tesseract_a_scan_is_refused_in_one_line_naming_the_package(scan, tmp_path, monkeypatch, how):
    if how == "setting":
        monkeypatch.setenv("QA_TESSERACT", str(tmp_path / "no-tesseract"))
    else:
        monkeypatch.delenv("QA_TESSERACT", raising=False)
        monkeypatch.setenv("PATH", str(tmp_path))
    assert tesseract() is None
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(scan, corpus / "survey.pdf")
    (corpus / "notes.txt").write_text("Notes\n\nThe ferry to Elmsby sails at nine.\n", encoding="utf-8")
    lines: list[str] = []
    result = ingest(corpus, 10**8, lines.append, seconds=120)
    assert [d.doc for d in result.documents] == ["corpus/notes.txt"]
    [line] = lines
    assert line.startswith("skipped corpus/survey.pdf: no text layer") and INSTALL in line and "\n" not in line


def test_tesseracts_temporary_files_are_cleaned_up(scan, tmp_path, monkeypatch):
    from tests.pdfscans import noise_page

    temp = tmp_path / "temp"
    temp.mkdir()
    timelimit.stop_workers()  # workers from here on keep their files under `temp`
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    readpdf.forget()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(scan, corpus / "survey.pdf")
    assert len(ingest(corpus, 10**8, seconds=120).documents) == 1
    [folder] = temp.iterdir()  # the idle worker's own folder: Tesseract's files are gone already
    assert folder.name.startswith("qa-read-") and list(folder.iterdir()) == []
    (corpus / "survey.pdf").unlink()
    (corpus / "noise.pdf").write_bytes(noise_page())
    lines: list[str] = []
    ingest(corpus, 10**8, lines.append, seconds=1)  # killed while Tesseract reads the noise
    assert len(lines) == 1 and lines[0].startswith("skipped corpus/noise.pdf: ")
    timelimit.stop_workers()
    assert list(temp.iterdir()) == []
