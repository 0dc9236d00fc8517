"""The chat page's page view: a PDF citation's page as an image, its cited lines marked, with the
page and zoom the reader turns to. Pure functions and a small state; no gradio here.

The image is embedded as a data URL (no second request, so it works behind the page's login), in
a box the page's script scrolls to the first mark. The marks are `<span>`s laid over the image at
the cited lines' places, in percent of the page (the boxes of `Assistant.context`). Everything
written into the HTML is a number, except the escaped document name.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from typing import Any

from qa.errors import InputError
from qa.ingest.formats.pdfrender import DEFAULT_ZOOM
from qa.serve.render import text

#: the page's width, in percent of the panel's, that the zoom buttons step through
ZOOMS = (50, 75, 100, 150, 200, 300)
#: the width it opens at: the page fits the panel
FIT = 100


@dataclass(frozen=True)
class View:
    """What the page view shows: page `page` of `pages` of the PDF `doc`, at `zoom` percent of
    the panel's width; `boxes` are the cited lines on each cited page (fractions of the page)."""

    doc: str
    page: int
    pages: int
    zoom: int = FIT
    boxes: dict[int, tuple[tuple[float, float, float, float], ...]] = field(default_factory=dict)

    @property
    def scale(self) -> float:
        """The scale the page is drawn at (qa.ingest.formats.pdfrender's zoom)."""
        return DEFAULT_ZOOM * self.zoom / FIT

    @property
    def cited(self) -> tuple[int, ...]:
        return tuple(sorted(self.boxes))

    def turned(self, step: int) -> View:
        """The page `step` pages on, kept within the document."""
        return replace(self, page=min(self.pages, max(1, self.page + step)))

    def zoomed(self, step: int) -> View:
        """The next zoom in (`step` 1) or out (-1)."""
        at = ZOOMS.index(self.zoom) if self.zoom in ZOOMS else ZOOMS.index(FIT)
        return replace(self, zoom=ZOOMS[min(len(ZOOMS) - 1, max(0, at + step))])

    def to_state(self) -> dict[str, Any]:
        return {"doc": self.doc, "page": self.page, "pages": self.pages, "zoom": self.zoom,
                "boxes": {str(p): [list(b) for b in bs] for p, bs in self.boxes.items()}}

    @classmethod
    def from_state(cls, value: Any) -> View:
        """The view kept in the session; InputError when there is none (no citation opened yet)."""
        try:
            boxes = {int(p): tuple((float(a), float(b), float(c), float(d)) for a, b, c, d in bs)
                     for p, bs in value["boxes"].items()}
            view = cls(str(value["doc"]), int(value["page"]), int(value["pages"]), int(value["zoom"]), boxes)
        except (TypeError, KeyError, ValueError, AttributeError):
            raise InputError("Open a citation of a PDF first.") from None
        if not 1 <= view.page <= view.pages or view.zoom not in ZOOMS:
            raise InputError("Open a citation of a PDF first.")
        return view


def start(ctx: dict[str, Any]) -> View | None:
    """The view a citation opens at (its first page, fitting the panel), or None when the cited
    document has no pages (not a PDF)."""
    page, pages = ctx.get("page"), ctx.get("page_count")
    if not isinstance(page, int) or not isinstance(pages, int):
        return None
    boxes = {int(b["page"]): tuple(tuple(float(v) for v in box) for box in b["boxes"])
             for b in ctx.get("boxes") or [] if b.get("boxes")}
    return View(str(ctx["doc"]), page, pages, FIT, boxes)  # type: ignore[arg-type]


def _pct(v: float) -> str:
    return f"{100 * min(1.0, max(0.0, float(v))):.3f}%"


def html(view: View, png: bytes, width: int, height: int) -> str:
    """The view as Markdown with our own HTML: a line saying which page and what is marked, then
    the page image with a `<span class="qa-box">` over each cited line, in a scrolled box."""
    marks = view.boxes.get(view.page, ())
    cited = view.cited
    if marks:
        also = [p for p in cited if p != view.page]
        said = "the cited lines marked" + (f" (the citation goes on to page {also[0]})" if also else "")
    elif cited:
        said = f"the citation is on page {' and '.join(str(p) for p in cited)}"
    else:
        said = "the cited lines could not be found on the page; the Paragraphs tab has the text"
    head = f"**Page {view.page} of {view.pages}** · {text(view.doc)} · {view.zoom}% · {said}"
    spans = "".join(
        f'<span class="qa-box" style="left:{_pct(a)};top:{_pct(b)};width:{_pct(c - a)};height:{_pct(d - b)}"></span>'
        for a, b, c, d in marks)
    data = base64.b64encode(png).decode("ascii")
    sheet = (f'<div class="qa-sheet" style="width:{int(view.zoom)}%;aspect-ratio:{int(width)}/{int(height)}">'
             f'<img class="qa-page-image" src="data:image/png;base64,{data}" alt="Page {view.page} of {view.pages}" '
             f'width="{int(width)}" height="{int(height)}">{spans}</div>')
    return f'{head}\n\n<div class="qa-sheetbox qa-view">{sheet}</div>'
