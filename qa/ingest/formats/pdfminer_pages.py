"""PDF pages read by pdfminer.six's layout analysis, for the pages PDFium's drawing order cannot give.

pdfminer groups characters into lines and lines into text boxes and orders the boxes from where
they stand, so columns drawn across the page row by row, or boxes drawn out of order, still read
column by column; it is pure Python, 11 to 24 pages a second on the 2-core test machine against
PDFium's hundreds, so `qa.ingest.formats.pdf` asks it only for pages whose drawing order is not
their reading order (`pdflines.in_reading_order`) or that are set sideways. Rotated text and margin
line numbers never reach its layout analysis (`pdfmargin`), nor do the characters of a table found
on the page (the table is read from PDFium's words, `pdftables`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from qa.ingest.formats import Skip
from qa.ingest.formats.pdflines import Part
from qa.ingest.formats.pdftables import Table
from qa.ingest.formats.pdftitle import TypeLine


def _open(data: bytes) -> Any:
    from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFParser

    try:
        return PDFDocument(PDFParser(io.BytesIO(data)), password="")
    except (PDFPasswordIncorrect, PDFEncryptionError) as e:
        raise Skip("encrypted (it needs a password)", "encrypted") from e
    except Exception as e:  # pdfminer raises many kinds on a damaged file
        raise Skip(f"not a readable PDF ({type(e).__name__})", "not a readable PDF") from e


def _reader(manager: Any, tables: Mapping[int, Sequence[Table]]) -> Any:
    """pdfminer's page aggregator, leaving rotated text, margin line numbers and the characters of
    the page's tables out of the layout."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams, LTChar

    from qa.ingest.formats.pdfmargin import not_body

    class Reader(PDFPageAggregator):
        def end_page(self, page: Any) -> None:
            objs = self.cur_item._objs  # the page's characters, before the layout analysis
            chars = [o for o in objs if isinstance(o, LTChar)]
            drop = not_body(chars, self.cur_item.x0, self.cur_item.x1)
            for t in tables.get(self.pageno - 1, ()):
                drop.update(i for i, c in enumerate(chars)
                            if t.x0 <= (c.x0 + c.x1) / 2 <= t.x1 and t.bottom <= (c.y0 + c.y1) / 2 <= t.top)
            if drop:
                gone = {id(chars[i]) for i in drop}
                self.cur_item._objs = [o for o in objs if id(o) not in gone]
            super().end_page(page)

    return Reader(manager, laparams=LAParams())


def _type_line(line: Any) -> TypeLine | None:
    """A pdfminer LTTextLine as a TypeLine, None when it holds no visible character."""
    from statistics import median

    from pdfminer.layout import LTChar

    chars = [c for c in line if isinstance(c, LTChar) and c.get_text().strip()]
    if not chars:
        return None
    size = median(c.size for c in chars)
    main = "".join(c.get_text() if not isinstance(c, LTChar) or c.size >= 0.8 * size else " " for c in line)
    return TypeLine(" ".join(line.get_text().split()), size, line.y1, line.y0, " ".join(main.split()), len(chars))


def _with_tables(placed: list[tuple[tuple[float, float, float, float], Part]], tables: Sequence[Table]
                 ) -> list[Part]:
    """The page's boxes with its tables among them: each table, its caption box taken in, after
    the last box over it in its column."""
    from qa.ingest.formats.pdftables import CAPTION, CAPTION_REACH

    slots: dict[int, list[Part]] = {}
    taken: set[int] = set()
    for t in tables:
        caption = None
        for i, ((x0, x1, y0, y1), part) in enumerate(placed):
            near = min(abs(y0 - t.top), abs(t.bottom - y1)) <= CAPTION_REACH * 10 + 6
            if i not in taken and near and x0 < t.x1 and x1 > t.x0 and CAPTION.match(part.lines[0]):
                taken.add(i)
                caption = " ".join(part.lines)
                break
        above = [i for i, ((x0, x1, y0, _y1), _p) in enumerate(placed) if x0 < t.x1 and x1 > t.x0 and y0 >= t.top]
        lines = ([caption] if caption else []) + t.lines()[1 if t.caption else 0 :]
        slots.setdefault(max(above, default=-1), []).append(Part(tuple(lines), table=True))
    parts = slots.get(-1, [])
    for i, (_box, part) in enumerate(placed):
        if i not in taken:
            parts.append(part)
        parts.extend(slots.get(i, []))
    return parts


def read_pages(data: bytes, wanted: Mapping[int, Sequence[Table]]
               ) -> tuple[dict[int, list[Part]], list[TypeLine | None], tuple[float, float]]:
    """The parts of the pages `wanted` (0-based, each with the tables found on it, placed among its
    boxes by where they stand), and, when page 0 is among them, its lines as set with its bottom
    and top."""
    from pdfminer.layout import LTTextBox, LTTextLine
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage

    document = _open(data)
    manager = PDFResourceManager(caching=True)
    device = _reader(manager, wanted)
    interpreter = PDFPageInterpreter(manager, device)
    out: dict[int, list[Part]] = {}
    first: list[TypeLine | None] = []
    extent = (0.0, 0.0)
    for n, page in enumerate(PDFPage.create_pages(document)):
        if n > max(wanted):
            break
        if n not in wanted:
            continue
        device.pageno = n + 1  # what end_page reads to find the page's tables
        interpreter.process_page(page)
        layout = device.get_result()
        placed: list[tuple[tuple[float, float, float, float], Part]] = []  # (x0, x1, y0, y1), part
        for element in layout:
            if not isinstance(element, LTTextBox):
                continue
            lines = []
            for line in element:
                text = " ".join(line.get_text().split()) if isinstance(line, LTTextLine) else ""
                if text:
                    lines.append(text)
                    if n == 0:
                        first.append(_type_line(line))
            if lines:
                placed.append(((element.x0, element.x1, element.y0, element.y1), Part(tuple(lines))))
        parts = _with_tables(placed, wanted[n])
        out[n] = parts
        if n == 0:
            extent = (layout.y0, layout.y1)
    return out, first, extent
