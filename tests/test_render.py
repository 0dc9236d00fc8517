"""What the chat page shows, without a browser: escaping, replies, panels, exports; and the upload checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from qa.errors import InputError
from qa.ingest import library as uploads
from qa.serve import pagecheck as check
from qa.serve import render

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "![p](http://10.0.0.1/p.png)",
    "<img src=http://10.0.0.1/p.png>",
    '<form action="http://10.0.0.1/"><button>Go</button></form>',
    '<div style="position:fixed;top:0">cover</div>',
    "http://10.0.0.1/x and www.example.com and x@example.com",
    "*bold* _it_ `code` ~~gone~~ $$x$$ | a | b |",
    "# heading",
    "1. a list",
    "- a list",
    "&lt;script&gt; is an entity",
    "a\u202eb\u200bc\x1b[31m",
]


def _citation(**over):
    c = {"id": 1, "doc": "corpus/a.txt", "title": "A <b>title</b>", "paragraph": 3, "start": 10, "end": 60,
         "passage_id": 0}
    return {**c, **over}


def _result(answer=True, query=None, text="First sentence here. The answer <script>x</script> is 42. Last one."):
    hits = [{"rank": 1, "score": 0.9, "dense": 0.8, "lexical": 0.7, "text": text, "highlight": [[21, 57]],
             "citation": _citation()},
            {"rank": 2, "score": 0.5, "dense": 0.4, "lexical": 0.3, "text": "Another [link](http://x.y) passage.",
             "highlight": [[0, 35]], "citation": _citation(id=2, paragraph=4, start=70, end=105, passage_id=1)}]
    return {
        "question": "What is the answer?",
        "query": query or "What is the answer?",
        "answer": {"text": text[21:57], "citation": _citation(start=31, end=66), "score": 0.8} if answer else None,
        "reason": None if answer else "They never mention “<b>Zork</b>”.",
        "passages": hits,
    }


@pytest.mark.parametrize("s", HOSTILE)
def test_text_is_shown_never_markup(s):
    out = render.text(s)
    assert "<" not in out and ">" not in out
    assert not re.search(r"(?<!\\)[\[\]`*_~$|!]", out), "inline markdown is escaped"
    assert not re.search(r"(?i)(https?|ftp):(?!\\)|://|www\.", out.replace("\\:", "")), "no autolink survives"
    assert not re.search(r"\S@", out.replace("\\@", "")), "no e-mail autolink"
    assert not re.match(r"\s*([#+\-]|\d+[.)])\s", out), "no block marker at the start"
    assert "\u202e" not in out and "\u200b" not in out and "\x1b" not in out


def test_text_keeps_ordinary_prose_readable():
    s = "In 1961 China and North Korea concluded the Sino-North Korean “Treaty on Friendship,” (1981, 2001)."
    assert render.text(s) == s


def test_marked_wraps_the_ranges_and_escapes_the_rest():
    out = render.marked("ab <c> de", [[3, 6]])
    assert out == "ab <mark>&lt;c&gt;</mark> de"
    assert render.marked("abc", [[0, 0]]) == "abc"
    assert render.marked("abcdef", [[4, 99], [0, 2]]) == "<mark>ab</mark>cd<mark>ef</mark>"


def _cite(turn, rank):
    return (f'<span class="qa-cite qa-cite-{turn}-{rank}" role="button" tabindex="0" '
            f'title="Show [{rank}] in its context">[{rank}]</span>')


def test_reply_quotes_the_answer_with_its_marker_and_passages():
    out = render.reply(_result(), turn=3)
    first = out.split("\n\n")[0]
    assert first == f"> <mark>“The answer &lt;script&gt;x&lt;/script&gt; is 42.”</mark> {_cite(3, 1)}"
    # one label per source: the passage's citation, with the quoted sentence's range inside it
    assert f"{_cite(3, 1)} *A &lt;b&gt;title&lt;/b&gt;* · paragraph 3 · characters 10–60, quoted sentence 31–66  \n" in out
    assert f"{_cite(3, 2)} *A &lt;b&gt;title&lt;/b&gt;* · paragraph 4 · characters 70–105  \n" in out
    assert out.count(_cite(3, 1)) == 2 and out.count(_cite(3, 2)) == 1  # the quote's marker, then the label
    assert "(the quoted sentence)" not in out
    assert "<mark>The answer &lt;script&gt;x&lt;/script&gt; is 42.</mark>" in out  # highlighted in its passage
    assert "<details><summary>Other top passages (1)</summary>" in out
    assert "\\[link\\](http://x.y)" not in out and "\\[link\\](http\\://x.y)" in out
    assert "Searched for" not in out
    assert "<script>" not in out


def test_raw_scores_stay_out_of_the_page():
    result = _result()
    for shown in (render.reply(result), render.sources(result), render.reply(_result(answer=False))):
        assert "score" not in shown and "0.9" not in shown and "0.8" not in shown


def test_confidence_in_words_with_the_number_on_hover():
    assert "onfidence" not in render.reply(_result())  # until the scorer gives one, nothing
    result = _result()
    for value, word in [(0.93, "high"), (0.8, "high"), (0.62, "medium"), (0.2, "low"), (0, "low"), (1, "high")]:
        result["answer"]["confidence"] = value
        shown = render.reply(result)
        assert f'<span class="qa-confidence" title="confidence {value:.2f}: ' in shown
        assert f">Confidence: {word}</span>" in shown
        assert f"Confidence: {word}" in render.sources(result)
    for bad in (True, 1.5, -0.1, float("nan"), "0.9", None):
        result["answer"]["confidence"] = bad
        assert "onfidence" not in render.reply(result)


def test_citations_carry_only_numbers():
    assert render.cite(2, 5) == _cite(2, 5)
    assert render.cite(0, 1, "[1] paragraph 3", is_open=True).startswith('<span class="qa-cite qa-cite-0-1 qa-open" ')
    with pytest.raises((TypeError, ValueError)):
        render.cite(0, "1\" onclick=\"x")  # type: ignore[arg-type]


def test_reply_shows_the_searched_query_when_it_differs():
    out = render.reply(_result(query="earlier question What is the answer?"))
    assert "*Searched for:* earlier question What is the answer?" in out


def test_abstention_is_plain_and_offers_the_nearest_passages():
    out = render.reply(_result(answer=False))
    assert out.startswith(f"**{render.ABSTAIN}**")
    assert _cite(0, 1) in out and "More nearby passages (1)" in out
    assert "<mark>" not in out


def test_abstention_says_why_as_text():
    result = _result(answer=False)
    reason = "They never mention “&lt;b&gt;Zork&lt;/b&gt;”."
    assert render.reply(result).startswith(f"**{render.ABSTAIN}** {reason} The nearest passages may still help:")
    assert f"**Answer:** none. {render.ABSTAIN} {reason}" in render.sources(result)
    assert "They never mention “\\<b\\>Zork\\</b\\>”. The nearest passages:" in render.export_markdown([result], now=0)
    # an older reply without a reason still reads well
    assert render.reply({**result, "reason": None}).startswith(f"**{render.ABSTAIN}** The nearest passages may still help:")


def test_sources_and_context_panels():
    s = render.sources(_result(), turn=4)
    assert f"**Answer:** quoted from {_cite(4, 1)}, characters 31–66" in s
    assert "- <span class=\"qa-cite qa-cite-4-2\" " in s and ">[2] paragraph 4 · characters 70–105</span>" in s
    assert ">[1] paragraph 3 · characters 10–60, quoted sentence 31–66</span>" in s
    assert "qa-open" not in s and 'class="qa-cite qa-cite-4-2 qa-open"' in render.sources(_result(), 4, opened=2)
    assert "<b>" not in s
    assert "Ask a question" in render.sources(None)
    ctx = {"doc": "corpus/a.txt", "title": "T", "paragraph": 5, "before": "Before <i>.", "before_paragraph": 4,
           "text": "Cited text here.", "after": None, "after_paragraph": None, "highlight": [6, 10],
           "start": 1, "end": 5}
    out = render.context(ctx, 2)
    assert out.startswith("**[2]** *T* · corpus/a.txt · characters 1–5")
    assert out == f"{render.context_head(ctx, 2)}\n\n{render.paragraphs(ctx)}"  # the line over the views, then one
    assert render.context_head({**ctx, "page": 7}, 2).startswith("**[2]** *T* · corpus/a.txt · page 7 · characters")
    assert render.context(ctx, 2, quoted=True).startswith("**[2]** *T* · corpus/a.txt · the quoted sentence, characters 1–5")
    assert "<div class=\"qa-around\">\n\n*Paragraph 4, before:*  \nBefore &lt;i&gt;.\n\n</div>" in out
    assert "Cited <mark>text</mark> here." in out and "after:" not in out


def test_the_document_is_shown_as_text_with_the_range_marked():
    page = "Header line <b>\n\nThe pump [x](javascript:1) failed.\n\n# Not a heading"
    at = page.index("failed")
    ctx = {"doc": "corpus/r.pdf", "page": 3, "page_text": page, "page_highlight": [at, at + 6],
           "document_text": "Intro.\n\n" + page, "document_highlight": [8 + at, 8 + at + 6],
           "document_paragraphs": [1, 4, 4], "document_whole": True}
    out = render.document_view(ctx)
    assert "**The document** (corpus/r.pdf), the whole text:" in out
    assert out.count("The pump \\[x\\](javascript:1) <mark>failed</mark>.") == 1  # one view: the page is an image
    assert "Header line &lt;b&gt;" in out and "\\# Not a heading" in out and "<b>" not in out
    assert '<div class="qa-doc qa-view">' in out and "qa-page" not in out and "as text" not in out
    # a long document: a window around the citation, and the view says so; no page outside a PDF
    long = render.document_view({**ctx, "page": None, "page_text": None, "document_paragraphs": [41, 121, 900],
                                 "document_whole": False})
    assert "paragraphs 41–121 of 900, around the citation (the document is long" in long and "Page" not in long
    # a highlight across paragraphs marks its part of each
    both = render.document_view({"doc": "corpus/a.md", "document_text": "One two.\n\nThree four.",
                                 "document_highlight": [4, 15], "document_paragraphs": [1, 2, 2],
                                 "document_whole": True})
    assert "One <mark>two.</mark>\n\n<mark>Three</mark> four." in both


def test_the_document_window_is_bounded_around_the_citation(monkeypatch):
    from qa import text as qtext

    body = "\n\n".join(f"Paragraph {i} of the report." for i in range(1000))
    at = body.index("Paragraph 500 ")
    w = qtext.text_window(body, at, at + 13)
    first, last, total = w["document_paragraphs"]
    assert (first, last, total) == (501 - qtext.WINDOW_PARAGRAPHS, 501 + qtext.WINDOW_PARAGRAPHS, 1000)
    assert not w["document_whole"]
    a, b = w["document_highlight"]
    assert w["document_text"][a:b] == "Paragraph 500" and body.index(w["document_text"]) == w["document_offset"]
    monkeypatch.setattr(qtext, "WINDOW_CHARS", 50)  # one huge paragraph: a window of characters
    w = qtext.text_window("x" * 1000, 900, 910)
    assert len(w["document_text"]) == 50 and w["document_highlight"] == [900 - w["document_offset"], 910 - w["document_offset"]]
    assert qtext.text_window("Short.", 0, 5)["document_whole"]


def test_a_clicked_citation_names_a_turn_and_a_rank():
    assert check.citation("3:2:17", None, 5) == (3, "2")
    assert check.citation("0:1", 4, 5) == (0, "1")
    assert check.citation("2", 1, 5) == (1, "2")  # the turn shown
    assert check.citation("2", None, 5) == (4, "2")  # else the latest
    for bad in ("5:1", "1:x", "", "²", "1:2:3:4", " 1", "9" * 50, None, 3, ["1"]):
        with pytest.raises(InputError):
            check.citation(bad, None, 5)


def test_corpus_panel():
    out = render.corpus([{"doc": "corpus/<x>.txt", "title": "X [y](z)", "characters": 12345, "passages": 7}])
    assert "** · TXT · 12,345 characters · 7 passages" in out and "&lt;x&gt;" in out and "\\[y\\]" in out
    pdf = render.corpus([{"doc": "corpus/r.pdf", "title": "R", "format": "pdf", "pages": 3, "characters": 9,
                          "passages": 2}, {"doc": "corpus/one.pdf", "title": "O", "format": "pdf", "pages": 1}])
    assert "**R** · PDF, 3 pages · 9 characters" in pdf and "**O** · PDF, 1 page · " in pdf
    assert render.corpus([]) == "*No documents are indexed.*"


def test_a_question_limited_to_the_conversations_document_says_so():
    scoped = {**_result(), "conversation_document": "corpus/a.txt"}
    line = "*Searched only:* A &lt;b&gt;title&lt;/b&gt; (corpus/a.txt), the document this conversation is about"
    assert line in render.reply(scoped) and line in render.sources(scoped)
    assert "Searched only" not in render.reply({**_result(), "conversation_document": None})
    assert "Searched only" not in render.reply(_result())  # a turn saved before the field existed
    md = render.export_markdown([scoped], now=0)
    assert "*Searched only:* corpus/a.txt, the document this conversation is about" in md


def test_exports_carry_every_turn_and_cite_in_footnotes():
    turns = [_result(), _result(answer=False, query="x What is the answer?")]
    md = render.export_markdown(turns, now=0)
    assert md.startswith("# Conversation with qa")
    assert "## 1. What is the answer?" in md and "## 2. What is the answer?" in md
    assert "> “The answer \\<script\\>x\\</script\\> is 42.” [^1-1a]" in md
    assert "[^1-1a]: A \\<b\\>title\\</b\\>, paragraph 3, characters 31–66 of corpus/a.txt" in md
    assert "[^2-2]: " in md and "*Searched for:* x What is the answer?" in md
    assert render.ABSTAIN in md
    data = json.loads(render.export_json(turns, now=0))
    assert data["turns"] == turns and data["exported"] == "1970-01-01T00:00:00Z"


# -- uploads --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "want"), [
    ("notes.txt", "notes.txt"),
    ("../../x.txt", "x.txt"),
    ("..\\..\\win.md", "win.md"),
    ("a\x00b.txt", "ab.txt"),
    ("name\nwith newline.txt", "name_with newline.txt"),
    ("<svg onload=alert(1)>.txt", "svg onload_alert(1).txt"),
    (".hidden.md", "hidden.md"),
    ("REPORT.TXT", "REPORT.txt"),
    ("", "document"),
])
def test_safe_name(name, want):
    assert uploads.safe_name(name) == want


def test_safe_name_caps_the_length():
    assert len(uploads.safe_name("a" * 300 + ".txt")) <= uploads.MAX_NAME
    assert uploads.safe_name("a" * 300 + ".txt").endswith(".txt")


def test_check_accepts_text_and_refuses_the_rest(tmp_path):
    good = tmp_path / "good.md"
    good.write_text("# Title\n\nSome text worth indexing.\n", encoding="utf-8")
    checked = uploads.check(good, "good.md", 1000)
    assert checked.name == "good.md" and checked.data == good.read_bytes()
    for name, data, message in [
        ("page.html", b"<script>only(a, script)</script>", "empty"),
        ("image.svg", b"<svg/>", "unsupported file type"),
        ("tool.exe", b"MZ\x90", "unsupported file type"),
        ("empty.txt", b"   \n", "empty"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "looks binary"),
        ("big.txt", b"x" * 2000, "too large"),
    ]:
        path = tmp_path / "upload"
        path.write_bytes(data)
        with pytest.raises(InputError, match=message):
            uploads.check(path, name, 1000)
    with pytest.raises(InputError, match="not found"):
        uploads.check(tmp_path / "missing.txt", "missing.txt", 1000)


def test_save_is_atomic_and_never_overwrites(tmp_path):
    corpus = tmp_path / "corpus"
    src = tmp_path / "in.txt"
    src.write_text("One sentence of text.\n", encoding="utf-8")
    checked = uploads.check(src, "in.txt", 1000)
    first = uploads.save(checked, corpus)
    second = uploads.save(checked, corpus)
    assert (first.name, second.name) == ("in.txt", "in-2.txt")
    assert sorted(p.name for p in corpus.iterdir()) == ["in-2.txt", "in.txt"]  # no temp file left
    assert uploads.duplicate_of(checked, [{"sha256": checked.sha256, "title": "In"}]) == {
        "sha256": checked.sha256, "title": "In"}
    assert uploads.duplicate_of(checked, [{"sha256": "other"}]) is None


def test_no_document_text_reaches_gr_html():
    """gr.HTML is not sanitized at all (CASES.md 12): the page never uses it, nor turns Gradio's
    sanitizer off, nor lets the chat render raw HTML tags."""
    for path in (ROOT / "qa").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"\bgr\.HTML\b|\bHTML\(|sanitize_html\s*=\s*False|allow_tags\s*=\s*True", source), path.name
    # the page's script reads our class names and sets one box's value: no HTML written, nothing fetched
    script = (ROOT / "qa" / "serve" / "page.js").read_text(encoding="utf-8")
    assert not re.search(r"innerHTML|outerHTML|insertAdjacent|document\.write|fetch\(|XMLHttpRequest|import\(|"
                         r"https?:|src\s*=|eval\(|new Function", script)
