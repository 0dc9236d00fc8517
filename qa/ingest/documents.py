"""Reads the corpus folder: decodes each file, skips unusable ones with a reason, repairs the layout."""

from __future__ import annotations

import codecs
import hashlib
import os
import stat
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from qa.errors import CorpusError
from qa.ingest import readpdf, timelimit
from qa.ingest.assemble import Assembled, assemble
from qa.ingest.formats import SUFFIXES, Skip, extract, format_of
from qa.ingest.layout import Paragraph, repair
from qa.text import clean_text, is_invisible

__all__ = ["SUFFIXES", "Document", "Skip", "ingest", "load_corpus", "read_document"]
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
    #: SHA-256 of the text once decoded, NFC-normalised and with LF line ends: equal for copies that
    #: differ only in encoding, BOM, normalisation form or line ends (duplicates are indexed once)
    content_sha256: str = field(default="", compare=False)
    #: "txt", "md", "pdf", "docx" or "html"; offsets index `raw`, which for a .txt file is the file
    #: as decoded and for the other formats the extracted text (what `qa show` prints)
    format: str = "txt"
    #: pages of a PDF, None elsewhere
    pages: int | None = None
    #: offset in `raw` where each page begins (page n at index n - 1); empty when not paginated
    page_starts: tuple[int, ...] = field(default=(), compare=False)

    def page_at(self, offset: int) -> int | None:
        """The page holding raw offset `offset` (PDF), None for formats without pages."""
        from bisect import bisect_right

        return max(1, bisect_right(self.page_starts, offset)) if self.page_starts else None


def content_hash(text: str) -> str:
    """SHA-256 of a text as a reader sees it: NFC, LF line ends (BOM and encoding already gone)."""
    normal = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return hashlib.sha256(normal.encode("utf-8", "surrogatepass")).hexdigest()


def open_regular(path: Path) -> int:
    """A read-only descriptor of a regular file (never blocks on a FIFO or device), or Skip."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise Skip(f"cannot be read ({e.strerror or e})", "cannot be read") from e
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Skip("not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, refused before reading when larger than `max_bytes` (or growing past it)."""
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size > max_bytes:
            raise Skip(f"too large ({size:,} bytes; the limit is {max_bytes:,}: QA_MAX_FILE_MB sets it)", "too large")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(size)  # read(n) allocates n bytes at once: never ask for the cap itself
            while len(data) <= max_bytes and (more := f.read(min(1 << 20, max_bytes + 1 - len(data)))):
                data += more  # the file grew while we read it
    except OSError as e:
        raise Skip(f"cannot be read ({e.strerror or e})", "cannot be read") from e
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise Skip(f"too large (over {max_bytes:,} bytes, the limit: QA_MAX_FILE_MB sets it)", "too large")
    return data


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
    sample = data[:8192]
    if sum(1 for b in sample if b < 0x20 and b not in b"\t\n\r\f\v\x1b") > max(8, len(sample) // 20):
        raise Skip("looks binary")  # no text encoding puts that many control bytes in text
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data[: 1 << 20]))
    best = matches[0] if matches else None
    if best is not None:
        # Short samples leave several single-byte code pages equally likely: prefer the Western
        # default, cp1252, among equals (documented fallback).
        ties = [m for m in matches if (m.percent_chaos, m.percent_coherence) == (best.percent_chaos, best.percent_coherence)]
        best = next((m for m in ties if m.encoding == "cp1252"), best)
    if best is None or best.encoding in ("utf_8", "ascii"):
        raise Skip("not valid UTF-8 and no other text encoding fits", "not valid UTF-8")
    try:
        return data.decode(best.encoding), best.encoding
    except (UnicodeDecodeError, LookupError) as e:
        raise Skip(f"not valid UTF-8 (and not {best.encoding})", "not valid UTF-8") from e


def _looks_binary(text: str) -> bool:
    sample = text[:8192]
    controls = sum(1 for ch in sample if is_invisible(ch) and ch not in "\r\f\v")
    return controls > max(8, len(sample) // 20)


def _decoded(data: bytes) -> tuple[str, str]:
    """The text of a text-format file, or Skip (binary, empty, undecodable)."""
    text, encoding = decode(data)
    if _looks_binary(text):
        raise Skip("looks binary")
    if not any(not ch.isspace() and not is_invisible(ch) for ch in text):
        raise Skip("empty")
    return text, encoding


def _extracted(fmt: str, data: bytes, max_bytes: int) -> tuple[str, Assembled, str, str]:
    """(extracted text, assembled document, encoding, content hash) of a file in a rich format."""
    if fmt in ("pdf", "docx"):
        if not data.strip():
            raise Skip("empty")
        assembled = assemble(readpdf.read(fmt, data, max_bytes))  # a PDF within the per-file time limit
        encoding, key = fmt, ""
    else:
        text, encoding = _decoded(data)
        assembled = assemble(extract(fmt, data, text, max_bytes))
        key = content_hash(text)  # the same text as a .txt file is the same document
    if not assembled.text.strip():
        raise Skip("empty (no readable text in it)", "empty")
    return assembled.text, assembled, encoding, key or content_hash(assembled.text)


def read_document(path: Path, doc: str, max_bytes: int, fmt: str | None = None) -> tuple[Document, str | None]:
    """(document, note) for one file, or Skip. The note tells of a non-UTF-8 encoding.

    `fmt` is the format to read it as; by default the one its suffix names.
    """
    fmt = fmt or format_of(path.suffix)
    if fmt is None:
        raise Skip(f"unsupported file type (supported: {', '.join(SUFFIXES)})", "unsupported file type")
    data = read_bytes(path, max_bytes)
    sha256 = hashlib.sha256(data).hexdigest()
    if fmt == "txt":
        text, encoding = _decoded(data)
        del data  # a large file is held once, as text
        layout = repair(text)
        assembled = Assembled(text, layout.paragraphs, layout.title, layout.author, layout.affiliation)
        key = content_hash(text)
    else:
        text, assembled, encoding, key = _extracted(fmt, data, max_bytes)
        del data
    # a title from the file name is cleaned like any text shown: NFC, no escapes or invisible characters
    title = clean_text(assembled.title or path.stem.replace("_", " ").replace("-", " ")) or "Untitled"
    document = Document(
        doc=doc,
        path=path,
        raw=text,
        sha256=sha256,
        encoding=encoding,
        title=title,
        author=clean_text(assembled.author) if assembled.author else None,
        affiliation=assembled.affiliation,
        paragraphs=assembled.paragraphs,
        content_sha256=key,
        format=fmt,
        pages=len(assembled.page_starts) or None,
        page_starts=assembled.page_starts,
    )
    text_format = fmt in ("txt", "md", "html")
    note = None if not text_format or encoding in ("utf-8", "ascii") else f"read {doc} as {encoding} (not UTF-8)"
    return document, note


def _walk(corpus_dir: Path) -> list[tuple[Path, str | None]]:
    """(path, why it is skipped or None) for every candidate text file under the corpus folder.

    Links are followed only when they lead to a file inside the folder; links to folders are not
    followed at all (no loops, no escape from the chosen root).
    """
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder not found: {corpus_dir} (give one with --corpus DIR)")
    root = corpus_dir.resolve()
    found: list[tuple[Path, str | None]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for d in sorted(dirnames):
            if not d.startswith(".") and (here / d).is_symlink():
                found.append((here / d, "a link to a folder (not followed)"))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not (here / d).is_symlink())
        for name in sorted(filenames):
            path = here / name
            # hidden files, and Word's "~$name.docx" owner files (a lock while a document is open)
            if name.startswith((".", "~$")) or path.suffix.lower() not in SUFFIXES:
                continue
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):  # dangling link, link loop
                found.append((path, "a broken or looping link"))
                continue
            if not target.is_relative_to(root):
                found.append((path, "a link that leads outside the corpus folder"))
            elif not target.is_file():
                found.append((path, "not a regular file"))
            else:
                found.append((path, None))
    return found


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Readable files (every supported format) under the corpus folder, sorted; links that lead outside it are not followed."""
    return [path for path, problem in _walk(corpus_dir) if problem is None]


def doc_name(corpus_dir: Path, path: Path) -> str:
    """How a file is cited: "<corpus folder name>/<path inside it>" (a link by its own name)."""
    root = corpus_dir.resolve()
    inside = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    return f"{corpus_dir.name or root.name}/{inside}"


@dataclass(frozen=True)
class Ingest:
    """What reading a corpus gave: the documents, and each skipped file with its reason."""

    documents: list[Document]
    skipped: list[tuple[str, str]]  # (doc, reason in a few words)
    #: documents the caller already holds, not read again (see `ingest`'s `keep`)
    kept: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """E.g. "10000 indexed, 3 skipped (2 looks binary, 1 empty)"."""
        kinds = Counter(kind for _doc, kind in self.skipped)
        detail = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
        indexed = len(self.documents) + len(self.kept)
        return f"{indexed} indexed, {len(self.skipped)} skipped" + (f" ({detail})" if detail else "")


def ingest(corpus_dir: Path, max_bytes: int, warn: Callable[[str], None] = lambda _m: None,
           keep: Mapping[str, str] | None = None, seconds: float | None = None,
           progress: Callable[[float, str], None] | None = None,
           page_seconds: float = timelimit.PAGE_SECONDS) -> Ingest:
    """Reads every usable document of the corpus; each skipped file is reported through `warn`.

    `keep` maps documents the caller already holds (unchanged on disk since it read them) to their
    content hash: they are not read again, only listed in `Ingest.kept`, in their place for the
    duplicate check. `seconds`: the per-file time limit on reading a PDF (`qa.ingest.timelimit`;
    None: none), and `page_seconds` more for each scanned page OCR begins; `progress(fraction of
    the files, message)` hears of each page OCR reads.
    """
    corpus_dir = Path(corpus_dir)
    documents: list[Document] = []
    skipped: list[tuple[str, str]] = []
    kept: list[str] = []
    seen: dict[str, str] = {}
    keep = keep or {}

    def skip(doc: str, why: Skip) -> None:
        warn(f"skipped {doc}: {why}")
        skipped.append((doc, why.kind))

    walked = _walk(corpus_dir)
    for at, (path, problem) in enumerate(walked):
        doc = doc_name(corpus_dir, path)
        if problem is not None:
            skip(doc, Skip(problem))
            continue
        if doc in keep:
            if keep[doc] in seen:
                skip(doc, Skip(f"same content as {seen[keep[doc]]}", "duplicate"))
            else:
                seen[keep[doc]] = doc
                kept.append(doc)
            continue
        def told(fraction: float, what: str, at: int = at, doc: str = doc) -> None:
            if progress is not None:
                progress((at + fraction) / len(walked), f"{what} in {doc}")

        try:
            with timelimit.reading(seconds, told, page_seconds):
                document, note = read_document(path, doc, max_bytes)
        except Skip as e:
            skip(doc, e)
            continue
        if note:
            warn(note)
        if document.content_sha256 in seen:
            skip(doc, Skip(f"same content as {seen[document.content_sha256]}", "duplicate"))
            continue
        seen[document.content_sha256] = doc
        documents.append(document)
    return Ingest(documents, skipped, kept)


def load_corpus(
    corpus_dir: Path, max_bytes: int, warn: Callable[[str], None] = lambda _m: None
) -> list[Document]:
    """Every readable document of the corpus; each skipped file is reported through `warn`."""
    return ingest(corpus_dir, max_bytes, warn).documents
