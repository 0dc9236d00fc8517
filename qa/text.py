"""Small text helpers shared by loading, searching and display: normalisation and clean-up."""

from __future__ import annotations

import re
import unicodedata

from qa.errors import InputError

_WORD = re.compile(r"\w+")
_NON_WORD = re.compile(r"\W+")
# Escape sequences a terminal would interpret (CSI ... final byte, OSC ... BEL/ST, single ESC).
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")


def is_invisible(ch: str) -> bool:
    """Control, format (bidi overrides, zero-width), surrogate, private or unassigned characters."""
    return unicodedata.category(ch)[0] == "C" and ch not in "\n\t"


def clean_text(text: str) -> str:
    """NFC, no terminal escapes, no invisible characters, whitespace collapsed to single spaces."""
    text = _ANSI.sub("", text)
    text = "".join(ch for ch in text if not is_invisible(ch))
    text = unicodedata.normalize("NFC", text)
    return " ".join(text.split())


def clean_question(question: object, max_chars: int) -> str:
    """The question as it will be searched, or an InputError with a message for the user."""
    if question is None:
        raise InputError("Please type a question.")
    if not isinstance(question, str):
        if isinstance(question, int | float) and not isinstance(question, bool):
            question = str(question)
        else:
            raise InputError("Please type a question.")
    assert isinstance(question, str)
    # Refuse absurd sizes before doing any work on them.
    if len(question) > 20 * max_chars:
        raise InputError(f"Question is too long ({len(question)} characters; the limit is {max_chars}).")
    cleaned = clean_text(question)
    if not cleaned:
        raise InputError("Please type a question.")
    if len(cleaned) > max_chars:
        raise InputError(f"Question is too long ({len(cleaned)} characters; the limit is {max_chars}).")
    return cleaned


def words(text: str) -> list[str]:
    """The lower-cased word tokens of a text."""
    return _WORD.findall(text.lower())


def skeleton(text: str) -> str:
    """The text with every non-word character removed, NFC: what a citation check compares."""
    return _NON_WORD.sub("", unicodedata.normalize("NFC", text))


def for_terminal(text: str) -> str:
    """Text safe to print to a terminal: no escape sequences or other control characters."""
    text = _ANSI.sub("", text)
    return "".join(ch for ch in text if ch in "\n\t" or not is_invisible(ch))
