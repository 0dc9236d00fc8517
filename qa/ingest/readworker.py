"""The process that reads PDFs for `qa.ingest.timelimit`: `python -m qa.ingest.readworker IN OUT`.

It reads requests from the pipe IN and answers on the pipe OUT, one request at a time, each a JSON
header followed by the PDF's bytes; the answers are JSON too (progress, then the result or why there
is none), so nothing is unpickled on either side. Its own stdin and stdout are not the protocol's:
whatever a library prints goes to stderr, never into an MCP stream. It leads a process group of its
own (the parent starts it so), which a timeout kills whole, Tesseract included; its address space
is capped (`MEMORY`); its temporary files go to the folder the parent gives it ($TMPDIR), which the
parent removes when it retires it. It exits when the parent goes away.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from qa.ingest.formats import Block, Extracted, Skip

#: address space a reading process may map, in bytes (pdfminer took 740 MB for one page of a
#: million tiny glyphs; past the cap, the file is refused as needing too much memory)
MEMORY = 4 << 30
#: the modules every request needs, imported before the first one
PRELOAD = ("qa.ingest.formats.pdf", "qa.ingest.formats.pdfocr", "pypdfium2", "PIL.Image", "PIL.ImageFilter",
           "pytesseract", "pdfminer.layout", "pdfminer.pdfinterp")


def extracted_to_json(extracted: Extracted) -> dict[str, Any]:
    return dataclasses.asdict(extracted)


def extracted_from_json(data: dict[str, Any]) -> Extracted:
    fields = {f.name for f in dataclasses.fields(Extracted)}
    values = {k: v for k, v in data.items() if k in fields}
    values["blocks"] = [Block(**block) for block in data["blocks"]]
    return Extracted(**values)


def _read_pdf(data: bytes, max_bytes: int) -> dict[str, Any]:
    import hashlib

    from qa.ingest.formats import extract
    from qa.ingest.formats.pdfocr import remembered, words_to_json

    extracted = extract("pdf", data, None, max_bytes)
    words = remembered(hashlib.sha256(data).hexdigest())
    return {"extracted": extracted_to_json(extracted),
            "words": {str(page): words_to_json(found) for page, found in words.items()}}


def _page_words(data: bytes, page: int, timeout: float | None) -> list[list[Any]]:
    from qa.ingest.formats.pdfocr import page_words, words_to_json

    return words_to_json(page_words(data, page, timeout))


TASKS: dict[str, Callable[..., Any]] = {"read_pdf": _read_pdf, "page_words": _page_words}


def _serve(receive: Any, send: Any) -> None:
    from qa.ingest import timelimit

    base = dict(os.environ)
    while True:
        try:
            header = json.loads(receive.recv_bytes())
            data = receive.recv_bytes()
        except (EOFError, OSError):
            return  # the parent has gone
        os.environ.clear()
        os.environ.update({**header.get("environ", {}), **{k: base[k] for k in ("TMPDIR", "OMP_THREAD_LIMIT")}})
        seconds = float(header["seconds"])

        def progress(fraction: float, what: str) -> None:
            send.send_bytes(json.dumps({"progress": [fraction, what]}).encode())

        def granted(more: float) -> None:
            send.send_bytes(json.dumps({"grant": more}).encode())

        limits = timelimit.Limits(seconds, progress, time.monotonic() + seconds,
                                  float(header.get("page_seconds", 0)), granted)
        try:
            with timelimit.within(limits):
                answer: dict[str, Any] = {"ok": TASKS[header["task"]](data, *header["args"])}
        except Skip as e:
            answer = {"skip": [str(e), e.kind]}
        except MemoryError:
            answer = {"skip": [f"not a readable PDF (it needs more than {MEMORY >> 30} GiB of memory)", "too large"],
                      "retire": True}
        except Exception as e:  # a reader's own failure, in one line
            answer = {"error": type(e).__name__}
        del data
        send.send_bytes(json.dumps(answer).encode())


def main(argv: list[str]) -> None:
    from multiprocessing.connection import Connection

    receive, send = Connection(int(argv[0]), writable=False), Connection(int(argv[1]), readable=False)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # what a library prints goes to stderr
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    os.environ["OMP_THREAD_LIMIT"] = "1"  # Tesseract: on two busy cores its threads made it 4x slower
    tempfile.tempdir = os.environ.get("TMPDIR") or None
    import importlib
    import logging

    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    send.send_bytes(b'{"ready": true}')  # the clock of the first request starts now
    _serve(receive, send)


if __name__ == "__main__":
    main(sys.argv[1:])
