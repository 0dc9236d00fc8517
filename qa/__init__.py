"""qa: answers questions about a text by quoting the passages that answer them, with citations.

Importing the package is cheap: torch, faiss and gradio load only when first needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Assistant", "Settings", "__version__"]

if TYPE_CHECKING:
    from qa.assistant import Assistant
    from qa.config import Settings


def __getattr__(name: str) -> Any:
    if name == "Assistant":
        from qa.assistant import Assistant

        return Assistant
    if name == "Settings":
        from qa.config import Settings

        return Settings
    raise AttributeError(name)
