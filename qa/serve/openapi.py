"""The OpenAPI 3.1 description of the REST API (qa.serve.rest), served at `/openapi.json`.

Written out rather than generated: the routes read their JSON themselves (to answer with the
page's own one-line messages), and the result is `Result.to_json()`, described here field by field
as the README does. No documentation page is served (Swagger UI would load scripts from a CDN).
"""

from __future__ import annotations

from typing import Any


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
_PASSAGE = _object({
    "rank": _INT, "score": _NUM, "dense": _NUM, "lexical": _NUM, "text": _STR,
    "highlight": {"type": "array", "description": "ranges of text holding the answer sentence(s)",
                  "items": {"type": "array", "items": _INT, "minItems": 2, "maxItems": 2}},
    "citation": _ref("Citation"),
})
_RESULT = _object({
    "question": {**_STR, "description": "the question, cleaned up"},
    "query": {**_STR, "description": "what was actually searched (a follow-up borrows earlier questions)"},
    "answer": {"oneOf": [{"type": "null"}, _object({"text": _STR, "citation": _ref("Citation"), "score": _NUM})],
               "description": "the sentence quoted from the documents, or null when they do not answer"},
    "reason": {"type": ["string", "null"], "description": "why there is no answer; null when there is one"},
    "passages": {"type": "array", "items": _ref("Passage")},
}, description="Exactly what `qa ask --json` prints; fields may be added, never removed.",
   additionalProperties=True)
_DOCUMENT = _object({
    "doc": _STR, "title": _STR, "author": {"type": ["string", "null"]}, "sha256": _STR, "encoding": _STR,
    "characters": _INT, "passages": _INT,
}, required=["doc", "title", "passages"], additionalProperties=True)
_ERROR = _object({"error": {**_STR, "description": "one line that says what was wrong"}})


def _errors(*codes: int) -> dict[str, Any]:
    why = {400: "the body is not a JSON object, or names a field the API does not take",
           401: "the server has a login (--auth): send it as HTTP Basic credentials",
           413: "the body is over the server's limit",
           415: "the body is not sent as application/json",
           422: "a field's value fails its check (the same messages as the page and the CLI)",
           503: "too many questions waiting (Retry-After: 1), or the index cannot be used"}
    return {str(c): {"description": why[c], "content": {"application/json": {"schema": _ref("Error")}}}
            for c in codes}


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
        },
        "security": [{}, {"login": []}],
        "components": {
            "schemas": {"AskRequest": request, "Result": _RESULT, "Passage": _PASSAGE, "Citation": _CITATION,
                        "Document": _DOCUMENT, "Error": _ERROR},
            "securitySchemes": {"login": {"type": "http", "scheme": "basic",
                                          "description": "only when the server runs with --auth"}},
        },
    }
