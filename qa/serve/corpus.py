"""The chat page's corpus: upload of several files, removal, and the document picker's choices.

Without gradio (qa.serve.ui wires these to its components and progress bar): each function checks
its own input, as every handler does, and returns the text the page shows, escaped by
`qa.serve.render`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa.assistant import Assistant
from qa.errors import InputError
from qa.ingest.documents import SUFFIXES
from qa.serve import pagecheck as check
from qa.serve import render

log = logging.getLogger("qa.ui")

#: files one upload may carry (Gradio's own cap is 1,000)
MAX_UPLOAD_FILES = 20

#: (fraction done, what is being done): how indexing reports its progress
Progress = Callable[[float, str], Any]

_LOOKALIKE = str.maketrans({"<": "‹", ">": "›", "&": "＆"})


def index_line(a: Assistant) -> str:
    """The server log's line for the index being served."""
    return f"index {a.index.path}: {len(a.index.passages)} passages from {len(a.documents())} document(s)"


def choices(a: Assistant) -> list[tuple[str, str]]:
    """(label, key) for each document: shown as plain text, with no markup character, and keyed by
    the document's SHA-256 so no name travels back and forth (CASES.md 12)."""
    return [(f"{d['title']} · {str(d['doc']).rsplit('/', 1)[-1]}".translate(_LOOKALIKE), str(d["sha256"]))
            for d in a.documents()]


def doc_of(a: Assistant, key: Any) -> str | None:
    """The cited name of the document a picker key stands for."""
    return next((str(d["doc"]) for d in a.documents() if isinstance(key, str) and d.get("sha256") == key), None)


def picked(a: Assistant, docs: Any) -> list[str] | None:
    """The documents the picker limits a question to (None: all); checked, as any input."""
    if docs in (None, "", []):
        return None
    found = [doc_of(a, key) for key in docs] if isinstance(docs, list) and len(docs) <= 1000 else [None]
    if None in found:
        raise InputError("Pick documents from the list.")
    return [doc for doc in found if doc]


def add(a: Assistant, files: Any, temp_root: Path, upload_bytes: int, progress: Progress) -> str:
    """Adds the uploaded files (paths under Gradio's temp dir `temp_root`), each deleted once read;
    returns the status: one line per document added and per file refused."""
    paths = files if isinstance(files, list) else [files]
    if not paths or len(paths) > MAX_UPLOAD_FILES or not all(
            isinstance(f, str) and Path(f).resolve().is_relative_to(temp_root) and Path(f).is_file() for f in paths):
        raise InputError(f"Choose a file to add ({', '.join(SUFFIXES)}); up to {MAX_UPLOAD_FILES} at once.")
    try:
        small = [Path(f) for f in paths if Path(f).stat().st_size <= upload_bytes]
        refused = [f"skipped {Path(f).name}: too large (the limit is {upload_bytes:,} bytes)"
                   for f in paths if Path(f) not in small]
        progress(0.0, "Checking the files")
        done = a.add([(f, f.name) for f in small], progress=progress)
    finally:
        for f in paths:
            check.discard_upload(Path(f), temp_root)
    refused += done.refused
    if not done.added:
        raise InputError(" ".join(refused) or "Nothing was added.")
    lines = [f"Added **{render.text(str(d['title']))}** ({render.text(str(d['doc']))}): "
             f"{int(d['passages'])} passages." for d in done.added]
    lines += [render.text(line) for line in refused]
    log.info("added %s to the corpus; %s", ", ".join(str(d["doc"]) for d in done.added), index_line(a))
    return "\n\n".join(lines + ["Ask about it in the chat."])


def remove(a: Assistant, key: Any, progress: Progress) -> str:
    """Takes the document the picker key `key` stands for out of the corpus and the index."""
    doc = doc_of(a, key)
    if doc is None:
        raise InputError("Pick the document to remove.")
    gone = a.remove(doc, progress=progress)
    log.info("removed %s from the corpus; %s", doc, index_line(a))
    return f"Removed **{render.text(str(gone['title']))}** ({render.text(doc)})."
