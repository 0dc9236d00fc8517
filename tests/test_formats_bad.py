"""Bad files in every format (CASES.md 20-23 extended): one line naming the file and the reason,
the rest of the batch goes on, and a failed add leaves the corpus and the index as they were."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from qa import Assistant, Settings
from qa.errors import InputError, StoreError
from qa.index import store
from qa.ingest.documents import ingest
from tests.fixtures_formats import make_docx, make_html, make_pdf
from tests.pdfmaker import encrypted_pdf, image_only_pdf

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
ELF = b"\x7fELF\x02\x01\x01" + bytes(200)


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def bad_files(folder: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, the reason its one line must give)."""
    good_docx = make_docx(folder, "source.docx").read_bytes()
    (folder / "source.docx").unlink()
    return {
        "empty.pdf": (b"", "empty"),
        "empty.docx": (b"", "empty"),
        "empty.html": (b"", "empty"),
        "blank.md": (b"  \n\n\t\n", "empty"),
        "image.pdf": (PNG, "not a PDF"),
        "program.txt": (ELF, "looks binary"),
        "noise.docx": (bytes(range(256)) * 8, "not a valid .docx (not a zip archive)"),
        "not-word.docx": (_zip({"hello.txt": b"just a zip"}), "not a valid .docx (no word/document.xml inside)"),
        "truncated.docx": (good_docx[: len(good_docx) // 2], "not a valid .docx"),
        "bomb.docx": (_zip({"word/document.xml": b"<" + b"\x00" * (40 << 20), "[Content_Types].xml": b"<x/>"}),
                      "zip bomb"),
        "only-script.html": (b"<html><script>" + b"var a = 1;\n" * 300_000 + b"</script></html>",
                             "empty (no readable text in it)"),
        "broken.pdf": (b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage", "not a readable PDF"),
        "utf16-odd.html": (b"\xff\xfe" + b"\x00\xd8" * 10, "not valid utf-16"),
    }


@pytest.fixture
def bad_corpus(tmp_path: Path, monkeypatch) -> tuple[Path, dict[str, tuple[bytes, str]]]:
    monkeypatch.setenv("QA_TESSERACT", str(tmp_path / "no-tesseract"))  # the scan is refused (tests/test_ocr.py reads it)
    corpus = tmp_path / "incoming" / "corpus"
    corpus.mkdir(parents=True)
    files = bad_files(corpus)
    for name, (data, _why) in files.items():
        (corpus / name).write_bytes(data)
    encrypted_pdf(corpus / "locked.pdf", user_password="letmein")
    image_only_pdf(corpus / "scan.pdf")
    files["locked.pdf"] = (b"", "encrypted (it needs a password)")
    files["scan.pdf"] = (b"", "no text layer (a scanned or image-only PDF) and no Tesseract OCR to read it: "
                              "apt-get install tesseract-ocr tesseract-ocr-eng (Debian)")
    make_html(corpus, "good page.html")
    return corpus, files


def test_each_bad_file_gets_one_line_and_the_rest_is_read(bad_corpus):
    corpus, files = bad_corpus
    messages: list[str] = []
    result = ingest(corpus, 10**8, messages.append)
    assert [d.doc for d in result.documents] == ["corpus/good page.html"]
    for name, (_data, why) in files.items():
        line = next((m for m in messages if m.startswith(f"skipped corpus/{name}: ")), None)
        assert line is not None, (name, messages)
        assert why.lower() in line.lower(), (name, line)
        assert "\n" not in line and "Traceback" not in line
    assert len(result.skipped) == len(files)


def test_an_encrypted_pdf_anyone_may_open_is_read(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    encrypted_pdf(corpus / "owner-only.pdf", user_password=None)
    result = ingest(corpus, 10**8)
    assert "Varrow dam" in result.documents[0].raw


def test_megabytes_of_script_around_the_text_are_dropped(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    script = b"<script>" + b"var t = 'the pirate Jorun';\n" * 150_000 + b"</script>"
    (corpus / "heavy.html").write_bytes(b"<html><head>" + script + b"</head><body><p>The quay opened in 1911.</p>"
                                        + script + b"</body></html>")
    [document] = ingest(corpus, 10**8).documents
    assert document.raw == "The quay opened in 1911."


def test_files_over_the_size_limit_are_refused_before_reading(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    make_pdf(corpus)
    messages: list[str] = []
    assert ingest(corpus, 1000, messages.append).documents == []
    assert messages == [m for m in messages if "too large" in m] and len(messages) == 1


def test_cp1252_html_is_decoded_and_said_so(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "legacy.htm").write_bytes("<p>Café crème costs 5 € – très cher at the Zürich quay.</p>".encode("cp1252"))
    messages: list[str] = []
    [document] = ingest(corpus, 10**8, messages.append).documents
    assert "Café crème costs 5 € – très cher" in document.raw
    assert any("legacy.htm as" in m and "not UTF-8" in m for m in messages)


# -- adding: the batch goes on, a failure changes nothing ---------------------------------------


@pytest.fixture
def assistant(settings, fake_embedder) -> Assistant:
    return Assistant(settings, embedder=fake_embedder)


def _state(settings: Settings) -> tuple[list[str], str]:
    return sorted(p.name for p in settings.corpus_dir.iterdir()), (settings.index_dir / store.CURRENT).read_text()


def test_add_takes_the_good_files_and_names_each_bad_one(assistant, bad_corpus, tmp_path):
    source, files = bad_corpus
    unicode_name = source / "Année 2021 rapport.pdf"
    make_pdf(source, unicode_name.name)
    batch = [(p, p.name) for p in sorted(source.iterdir())] + [(source / "good page.html", "../../x.md"),
                                                              (source / "tool.exe", "tool.exe")]
    (source / "tool.exe").write_bytes(b"MZ\x90")
    done = assistant.add(batch)
    added = sorted(d["doc"] for d in done.added)
    assert added == ["corpus/Année 2021 rapport.pdf", "corpus/good page.html"]
    for name in files:
        assert any(line.startswith(f"skipped {name}: ") for line in done.refused), name
    assert "skipped tool.exe: unsupported file type (supported: .txt, .md, .markdown, .pdf, .docx, .html, .htm)" \
        in done.refused
    assert any(line.startswith("skipped ../../x.md: ") and "already in the corpus" in line for line in done.refused)
    assert all("\n" not in line for line in done.refused)
    names = {p.name for p in assistant.settings.corpus_dir.iterdir()}
    assert not any(n.startswith(".") for n in names)  # no temporary file left
    result = assistant.ask("What did the new station cost?", docs=["Année 2021 rapport.pdf"])
    assert {h.citation.doc for h in result.hits} == {"corpus/Année 2021 rapport.pdf"}
    assert all(h.citation.page in (1, 2, 3) for h in result.hits)


def test_a_batch_of_only_bad_files_changes_nothing(assistant, bad_corpus):
    source, _files = bad_corpus
    before = _state(assistant.settings)
    done = assistant.add([(p, p.name) for p in sorted(source.iterdir()) if p.name != "good page.html"])
    assert done.added == [] and done.refused
    assert _state(assistant.settings) == before


def test_a_failed_indexing_leaves_corpus_and_index_as_they_were(assistant, tmp_path, monkeypatch):
    before = _state(assistant.settings)
    make_pdf(tmp_path)

    def full_disk(*_args, **_kwargs):
        raise StoreError("could not save the index: No space left on device")

    monkeypatch.setattr(store, "save", full_disk)
    with pytest.raises(StoreError):
        assistant.add([(tmp_path / "board-report.pdf", "board-report.pdf")])
    assert _state(assistant.settings) == before
    monkeypatch.undo()
    assert assistant.ask("What did the new station cost?").hits  # still serving the old index


def test_remove_takes_a_document_out_and_a_failed_remove_changes_nothing(assistant, tmp_path):
    make_docx(tmp_path)
    assistant.add([(tmp_path / "council-minutes.docx", "council-minutes.docx")])
    assert {d["doc"] for d in assistant.documents()} >= {"corpus/council-minutes.docx"}
    gone = assistant.remove("Kessel Parish Council minutes")
    assert gone["doc"] == "corpus/council-minutes.docx"
    assert "council-minutes.docx" not in {p.name for p in assistant.settings.corpus_dir.iterdir()}
    assert {d["doc"] for d in assistant.documents()} == {"corpus/china-and-north-korea-the-uneasy-partnership.txt"}
    before = _state(assistant.settings)
    with pytest.raises(InputError, match="was not removed"):
        assistant.remove("china-and-north-korea-the-uneasy-partnership.txt")  # the index needs a document
    assert _state(assistant.settings) == before
    with pytest.raises(InputError, match="No document is called"):
        assistant.remove("nothing.pdf")
