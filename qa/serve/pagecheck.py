"""What the chat page's handlers check and say, without gradio (qa.serve.ui is the only gradio module).

Every handler is reachable by a raw request (a private endpoint included), so each checks its own
input here; messages shown to a client never carry a server path; the assistant's warnings are
logged and the latest kept so an upload can say why it failed.
"""

from __future__ import annotations

import collections
import logging
import re
from pathlib import Path
from typing import Any

from qa.errors import InputError

log = logging.getLogger("qa.ui")

MAX_HISTORY = 50

# An absolute path in a message becomes its last part: the page shows no server paths (CASES.md 9).
_ABSOLUTE = re.compile(r"(?<![\w.~])/(?:[^/\s:;,'\"()]+/)*([^/\s:;,'\"()]+)")


def public(message: str) -> str:
    """A message for the client: absolute paths reduced to their last part."""
    return _ABSOLUTE.sub(r"\1", message)


class Warnings:
    """The Assistant's warnings: logged, and the latest kept so an upload can report why it failed."""

    def __init__(self) -> None:
        self.seen: collections.deque[str] = collections.deque(maxlen=50)
        self.count = 0

    def __call__(self, message: str) -> None:
        log.warning("%s", message)
        self.seen.append(message)
        self.count += 1

    def since(self, count: int) -> list[str]:
        return list(self.seen)[-(self.count - count):] if self.count > count else []


def k(value: Any, most: int) -> int:
    """The number of passages asked for: a whole number from 1 to `most` (5.0 counts as 5)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
        raise InputError(f"The number of passages must be a whole number from 1 to {most}.")
    return value


def history(value: Any, max_chars: int) -> list[str]:
    """The API's earlier questions: None, or a short list of strings of bounded length."""
    if value is None:
        return []
    if (not isinstance(value, list) or len(value) > MAX_HISTORY
            or not all(isinstance(h, str) and len(h) <= 20 * max_chars for h in value)):
        raise InputError(f"history must be a list of at most {MAX_HISTORY} earlier questions (strings).")
    return value


_CITATION = re.compile(r"(?:(\d{1,6}):)?(\d{1,6})(?::\d{1,12})?", re.ASCII)


def citation(choice: Any, shown: Any, turns: int) -> tuple[int, str]:
    """(turn, rank) of a clicked citation: "TURN:RANK:COUNT" from the page's script, or a bare
    "RANK" of the turn shown (by default the latest); `turns` is the length of the conversation."""
    m = _CITATION.fullmatch(choice) if isinstance(choice, str) else None
    if m is None or (m.group(1) is not None and int(m.group(1)) >= turns):
        raise InputError("Pick one of the citations first.")
    if m.group(1) is not None:
        return int(m.group(1)), m.group(2)
    turn = shown if isinstance(shown, int) and 0 <= shown < turns else turns - 1
    return turn, m.group(2)


def results(value: Any) -> list[dict[str, Any]]:
    """The conversation kept in the session (server-side state): a list of result dicts."""
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def discard_upload(upload: Path, temp_root: Path) -> None:
    """Deletes an uploaded file once read: the only copy kept is the one saved into the corpus."""
    try:
        if upload.resolve().is_relative_to(temp_root):
            upload.unlink(missing_ok=True)
            if upload.parent.resolve() != temp_root and not any(upload.parent.iterdir()):
                upload.parent.rmdir()
    except OSError as e:
        log.warning("could not delete the uploaded file %s: %s", upload.name, e.strerror)
