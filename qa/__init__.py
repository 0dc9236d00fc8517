"""qa: answers questions about a text by quoting the passages that answer them, with citations.

Importing the package is cheap: torch, faiss and gradio load only when first needed. The public
API is what `__all__` names; the stages live in subpackages (`qa.ingest`, `qa.index`, `qa.search`,
`qa.answer`, `qa.serve`, `qa.eval`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PUBLIC = {
    "Assistant": "qa.assistant",
    "Settings": "qa.config",
    "Result": "qa.answer.result",
    "Answer": "qa.answer.result",
    "Hit": "qa.answer.result",
    "Citation": "qa.answer.result",
    "Passage": "qa.ingest.chunks",
}
__all__ = ["Answer", "Assistant", "Citation", "Hit", "Passage", "Result", "Settings", "__version__"]

if TYPE_CHECKING:
    from qa.answer.result import Answer, Citation, Hit, Result
    from qa.assistant import Assistant
    from qa.config import Settings
    from qa.ingest.chunks import Passage


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(name)
