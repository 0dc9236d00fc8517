"""The corpus commands of `qa`: add, remove, list and show (the parser and `main` are in qa.cli)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from qa import console


def _loaded(args: argparse.Namespace) -> Any:
    """The assistant with its index open (built or refreshed when needed, with a progress bar)."""
    return console.assistant(args)


def cmd_add(args: argparse.Namespace) -> int:
    from qa.assistant import Assistant
    from qa.errors import CorpusError, InputError
    from qa.text import for_terminal

    a = Assistant(console.settings(args), warn=console.warn, load=False)
    try:
        with console.progress() as progress:
            a.reload(progress=progress)
    except CorpusError:
        pass  # an empty or missing corpus folder: the files added make it
    files = [(Path(f), f) for f in args.files]  # each refusal names the file as it was given
    with console.progress() as progress:
        done = a.add(files, progress=progress)
    for line in done.refused:
        console.warn(line)
    for d in done.added:
        print(for_terminal(f"added {d['doc']}: {d['title']} ({_pages(d)}{d['passages']} passages)"))
    if not done.added and not done.refused:
        raise InputError("Nothing to add.")
    return 1 if done.refused else 0


def cmd_remove(args: argparse.Namespace) -> int:
    from qa.text import for_terminal

    a = _loaded(args)
    with console.progress() as progress:
        gone = a.remove(args.doc, progress=progress)
    print(for_terminal(f"removed {gone['doc']}: {gone['title']}"))
    return 0


def _pages(d: dict[str, Any]) -> str:
    return f"{d['pages']} pages, " if d.get("pages") else ""


def cmd_list(args: argparse.Namespace) -> int:
    from qa.text import for_terminal

    a = _loaded(args)
    created = a.index.manifest.get("created")
    rows = [{"doc": d["doc"], "title": d["title"], "format": d.get("format") or Path(d["doc"]).suffix.lstrip("."),
             "pages": d.get("pages"), "passages": d["passages"], "characters": d["characters"],
             "indexed": d.get("indexed") or created} for d in a.documents()]
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    for row in rows:
        pages = f"{row['pages']} pages" if row["pages"] else "-"
        print(for_terminal(f"{row['doc']}\t{row['title']}\t{row['format']}\t{pages}\t"
                           f"{row['passages']} passages\tindexed {row['indexed']}"))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from qa.text import for_terminal

    document = _loaded(args).document(args.doc)
    if args.json:
        print(json.dumps({"doc": document.doc, "title": document.title, "author": document.author,
                          "format": document.format, "pages": document.pages,
                          "page_starts": list(document.page_starts), "text": document.raw}, ensure_ascii=False))
    elif sys.stdout.isatty():
        print(for_terminal(document.raw))
    else:  # exactly the text the offsets index
        sys.stdout.write(document.raw)
    return 0
