"""Tables in PDFs read by PDFium: found from their rules (a ruled grid, booktabs' three rules, one
across both columns with a header over two), kept out of the body's paragraphs, each a passage of
its own under its caption on the right page; and the two columns read in order by PDFium, or by
pdfminer when a page is not drawn in reading order. The papers are made here (tests/papermaker.py)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from qa.ingest.assemble import assemble
from qa.ingest.chunks import passages_of
from qa.ingest.documents import read_document
from qa.ingest.formats import Block, Extracted
from qa.ingest.formats.pdf import read_pdf
from tests.papermaker import (
    AUTHORS,
    FIGURE_CAPTION,
    FOOTNOTE,
    HEADER,
    STAMP,
    TABLES,
    TITLE,
    drawn_pdf,
    paper_pdf,
    paragraph,
)

#: body paragraphs of the three pages, in reading order: left column, then right
BODY = [paragraph(n) for n in range(16)]
TABLE_PAGES = [1, 2, 3]


def read(path: Path):
    document, _note = read_document(path, "corpus/" + path.name, 10**8)
    return document


def row_text(row: tuple[str, ...]) -> str:
    return " | ".join(row)


def figures(table) -> list[str]:
    """The cells of a table's body rows that are figures ("212", "7.2", "3 May 2021")."""
    return [cell for row in table.rows[1:] for cell in row[1:]]


@pytest.fixture(scope="module")
def paper(tmp_path_factory) -> Path:
    return paper_pdf(tmp_path_factory.mktemp("tables") / "varrow-paper.pdf")


def test_every_table_is_found_with_its_caption_then_its_rows(paper):
    document = read(paper)
    tables = [p for p in document.paragraphs if p.role == "table"]
    assert len(tables) == len(TABLES)
    for found, table in zip(tables, TABLES, strict=True):
        lines = found.text.split("\n")
        assert lines[0] == table.caption
        assert [line for line in lines if line.startswith(table.rows[0][0])] == [row_text(table.rows[0])]
        for row in table.rows[1:]:
            assert row_text(row) in lines, (row, lines)
    wide = tables[2].text.split("\n")
    assert wide[1] == "| Low water | | High water"  # the header over two columns each, in its place
    assert len(wide) == 1 + 1 + len(TABLES[2].rows)


def test_no_table_text_in_any_body_paragraph_and_the_columns_in_order(paper):
    extracted = read_pdf(paper.read_bytes())
    assert extracted.notes == []  # every page read by PDFium, in its drawing order
    document = read(paper)
    body = [p.text for p in document.paragraphs if p.role == "body"]
    assert [t for t in body if t.startswith("The ")] == BODY  # left column, then right, page by page
    assert FIGURE_CAPTION in body and f"1 {FOOTNOTE}" in body  # a figure's caption and a footnote stay
    for p in passages_of(document, 120):
        assert document.raw[p.start : p.end] == p.text
        if p.role == "table":
            continue
        for table in TABLES:
            assert table.caption not in p.text
            for figure in figures(table):
                assert not re.search(rf"(?<![\w.]){re.escape(figure)}(?![\w.])", p.text), (figure, p.text)


def test_each_table_is_one_passage_on_its_page_cut_between_rows(paper):
    document = read(paper)
    passages = list(passages_of(document, 120))
    tables = [p for p in passages if p.role == "table"]
    assert [p.page for p in tables] == TABLE_PAGES
    for p, table in zip(tables, TABLES, strict=True):
        assert p.text.startswith(table.caption) and p.section == table.caption.rstrip(".")
        assert [p.sentence_text(i) for i in range(len(p.sentences))] == p.text.split("\n")  # a row a sentence
        assert p.page_at(p.start) == p.page == p.page_at(p.end - 1)
    # a short passage size cuts the long table between rows; each part still says which table it is
    whole = next(q.text for q in document.paragraphs if q.role == "table" and q.text.startswith(TABLES[2].caption))
    parts = [p for p in passages_of(document, 20) if p.role == "table" and p.text in whole]
    assert len(parts) > 1 and "\n".join(p.text for p in parts) == whole
    assert all(set(p.text.split("\n")) <= set(whole.split("\n")) for p in parts)  # whole rows only
    assert all(p.search_text().startswith(TABLES[2].caption.rstrip(".")) for p in parts)


def test_the_title_comes_from_the_type_and_the_stamp_and_header_are_gone(paper):
    document = read(paper)
    assert document.title == " ".join(TITLE)
    assert document.author == AUTHORS.replace(" and ", ", ")
    assert STAMP.split()[0] not in document.raw and HEADER not in document.raw
    assert document.pages == 3 and document.format == "pdf"


@pytest.mark.parametrize("order", ["columns", "reversed", "across"])
def test_a_page_drawn_out_of_reading_order_is_read_by_pdfminer(tmp_path, order):
    path = drawn_pdf(tmp_path / f"{order}.pdf", order)
    extracted = read_pdf(path.read_bytes())
    assert extracted.notes == ([] if order == "columns" else ["pdfminer read pages 1 (not drawn in reading order)"])
    document = read(path)
    assert [p.text for p in document.paragraphs if p.role == "body"] == [paragraph(n) for n in range(6)]
    [table] = [p for p in document.paragraphs if p.role == "table"]
    assert table.text.split("\n") == [TABLES[1].caption, *map(row_text, TABLES[1].rows)]


def test_the_old_engine_reads_the_same_body_text(paper):
    """pdfminer for every page (the reader before PDFium) gives the same prose, tables aside."""
    new, old = (assemble(read_pdf(paper.read_bytes(), engine)) for engine in ("auto", "pdfminer"))
    body = [p.text for p in new.paragraphs if p.role == "body" and p.text.startswith("The ")]
    assert body == BODY
    assert sorted(body) == sorted(p.text for p in old.paragraphs if p.text in BODY)
    assert new.title == old.title


def _extracted(*blocks: Block) -> Extracted:
    return Extracted("pdf", list(blocks), pages=max(b.page or 1 for b in blocks), flowing=True)


def test_a_table_between_the_halves_of_a_paragraph_keeps_its_page_and_the_paragraph_is_mended():
    cut = ("The survey boats left the Kessel quay at dawn on every morning of the long survey season and "
           "they came back at")
    rest = "dusk with the readings of the day, which the keeper copied into the ledger."
    table = "Table 4: Boats by month.\nMonth | Boats\nMay | 4\nJune | 6"
    assembled = assemble(_extracted(Block(cut, page=1), Block(table, page=1, kind="table"), Block(rest, page=2)))
    roles = [(p.role, p.text) for p in assembled.paragraphs]
    assert roles == [("table", table), ("body", f"{cut} {rest}")]
    assert assembled.text == f"{table}\n\n{cut} {rest}"
    assert assembled.page_starts == (0, len(table) + 2 + len(cut) + 1)
    document = type("D", (), {})()  # only what passages_of reads
    document.doc, document.title, document.author = "corpus/t.pdf", "T", None
    document.paragraphs, document.page_starts = assembled.paragraphs, assembled.page_starts

    def page_at(offset: int) -> int:
        return sum(1 for s in assembled.page_starts if s <= offset) or 1

    document.page_at = page_at
    passages = list(passages_of(document, 120))  # type: ignore[arg-type]
    assert [(p.role, p.page) for p in passages] == [("table", 1), ("body", 1)]
    assert passages[1].page_at(passages[1].start + passages[1].text.index("dusk")) == 2


def test_a_page_holding_only_a_table_begins_at_the_table():
    table = "Table 1: Tides.\nDay | High\nMonday | 4.1"
    assembled = assemble(_extracted(Block("The first page has a paragraph.", page=1),
                                    Block(table, page=2, kind="table"), Block("The third page too.", page=3)))
    assert [p.role for p in assembled.paragraphs] == ["body", "table", "body"]
    starts = assembled.page_starts
    assert assembled.text[starts[1] :].startswith("Table 1: Tides.") and assembled.text[starts[2] :] == "The third page too."


def test_a_question_about_a_figure_in_a_table_finds_the_table(tmp_path, embedder):
    from qa import Assistant, Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    paper_pdf(corpus / "varrow-paper.pdf")
    assistant = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=embedder)
    result = assistant.ask("What was the running cost per hour of the Tumen pump in 2020?", k=3)
    top = result.hits[0]
    assert top.passage.role == "table" and top.citation.page == 1
    assert "Tumen | 243 | 251 | 238" in top.passage.text and top.passage.text.startswith(TABLES[0].caption)
    # the quote is the row (the models read it under its caption and header), the short answer its
    # cell under the column the question names, both cited to their exact characters
    answer = result.answer
    assert answer is not None and answer.text == "Tumen | 243 | 251 | 238" and answer.citation.page == 1
    assert answer.span is not None and answer.span.text == "251"
    raw = assistant.document("corpus/varrow-paper.pdf").raw
    assert raw[answer.citation.start : answer.citation.end] == answer.text
    assert raw[answer.span.raw_start : answer.span.raw_end] == "251"
    result = assistant.ask("How many eels per net did the Bralle station count in summer?", k=3)
    assert result.hits[0].passage.role == "table" and result.hits[0].citation.page == 2
    assert "Bralle | 21 | 40 | 33" in result.hits[0].passage.text
    assert result.answer is not None and result.answer.text == "Bralle | 21 | 40 | 33"
    assert result.answer.span is not None and result.answer.span.text == "40"
    # asked which row is largest or smallest under a column, the column's figures choose the row
    # quoted (the models put the header first: it holds the question's words, the rows hold figures)
    for question, row, cell in (("Which pump was the cheapest to run in 2021?", "Quillon | 187 | 176 | 190", "190"),
                                ("Which station counted the most eels in summer?", "Bralle | 21 | 40 | 33", "40")):
        result = assistant.ask(question, k=3)
        assert result.answer is not None and result.answer.text == row
        assert result.answer.span is not None and result.answer.span.text == cell
    # asked for a column, the header row holds no figure: the table is quoted from it to its last row
    result = assistant.ask("What were the running costs in 2021?", k=3)
    assert result.answer is not None and result.answer.span is None
    assert result.answer.text.split("\n") == [" | ".join(r) for r in TABLES[0].rows]
    assert raw[result.answer.citation.start : result.answer.citation.end] == result.answer.text


def test_a_title_answers_what_it_is_called_and_never_a_who_it_does_not_name(tmp_path, embedder):
    """The title repeats the question's names ("Varrow") and no model judges it; its other capitals
    are title case ("Pumps, Eels and Channels"), which the body writes in lower case: no name in it
    answers "who", so qa abstains and still lists the nearest passages."""
    from qa import Assistant, Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    paper_pdf(corpus / "varrow-paper.pdf")
    assistant = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=embedder)
    result = assistant.ask("Who finished the Varrow dam?", k=3)
    assert result.answer is None and result.reason == "The best match gives no name for this."
    assert len(result.hits) == 3 and any(h.passage.role == "title" for h in result.hits)
    # asked for the paper's own title, the title answers, though the body's sentences score higher
    # "What is this paper called?" finds the body's passages, not the title: in a search of one
    # document the title is placed first, and the passages stay in the order of their shown scores
    for question in ("What is the title of this paper?", "What is this paper called?", "What's this paper titled?"):
        result = assistant.ask(question, k=3)
        assert result.answer is not None and result.answer.text == "Pumps, Eels and Channels of the Lower Varrow Estuary"
        assert result.answer.citation.page == 1 and result.hits[0].passage.role == "title"
        assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)


def _table(text: str, section: str | None = "Table 1: Running cost of each pump in euros per hour"):
    from qa.ingest.chunks import Passage, Sentence

    lines, at = [], 0
    for line in text.split("\n"):
        lines.append(Sentence(at, at + len(line), at, at + len(line)))
        at += len(line) + 1
    return Passage(0, "corpus/p.pdf", "P", 1, 0, len(text), text, tuple(lines), role="table", section=section)


def test_a_table_row_is_read_in_words_under_its_caption_and_header():
    p = _table("Table 1: Running cost of each pump in euros per hour.\nPump | 2019 | 2020\nTumen | 243 | 251\n | | 9")
    assert p.reading_text(0) == "Table 1: Running cost of each pump in euros per hour."
    assert p.reading_text(2) == "Table 1: Running cost of each pump in euros per hour. Pump: Tumen; 2019: 243; 2020: 251"
    assert p.reading_text(3) == "Table 1: Running cost of each pump in euros per hour. 2020: 9"  # empty cells left out
    later = _table("Quillon | 187 | 176\nKessel | 212 | 198")  # a later part of a long table: no header
    assert later.table_header() is None
    assert later.reading_text(1) == "Table 1: Running cost of each pump in euros per hour. Kessel, 212, 198"
    body = replace(p, role="body")
    assert body.reading_text(2) == body.sentence_text(2) == "Tumen | 243 | 251"


def test_the_cell_is_the_one_under_the_column_the_question_names():
    from qa.answer.shortanswer import table_cell

    p = _table("Table 1: Running cost of each pump in euros per hour.\nPump | 2019 | 2020\nTumen | 243 | 251")
    cell = table_cell("What did the Tumen pump cost in 2020?", p, "Tumen | 243 | 251", 0.9)
    assert cell is not None and "Tumen | 243 | 251"[cell.start : cell.end] == "251" and cell.confidence == 0.9
    assert table_cell("What did the Tumen pump cost?", p, "Tumen | 243 | 251", 0.9) is None  # no column named
    assert table_cell("Was 2019 or 2020 dearer for Tumen?", p, "Tumen | 243 | 251", 0.9) is None  # two
    assert table_cell("What were the costs in 2020?", p, "Pump | 2019 | 2020", 0.9) is None  # the header itself


def _word(text: str, x0: float, baseline: float, size: float = 10.0, first: int = 0):
    from qa.ingest.formats.pdfwords import Word

    x1 = x0 + 0.5 * size * len(text)
    return Word(text, x0, x1, baseline - 0.25 * size, baseline + 0.9 * size, baseline, size,
                (size, 0.0, 0.0, size, x0, baseline), first, first + len(text) - 1)


def test_prose_between_rules_a_frame_and_a_drawing_of_many_rules_are_no_tables():
    from qa.ingest.formats.pdftables import find_tables
    from qa.ingest.formats.pdfwords import Rule

    prose = ["the", "keeper", "wrote", "the", "readings", "into", "a", "ledger"]
    words = []
    for row in range(20):  # two columns of prose between a header rule and a footer rule
        for left in (60.0, 320.0):
            x = left
            for w in prose:
                words.append(_word(w, x, 700 - 14 * row, first=len(words)))
                x += 0.5 * 10 * len(w) + 3
    header_footer = [Rule(True, 750, 60, 540), Rule(True, 400, 60, 540)]
    assert find_tables(header_footer, words) == []
    frame = [Rule(True, 750, 50, 550), Rule(True, 400, 50, 550), Rule(False, 50, 400, 750), Rule(False, 550, 400, 750)]
    assert find_tables(frame, words) == []
    drawing = [Rule(True, 1.5 * i, 0, 600) for i in range(500)] + [Rule(False, 1.2 * i, 0, 800) for i in range(500)]
    assert find_tables(drawing, words) == []  # a map or a plot of thousands of lines: not looked into
    figures = [_word(t, 100 + 60 * c, 300 - 14 * r, first=1000 + 10 * r + c)
               for r, row in enumerate((("Pump", "2019", "2020"), ("Kessel", "212", "198"), ("Tumen", "243", "251")))
               for c, t in enumerate(row)]
    [table] = find_tables([Rule(True, 315, 90, 300), Rule(True, 297, 90, 300), Rule(True, 260, 90, 300)], figures)
    assert table.lines() == ["Pump | 2019 | 2020", "Kessel | 212 | 198", "Tumen | 243 | 251"]


def test_the_row_with_the_largest_or_smallest_figure_under_the_named_column():
    from qa.answer.tables import extreme_row, figure, superlative

    p = _table("Table 1: Running cost of each pump in euros per hour.\nPump | 2019 | 2020\nKessel | 212 | 1,198\n"
               "Quillon | 187 | 176\nTumen | 243 | n/a")
    assert superlative("Which pump was the least expensive?") == "min" and superlative("the most eels") == "max"
    assert superlative("Which pump ran in 2020?") is None and figure("1,198 m") == 1198.0 and figure("n/a") is None
    assert p.sentence_text(extreme_row("Which pump was the cheapest to run in 2019?", p, True) or 0) == "Quillon | 187 | 176"
    assert p.sentence_text(extreme_row("Which pump cost the most in 2020?", p, True) or 0) == "Kessel | 212 | 1,198"
    assert extreme_row("Which pump cost the most in 2020?", p, False) is None  # the table runs on past this part
    assert extreme_row("Which pump cost the most?", p, True) is None  # which year?
    assert extreme_row("Which pump cost more in 2020?", p, True) is None  # no superlative: the models' row stays
    totals = _table("Table 1: Running cost of each pump in euros per hour.\nPump | 2019\nKessel | 212\nQuillon | 187\n"
                    "Total | 399")
    assert totals.sentence_text(extreme_row("Which pump cost the most in 2019?", totals, True) or 0) == "Kessel | 212"
    tie = _table("Table 1: Running cost of each pump in euros per hour.\nPump | 2019\nKessel | 187\nQuillon | 187")
    assert extreme_row("Which pump was the cheapest in 2019?", tie, True) is None
    # no column named: the table's only column of figures, never a column of words beside it
    one = _table("Table 2: The pumps.\nPump | Maker | Cost per hour\nKessel | Voss & Co | 212\nQuillon | Arden 2 | 187\n"
                 "Tumen | Arden | 243", section="Table 2: The pumps")
    assert one.sentence_text(extreme_row("Which pump is the cheapest?", one, True) or 0) == "Quillon | Arden 2 | 187"
    assert one.sentence_text(extreme_row("Which is the costliest pump?", one, True) or 0) == "Tumen | Arden | 243"
    assert extreme_row("Which pump is the most reliable?", one, True) is None  # no figure here says so


def test_a_tables_caption_or_header_picked_quotes_the_table_and_a_row_itself():
    from qa.answer.tables import WHOLE_ROWS, quoted_rows

    p = _table("Table 1: Running cost of each pump in euros per hour.\nPump | 2019\nKessel | 212\nQuillon | 187")
    assert quoted_rows(p, 0, True) == (0, 3) and quoted_rows(p, 1, True) == (1, 3) and quoted_rows(p, 2, True) == (2, 2)
    assert quoted_rows(p, 1, False) == (1, 1)  # the table runs on into the next passage
    rows = "\n".join(f"Pump{n} | {n}" for n in range(WHOLE_ROWS + 1))
    long = _table(f"Table 1: Running cost of each pump in euros per hour.\nPump | 2019\n{rows}")
    assert quoted_rows(long, 1, True) == (1, 1)  # too long to quote whole
