"""The errors the library raises. The CLI and the UI turn each into one line for a person."""

from __future__ import annotations


class QAError(Exception):
    """Base of every error a person may see; its message is one line that says what to do."""


class InputError(QAError):
    """A question or an option the user gave is unusable (empty, too long, out of range)."""


class NotFound(InputError):
    """A document, page or citation the index does not hold (the REST API answers 404)."""


class CorpusError(QAError):
    """The corpus cannot be used at all (missing folder, no indexable text)."""


class StoreError(QAError):
    """The index on disk is missing, corrupt, foreign or cannot be written."""


class ModelError(QAError):
    """The bundled embedding model is missing, damaged or fails its self-check."""
