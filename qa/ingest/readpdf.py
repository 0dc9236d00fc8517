"""Reading a PDF for the corpus: in a worker process under the per-file time limit
(`qa.ingest.timelimit`), and what was read kept.

A PDF read is kept (`CACHED`, by its SHA-256 and the Tesseract in use): an upload is read once to
check it and again by the index build, and a citation's context reads its document again, which
for a scan would be OCR again. The words OCR read on its last pages are handed to `pdfocr`, for
the page view. A file refused as too slow is remembered too, with the limits it was too slow for
(the file's, and each scanned page's), so a watched folder's next refresh does not wait for it again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from qa.ingest import timelimit
from qa.ingest.formats import Extracted, Skip, extract

#: PDFs whose reading is kept, the least recently used dropped first
CACHED = 8

#: sha256:tesseract -> what reading it gave, or the limit it was too slow for (seconds, seconds a
#: scanned page, the refusal)
_cache: OrderedDict[str, Extracted | tuple[float, float, str]] = OrderedDict()
_lock = threading.Lock()


def read(fmt: str, data: bytes, max_bytes: int) -> Extracted:
    """A PDF or Word file's blocks (`qa.ingest.formats.extract`); a PDF within the limit in force
    (`timelimit.reading`), in a worker, or in process when there is none."""
    from qa.ingest.formats import pdfocr
    from qa.ingest.readworker import extracted_from_json

    limits = timelimit.limits()
    seconds, page_seconds = limits.seconds, limits.page_seconds
    if fmt != "pdf" or seconds is None or not timelimit.isolated():
        return extract(fmt, data, None, max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    key = f"{digest}:{pdfocr.tesseract()}"
    with _lock:
        kept = _cache.get(key)
        if kept is not None:
            _cache.move_to_end(key)
    if isinstance(kept, Extracted):
        return kept
    if isinstance(kept, tuple) and seconds <= kept[0] and page_seconds <= kept[1]:
        raise Skip(kept[2], "too slow")  # no more time than the last try, which ran out
    try:
        answer = timelimit.run("read_pdf", data, [max_bytes], seconds, limits.progress, page_seconds)
    except Skip as e:
        if e.kind == "too slow":
            _keep(key, (float(seconds), float(page_seconds), str(e)))
        raise
    extracted = extracted_from_json(answer["extracted"])
    for page, rows in answer["words"].items():
        pdfocr.remember(digest, int(page), pdfocr.words_from_json(rows))
    _keep(key, extracted)
    return extracted


def _keep(key: str, value: Extracted | tuple[float, float, str]) -> None:
    with _lock:
        _cache[key] = value
        _cache.move_to_end(key)
        while len(_cache) > CACHED:
            _cache.popitem(last=False)


def forget() -> None:
    """Forgets the PDFs read so far (the next read reads again); for tests and benchmarks."""
    with _lock:
        _cache.clear()
