"""The page view's core (issue 26): a quote's lines found among a PDF page's characters, drawn
pages bounded in size, time and memory, and `Assistant.context` / `Assistant.page_image`.

The PDFs are made here with fpdf2 at known places; the boxes are checked against that placement
and against the characters' own coordinates as pdfplumber (an independent reader) gives them.
The REST routes and CASES.md 39 are tests/test_pageview_api.py; the browser, test_pageview_browser.py.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fpdf import FPDF

from qa import Assistant, Settings
from qa.errors import CorpusError, InputError, NotFound
from qa.ingest.documents import read_document
from qa.ingest.formats import pdfboxes, pdfrender
from qa.ingest.formats.pdfboxes import Glyph, Part
from tests.pdfmaker import FONT, lines_pdf, text_pdf

#: the lighthouse page: (x mm, baseline y mm, line); the quoted sentence is lines 2 and 3 exactly
LEFT, TOP, STEP, SIZE = 30, 60, 7, 12
LINES = ["The Zorbleck lighthouse stands on a basalt spit by the Varrow estuary.",
         "It was painted green in 1887 by the keeper Ada Fenwick, who wanted",
         "ships to tell it apart from the white tower at Kessel Point.",
         "Its lamp burned whale oil until 1921, when an electric lamp replaced it."]
QUOTE = " ".join(LINES[1:3])
#: a paragraph that runs from the foot of page 1 onto page 2
BREAK_PAGES = [
    ["The survey of the Varrow estuary", "",
     "The harbour office counted the grain ships at the Quillon quay every spring.",
     "In the spring of 1931 the keepers of the Zorbleck light wrote that the fog had",
     "lasted eleven days, and that the ferries to Kessel had stopped running for"],
    ["the whole of that time while the grain ships waited in the outer roads.",
     "The fog lifted on the twelfth day.", "",
     "A second report described the new pier."],
]
BREAK_QUOTE = ("In the spring of 1931 the keepers of the Zorbleck light wrote that the fog had lasted eleven days, "
               "and that the ferries to Kessel had stopped running for the whole of that time while the grain "
               "ships waited in the outer roads.")


def placed_pdf(path: Path, lines: list[str] = LINES) -> Path:
    """An A4 page with each line's baseline at a known place (fpdf2's text(), in mm)."""
    pdf = FPDF(format="A4")
    pdf.add_font("dejavu", fname=FONT)
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("dejavu", size=SIZE)
    for i, line in enumerate(lines):
        pdf.text(LEFT, TOP + STEP * i, line)
    pdf.output(str(path))
    return path


def plumber_lines(path: Path, page: int = 1) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Each text line of a page as pdfplumber reads its characters: (text, box in fractions)."""
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        p = pdf.pages[page - 1]
        rows: dict[int, list[dict]] = {}
        for c in p.chars:
            rows.setdefault(round(c["top"]), []).append(c)
        return [("".join(c["text"] for c in cs),
                 (min(c["x0"] for c in cs) / p.width, min(c["top"] for c in cs) / p.height,
                  max(c["x1"] for c in cs) / p.width, max(c["bottom"] for c in cs) / p.height))
                for _top, cs in sorted(rows.items())]


def boxes_of(path: Path, quote: str) -> list[pdfboxes.PageBoxes]:
    document, _ = read_document(path, f"corpus/{path.name}", 10**8)
    at = document.raw.find(quote)
    assert at >= 0, document.raw
    return pdfboxes.quote_boxes(path.read_bytes(), pdfboxes.parts(document.raw, document.page_starts, at,
                                                                  at + len(quote)))


def near(a: tuple[float, ...], b: tuple[float, ...], tolerance: float = 0.004) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


# -- finding a quote ---------------------------------------------------------------------------


def glyphs(text: str, y: float = 0.0) -> list[Glyph]:
    return [Glyph(ch, 10.0 * i, y, 10.0 * i + 9, y + 12) for i, ch in enumerate(text)]


def test_fold_keeps_letters_and_digits_of_compatibility_forms():
    assert pdfboxes.fold("The ﬁnal Ｔeam-work, 1887!") == "thefinalteamwork1887"
    assert pdfboxes.fold(" \n- ,.") == ""


def test_a_quote_is_found_through_ligatures_hyphens_line_breaks_and_line_numbers():
    page = glyphs("12 The oﬃce re-\r\nopened\r\n13 the quay. Then the oﬃce reopened the quay.")
    hits = pdfboxes.locate(page, "The office reopened the quay.", hint=0.0)
    found = "".join(page[i].text for i in hits)
    assert found == "Theoﬃcereopenedthequay."  # the margin's line number "13" skipped
    # of two places, the one nearer the hint; a quote that is not there is not "found"
    later = pdfboxes.locate(page, "The office reopened the quay.", hint=0.9)
    assert min(later) > max(hits)
    assert pdfboxes.locate(page, "The harbour master counted the grain ships.") == []
    assert pdfboxes.locate([], "anything") == [] and pdfboxes.locate(page, " -- ") == []


def test_lines_merge_a_line_and_break_where_the_text_goes_back_left():
    first, second = glyphs("abc", y=0.0), glyphs("de", y=14.0)
    assert pdfboxes.lines([*first, *second]) == [(0.0, 0.0, 29.0, 12.0), (0.0, 14.0, 19.0, 26.0)]
    assert pdfboxes.lines([Glyph("x", 5, 5, 5, 9)]) == []  # no area: nothing to mark


# -- boxes on real pages -------------------------------------------------------------------------


def test_the_boxes_are_the_quoted_lines_where_the_characters_are(tmp_path):
    path = placed_pdf(tmp_path / "lighthouse.pdf")
    found = boxes_of(path, QUOTE)
    assert [b.page for b in found] == [1]
    boxes = found[0].boxes
    assert len(boxes) == 2  # one rectangle per line
    chars = dict(plumber_lines(path))
    for box, line, n in zip(boxes, LINES[1:3], (1, 2), strict=True):
        assert near(box, chars[line]), (box, chars[line])  # pdfplumber's characters of that line
        left, top, right, bottom = box
        assert abs(left - LEFT / 210) < 0.002  # where fpdf2 put the line
        assert top < (TOP + STEP * n) / 297 < bottom  # its baseline inside the box
        assert 0.8 * SIZE / 842 < bottom - top < 2 * SIZE / 842  # a line of 12-point type high
    # a quote that starts inside a line starts its box at its first word
    part = boxes_of(path, "the keeper Ada Fenwick, who wanted ships to tell it apart")[0].boxes
    assert len(part) == 2 and part[0][0] > 0.4 and abs(part[1][0] - LEFT / 210) < 0.002
    assert part[1][2] < boxes[1][2]  # and ends it at its last


def test_a_quote_across_a_page_break_is_marked_on_both_pages(tmp_path, fake_embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    path = lines_pdf(corpus / "fog.pdf", BREAK_PAGES, header="Varrow estuary survey", title="Fog survey")
    (corpus / "notes.txt").write_text("Harbour notes\n\nThe ferry left at noon.\n", encoding="utf-8")
    a = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", scorer=False, reader=False),
                  embedder=fake_embedder)
    raw = a.document("fog.pdf").raw
    at = raw.index(BREAK_QUOTE)
    ctx = a.context({"doc": "corpus/fog.pdf", "start": at, "end": at + len(BREAK_QUOTE)})
    assert ctx["page"] == 1 and ctx["page_count"] == 2
    assert [b["page"] for b in ctx["boxes"]] == [1, 2]
    first, second = ctx["boxes"]
    lines1, lines2 = dict(plumber_lines(path, 1)), dict(plumber_lines(path, 2))
    assert len(first["boxes"]) == 2 and len(second["boxes"]) == 1
    assert near(tuple(first["boxes"][1]), lines1[BREAK_PAGES[0][4]])
    assert near(tuple(second["boxes"][0]), lines2[BREAK_PAGES[1][0]])
    start_of = next(box for text, box in plumber_lines(path, 1) if text.startswith("In the spring"))
    assert near(tuple(first["boxes"][0]), start_of)
    assert all(0 <= v <= 1 for b in ctx["boxes"] for box in b["boxes"] for v in box)
    # a citation of another format has no page view
    txt = a.context(next(p for p in a.index.passages if p.doc.endswith(".txt")).id)
    assert "boxes" not in txt and "page_count" not in txt


def test_the_boxes_turn_with_a_rotated_page(tmp_path):
    import pypdfium2 as pdfium

    upright = placed_pdf(tmp_path / "upright.pdf")
    pdf = pdfium.PdfDocument(upright.read_bytes())
    page = pdf[0]
    page.set_rotation(90)
    out = io.BytesIO()
    pdf.save(out)
    page.close()
    pdf.close()
    turned = tmp_path / "turned.pdf"
    turned.write_bytes(out.getvalue())
    (l0, t0, r0, b0), = boxes_of(upright, LINES[1])[0].boxes
    (l1, t1, r1, b1), = boxes_of(turned, LINES[1])[0].boxes
    assert near((l1, t1, r1, b1), (1 - b0, l0, 1 - t0, r0))  # a quarter turn clockwise


def test_a_page_without_a_text_layer_is_marked_from_ocr_words(tmp_path):
    import pypdfium2 as pdfium

    from qa.ingest.formats import pdfocr

    page = pdfium.PdfDocument(placed_pdf(tmp_path / "lighthouse.pdf").read_bytes())[0]
    scan = tmp_path / "scan.pdf"
    page.render(scale=300 / 72).to_pil().convert("L").save(scan, "PDF", resolution=300)
    data = scan.read_bytes()
    try:
        pdfocr.ocr_words(data, 1)
    except Exception as e:  # Tesseract, or the OCR module's parts, missing here
        pytest.skip(f"OCR cannot read pages here: {e}")
    found = pdfboxes.quote_boxes(data, [Part(1, QUOTE, 0.3)])
    assert [b.page for b in found] == [1] and len(found[0].boxes) == 2
    for box, (_text, chars) in zip(found[0].boxes, plumber_lines(tmp_path / "lighthouse.pdf")[1:3], strict=True):
        assert near(box, chars, 0.01)  # OCR's word boxes sit a little off the font's


# -- drawing pages -------------------------------------------------------------------------------


def test_a_page_is_drawn_to_its_zoom_within_the_pixel_cap(tmp_path):
    data = placed_pdf(tmp_path / "lighthouse.pdf").read_bytes()
    image = pdfrender.render(data, 1)
    assert (image.width, image.height) == (893, 1263) and image.png.startswith(b"\x89PNG")
    assert image.page == 1 and image.pages == 1
    big = pdfrender.render(data, 1, pdfrender.MAX_ZOOM)
    assert max(big.width, big.height) == pdfrender.MAX_SIDE and big.scale < pdfrender.MAX_ZOOM
    huge = FPDF(unit="pt", format=(20000, 20000))  # CASES.md 40: a 20,000-point page
    huge.add_page()
    drawn = pdfrender.render(bytes(huge.output()), 1, 1.5)
    assert (drawn.width, drawn.height) == (pdfrender.MAX_SIDE, pdfrender.MAX_SIDE)


@pytest.mark.parametrize(("page", "zoom", "error", "message"), [
    (0, 1.5, NotFound, "There is no page 0: the document has 1 page (1 to 1)."),
    (-1, 1.5, NotFound, "There is no page -1"),
    (10**9, 1.5, NotFound, "There is no page 1000000000"),
    ("x", 1.5, InputError, "page must be a whole number"),
    (True, 1.5, InputError, "page must be a whole number"),
    (1, 1e9, InputError, "zoom must be a number from 0.25 to 6"),
    (1, 0, InputError, "zoom must be a number from 0.25 to 6"),
    (1, float("nan"), InputError, "zoom must be a number from 0.25 to 6"),
    (1, "2", InputError, "zoom must be a number from 0.25 to 6"),
])
def test_a_bad_page_or_zoom_is_refused_in_one_line(tmp_path, page, zoom, error, message):
    data = placed_pdf(tmp_path / "lighthouse.pdf").read_bytes()
    with pytest.raises(error) as e:
        pdfrender.render(data, page, zoom)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_drawing_gives_up_at_its_time_limit_and_damage_is_one_line(tmp_path):
    data = text_pdf(tmp_path / "long.pdf", [f"Line {i} of a page full of words." for i in range(200)], size=5).read_bytes()
    with pytest.raises(CorpusError, match=r"^page 1 took too long to draw \(over -1 s\)$"):
        pdfrender.render(data, 1, 1.5, seconds=-1)
    with pytest.raises(CorpusError, match="^PDFium cannot open this PDF"):
        pdfrender.render(data[: len(data) // 3], 1)


def test_the_cache_keeps_the_last_pages_and_stays_within_its_bytes(tmp_path):
    data = text_pdf(tmp_path / "long.pdf", [f"Paragraph {i}. " + "Words on the page. " * 40 for i in range(60)]).read_bytes()
    pages = pdfrender.page_count(data)
    assert pages >= 4
    loads = []

    def load() -> bytes:
        loads.append(1)
        return data

    renderer = pdfrender.Renderer(max_bytes=1_000_000, max_pages=3)
    first = renderer.page("k", load, 1)
    assert renderer.page("k", load, 1) is first and len(loads) == 1  # kept: not drawn again
    for page in range(1, pages + 1):
        for zoom in (0.5, 1.0, 1.5):
            renderer.page("k", load, page, zoom)
            assert renderer._bytes <= 1_000_000 and len(renderer._kept) <= 3
    assert renderer._bytes == sum(len(i.png) for i in renderer._kept.values())


# -- through the Assistant -----------------------------------------------------------------------


@pytest.fixture
def pdf_assistant(tmp_path, fake_embedder) -> Assistant:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    placed_pdf(corpus / "lighthouse.pdf")
    (corpus / "notes.txt").write_text("Harbour notes\n\nThe ferry left at noon.\n", encoding="utf-8")
    return Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", scorer=False, reader=False),
                     embedder=fake_embedder)


def test_page_image_looks_documents_up_in_the_index_only(pdf_assistant, tmp_path):
    a = pdf_assistant
    for name in ("corpus/lighthouse.pdf", "lighthouse.pdf"):
        assert a.page_image(name, 1).png.startswith(b"\x89PNG")
    secret = tmp_path / "secret.pdf"
    placed_pdf(secret)
    for name in ("../secret.pdf", str(secret), "corpus/../secret.pdf", "/etc/passwd", "corpus/missing.pdf", ""):
        with pytest.raises(NotFound):
            a.page_image(name, 1)
    with pytest.raises(NotFound, match="notes.txt is not a PDF; it has no pages to draw"):
        a.page_image("notes.txt", 1)
    with pytest.raises(NotFound, match="There is no page 2"):
        a.page_image("lighthouse.pdf", 2)


def test_page_image_refuses_a_file_changed_since_it_was_indexed(pdf_assistant):
    a = pdf_assistant
    a.renderer.clear()
    placed_pdf(a.settings.corpus_dir / "lighthouse.pdf", LINES[:2])
    with pytest.raises(CorpusError, match="changed since it was indexed"):
        a.page_image("lighthouse.pdf", 1)


# -- the chat page's page view (qa.serve.pageview) --------------------------------------------------


def test_the_view_turns_pages_and_zooms_within_bounds():
    from qa.serve import pageview

    ctx = {"doc": "corpus/r.pdf", "page": 2, "page_count": 3,
           "boxes": [{"page": 2, "boxes": [[0.1, 0.2, 0.6, 0.22]]}, {"page": 3, "boxes": [[0.1, 0.05, 0.3, 0.07]]}]}
    view = pageview.start(ctx)
    assert view is not None and (view.page, view.zoom, view.cited) == (2, pageview.FIT, (2, 3))
    assert view.turned(5).page == 3 and view.turned(-9).page == 1
    assert view.zoomed(1).zoom == 150 and view.zoomed(-1).zoom == 75 and view.zoomed(99).zoom == max(pageview.ZOOMS)
    assert view.zoomed(1).scale == pdfrender.DEFAULT_ZOOM * 1.5
    assert pageview.View.from_state(view.to_state()) == view
    for bad in (None, {}, {**view.to_state(), "page": 4}, {**view.to_state(), "zoom": 133}, "x"):
        with pytest.raises(InputError, match="Open a citation of a PDF first."):
            pageview.View.from_state(bad)
    assert pageview.start({"doc": "corpus/a.txt", "page": None}) is None


def test_the_view_lays_each_box_over_the_image_in_percent():
    from qa.serve import pageview

    view = pageview.View("corpus/<b>r.pdf", 2, 3, 150, {2: ((0.1, 0.2, 0.6, 0.22),), 3: ((0.1, 0.05, 0.3, 0.07),)})
    out = pageview.html(view, b"\x89PNG fake", 893, 1263)
    assert out.startswith("**Page 2 of 3** · corpus/&lt;b&gt;r.pdf · 150% · the cited lines marked "
                          "(the citation goes on to page 3)")
    assert '<span class="qa-box" style="left:10.000%;top:20.000%;width:50.000%;height:2.000%"></span>' in out
    assert 'style="width:150%;aspect-ratio:893/1263"' in out and 'src="data:image/png;base64,iVBORyBmYWtl"' in out
    other = pageview.html(view.turned(-1), b"png", 10, 10)
    assert "the citation is on page 2 and 3" in other and "qa-box" not in other
