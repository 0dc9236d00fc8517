"""Every format's reader: the text a reader sees, in order, with the page or heading path of each
paragraph, and the offset invariant (the extracted text's slice is the passage, exactly)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa.ingest.chunks import chunk, passages_of
from qa.ingest.documents import ingest, read_document
from qa.ingest.running import running_lines
from qa.text import skeleton
from tests.conftest import ARTICLE
from tests.fixtures_formats import PDF_HEADER, make_all


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return make_all(tmp_path_factory.mktemp("formats") / "corpus")


def read(path: Path):
    document, _note = read_document(path, "corpus/" + path.name, 10**8)
    return document


def text_of(document) -> str:
    return "\n".join(p.text for p in document.paragraphs)


@pytest.mark.parametrize("fmt", ["pdf", "docx", "html", "md"])
def test_offsets_index_the_extracted_text_exactly(files, fmt):
    document = read(files[fmt])
    assert document.format == fmt
    passages = list(passages_of(document, 120))
    assert passages
    for p in passages:
        assert document.raw[p.start : p.end] == p.text
        for i, s in enumerate(p.sentences):
            assert document.raw[s.raw_start : s.raw_end] == p.sentence_text(i)
            assert p.page_at(s.raw_start) == document.page_at(s.raw_start)
    for para in document.paragraphs:
        a, b = para.raw_span(0, len(para.text))
        assert document.raw[a:b] == para.text


def test_txt_offsets_stay_raw_file_offsets():
    document = read(ARTICLE)
    raw = ARTICLE.read_text(encoding="utf-8")
    assert document.raw == raw and document.format == "txt" and document.pages is None
    for p in passages_of(document, 120):
        assert skeleton(raw[p.start : p.end]) == skeleton(p.text)


def test_pdf_pages_running_header_and_hyphenation(files):
    document = read(files["pdf"])
    text = text_of(document)
    assert document.pages == 3 and document.title == "Varrow Water Board annual report"
    assert PDF_HEADER not in document.raw and not re.search(r"\bPage \d\b", document.raw)
    assert "sanctioned cargo barges" in text  # hyphenated across a page break
    assert "hydrologist Tomas Wendt" in text  # hyphenated across lines
    assert "a loan from the regional bank. Its engines" in text  # a paragraph cut by the page break
    passages = list(passages_of(document, 120))
    pages = [(p.page_at(s.raw_start), p.sentence_text(i)) for p in passages for i, s in enumerate(p.sentences)]
    where = {fact: next(n for n, s in pages if fact in s)
             for fact in ("Kessel pumping station", "dredged the harbour", "Ilse Marrow")}
    assert where == {"Kessel pumping station": 1, "dredged the harbour": 2, "Ilse Marrow": 3}
    bank = next(p for p in passages if "regional bank" in p.text)
    assert bank.page == 1 and bank.page_at(bank.start + bank.text.index("regional")) == 2


@pytest.mark.parametrize(("fmt", "title", "author"), [
    ("docx", "Kessel Parish Council minutes", "Greta Holm"),
    ("html", "Quillon harbour news", "Edda Voss"),
    ("md", "Tumen river survey", None),
])
def test_sections_are_heading_paths(files, fmt, title, author):
    document = read(files[fmt])
    assert (document.title, document.author) == (title, author)
    body = [p for p in document.paragraphs if p.role == "body"]
    sections = {p.section for p in body}
    assert "Results > Costs" in sections and "Results" in sections
    costs = next(p for p in body if "cost" in p.text)
    assert costs.section == "Results > Costs"
    assert all(p.section for p in body)
    assert document.paragraphs[0].role == "title" and document.paragraphs[0].section is None


def test_a_structured_documents_byline_is_its_author(tmp_path):
    md = tmp_path / "eels.md"
    md.write_text("# Eels of the Lower Varrow\n\nBy Mara Lindqvist\n\n## Migration\n\nEels swim to the Sargasso Sea.\n",
                  encoding="utf-8")
    document = read(md)
    assert document.author == "Mara Lindqvist"
    assert [p.role for p in document.paragraphs[:3]] == ["title", "author", "heading"]
    md.write_text("# Eels of the Lower Varrow\n\nThe Estuary Years\n\nEels swim to the Sargasso Sea.\n", encoding="utf-8")
    document = read(md)  # a capitalised line without "By" may be a subtitle: body, and no author
    assert document.author is None and document.paragraphs[1].role == "body"


def test_docx_has_no_markup_and_a_second_top_section(files):
    document = read(files["docx"])
    lund = next(p for p in document.paragraphs if "Petra Lund" in p.text)
    assert lund.section == "Next steps"


def test_html_drops_script_style_navigation_and_hidden_text(files):
    text = read(files["html"]).raw
    assert "two hundred grain ships" in text and "six million crowns" in text
    for unseen in ("Bram Hollis", "Jorun", "font-family", "Ferry timetable", "Contact the harbour", "Otto Brask",
                   "seagull Pim", "tugboat Marta", "Copyright", "Cookies"):
        assert unseen not in text, unseen


def test_markdown_markup_is_gone(files):
    document = read(files["md"])
    assert "The survey team counted 70 otters along the Tumen river in 2020." in document.raw
    assert "**" not in document.raw and "http://" not in document.raw and "#" not in document.raw


def test_a_corpus_of_every_format_reads_in_one_walk(files):
    result = ingest(files["pdf"].parent, 10**8)
    assert {d.format for d in result.documents} == {"pdf", "docx", "html", "md"} and not result.skipped
    passages = chunk(result.documents, 120)
    assert {p.section for p in passages if p.doc.endswith(".html")} >= {"Results", "Results > Costs"}
    assert {p.page for p in passages if p.doc.endswith(".pdf")} == {1, 2, 3}
    assert all(p.page is None for p in passages if not p.doc.endswith(".pdf"))


def test_running_lines_are_found_by_repetition_not_by_a_list():
    bodies = ["The pumps were new.", "Ships came in May.", "The quay was rebuilt.", "Otters returned.", "Fees rose."]
    pages = [["Report of the Varrow board", bodies[n - 1], "A second line " + "x" * n, f"- {n} -"] for n in range(1, 6)]
    assert running_lines(pages) == [{0, 3}] * 5
    # a line repeated on fewer than half of the pages stays, and so does a single page
    mixed = [["Chapter one", "text"], ["Other", "text two"], ["Other two", "text three"]]
    assert running_lines(mixed) == [set(), set(), set()]
    assert running_lines([["Only page", "1"]]) == [set()]


def test_html_tables_are_read_by_row_and_line_breaks_are_spaces():
    from qa.ingest.formats.html import read_html

    blocks = read_html("<p>one<br>two</p><table><tr><th>Item</th><th>Cost</th></tr>"
                       "<tr><td>Pumps</td><td>4 <b>million</b></td></tr></table>").blocks
    assert [b.text for b in blocks] == ["one two", "Item | Cost", "Pumps | 4 million"]


def test_indexing_shows_a_progress_bar_only_on_a_terminal_and_only_after_a_moment(monkeypatch):
    import io
    import sys

    from qa import console

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    clock = iter([0.0, 0.2, 5.0, 6.0, 7.0])
    monkeypatch.setattr(console.time, "monotonic", lambda: next(clock, 9.0))
    monkeypatch.setattr(sys, "stderr", Terminal())
    with console.progress() as show:
        show(0.1, "reading documents")  # 0.2 s in: too soon for a bar
        assert sys.stderr.getvalue() == ""
        show(0.5, "embedding 40 passages")
        show(1.0, "saving the index")
    assert "embedding 40 passages" in sys.stderr.getvalue() or "saving the index" in sys.stderr.getvalue()
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal: no callback at all
    with console.progress() as show:
        assert show is None


@pytest.mark.parametrize("kind", ["flat", "ivf", "ivf_hnsw"])
def test_a_search_within_some_documents_is_exact_whatever_the_index(kind):
    import types

    import faiss
    import numpy as np

    from qa.search.retrieval import Retriever

    rng = np.random.default_rng(7)
    x = rng.standard_normal((400, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    if kind == "flat":
        index = faiss.IndexFlatIP(16)
    elif kind == "ivf_hnsw":
        from qa.index import vectors as vector_index

        index = vector_index.build(x, 16, vector_index.plan(len(x), 0))
    else:
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(16), 16, 8, faiss.METRIC_INNER_PRODUCT)
        index.train(x)
    if kind != "ivf_hnsw":
        index.add(x)
    if kind == "ivf":
        index.make_direct_map()
    retriever = Retriever.__new__(Retriever)
    retriever.index = types.SimpleNamespace(vectors=index)
    only = np.arange(100, 180, dtype=np.int64)
    q = x[150]
    got = retriever.dense(q, depth=5, only=only)
    want = sorted(only, key=lambda r: -float(x[r] @ q))[:5]
    assert list(got) == [int(r) for r in want] and set(got) <= set(only.tolist())
