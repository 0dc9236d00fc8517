"""The real-world check: the bundled article printed to PDF (in the test, from the text file) answers
the article dev set as well as the text file does (answer@1 within 0.03), through the qa.eval code."""

from __future__ import annotations

import shutil

from qa.eval.evaluate import DEFAULT_SET, load_set, run_article
from qa.eval.kit import CachedEmbedder, Engine, system_index
from qa.ingest.documents import load_corpus
from tests.conftest import ARTICLE
from tests.pdfmaker import article_pdf


def test_the_article_as_a_pdf_answers_as_well_as_the_text(tmp_path, embedder):
    txt, pdf = tmp_path / "txt" / "corpus", tmp_path / "pdf" / "corpus"
    txt.mkdir(parents=True)
    pdf.mkdir(parents=True)
    shutil.copy(ARTICLE, txt / ARTICLE.name)
    article_pdf(ARTICLE, pdf / (ARTICLE.stem + ".pdf"))
    [document] = load_corpus(pdf, 10**8)
    assert document.format == "pdf" and document.pages and document.pages >= 3
    assert document.title == "China and North Korea: The Uneasy Partnership"
    assert "IPIS Journal" not in document.raw and "Page 2" not in document.raw  # running lines are gone
    questions = load_set(DEFAULT_SET)
    cached = CachedEmbedder(embedder)
    figures = {}
    for name, folder in (("txt", txt), ("pdf", pdf)):
        engine = Engine.of(system_index(load_corpus(folder, 10**8), 120, cached))
        figures[name] = run_article(questions, engine, cached, latency=False)["system"]["answer@1"]
    print(f"answer@1: txt {figures['txt']:.4f}, pdf {figures['pdf']:.4f}")
    assert abs(figures["pdf"] - figures["txt"]) <= 0.03, figures
