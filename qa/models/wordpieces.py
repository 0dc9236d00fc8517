"""One tokenizer for the scorer and the reader, and the inputs each cuts from it.

The scorer's and the reader's `tokenizer.json` hold the same vocabulary (MiniLM's) and differ only in
how long an input may be. A tokenizer costs about 6 MiB of a server's memory, so the process loads
each vocabulary once (`shared`), set to cut and pad nothing, and each model cuts its own inputs
here exactly as the tokenizers library's own truncation would (`single`, `pair`; a test compares
them on many lengths).
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def shared(path: Path) -> Any:
    """The tokenizer of `path` (a tokenizer.json) without its truncation and padding, one object per
    distinct vocabulary and set-up in the process."""
    from tokenizers import Tokenizer

    spec = json.loads(path.read_text(encoding="utf-8"))
    spec["truncation"], spec["padding"] = None, None
    text = json.dumps(spec, sort_keys=True)
    key = hashlib.sha256(text.encode()).hexdigest()
    with _lock:
        if key not in _loaded:
            _loaded[key] = Tokenizer.from_str(text)
        return _loaded[key]


def single(tokenizer: Any, text: str, max_length: int) -> list[int]:
    """The ids of "[CLS] text [SEP]", the text cut so the whole is at most `max_length` tokens."""
    ids = tokenizer.encode(text).ids
    return ids if len(ids) <= max_length else ids[: max_length - 1] + ids[-1:]


def pair(tokenizer: Any, first: str, second: str, max_length: int) -> tuple[list[int], list[int]]:
    """The ids and token type ids of "[CLS] first [SEP] second [SEP]", cut to at most `max_length`
    tokens the library's way ("longest_first": the longer input is cut first, then both evenly)."""
    a = tokenizer.encode(first, add_special_tokens=False).ids
    b = tokenizer.encode(second, add_special_tokens=False).ids
    room = max(0, max_length - 3)
    if len(a) + len(b) > room:
        n1, n2 = sorted((len(a), len(b)))
        n2 = n1 if n1 > room else max(n1, room - n1)
        if n1 + n2 > room:
            n1, n2 = room // 2, room // 2 + room % 2
        if len(a) > len(b):
            n1, n2 = n2, n1
        a, b = a[:n1], b[:n2]
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    return [cls, *a, sep, *b, sep], [0] * (len(a) + 2) + [1] * (len(b) + 1)
