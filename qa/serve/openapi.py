"""The OpenAPI 3.1 description of the REST API (qa.serve.rest), served at `/openapi.json`.

Written out rather than generated: the routes read their JSON themselves (to answer with the
page's own one-line messages), and the result is `Result.to_json()`, described here field by field
as the README does. No documentation page is served (Swagger UI would load scripts from a CDN).
"""

from __future__ import annotations

from typing import Any

from qa.ingest.formats import pdfrender


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], required: list[str] | None = None, **more: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties) if required is None else required,
            **more}


_INT = {"type": "integer"}
_NUM = {"type": "number"}
_STR = {"type": "string"}
_CITATION = _object({
    "id": {**_INT, "description": "the [n] marker; equals the rank of the passage it points into"},
    "doc": {**_STR, "description": "the document, as corpus/<file>"},
    "title": _STR,
    "paragraph": _INT,
    "start": {**_INT, "description": "character offset into the file's text as read from disk"},
    "end": {**_INT, "description": "character offset (exclusive) into the file's text"},
    "passage_id": _INT,
})
_SPAN = _object({
    "text": {**_STR, "description": "the short answer's words: text[start:end] of the answer"},
    "start": {**_INT, "description": "where it begins inside the answer's text (the quote)"},
    "end": {**_INT, "description": "where it ends (exclusive) inside the answer's text"},
    "raw_start": {**_INT, "description": "where it begins in the file's text, as the citation's start"},
    "raw_end": {**_INT, "description": "where it ends (exclusive) in the file's text"},
    "confidence": {**_NUM, "description": "0..1, the span model's calibrated probability that these are the answer's words"},
})
_PASSAGE = _object({
    "rank": _INT, "score": _NUM, "dense": _NUM, "lexical": _NUM, "text": _STR,
    "highlight": {"type": "array", "description": "ranges of text holding the answer sentence(s)",
                  "items": {"type": "array", "items": _INT, "minItems": 2, "maxItems": 2}},
    "citation": _ref("Citation"),
})
_RESULT = _object({
    "question": {**_STR, "description": "the question, cleaned up"},
    "query": {**_STR, "description": "what was actually searched (a follow-up borrows earlier questions)"},
    "answer": {"oneOf": [{"type": "null"}, _object({
        "text": _STR, "citation": _ref("Citation"), "score": _NUM,
        "confidence": {**_NUM, "description": "0..1, calibrated; absent when the scorer and the reader are off"},
        "span": {"oneOf": [{"type": "null"}, _ref("Span")],
                 "description": "the short answer inside the quote; null when there is none (a why-question, an "
                                "unsure model, or QA_SPAN=0)"},
    }, required=["text", "citation", "score"])],
               "description": "the sentence quoted from the documents, or null when they do not answer"},
    "reason": {"type": ["string", "null"], "description": "why there is no answer; null when there is one"},
    "conversation_document": {"type": ["string", "null"],
                              "description": "the document a question about the document itself ('this paper', "
                                             "'the authors') was limited to, as the earlier questions (history) "
                                             "are about it; null when `docs`, or all documents, were searched"},
    "passages": {"type": "array", "items": _ref("Passage")},
}, description="Exactly what `qa ask --json` prints; fields may be added, never removed.",
   additionalProperties=True)
_DOCUMENT = _object({
    "doc": _STR, "title": _STR, "author": {"type": ["string", "null"]}, "sha256": _STR, "encoding": _STR,
    "characters": _INT, "passages": _INT,
}, required=["doc", "title", "passages"], additionalProperties=True)
_ERROR = _object({"error": {**_STR, "description": "one line that says what was wrong"}})
_RANGE = {"type": "array", "items": _INT, "minItems": 2, "maxItems": 2}
_BOX = {"type": "array", "items": _NUM, "minItems": 4, "maxItems": 4,
        "description": "left, top, right, bottom, as fractions (0..1) of the page, origin top left"}
_CONTEXT = _object({
    "doc": _STR, "title": _STR, "paragraph": _INT, "start": _INT, "end": _INT,
    "text": {**_STR, "description": "the cited paragraph"},
    "highlight": {**_RANGE, "description": "the cited range inside text"},
    "before": {"type": ["string", "null"]}, "after": {"type": ["string", "null"]},
    "page": {"type": ["integer", "null"], "description": "the cited page of a PDF, else null"},
    "section": {"type": ["string", "null"]},
    "page_count": {**_INT, "description": "PDF only: its pages"},
    "page_text": {**_STR, "description": "PDF only: the cited page's extracted text"},
    "page_highlight": {**_RANGE, "description": "PDF only: the cited range inside page_text"},
    "boxes": {"type": "array", "description": "PDF only: the cited lines on each page the citation covers "
                                              "(two pages when it runs across a page break)",
              "items": _object({"page": _INT, "boxes": {"type": "array", "items": _BOX}})},
    "document_text": {**_STR, "description": "the extracted text around the citation (all of it when short)"},
    "document_highlight": {**_RANGE, "description": "the cited range inside document_text"},
}, required=["doc", "title", "paragraph", "start", "end", "text", "highlight"], additionalProperties=True,
   description="A citation in its place, read afresh from the document (Assistant.context).")


def _errors(*codes: int) -> dict[str, Any]:
    why = {400: "the body is not a JSON object, or names a field the API does not take",
           401: "the server has a login (--auth): send it as HTTP Basic credentials",
           413: "the body is over the server's limit",
           415: "the body is not sent as application/json",
           404: "the index holds no such document, page or citation",
           422: "a field's value fails its check (the same messages as the page and the CLI)",
           503: "too many questions waiting (Retry-After: 1), or the index cannot be used"}
    return {str(c): {"description": why[c], "content": {"application/json": {"schema": _ref("Error")}}}
            for c in codes}


def _query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def spec(max_chars: int, k_max: int, max_history: int) -> dict[str, Any]:
    """The description, with the server's own limits."""
    request = _object({
        "question": {**_STR, "description": f"at most {max_chars} characters once cleaned up (control, "
                                            "bidi and zero-width characters removed)"},
        "k": {"type": ["integer", "null"], "minimum": 1, "maximum": k_max, "default": 5,
              "description": "how many passages to return"},
        "history": {"type": ["array", "null"], "items": _STR, "maxItems": max_history,
                    "description": "the earlier questions of the conversation, oldest first"},
        "docs": {"type": ["array", "null"], "items": _STR,
                 "description": "ask within these documents only, named as GET /api/documents "
                                "gives them (corpus/<file>), by file name or by title"},
    }, required=["question"], additionalProperties=False)
    return {
        "openapi": "3.1.0",
        "info": {"title": "qa", "version": "1",
                 "description": "Answers quoted from the documents, with citations. The same server also "
                                "serves the chat page and its Gradio API (/gradio_api/info)."},
        "paths": {
            "/api/ask": {"post": {
                "summary": "Answer a question by quoting the documents",
                "operationId": "ask",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("AskRequest")}}},
                "responses": {"200": {"description": "the answer (or null, with a reason) and the ranked passages",
                                      "content": {"application/json": {"schema": _ref("Result")}}},
                              **_errors(400, 401, 413, 415, 422, 503)},
            }},
            "/api/documents": {"get": {
                "summary": "The indexed documents",
                "operationId": "documents",
                "responses": {"200": {"description": "one entry per document",
                                      "content": {"application/json": {"schema": {
                                          "type": "array", "items": _ref("Document")}}}},
                              **_errors(401, 503)},
            }},
            "/api/context": {"get": {
                "summary": "A citation in its place: the paragraphs around it, and for a PDF its page and boxes",
                "operationId": "context",
                "parameters": [_query("doc", _STR, "the cited document, as a citation gives it (corpus/<file>)"),
                               _query("start", _INT, "the citation's start"), _query("end", _INT, "its end"),
                               _query("passage_id", _INT, "instead of doc, start and end: a passage's id")],
                "responses": {"200": {"description": "the context",
                                      "content": {"application/json": {"schema": _ref("Context")}}},
                              **_errors(400, 401, 404, 422, 503)},
            }},
            "/api/page": {"get": {
                "summary": "A page of an indexed PDF, drawn as a PNG",
                "operationId": "page",
                "parameters": [
                    _query("doc", _STR, "the document, as GET /api/documents names it", True),
                    _query("page", {**_INT, "minimum": 1}, "the page, from 1", True),
                    _query("zoom", {**_NUM, "minimum": pdfrender.MIN_ZOOM, "maximum": pdfrender.MAX_ZOOM,
                                    "default": pdfrender.DEFAULT_ZOOM},
                           f"the scale: 1 is 72 dpi; no side of the image is over {pdfrender.MAX_SIDE} pixels")],
                "responses": {"200": {"description": "the page (headers X-Page, X-Pages, X-Image-Size)",
                                      "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
                              **_errors(400, 401, 404, 422, 503)},
            }},
        },
        "security": [{}, {"login": []}],
        "components": {
            "schemas": {"AskRequest": request, "Result": _RESULT, "Passage": _PASSAGE, "Citation": _CITATION, "Span": _SPAN,
                        "Document": _DOCUMENT, "Context": _CONTEXT, "Error": _ERROR},
            "securitySchemes": {"login": {"type": "http", "scheme": "basic",
                                          "description": "only when the server runs with --auth"}},
        },
    }
