"""Word (.docx): paragraphs and tables in document order, read with python-docx.

A .docx is a zip archive; before python-docx opens it, the archive's own table of contents is
checked, so a file that is not a zip, lacks the Word body, or would unpack to far more than the
size limit (a zip bomb) is refused without inflating a byte. Headings are the paragraphs whose
style is "Title" or "Heading N"; the title and author come from the document's core properties.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from qa.ingest.formats import Block, Extracted, Skip

#: an archive member may inflate to at most this many times its compressed size (Word XML compresses
#: about 5-20 times; bombs a thousand times and more)
MAX_RATIO = 200
_HEADING = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def check_archive(data: bytes, max_bytes: int) -> None:
    """Refuses a .docx whose zip directory is broken, lacks the body or would unpack too large."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise Skip("not a valid .docx (not a zip archive)", "not a valid .docx") from e
    names = {m.filename for m in members}
    if "word/document.xml" not in names:
        raise Skip("not a valid .docx (no word/document.xml inside)", "not a valid .docx")
    total = sum(m.file_size for m in members)
    worst = max((m.file_size / max(1, m.compress_size) for m in members if m.file_size > 1 << 20), default=0)
    if total > max_bytes or worst > MAX_RATIO:
        raise Skip(f"refused: it would unpack to {total:,} bytes (a zip bomb?; the limit is {max_bytes:,})",
                   "zip bomb")


def _level(paragraph: Any) -> int:
    try:
        name = (paragraph.style.name or "") if paragraph.style is not None else ""
    except (KeyError, ValueError, AttributeError):
        return 0
    if name.lower() == "title":
        return 1
    m = _HEADING.match(name.strip())
    return min(6, max(1, int(m.group(1)))) if m else 0


def read_docx(data: bytes, max_bytes: int) -> Extracted:
    """The blocks of a Word document: headings with their level, paragraphs, one block per table row."""
    check_archive(data, max_bytes)
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[Block] = []
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                for row in item.rows:
                    cells = list(dict.fromkeys(" ".join(c.text.split()) for c in row.cells))
                    if any(cells):
                        blocks.append(Block(" | ".join(c for c in cells if c)))
            elif " ".join(item.text.split()):
                blocks.append(Block(" ".join(item.text.split()), level=_level(item)))
        props = document.core_properties
        title, author = props.title, props.author
    except Skip:
        raise
    except Exception as e:  # python-docx and lxml raise many kinds on a damaged part
        raise Skip(f"not a valid .docx ({type(e).__name__})", "not a valid .docx") from e
    return Extracted("docx", blocks, title=" ".join((title or "").split()) or None,
                     author=" ".join((author or "").split()) or None)
