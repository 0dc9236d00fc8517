"""Loading and repairing documents, sentence-aware passages, and the offset invariant."""

from __future__ import annotations

import codecs
import re
import unicodedata
from pathlib import Path

import pytest

from qa.ingest.chunks import chunk
from qa.ingest.documents import load_corpus, read_document
from qa.ingest.layout import repair
from qa.ingest.sentences import split
from qa.text import skeleton
from tests.conftest import ARTICLE, SHARED, needs_shared

RAW = ARTICLE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def article():
    document, note = read_document(ARTICLE, "corpus/" + ARTICLE.name, 10**8)
    assert note is None
    return document


def check_offsets(document, passages) -> None:
    """The raw slice and the displayed text agree once non-word characters are removed."""
    assert passages
    for p in passages:
        assert skeleton(document.raw[p.start : p.end]) == skeleton(p.text), p
        for s in p.sentences:
            assert skeleton(document.raw[s.raw_start : s.raw_end]) == skeleton(p.text[s.start : s.end])
            assert p.start <= s.raw_start < s.raw_end <= p.end


#: SHA-256 of the seed article (../shared/seed), recorded so that a clone alone checks it too
SEED_SHA256 = "25ccb78d9255640c2b8ef2a96707511ef9498d14c238de95c763f8b6aae3bb78"


def test_article_is_shipped_byte_for_byte():
    import hashlib

    assert hashlib.sha256(ARTICLE.read_bytes()).hexdigest() == SEED_SHA256


@needs_shared(f"seed/{ARTICLE.name}")
def test_article_is_the_seed_byte_for_byte():
    assert (SHARED / "seed" / ARTICLE.name).read_bytes() == ARTICLE.read_bytes()


def test_offsets_invariant_on_the_article(article):
    check_offsets(article, chunk([article], 120))


def test_artefacts_are_repaired(article):
    text = "\n".join(p.text for p in article.paragraphs)
    assert "sanctions resolution, which for the first time" in text
    assert "China-North Korea association may" in text
    assert "coming from Moscow - pushed" in text
    assert "North Korea despite the collapse" in text
    assert "remains in force until agreement is reached" in text
    assert not re.search(r"sanc-\s*tions|associa-\s*tion|\n\s*\n", text)
    assert all("  " not in p.text and p.text == p.text.strip() for p in article.paragraphs)


def test_title_author_and_pull_quote(article):
    assert article.title == "China and North Korea: The Uneasy Partnership"
    assert article.author == "Hossein Ebrahim Khani"
    assert article.affiliation and article.affiliation.startswith("Research Fellow, Institute for Political")
    roles = [p.role for p in article.paragraphs]
    assert roles[:4] == ["title", "pullquote", "author", "affiliation"]
    assert [p.number for p in article.paragraphs] == list(range(1, len(roles) + 1))
    passages = chunk([article], 120)
    assert [p.role for p in passages[:3]] == ["title", "author", "affiliation"]
    assert "The title of the article: China and North Korea: The Uneasy Partnership" in passages[0].search_text()
    opening = "A new phase of strained relationship surfaced"
    # the pull-quote repeats paragraph 11; only the paragraph itself is a passage
    assert [p.paragraph for p in passages if p.text.startswith(opening)] == [11]


def test_passages_are_whole_sentences_of_at_most_120_words(article):
    passages = chunk([article], 120)
    assert max(p.n_words for p in passages) <= 120
    assert [p.id for p in passages] == list(range(len(passages)))
    for p in passages:
        assert p.text[-1] in ".”\"" or p.role in ("title", "author", "affiliation")


def test_abbreviations_do_not_end_sentences():
    text = "Mr. Kim met the U.S. envoy at the U.N. in New York. Then he left for Pyongyang."
    spans = split(text)
    assert [text[a:b] for a, b in spans] == [
        "Mr. Kim met the U.S. envoy at the U.N. in New York.",
        "Then he left for Pyongyang.",
    ]


NON_ASCII = (
    "ÉTUDE DU CAFÉ: ZÜRICH ET SÃO PAULO\r\n\r\nMarie-Hélène Dupré\r\n\r\n"
    "Le café « noir » de Zürich coûte 4 € — selon l’étude de 2021, les prix ont aug-\r\nmenté. "
    "Au Japon, 東京 reste plus cher… Mr. Dupré ajoute que le thé, lui, est resté stable\r\n\r\n\r\n"
    "malgré la crise. Une cafe\u0301 en NFD suit ici.\r\n"
)


def test_offsets_invariant_on_a_non_ascii_fixture(tmp_path: Path):
    path = tmp_path / "étude.txt"
    path.write_bytes(codecs.BOM_UTF8 + NON_ASCII.encode("utf-8"))
    document, _ = read_document(path, "corpus/étude.txt", 10**8)
    assert document.raw == NON_ASCII  # BOM stripped, CRLF kept: offsets are into the file's text
    passages = chunk([document], 120)
    check_offsets(document, passages)
    joined = " ".join(p.text for p in passages)
    assert "augmenté" in joined
    assert "stable malgré la crise" in joined
    assert "café en NFD" in joined and unicodedata.is_normalized("NFC", joined)
    assert document.author == "Marie-Hélène Dupré"


def test_hyphenated_compounds_are_kept_when_the_text_uses_them():
    layout = repair("The Beijing-Pyongyang axis held. Ties between Beijing-\nPyongyang grew.\n")
    assert "between Beijing-Pyongyang grew" in layout.paragraphs[0].text


def test_bad_files_are_skipped_with_one_line_each(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.md").write_text("# Notes\n\nThe treaty was renewed twice, in 1981 and 2001.\n")
    (corpus / "legacy.txt").write_bytes("Caf\xe9 cr\xe8me co\xfbte cher \x96 tr\xe8s cher.".encode("latin-1"))
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "blank.txt").write_bytes(b"  \n\t\n\x01\x02")
    (corpus / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (corpus / "noise.txt").write_bytes(bytes(range(256)) * 4)
    (corpus / "ignored.pdf").write_bytes(b"%PDF-1.4")
    messages: list[str] = []
    documents = load_corpus(corpus, 10**8, messages.append)
    assert sorted(d.doc for d in documents) == ["corpus/good.md", "corpus/legacy.txt"]
    assert "skipped corpus/empty.txt: empty" in messages
    assert "skipped corpus/blank.txt: empty" in messages
    assert "skipped corpus/image.txt: looks binary" in messages
    assert "skipped corpus/noise.txt: looks binary" in messages
    assert any(m.startswith("read corpus/legacy.txt as ") and "not UTF-8" in m for m in messages)
    assert all("\n" not in m for m in messages)
    legacy = next(d for d in documents if d.doc == "corpus/legacy.txt")
    assert "Café crème coûte cher" in legacy.paragraphs[0].text
    good = next(d for d in documents if d.doc == "corpus/good.md")
    assert good.title == "Notes"


def test_utf16_with_bom_is_text_not_binary(tmp_path: Path):
    path = tmp_path / "u16.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + "Kim visited Beijing in March 2018.".encode("utf-16-le"))
    document, note = read_document(path, "corpus/u16.txt", 10**8)
    assert document.paragraphs[0].text == "Kim visited Beijing in March 2018."
    assert note and "utf-16" in note
