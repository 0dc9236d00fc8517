"""What the REST API's page view routes read and answer (qa.serve.rest mounts them):

- `GET /api/context?doc=D&start=S&end=E` (or `?passage_id=N`): a citation in its place, as
  `Assistant.context` gives it (for a PDF with the cited lines' boxes and the page count);
- `GET /api/page?doc=D&page=N&zoom=Z`: page N of the indexed PDF D as a PNG.

The page route is not a file server (CASES.md 39): `doc` is looked up among the indexed documents
by name, never opened as a path; a document the index does not hold, or a page it does not have,
is a 404; a page or zoom that is not a number in range is a 422, a parameter it does not take a
400; the image is bounded in pixels and in drawing time (qa.ingest.formats.pdfrender). Every
error is `{"error": "one line"}`, without server paths. No gradio here.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse, Response

from qa.assistant import Assistant
from qa.errors import InputError, NotFound, QAError
from qa.ingest.formats.pdfrender import DEFAULT_ZOOM
from qa.serve import pagecheck as check

log = logging.getLogger("qa.rest")

PAGE_FIELDS = ("doc", "page", "zoom")
CONTEXT_FIELDS = ("doc", "start", "end", "passage_id")
#: the longest document name a request may give
MAX_NAME = 4096
_WHOLE = re.compile(r"[+-]?\d{1,12}", re.ASCII)
_NUMBER = re.compile(r"\d{1,6}(\.\d{0,6})?|\.\d{1,6}", re.ASCII)


class BadRequest(Exception):
    """A request the route answers with 400 before doing any work."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": check.public(message)}, status_code=status)


def _fields(query: Mapping[str, str], known: tuple[str, ...]) -> None:
    unknown = sorted(set(query) - set(known))
    if unknown:
        raise BadRequest(f"Unknown parameter {json.dumps(unknown[0])}; this route takes "
                         f"{', '.join(known[:-1])} and {known[-1]}.")


def _doc(query: Mapping[str, str]) -> str:
    doc = query.get("doc")
    if not doc or not doc.strip() or len(doc) > MAX_NAME:
        raise InputError("doc is required: an indexed document's name, as a citation gives it (corpus/<file>).")
    return doc


def _whole(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not _WHOLE.fullmatch(value.strip()):
        raise InputError(f"{name} must be a whole number.")
    return int(value)


def page_arguments(query: Mapping[str, str]) -> tuple[str, int, float]:
    """(doc, page, zoom) from the query; BadRequest for an unknown parameter, InputError for a
    value that is not a number (the page's range is the assistant's to check: a 404)."""
    _fields(query, PAGE_FIELDS)
    doc = _doc(query)
    page = _whole(query.get("page"), "page")
    if page is None:
        raise InputError("page is required (the first page is 1).")
    zoom = query.get("zoom")
    if zoom is not None and not _NUMBER.fullmatch(zoom.strip()):
        raise InputError("zoom must be a number (1 is 72 dpi).")
    return doc, page, float(zoom) if zoom is not None else DEFAULT_ZOOM


def context_arguments(query: Mapping[str, str]) -> dict[str, Any]:
    """The citation to show: doc, start and end (as a citation's JSON gives them), or passage_id."""
    _fields(query, CONTEXT_FIELDS)
    citation: dict[str, Any] = {"passage_id": _whole(query.get("passage_id"), "passage_id")}
    if "doc" in query or "start" in query or "end" in query:
        citation["doc"] = _doc(query)
        citation["start"], citation["end"] = _whole(query.get("start"), "start"), _whole(query.get("end"), "end")
        if citation["start"] is None or citation["end"] is None:
            raise InputError("start and end are both required with doc (a citation's character range).")
    elif citation["passage_id"] is None:
        raise InputError("Give a citation: doc, start and end (as a citation's JSON has them), or passage_id.")
    return citation


def page_response(assistant: Assistant, doc: str, page: int, zoom: float) -> Response:
    """Runs in a worker thread: the PNG, or the error."""
    try:
        image = assistant.page_image(doc, page, zoom)
    except QAError as e:
        return _failure(e, "page")
    except Exception:
        log.exception("page failed")
        return _error(500, "Something went wrong on the server; its log has the details.")
    return Response(image.png, media_type="image/png", headers={
        "Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff",
        "X-Page": str(image.page), "X-Pages": str(image.pages),
        "X-Image-Size": f"{image.width}x{image.height}"})


def context_response(assistant: Assistant, citation: dict[str, Any]) -> Response:
    """Runs in a worker thread: the context's JSON, or the error."""
    try:
        return JSONResponse(assistant.context(citation))
    except QAError as e:
        return _failure(e, "context")
    except Exception:
        log.exception("context failed")
        return _error(500, "Something went wrong on the server; its log has the details.")


def _failure(e: QAError, what: str) -> JSONResponse:
    if isinstance(e, NotFound):
        return _error(404, str(e))
    if isinstance(e, InputError):
        return _error(422, str(e))
    log.warning("%s: %s", what, e)  # the document or the index: the log keeps the story
    return _error(503, str(e))
