"""Reads the corpus folder: decodes each file, skips unusable ones with a reason, repairs the layout."""

from __future__ import annotations

import codecs
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa.errors import CorpusError
from qa.layout import Paragraph, repair
from qa.text import is_invisible

#: file types read as text; more formats arrive with their own readers
TEXT_SUFFIXES = (".txt", ".md", ".markdown")
_MAGIC = (b"%PDF", b"\x89PNG", b"\x7fELF", b"PK\x03\x04", b"GIF8", b"\xff\xd8\xff", b"MZ", b"\x1f\x8b")


@dataclass(frozen=True)
class Document:
    """A source file: its raw text exactly as decoded from disk and its repaired paragraphs."""

    doc: str  # "corpus/<file>", as cited
    path: Path
    raw: str
    sha256: str  # of the bytes on disk
    encoding: str
    title: str
    author: str | None
    affiliation: str | None
    paragraphs: tuple[Paragraph, ...]


class Skip(Exception):
    """A file that is not loaded; the message says why, in a few words."""


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding) for a file's bytes, or Skip. BOMs are honoured and stripped."""
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc), enc.replace("-sig", "")
            except UnicodeDecodeError as e:
                raise Skip(f"not valid {enc} despite its byte-order mark") from e
    if data.startswith(_MAGIC) or b"\x00" in data[:8192]:
        raise Skip("looks binary")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data[: 1 << 20]))
    best = matches[0] if matches else None
    if best is not None:
        # Short samples leave several single-byte code pages equally likely: prefer the Western
        # default, cp1252, among equals (documented fallback).
        ties = [m for m in matches if (m.percent_chaos, m.percent_coherence) == (best.percent_chaos, best.percent_coherence)]
        best = next((m for m in ties if m.encoding == "cp1252"), best)
    if best is None or best.encoding in ("utf_8", "ascii"):
        raise Skip("not valid UTF-8 and no other text encoding fits")
    try:
        return data.decode(best.encoding), best.encoding
    except (UnicodeDecodeError, LookupError) as e:
        raise Skip(f"not valid UTF-8 (and not {best.encoding})") from e


def _looks_binary(text: str) -> bool:
    sample = text[:8192]
    controls = sum(1 for ch in sample if is_invisible(ch) and ch not in "\r\f\v")
    return controls > max(8, len(sample) // 20)


def read_document(path: Path, doc: str, max_bytes: int) -> tuple[Document, str | None]:
    """(document, note) for one file, or Skip. The note tells of a non-UTF-8 encoding."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise Skip(f"too large ({size:,} bytes; the limit is {max_bytes:,})")
        data = path.read_bytes()
    except OSError as e:
        raise Skip(f"cannot be read ({e.strerror or e})") from e
    text, encoding = decode(data)
    if _looks_binary(text):
        raise Skip("looks binary")
    if not "".join(ch for ch in text if not is_invisible(ch)).strip():
        raise Skip("empty")
    layout = repair(text, markdown=path.suffix.lower() in (".md", ".markdown"))
    title = layout.title or path.stem.replace("_", " ").replace("-", " ").strip()
    document = Document(
        doc=doc,
        path=path,
        raw=text,
        sha256=hashlib.sha256(data).hexdigest(),
        encoding=encoding,
        title=title,
        author=layout.author,
        affiliation=layout.affiliation,
        paragraphs=layout.paragraphs,
    )
    note = None if encoding in ("utf-8", "ascii") else f"read {doc} as {encoding} (not UTF-8)"
    return document, note


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Text files under the corpus folder, sorted; links that lead outside it are not followed."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder not found: {corpus_dir} (give one with --corpus DIR)")
    root = corpus_dir.resolve()
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or path.suffix.lower() not in TEXT_SUFFIXES:
                continue
            try:
                inside = path.resolve().is_relative_to(root)
            except OSError:
                inside = False
            if inside:
                found.append(path)
    return found


def load_corpus(
    corpus_dir: Path, max_bytes: int, warn: Callable[[str], None] = lambda _m: None
) -> list[Document]:
    """Every readable document of the corpus; each skipped file is reported through `warn`."""
    corpus_dir = Path(corpus_dir)
    root = corpus_dir.resolve()
    documents: list[Document] = []
    seen: dict[str, str] = {}
    for path in corpus_files(corpus_dir):
        doc = f"{corpus_dir.name or root.name}/{path.resolve().relative_to(root).as_posix()}"
        try:
            document, note = read_document(path, doc, max_bytes)
        except Skip as e:
            warn(f"skipped {doc}: {e}")
            continue
        if note:
            warn(note)
        if document.sha256 in seen:
            warn(f"skipped {doc}: same content as {seen[document.sha256]}")
            continue
        seen[document.sha256] = doc
        documents.append(document)
    return documents
