"""The `qa` command: index, ask, serve, eval. Errors become one line on stderr and exit status 1."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

from qa import corpus_cli, watch_cli
from qa.console import assistant as _assistant
from qa.console import progress as _progress
from qa.console import settings as _settings
from qa.console import warn as _warn
from qa.errors import QAError

ARTICLE_Q = "When did Pyongyang test a nuclear device?"


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--corpus", metavar="DIR", help="folder of documents (default: $QA_CORPUS, else ./corpus "
                   "when here, else the per-user folder; `qa where` shows it)")
    p.add_argument("--index", metavar="DIR", help="folder of the built index (default: $QA_INDEX, else ./index "
                   "when ./corpus is here, else the per-user folder)")
    return p


def parser() -> argparse.ArgumentParser:
    common = _common()
    top = argparse.ArgumentParser(
        prog="qa",
        description="Answers questions about your documents by quoting the passages that answer them, with citations.",
        epilog=f'example: qa ask "{ARTICLE_Q}"',
    )
    from qa import __version__

    top.add_argument("--version", action="version", version=f"qa {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("index", parents=[common], help="build or refresh the index of the corpus",
                       description="Builds the index, or refreshes it when the corpus or settings changed.",
                       epilog="example: qa index --force")
    p.add_argument("--force", action="store_true",
                   help="rebuild from scratch (embed every passage again), even when the index is up to date")

    p = sub.add_parser("ask", parents=[common], help="ask a question (or '-' to read one per line from stdin)",
                       description="Prints the answer sentence and the passages that support it, with citations.",
                       epilog=f'example: qa ask "{ARTICLE_Q}"   |   echo "Who wrote it?" | qa ask --json -')
    p.add_argument("question", nargs="?", help="the question; '-' reads one per line from stdin")
    p.add_argument("--question", dest="question_opt", metavar="TEXT", help="the question (alternative to the positional)")
    p.add_argument("--json", action="store_true", help="one JSON object per question")
    p.add_argument("-k", type=int, default=None, help="passages to show (default 5)")
    p.add_argument("--history", action="append", default=[], metavar="Q",
                   help="an earlier question of the conversation (repeat for several, oldest first)")
    p.add_argument("--doc", action="append", default=[], metavar="NAME", dest="docs",
                   help="search only this document (file name, cited name or title; repeat for several)")

    p = sub.add_parser("add", parents=[common], help="add files (PDF, Word, HTML, Markdown, text) and index them",
                       description="Checks each file with its format's reader, copies the good ones into the "
                                   "corpus and indexes them; a bad file gets one line and the rest go on.",
                       epilog='example: qa add report.pdf "minutes 2024.docx" notes.md')
    p.add_argument("files", nargs="+", metavar="FILE", help="files to add")

    p = sub.add_parser("remove", parents=[common], help="take a document out of the corpus and the index",
                       description="Removes one document (by file name, cited name or title) and re-indexes.",
                       epilog="example: qa remove report.pdf")
    p.add_argument("doc", metavar="DOC", help="the document to remove")

    p = sub.add_parser("list", parents=[common], help="list the indexed documents",
                       description="Title, format, pages, passages and when each document was indexed.",
                       epilog="example: qa list --json")
    p.add_argument("--json", action="store_true", help="one JSON object per document")

    p = sub.add_parser("show", parents=[common], help="print a document's extracted text (what citations index)",
                       description="Prints the text that citation offsets index: text[start:end] is the cited "
                                   "passage or sentence (for .txt, the file itself).",
                       epilog="example: qa show report.pdf | cut -c 1-200")
    p.add_argument("doc", metavar="DOC", help="the document to show")
    p.add_argument("--json", action="store_true", help="the text with its format, title and page offsets, as JSON")

    p = sub.add_parser("serve", parents=[common], help="start the chat page in the browser",
                       description="Starts the Gradio chat on 127.0.0.1 (loopback only unless --host and --auth are given).",
                       epilog="example: qa serve --port 7860")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--auth", metavar="USER:PASSWORD", help="require a login (mandatory off loopback); "
                   "or set QA_AUTH")
    p.add_argument("--watch", action="store_true",
                   help="watch the corpus folder and index what is added, changed or removed (as `qa watch`)")

    p = sub.add_parser("watch", parents=[common], help="index what is added to, changed in or removed from the corpus folder",
                       description="Watches the corpus folder until Ctrl+C and refreshes the index once a burst of "
                                   "changes has settled, one log line per document added, updated, removed or refused.",
                       epilog="example: qa watch --corpus ~/papers")
    p.add_argument("--settle", type=float, default=2.0, metavar="SECONDS",
                   help="how long the folder must stay unchanged before it is indexed (default 2)")

    p = sub.add_parser("where", parents=[common], help="show which corpus, index and model cache are used, and why",
                       description="Prints the corpus, index and model-cache folders in use and why each "
                                   "(a flag, an environment variable, ./corpus here, or the per-user folder).",
                       epilog="example: qa where --json")
    p.add_argument("--json", action="store_true", help="the folders as one JSON object")

    p = sub.add_parser("mcp", parents=[common], help="answer AI assistants over MCP (Model Context Protocol, stdio)",
                       description="Serves ask, list_documents and show_context (and add_document with --allow-add) "
                                   "and each document as a resource, over stdin/stdout, for an MCP client.",
                       epilog="example: qa mcp --corpus ~/papers --allow-add")
    p.add_argument("--allow-add", action="store_true", help="let the client add files to the corpus (add_document)")

    p = sub.add_parser("eval", parents=[common], help="measure answer quality on a question set",
                       description="Runs a question set and prints hit@k, MRR, answer accuracy, abstention and latency.",
                       epilog="example: qa eval --squad")
    p.add_argument("--set", dest="qset", metavar="PATH", help="question set (JSON lines; default: the article's)")
    from qa.eval import COVID_DEFAULT, SQUAD_DEFAULT

    p.add_argument("--squad", nargs="?", const=str(SQUAD_DEFAULT), metavar="DIR",
                   help="also run the SQuAD v1.1 evaluation documents (each alone, and all together); "
                        "DIR defaults to ../shared/benchmarks/squad-v1.1-dev beside the repository")
    p.add_argument("--covid", nargs="?", const=str(COVID_DEFAULT), metavar="DIR",
                   help="also run COVID-QA dev (long papers: each question of its own paper, and all together); "
                        "DIR defaults to ../shared/benchmarks/covid-qa-dev beside the repository")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--limit", type=int, default=None, help="use only the first N SQuAD (and COVID-QA) questions")
    return top


def cmd_index(args: argparse.Namespace) -> int:
    from qa.assistant import Assistant
    from qa.text import for_terminal

    a = Assistant(_settings(args), warn=_warn, load=False)
    with _progress() as progress:
        index = a.reload(force=args.force, progress=progress)
    docs = index.manifest.get("documents", [])
    # names and titles come from the files: printed without their escape sequences
    print(for_terminal(f"index {index.path}: {len(index.passages)} passages from {len(docs)} document(s)"))
    summary = (index.manifest.get("ingest") or {}).get("summary")
    if summary:
        print(for_terminal(f"  {summary}"))
    for d in docs[:50]:
        print(for_terminal(f"  {d['doc']}: {d['title']} ({d['passages']} passages, {d['characters']:,} characters)"))
    if len(docs) > 50:
        print(f"  ... and {len(docs) - 50} more")
    return 0


def _stdin_requests(stream: IO[str]) -> Iterator[tuple[int, Any, list[str], list[str], str | None]]:
    """(line number, question, history, docs, error) for each non-blank line of stdin."""
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError
            except ValueError:
                yield n, line.strip(), [], [], "not a valid JSON object"
                continue
            history, docs = obj.get("history") or [], obj.get("docs") or []
            for key, value in (("history", history), ("docs", docs)):
                if not isinstance(value, list) or not all(isinstance(h, str) for h in value):
                    yield n, obj.get("question"), [], [], f"{key} must be a list of strings"
                    break
            else:
                yield n, obj.get("question"), history, docs, None
        else:
            yield n, line.rstrip("\n"), [], [], None


def cmd_ask(args: argparse.Namespace) -> int:
    from qa.errors import InputError

    question = args.question_opt if args.question_opt is not None else args.question
    if question is None:
        raise InputError("Please type a question (or '-' to read questions from stdin).")
    if question != "-":
        from qa.text import clean_question

        clean_question(question, _settings(args).max_question_chars)  # bad input fails before any loading
        a = _assistant(args)
        result = a.ask(question, k=args.k, history=args.history, docs=args.docs)
        if args.json:
            print(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            print(render_text(result))
        return 0
    a = _assistant(args)
    failures = 0
    for n, q, history, docs, error in _stdin_requests(sys.stdin):
        try:
            if error:
                raise InputError(error)
            result = a.ask(q, k=args.k, history=history, docs=docs or args.docs)
            out = result.to_json() if args.json else None
        except InputError as e:
            failures += 1
            _warn(f"line {n}: {e}")
            out = {"question": q if isinstance(q, str) else None, "error": str(e)}
            if not args.json:
                continue
        if args.json:
            print(json.dumps(out, ensure_ascii=False), flush=True)
        else:
            print(render_text(result) + "\n", flush=True)
    return 1 if failures else 0


def render_text(result: Any) -> str:
    """The readable form of a result for stdout (qa.terminal): bold and the terminal's width only
    on a terminal; the scores are in --json only."""
    from qa import terminal

    return terminal.render_text(result, color=terminal.wants_color(sys.stdout), columns=terminal.width(sys.stdout))


def cmd_serve(args: argparse.Namespace) -> int:
    from qa.serve.server import lean_imports

    with lean_imports():  # while qa.serve.ui imports gradio
        from qa.serve.ui import serve

    return serve(_settings(args), host=args.host, port=args.port, auth=args.auth or os.environ.get("QA_AUTH"),
                 watch=args.watch)


def cmd_where(args: argparse.Namespace) -> int:
    from qa import places
    from qa.text import for_terminal

    found = places.where(args.corpus, args.index)
    if args.json:
        print(json.dumps({p.name.replace(" ", "_"): p.to_json() for p in found}, ensure_ascii=False))
    else:
        print("\n".join(for_terminal(p.line()) for p in found))
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from qa import __version__
    from qa.serve.mcp import serve, stdout_to_stderr

    with stdout_to_stderr():  # stdout is the protocol's: loading and indexing print to stderr only
        a = _assistant(args)
    return serve(a, allow_add=args.allow_add, version=__version__)


def cmd_eval(args: argparse.Namespace) -> int:
    from qa.eval.evaluate import main as eval_main

    return eval_main(args, _settings(args))


COMMANDS = {"index": cmd_index, "ask": cmd_ask, "add": corpus_cli.cmd_add, "remove": corpus_cli.cmd_remove,
            "list": corpus_cli.cmd_list, "show": corpus_cli.cmd_show, "serve": cmd_serve, "eval": cmd_eval,
            "where": cmd_where, "watch": watch_cli.cmd_watch, "mcp": cmd_mcp}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except QAError as e:
        _warn(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        _warn("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # last resort: one line, never a traceback
        if os.environ.get("QA_DEBUG"):
            raise
        _warn(f"internal error ({type(e).__name__}); run again with QA_DEBUG=1 for details")
        return 1
