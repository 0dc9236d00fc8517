"""The reader's own documents through the CLI and the Python API, with the real model: `qa add`,
`qa list`, `qa show`, `qa ask --doc` and `"docs"` on stdin, `qa remove`; page and section citations
that `qa show`'s text confirms character for character."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa import Assistant, Settings
from tests.fixtures_formats import make_all
from tests.test_cli import run


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[list[str], dict[str, Path]]:
    root = tmp_path_factory.mktemp("formats-cli")
    files = make_all(root / "incoming")
    (root / "incoming" / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really")
    dirs = ["--corpus", str(root / "corpus"), "--index", str(root / "index")]
    done = run("add", *dirs, *(str(p) for p in files.values()), str(root / "incoming" / "broken.pdf"))
    assert done.returncode == 1, done.stderr  # one file was refused
    assert sorted(line.split(":")[0] for line in done.stdout.splitlines()) == [
        "added corpus/board-report.pdf", "added corpus/council-minutes.docx", "added corpus/harbour-news.html",
        "added corpus/river-survey.md"]
    refused = [line for line in done.stderr.splitlines() if line.startswith("qa: skipped")]
    assert refused == [f"qa: skipped {root / 'incoming' / 'broken.pdf'}: not a readable PDF (PSEOF)"] or (
        len(refused) == 1 and "broken.pdf: not a readable PDF" in refused[0]), done.stderr
    return dirs, files


def ask_json(dirs: list[str], question: str, *docs: str) -> dict:
    flags = [x for d in docs for x in ("--doc", d)]
    done = run("ask", *dirs, "--json", "-k", "3", *flags, question)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def shown(dirs: list[str], doc: str) -> str:
    done = run("show", *dirs, doc)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_list_shows_title_format_pages_passages_and_when(library):
    dirs, _files = library
    done = run("list", *dirs, "--json")
    rows = {r["doc"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert set(rows) == {"corpus/board-report.pdf", "corpus/council-minutes.docx", "corpus/harbour-news.html",
                         "corpus/river-survey.md"}
    pdf = rows["corpus/board-report.pdf"]
    assert (pdf["format"], pdf["pages"], pdf["title"]) == ("pdf", 3, "Varrow Water Board annual report")
    assert rows["corpus/council-minutes.docx"]["pages"] is None and all(r["passages"] > 0 for r in rows.values())
    assert all(r["indexed"].startswith("20") for r in rows.values())
    text = run("list", *dirs).stdout
    assert "Kessel Parish Council minutes\tdocx" in text and "3 pages" in text


def test_a_pdf_answer_cites_its_page_and_show_confirms_it(library):
    dirs, _files = library
    result = ask_json(dirs, "Which hydrologist did the members elect?", "board-report.pdf")
    answer = result["answer"]
    assert "Tomas Wendt" in answer["text"]
    c = answer["citation"]
    assert (c["doc"], c["page"], c["section"]) == ("corpus/board-report.pdf", 3, None)
    assert shown(dirs, "board-report.pdf")[c["start"] : c["end"]] == answer["text"]
    assert {p["citation"]["doc"] for p in result["passages"]} == {"corpus/board-report.pdf"}
    human = run("ask", *dirs, "--doc", "board-report.pdf", "Which hydrologist did the members elect?")
    assert "page 3, paragraph" in human.stdout


@pytest.mark.parametrize(("question", "doc", "fact", "section"), [
    ("How much will the library cost?", "council-minutes.docx", "three million crowns", "Results > Costs"),
    ("How much did repairing the north breakwater cost?", "harbour-news.html", "six million crowns",
     "Results > Costs"),
    ("How many otters did the survey count?", "river-survey.md", "70 otters", "Results"),
])
def test_sections_are_cited_for_word_html_and_markdown(library, question, doc, fact, section):
    dirs, _files = library
    answer = ask_json(dirs, question, doc)["answer"]
    assert fact in answer["text"] and answer["citation"]["section"] == section
    assert answer["citation"]["page"] is None
    assert shown(dirs, doc)[answer["citation"]["start"] : answer["citation"]["end"]] == answer["text"]


def test_docs_in_the_json_request_limit_the_search(library):
    dirs, _files = library
    lines = [json.dumps({"question": "What did it cost?", "docs": ["harbour-news.html"]}),
             json.dumps({"question": "What did it cost?", "docs": ["Tumen river survey"]}),
             json.dumps({"question": "What did it cost?", "docs": "not a list"}),
             json.dumps({"question": "What did it cost?", "docs": ["no-such.pdf"]})]
    done = run("ask", *dirs, "--json", "-", stdin="\n".join(lines) + "\n")
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert {p["citation"]["doc"] for p in out[0]["passages"]} == {"corpus/harbour-news.html"}
    assert {p["citation"]["doc"] for p in out[1]["passages"]} == {"corpus/river-survey.md"}
    assert out[2]["error"] == "docs must be a list of strings"
    assert "No document is called 'no-such.pdf'" in out[3]["error"]
    assert done.returncode == 1


def test_the_python_api_cites_pages_and_sections(library, embedder):
    dirs, _files = library
    a = Assistant(Settings(corpus_dir=Path(dirs[1]), index_dir=Path(dirs[3])), embedder=embedder)
    r = a.ask("How deep was the harbour channel dredged?", docs=["Varrow Water Board annual report"])
    assert "eleven metres" in r.answer.text and r.answer.citation.page == 2
    assert r.to_json()["answer"]["citation"]["page"] == 2
    ctx = a.context(r.answer.citation)
    (h0, h1), page_text = ctx["page_highlight"], ctx["page_text"]
    assert ctx["page"] == 2 and page_text[h0:h1] == r.answer.text and "Ilse Marrow" not in page_text
    r = a.ask("Who will present the final drawings?", docs=["council-minutes.docx"])
    assert "Petra Lund" in r.answer.text and r.answer.citation.section == "Next steps"
    assert "Next steps" in r.answer.citation.label()
    ctx = a.context(r.answer.citation)
    assert ctx["section"] == "Next steps" and ctx["page"] is None and "page_text" not in ctx
    # the document view: the extracted text `qa show` prints (all of it, short as it is), cited range inside
    (d0, d1), raw = ctx["document_highlight"], a.document("council-minutes.docx").raw
    assert ctx["document_whole"] and ctx["document_text"] == raw[ctx["document_offset"]:][: len(ctx["document_text"])]
    assert ctx["document_text"][d0:d1] == r.answer.text


def test_remove_and_show_errors(library, tmp_path):
    dirs, files = library
    done = run("show", *dirs, "missing.pdf")
    assert done.returncode == 1 and "No document is called 'missing.pdf'" in done.stderr
    done = run("remove", *dirs, "river-survey.md")
    assert done.returncode == 0 and done.stdout.startswith("removed corpus/river-survey.md")
    assert "river-survey" not in run("list", *dirs).stdout
    done = run("add", *dirs, str(files["md"]))  # back again, for the other tests
    assert done.returncode == 0, done.stderr
