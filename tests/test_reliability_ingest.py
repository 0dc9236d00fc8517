"""Document ingestion (CASES.md 20-25): encodings, binary, empty and huge files, duplicates, and
the directory walk (links, unreadable files, files vanishing, ten thousand small files)."""

from __future__ import annotations

import codecs
import errno
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import unicodedata
import zipfile
from pathlib import Path

import numpy as np
import pytest

from qa import Assistant, Settings
from qa.errors import CorpusError
from qa.index import store
from qa.index.indexer import build, source_hashes
from qa.ingest.chunks import chunk
from qa.ingest.documents import ingest, load_corpus, read_document
from qa.models.scorer import Scorer
from qa.text import skeleton
from tests.conftest import ARTICLE, ROOT

TEXT = "Le café de Zürich coûte 4 € — selon l’étude, les prix ont augmenté. Straße, señor, naïve."


class HashEmbedder:
    """A cheap deterministic embedder for bulk tests: one seeded random unit vector per text."""

    name = "hash-embedder"
    dim = 384

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode("utf-8", "surrogatepass")).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out


def make_corpus(tmp_path: Path, files: dict[str, bytes]) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    for name, data in files.items():
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_bytes(data)
    return corpus


def read_all(corpus: Path, max_bytes: int = 10**8):
    messages: list[str] = []
    result = ingest(corpus, max_bytes, messages.append)
    return {d.doc: d for d in result.documents}, messages, result


def joined(document) -> str:
    return " ".join(p.text for p in document.paragraphs)


# -- 20. encodings ---------------------------------------------------------------------------------


def test_encodings_decode_with_boms_stripped(tmp_path):
    corpus = make_corpus(tmp_path, {
        "cp1252.txt": "Café crème “quoted” costs 5 € – très cher.".encode("cp1252"),
        "utf8-bom.txt": codecs.BOM_UTF8 + TEXT.encode("utf-8"),
        "utf16-le.txt": codecs.BOM_UTF16_LE + ("Zürich, " + TEXT).encode("utf-16-le"),
        "utf16-be.txt": codecs.BOM_UTF16_BE + ("Genève, " + TEXT).encode("utf-16-be"),
        "latin1.txt": "Zürich Straße, señor, naïve façade, déjà vu à Genève.".encode("latin-1"),
        "plain.txt": b"Plain ASCII text about the treaty of 1961.",
    })
    docs, messages, _ = read_all(corpus)
    assert set(docs) == {f"corpus/{n}" for n in
                         ["cp1252.txt", "utf8-bom.txt", "utf16-le.txt", "utf16-be.txt", "latin1.txt", "plain.txt"]}
    assert joined(docs["corpus/cp1252.txt"]) == "Café crème “quoted” costs 5 € – très cher."
    assert joined(docs["corpus/utf8-bom.txt"]) == TEXT
    assert joined(docs["corpus/utf16-le.txt"]) == "Zürich, " + TEXT
    assert joined(docs["corpus/utf16-be.txt"]) == "Genève, " + TEXT
    assert "Zürich Straße, señor, naïve façade" in joined(docs["corpus/latin1.txt"])
    for d in docs.values():
        assert not d.raw.startswith("\ufeff") and "\ufeff" not in joined(d)
    # a non-UTF-8 file says how it was read (the documented fallback)
    assert any(m.startswith("read corpus/cp1252.txt as ") for m in messages)
    assert any(m.startswith("read corpus/latin1.txt as ") for m in messages)


def test_undecodable_file_is_skipped_or_read_with_a_note_and_others_still_indexed(tmp_path):
    corpus = make_corpus(tmp_path, {
        "bad.txt": b"Caf\xc3 \x81\x8d\x8f\x90\x9d broken \xff\xfe\xfd utf-8 \xc0\xaf sequences " * 3,
        "bad-bom.txt": codecs.BOM_UTF8 + b"valid start \xff\xfe invalid after the BOM",
        "good.txt": b"The treaty was renewed in 1981 and 2001.",
    })
    docs, messages, _ = read_all(corpus)
    assert "corpus/good.txt" in docs
    assert "corpus/bad-bom.txt" not in docs
    assert any(m.startswith("skipped corpus/bad-bom.txt: not valid utf-8") for m in messages), messages
    if "corpus/bad.txt" in docs:
        assert any(m.startswith("read corpus/bad.txt as ") for m in messages)
    else:
        assert any(m.startswith("skipped corpus/bad.txt: ") for m in messages)


# -- 21. binary files ------------------------------------------------------------------------------


def _zip_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.txt", "hello " * 100)
    return path.read_bytes()


def test_binary_files_renamed_txt_are_skipped(tmp_path):
    rng = random.Random(21)
    noise = rng.randbytes(65536)
    corpus = make_corpus(tmp_path, {
        "png.txt": b"\x89PNG\r\n\x1a\n" + rng.randbytes(2000),
        "pdf.txt": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nstream\n" + rng.randbytes(2000),
        "elf.txt": Path(sys.executable).resolve().read_bytes()[:20000],
        "zip.txt": _zip_bytes(tmp_path),
        "urandom.txt": noise,
        "urandom-no-nul.txt": noise.replace(b"\x00", b"\x01"),
        "utf16.txt": codecs.BOM_UTF16_LE + "Kim visited Beijing in March 2018.".encode("utf-16-le"),
        "good.txt": b"The treaty was renewed in 1981 and 2001.",
    })
    docs, messages, result = read_all(corpus)
    assert set(docs) == {"corpus/utf16.txt", "corpus/good.txt"}
    for name in ["png", "pdf", "elf", "zip", "urandom", "urandom-no-nul"]:
        assert f"skipped corpus/{name}.txt: looks binary" in messages, (name, messages)
    assert result.summary() == "2 indexed, 6 skipped (6 looks binary)"
    passages = chunk(result.documents, 120)
    assert {p.doc for p in passages} == {"corpus/utf16.txt", "corpus/good.txt"}


# -- 22. empty files -------------------------------------------------------------------------------

EMPTY = {
    "zero.txt": b"",
    "spaces.txt": b"   \n\t\n  \r\n",
    "controls.txt": b"\x01\x02\x03\x1b\x7f\n",
    "invisible.txt": "\u200b\ufeff\u202e \u2066".encode("utf-8"),
}


def test_empty_files_are_skipped(tmp_path):
    corpus = make_corpus(tmp_path, {**EMPTY, "good.md": b"# Notes\n\nThe treaty was renewed in 1981.\n"})
    docs, messages, result = read_all(corpus)
    assert set(docs) == {"corpus/good.md"}
    for name in EMPTY:
        assert f"skipped corpus/{name}: empty" in messages, messages
    assert result.summary() == "1 indexed, 4 skipped (4 empty)"


def test_a_corpus_of_only_empty_files_has_no_indexable_text_and_keeps_the_old_index(tmp_path, fake_embedder):
    corpus = make_corpus(tmp_path, {"good.md": b"# Notes\n\nThe treaty was renewed in 1981.\n"})
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    a = Assistant(settings, embedder=fake_embedder)
    gen = store.current_generation(settings.index_dir)
    (corpus / "good.md").unlink()
    for name, data in EMPTY.items():
        (corpus / name).write_bytes(data)
    with pytest.raises(CorpusError, match=r"no indexable text .*4 skipped \(4 empty\)"):
        a.reload(force=True)
    with pytest.raises(CorpusError, match="no indexable text"):
        Assistant(settings, embedder=fake_embedder)  # stale: rebuilt, refused, never a 0-vector index
    assert store.current_generation(settings.index_dir) == gen
    assert a.ask("When was the treaty renewed?").hits  # the old generation still serves
    assert [p.name for p in settings.index_dir.iterdir() if p.name.startswith("gen-")] == [gen.name]


# -- 23. huge files --------------------------------------------------------------------------------


def test_file_above_the_cap_is_refused_before_reading(tmp_path, monkeypatch):
    corpus = make_corpus(tmp_path, {"good.txt": b"The treaty was renewed in 1981 and 2001."})
    huge = corpus / "huge.txt"
    with huge.open("wb") as f:
        f.truncate(200 * 1024 * 1024)  # sparse: 200 MB of zeros, which would look binary if read
    cap = 1024 * 1024
    opened: list[int] = []
    real_fdopen = os.fdopen

    def spy(fd, *args, **kwargs):
        opened.append(os.fstat(fd).st_size)
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", spy)
    docs, messages, result = read_all(corpus, cap)
    hashes = source_hashes(corpus, cap)
    monkeypatch.undo()
    assert set(docs) == {"corpus/good.txt"}
    assert f"skipped corpus/huge.txt: too large (209,715,200 bytes; the limit is {cap:,}: QA_MAX_FILE_MB sets it)" in messages
    assert result.summary() == "1 indexed, 1 skipped (1 too large)"
    assert hashes["corpus/huge.txt"] == "too large: 209715200 bytes"
    assert opened and max(opened) <= cap  # the 200 MB file was never opened for reading


def _single_line(path: Path, size: int, seed: int = 23) -> None:
    """`size` bytes of ASCII words and sentences on one line, no newline anywhere."""
    words = ARTICLE.read_text(encoding="utf-8").encode("ascii", "ignore").decode().split()
    rng = random.Random(seed)
    with path.open("w", encoding="ascii") as f:
        written = 0
        while written < size:
            piece = " ".join(rng.choice(words) for _ in range(2000)) + " "
            piece = piece[: size - written]
            f.write(piece)
            written += len(piece)


MEASURE = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    import qa.ingest.chunks, qa.ingest.documents, qa.ingest.layout, qa.ingest.sentences, qa.text
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    path = Path(sys.argv[1])
    document, _ = qa.ingest.documents.read_document(path, "corpus/" + path.name, 10**9)
    passages = qa.ingest.chunks.chunk([document], 120)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    raw = document.raw
    sample = passages[:: max(1, len(passages) // 200)]
    ok = all(qa.text.skeleton(raw[p.start : p.end]) == qa.text.skeleton(p.text) for p in sample)
    ok = ok and all(
        qa.text.skeleton(raw[s.raw_start : s.raw_end]) == qa.text.skeleton(p.text[s.start : s.end])
        for p in sample for s in p.sentences
    )
    print(json.dumps({
        "growth": peak - base,
        "passages": len(passages),
        "max_words": max(p.n_words for p in passages),
        "words": sum(p.n_words for p in passages),
        "file_words": len(raw.split()),
        "offsets_ok": ok,
        "paragraphs": len(document.paragraphs),
    }))
    """
)


def _measure_single_line(tmp_path: Path, size: int) -> dict:
    path = tmp_path / "one-line.txt"
    _single_line(path, size)
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True,
                          timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    m = json.loads(done.stdout)
    assert m["max_words"] <= 120 and m["passages"] >= m["file_words"] // 120
    assert m["words"] == m["file_words"]  # every word is in exactly one passage
    assert m["offsets_ok"]
    return m


def test_a_5_mb_single_line_is_chunked_by_sentences_and_words_with_bounded_memory(tmp_path):
    size = 5 * 1024 * 1024
    m = _measure_single_line(tmp_path, size)
    # before: 16 bytes of offsets and a list slot per character, and pysbd's time grew with the
    # square of the line (2 MB did not finish in 10 minutes)
    assert m["growth"] < 5 * size + 40 * 1024 * 1024, m


@pytest.mark.slow
def test_a_50_mb_single_line_is_chunked_with_bounded_memory(tmp_path):
    size = 50 * 1024 * 1024
    m = _measure_single_line(tmp_path, size)
    assert m["growth"] < 5 * size, m  # raw text, display text, passages: about 4x the file


def test_a_long_line_is_indexed_with_progress_and_a_cancel_keeps_the_old_index(tmp_path):
    corpus = make_corpus(tmp_path, {"small.txt": b"The treaty was renewed in 1981 and 2001."})
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    embedder = HashEmbedder()
    old = build(settings, embedder)
    _single_line(corpus / "one-line.txt", 1024 * 1024)
    steps: list[tuple[float, str]] = []

    def cancel_half_way(fraction: float, message: str) -> None:
        steps.append((fraction, message))
        if fraction >= 0.5:
            raise KeyboardInterrupt  # Ctrl-C in the CLI, a cancelled job in the UI

    with pytest.raises(KeyboardInterrupt):
        build(settings, embedder, progress=cancel_half_way)
    assert [f for f, _ in steps] == sorted(f for f, _ in steps) and any("embedded" in m for _, m in steps)
    assert store.current_generation(settings.index_dir) == old.path
    assert [p for p in settings.index_dir.iterdir() if p.name.startswith("gen-")] == [old.path]
    store.load(old.path, store.read_manifest(old.path))
    steps.clear()
    new = build(settings, embedder, progress=lambda f, m: steps.append((f, m)))
    assert steps[-1][0] == 1.0 and "indexed" in steps[-1][1]
    assert max(p.n_words for p in new.passages) <= 120
    assert sum(p.n_words for p in new.passages if p.doc == "corpus/one-line.txt") == len(
        (corpus / "one-line.txt").read_text().split())


# -- 24. duplicates --------------------------------------------------------------------------------


def test_duplicates_are_indexed_once(tmp_path):
    body = "Café Zürich opened in 1961.\nIt serves coffee near the border.\n\nA second paragraph follows here.\n"
    nfd = unicodedata.normalize("NFD", body)
    corpus = make_corpus(tmp_path, {
        "a.txt": body.encode(),
        "b.txt": body.encode(),  # the same file twice
        "sub/renamed.md": body.encode(),  # the same content under another name
        "nfd.txt": nfd.encode(),  # NFD variant
        "crlf.txt": body.replace("\n", "\r\n").encode(),  # CRLF variant
        "utf16.txt": codecs.BOM_UTF16_LE + body.encode("utf-16-le"),  # another encoding
        "bom.txt": codecs.BOM_UTF8 + body.encode(),
        "other.txt": b"A different document about the Tumen river.",
    })
    docs, messages, result = read_all(corpus)
    assert set(docs) == {"corpus/a.txt", "corpus/other.txt"}
    for name in ["b.txt", "sub/renamed.md", "nfd.txt", "crlf.txt", "utf16.txt", "bom.txt"]:
        assert f"skipped corpus/{name}: same content as corpus/a.txt" in messages, messages
    assert result.summary() == "2 indexed, 6 skipped (6 duplicate)"


def test_reingest_is_idempotent(tmp_path, fake_embedder):
    corpus = make_corpus(tmp_path, {"a.txt": ARTICLE.read_bytes(), "copy.txt": ARTICLE.read_bytes()})
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    first = Assistant(settings, embedder=fake_embedder).index
    again = Assistant(settings, embedder=fake_embedder).index
    assert again.path == first.path  # nothing changed: nothing rebuilt
    forced = build(settings, fake_embedder, scorer=Scorer())  # as the Assistant builds: keeping the scorer's vectors
    assert forced.vectors.ntotal == first.vectors.ntotal
    for key in ("files", "counts", "sources", "documents", "ingest", "model", "chunking"):
        assert forced.manifest[key] == first.manifest[key], key


def test_search_never_returns_two_identical_passages(tmp_path, fake_embedder):
    boiler = "This report is distributed free of charge by the Institute for Political Studies in Tehran."
    corpus = make_corpus(tmp_path, {
        "one.txt": f"The treaty was renewed in 1981.\n\n{boiler}\n".encode(),
        "two.txt": f"Coal imports were suspended in 2017.\n\n{boiler}\n\n{boiler}\n".encode(),
    })
    a = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=fake_embedder)
    hits = a.ask("Who distributes the report free of charge?", k=10).hits
    texts = [h.passage.text for h in hits]
    assert boiler in texts and len(texts) == len(set(texts))
    assert [p.id for p in a.index.passages] == list(range(len(a.index.passages)))


# -- 25. directory walk ----------------------------------------------------------------------------


def test_directory_walk_stays_inside_and_reports_every_skip(tmp_path, monkeypatch):
    corpus = make_corpus(tmp_path, {
        "good.txt": b"The treaty was renewed in 1981 and 2001.",
        "sub/inner.md": b"# Inner\n\nCoal imports were suspended in 2017.\n",
        "locked.txt": b"A secret the indexer may not read.",
        "vanishing.txt": b"This file is deleted while the corpus is read.",
        "zz-last.txt": b"The last file, read after the deletion.",
    })
    (corpus / "loop.txt").symlink_to("loop.txt")  # a link to itself
    (corpus / "passwd.txt").symlink_to("/etc/passwd")  # a link out of the corpus
    (corpus / "etc").symlink_to("/etc", target_is_directory=True)  # a folder link out
    (corpus / "sub" / "up").symlink_to("..", target_is_directory=True)  # a folder loop
    (corpus / "inside-link.txt").symlink_to("good.txt")  # inside: followed
    (corpus / "dangling.txt").symlink_to("nowhere.txt")
    os.mkfifo(corpus / "fifo.txt")  # would block a plain open() forever
    (corpus / "locked.txt").chmod(0)
    if os.geteuid() == 0:  # root reads mode-000 files: make it behave as for anyone else
        real_open = os.open

        def deny(path, flags, *args, **kwargs):
            if Path(path).name == "locked.txt":
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", deny)
    import qa.ingest.documents

    real_read = qa.ingest.documents.read_document

    def read_and_delete(path, doc, max_bytes):
        if path.name == "good.txt" and (corpus / "vanishing.txt").exists():
            (corpus / "vanishing.txt").unlink()
        return real_read(path, doc, max_bytes)

    monkeypatch.setattr(qa.ingest.documents, "read_document", read_and_delete)
    docs, messages, result = read_all(corpus)
    monkeypatch.undo()
    assert set(docs) == {"corpus/good.txt", "corpus/sub/inner.md", "corpus/zz-last.txt"}
    expected = {
        "skipped corpus/loop.txt: a broken or looping link",
        "skipped corpus/dangling.txt: a broken or looping link",
        "skipped corpus/passwd.txt: a link that leads outside the corpus folder",
        "skipped corpus/etc: a link to a folder (not followed)",
        "skipped corpus/sub/up: a link to a folder (not followed)",
        "skipped corpus/fifo.txt: not a regular file",
        "skipped corpus/locked.txt: cannot be read (Permission denied)",
        "skipped corpus/vanishing.txt: cannot be read (No such file or directory)",
        "skipped corpus/inside-link.txt: same content as corpus/good.txt",
    }
    assert expected <= set(messages), sorted(set(messages) - expected)
    assert not any("root:" in d.raw for d in docs.values())
    assert result.summary().startswith("3 indexed, 9 skipped (")
    for reason in ["2 a broken or looping link", "2 a link to a folder", "2 cannot be read", "1 duplicate"]:
        assert reason in result.summary(), result.summary()


def test_ten_thousand_small_files(tmp_path, monkeypatch, capsys):
    corpus = tmp_path / "corpus"
    for i in range(10_000):
        folder = corpus / f"d{i // 500:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"note-{i:05d}.txt").write_text(f"Note {i}: the border crossing number {i} opened in {1900 + i % 120}.\n")
    (corpus / "d00" / "empty.txt").write_bytes(b"")
    (corpus / "d01" / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    messages: list[str] = []
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    index = build(settings, HashEmbedder(), warn=messages.append)
    summary = index.manifest["ingest"]["summary"]
    assert summary == "10000 indexed, 2 skipped (1 empty, 1 looks binary)"
    assert index.vectors.ntotal == 10_000 and len(index.manifest["documents"]) == 10_000
    assert sorted(m for m in messages if m.startswith("skipped")) == [
        "skipped corpus/d00/empty.txt: empty", "skipped corpus/d01/image.txt: looks binary"]
    # `qa index` prints the summary and a bounded listing
    import argparse

    import qa.assistant
    import qa.cli

    class Stub:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def reload(self, force: bool = False, progress=None):
            return index

    monkeypatch.setattr(qa.assistant, "Assistant", Stub)
    assert qa.cli.cmd_index(argparse.Namespace(corpus=str(corpus), index=str(tmp_path / "index"), force=False)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "  10000 indexed, 2 skipped (1 empty, 1 looks binary)"
    assert len(out) == 2 + 50 + 1 and out[-1] == "  ... and 9950 more"


def test_offsets_hold_for_every_document_of_a_mixed_corpus(tmp_path):
    corpus = make_corpus(tmp_path, {
        "nfd.txt": unicodedata.normalize("NFD", TEXT + "\n\n" + TEXT).encode(),
        "crlf.txt": (TEXT + "\r\n\r\nSecond para-\r\ngraph here.\r\n").encode(),
        "tabs.txt": ("Col\tumn  two   spaces\u00a0nbsp\u200bzw. " * 20).encode(),
        "long.txt": (("word " * 30 + "end. ") * 2000).encode(),  # > 20,000 characters in one paragraph
    })
    for d in load_corpus(corpus, 10**8):
        for p in chunk([d], 120):
            assert skeleton(d.raw[p.start : p.end]) == skeleton(p.text), (d.doc, p)
            for s in p.sentences:
                assert skeleton(d.raw[s.raw_start : s.raw_end]) == skeleton(p.text[s.start : s.end])


def test_read_document_api_is_unchanged_for_callers(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("The treaty was renewed in 1981.")
    document, note = read_document(path, "corpus/x.txt", 10**6)
    assert note is None and document.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert document.content_sha256 and shutil.which("true") is not None


def test_the_file_size_limit_is_a_setting_with_an_environment_variable(monkeypatch, tmp_path):
    """A long grey scan is larger than 50 MiB (a 41-page one: 59 MB): QA_MAX_FILE_MB raises the limit."""
    from qa.errors import InputError

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with (corpus / "scan.txt").open("wb") as f:
        f.truncate(60 * 1024 * 1024)  # sparse: 60 MiB
    monkeypatch.delenv("QA_MAX_FILE_MB", raising=False)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    assert settings.max_file_bytes == 50 * 1024 * 1024
    assert source_hashes(corpus, settings.max_file_bytes)["corpus/scan.txt"] == "too large: 62914560 bytes"
    monkeypatch.setenv("QA_MAX_FILE_MB", "100")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    assert settings.max_file_bytes == 100 * 1024 * 1024
    assert not source_hashes(corpus, settings.max_file_bytes)["corpus/scan.txt"].startswith("too large")
    for bad in ("0", "big", "5000"):
        monkeypatch.setenv("QA_MAX_FILE_MB", bad)
        with pytest.raises(InputError, match=r"^QA_MAX_FILE_MB must be a whole number of MiB from 1 to 4096 \(got '"):
            Settings(corpus_dir=tmp_path, index_dir=tmp_path)
