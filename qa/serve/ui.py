"""The chat page (`qa serve`): answers quoted from the documents, with citations a reader can check.

The only module that imports gradio. It is a thin layer over `Assistant`: each handler checks its
own input (a private endpoint can still be called by a raw request; the checks are in
`qa.serve.pagecheck`), calls the Python API, and renders the JSON form of the result with `qa.serve.render`,
which escapes all document and user text. Serving (environment, launch, guards) is `qa.serve.server`;
the corpus's upload, removal and document picker are `qa.serve.corpus`.
The page's one script, `page.js`, opens a clicked citation in context. A citation opens in one view
at a time, the most faithful first: a PDF's page as an image with the cited lines marked
(qa.serve.pageview), else the document scrolled to the citation; the others are tabs beside it.
"""

from __future__ import annotations

from qa.serve.server import prepare_environment

prepare_environment()  # before gradio is imported: it reads GRADIO_* at import time (CASES.md c1)

import functools  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
from gradio.components.api_component import Api  # noqa: E402
from gradio.route_utils import FnIndexInferError  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402

from qa.assistant import Assistant  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.errors import InputError, QAError  # noqa: E402
from qa.ingest.documents import SUFFIXES  # noqa: E402
from qa.serve import corpus, pageview, render, rest, server  # noqa: E402
from qa.serve import pagecheck as check  # noqa: E402
from qa.serve.watch import Watcher  # noqa: E402

log = logging.getLogger("qa.ui")

ARTICLE = "china-and-north-korea-the-uneasy-partnership"
ARTICLE_EXAMPLES = [
    "What treaty did China and North Korea sign in 1961?",
    "When did Pyongyang test a nuclear device?",
    "Why did Russia decide not to renew the treaty?",
    "How did trade between China and North Korea change in 1993?",
    "Who wrote the article?",
]
K_MAX = 10
MAX_TURNS = 100
#: seconds between a watched corpus's checks from an open page (a string compared, unless the index changed)
FOLLOW_EVERY = 5.0
CONTEXT_HINT = "*Click a [n] in the chat, or a source above, to see it in its place: a PDF's page, or the document.*"
FOCUS_JS = "() => window.qaFocusQuestion && window.qaFocusQuestion()"
REVEAL_JS = "() => window.qaRevealContext && window.qaRevealContext()"

CSS = (Path(__file__).with_name("page.css")).read_text(encoding="utf-8")
PAGE_JS = (Path(__file__).with_name("page.js")).read_text(encoding="utf-8")


def _safe(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Errors become one clear line in the page; anything unexpected is logged, never shown."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except QAError as e:
            if not isinstance(e, InputError):  # the index or the corpus: the log keeps the whole story
                log.warning("handler %s: %s", fn.__name__, e, exc_info=True)
            raise gr.Error(check.public(str(e)), print_exception=False) from None
        except Exception:
            log.exception("handler %s failed", fn.__name__)
            raise gr.Error("Something went wrong on the server; its log has the details.",
                           print_exception=False) from None

    return wrapper


def _messages(results: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for turn, r in enumerate(results):
        out.append({"role": "user", "content": render.question(r["question"])})
        out.append({"role": "assistant", "content": render.reply(r, turn)})
    return out


class _Exports:
    """Writes the conversation's Markdown and JSON exports under Gradio's private temp dir."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="exports-", dir=os.environ["GRADIO_TEMP_DIR"]))

    def buttons(self, results: list[dict[str, Any]]) -> tuple[Any, Any]:
        if not results:
            return gr.DownloadButton(value=None, interactive=False), gr.DownloadButton(value=None, interactive=False)
        server.sweep(self.root, max_age=3600)  # each answer writes a fresh pair; old ones are dropped
        folder = Path(tempfile.mkdtemp(prefix="conversation-", dir=self.root))
        md, js = folder / "qa-conversation.md", folder / "qa-conversation.json"
        md.write_text(render.export_markdown(results), encoding="utf-8")
        js.write_text(render.export_json(results), encoding="utf-8")
        return gr.DownloadButton(value=str(md), interactive=True), gr.DownloadButton(value=str(js), interactive=True)


class _Page(gr.Blocks):
    """The page's Blocks. An API endpoint (gr.api) is called over raw HTTP too, where Gradio
    insists on every parameter: here the optional ones may be left out, as gradio_client does, so
    `{"data": [question]}` works, and too many values is one clear error (CASES.md 19)."""

    #: inputs a raw request may leave out at the end (the document picker: a request made before
    #: it existed still asks every document)
    optional_inputs: tuple[Any, ...] = ()

    def validate_inputs(self, block_fn: Any, inputs: list[Any]) -> None:
        params = list(block_fn.inputs)
        if isinstance(inputs, list) and len(inputs) < len(params) and all(
                any(p is o for o in self.optional_inputs) for p in params[len(inputs):]):
            inputs.extend(None for _ in params[len(inputs):])
        if params and isinstance(inputs, list) and all(isinstance(p, Api) for p in params):
            if len(inputs) > len(params):
                raise gr.Error(f"This endpoint takes at most {len(params)} values; got {len(inputs)}.",
                               print_exception=False)
            inputs.extend(p.value for p in params[len(inputs):])
        super().validate_inputs(block_fn, inputs)


async def _no_such_endpoint(_request: Request, _exc: Exception) -> JSONResponse:
    """`POST /gradio_api/call/<unknown>`: Gradio raises, which would be a 500 (CASES.md 19)."""
    return JSONResponse({"detail": "No such API endpoint; see /gradio_api/info."}, status_code=404)


# -- the corpus (qa.serve.corpus): its panel, upload and removal, and the document picker ------------


def _corpus_views(a: Assistant) -> tuple[Any, ...]:
    """The corpus panel, the document picker and the remove list, after the corpus changed."""
    choices = corpus.choices(a)
    return (render.corpus(a.documents()), gr.Dropdown(choices=choices, value=[], multiselect=True),
            gr.Dropdown(choices=choices, value=None))


def _follower(a: Assistant) -> Callable[..., Any]:
    """With `qa serve --watch`, after a question and every FOLLOW_EVERY seconds: the corpus panel
    and the pickers again when the index changed since this page last showed them (the watcher
    swapped in a new generation)."""

    @_safe
    def follow(docs: Any, seen: Any) -> tuple[Any, ...]:
        now = str(a.index.path)
        if now == seen:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        choices = corpus.choices(a)
        keys = {key for _label, key in choices}
        kept = [d for d in docs if d in keys] if isinstance(docs, list) else []  # what is still there stays picked
        return (render.corpus(a.documents()), gr.Dropdown(choices=choices, value=kept),
                gr.Dropdown(choices=choices, value=None), now)

    return follow


def _adder(a: Assistant, temp_root: Path, upload_bytes: int) -> Callable[..., Any]:
    @_safe
    def ingest(files: Any, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        status = corpus.add(a, files, temp_root, upload_bytes, lambda fraction, message: progress(fraction, desc=message))
        return (status, *_corpus_views(a), None)

    return ingest


def _remover(a: Assistant) -> Callable[..., Any]:
    @_safe
    def remove(key: Any, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        return (corpus.remove(a, key, lambda fraction, message: progress(fraction, desc=message)), *_corpus_views(a))

    return remove


def build(a: Assistant, upload_bytes: int = server.MAX_UPLOAD_BYTES, warnings: check.Warnings | None = None,
          follow: bool = False) -> gr.Blocks:
    """The page, wired to the assistant `a`; with `follow` (a watched corpus) each question also
    brings the corpus panel and the pickers up to date."""
    max_chars = a.settings.max_question_chars
    warnings = warnings or check.Warnings()
    exports = _Exports()
    temp_root = Path(os.environ["GRADIO_TEMP_DIR"]).resolve()
    is_article = any(ARTICLE in str(d.get("doc", "")) for d in a.documents())
    examples = ARTICLE_EXAMPLES if is_article else [f"What is {d['title']} about?" for d in a.documents()[:3]]

    # -- handlers ----------------------------------------------------------------------------------

    @_safe
    def respond(question: Any, k: Any, state: Any, docs: Any = None) -> tuple[Any, ...]:
        results = check.results(state)
        history = [r["question"] for r in results][-check.MAX_HISTORY:]
        result = a.ask(question, k=check.k(k, K_MAX), history=history, docs=corpus.picked(a, docs)).to_json()
        results = (results + [result])[-MAX_TURNS:]
        turn = len(results) - 1
        return ("", _messages(results), results, turn, render.sources(result, turn), CONTEXT_HINT,
                gr.Column(visible="hidden"), *exports.buttons(results))

    @_safe
    def select_turn(state: Any, shown: Any, evt: gr.SelectData) -> tuple[Any, ...]:
        results = check.results(state)
        index = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        if not isinstance(index, int) or not 0 <= index // 2 < len(results):
            raise InputError("Pick a message of the conversation.")
        turn = index // 2
        if turn == shown:  # a click in the turn already shown (selecting text, say) keeps its context open
            return turn, gr.skip(), gr.skip(), gr.skip()
        return turn, render.sources(results[turn], turn), CONTEXT_HINT, gr.Column(visible="hidden")

    @_safe
    def show_context(choice: Any, state: Any, shown: Any) -> tuple[Any, ...]:
        results = check.results(state)
        if not results:
            raise InputError("Ask a question first; then pick one of its citations.")
        turn, rank = check.citation(choice, shown, len(results))
        hits = {str(int(h["rank"])): h for h in results[turn]["passages"]}
        if rank not in hits:
            raise InputError("Pick one of the citations first.")
        hit, answer = hits[rank], results[turn].get("answer") or {}
        quoted = bool(answer) and int(answer["citation"]["id"]) == int(hit["rank"])  # highlight its sentence
        shown_ctx = a.context(answer["citation"] if quoted else hit["citation"])
        number = int(hit["rank"])
        shown_now = (render.context_head(shown_ctx, number, quoted=quoted), gr.Column(visible=True),
                     render.paragraphs(shown_ctx), render.document_view(shown_ctx),
                     render.sources(results[turn], turn, opened=number), turn)
        view = pageview.start(shown_ctx)
        if view is None:  # no pages: the document, scrolled to the citation
            return (*shown_now, gr.Tabs(selected="document"), gr.Tab(visible=False), "", None)
        return (*shown_now, gr.Tabs(selected="page"), gr.Tab(visible=True), page(view), view.to_state())

    def page(view: pageview.View) -> str:
        try:
            image = a.page_image(view.doc, view.page, view.scale)
        except InputError:
            raise
        except QAError as e:  # the file changed, or PDFium cannot draw it: the text views still stand
            log.warning("page view of %s, page %d: %s", view.doc, view.page, e)
            return (f"**Page {view.page} of {view.pages}** · the page cannot be drawn: {render.text(check.public(str(e)))} "
                    "(the Paragraphs and Document tabs have the text)")
        return pageview.html(view, image.png, image.width, image.height)

    def mover(step: int, zoom: int = 0, home: bool = False) -> Callable[..., Any]:
        """A page view button's handler: `step` pages on, `zoom` steps in, or (`home`) back to the
        citation's first page."""

        @_safe
        def move(value: Any) -> tuple[str, dict[str, Any]]:
            view = pageview.View.from_state(value)
            view = view.turned(view.cited[0] - view.page if home and view.cited else step).zoomed(zoom)
            return page(view), view.to_state()

        return move

    @_safe
    def clear() -> tuple[Any, ...]:
        return ([], [], None, render.sources(None), CONTEXT_HINT, gr.Column(visible="hidden"), *exports.buttons([]))

    def ask_api(question: str, k: int = 5, history: list[str] | None = None) -> dict[str, Any]:
        """Answers `question` by quoting the documents; returns the same JSON as `qa ask --json`:
        question, query (what was searched), answer (text, citation, score; or null when the
        documents do not answer), reason (why there is no answer, else null) and passages (ranked,
        each with its text, highlight and citation).
        `history` is the list of earlier questions of the conversation, oldest first."""
        return a.ask(question, k=check.k(k, 50), history=check.history(history, max_chars)).to_json()

    # -- layout ------------------------------------------------------------------------------------

    with _Page(title="qa · cited answers", analytics_enabled=False, delete_cache=(3600, server.CACHE_AGE)) as demo:
        state = gr.State([])
        shown = gr.State(None)
        gr.Markdown("## qa · answers quoted from your documents\n"
                    "Every answer is a sentence copied from the documents, with a numbered citation. "
                    "Click a citation to read it in its context.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=7):
                chat = gr.Chatbot(label="Conversation", elem_id="qa-chat", elem_classes="qa-chat", height=620,
                                  sanitize_html=True, render_markdown=True, latex_delimiters=[], allow_tags=False,
                                  feedback_options=None, buttons=["copy"], placeholder="Ask a question below.")
                with gr.Row():
                    question = gr.Textbox(label="Question", placeholder="Ask about the documents…", elem_id="qa-question",
                                          max_length=max_chars, lines=1, scale=8, autofocus=True)
                    ask = gr.Button("Ask", variant="primary", elem_id="qa-ask", scale=1, min_width=80)
                picker = gr.Dropdown(corpus.choices(a), value=[], multiselect=True, label="Ask only these documents "
                                     "(none picked: all)", elem_id="qa-docs")
                ex = gr.Examples([[q] for q in examples], inputs=[question], label="Example questions",
                                 cache_examples=False, api_visibility="private", examples_per_page=8)
                with gr.Row(equal_height=False):
                    k = gr.Slider(1, K_MAX, value=min(a.settings.k, K_MAX), step=1, label="Passages to show",
                                  elem_id="qa-k", scale=2, min_width=220)
                    clear_btn = gr.Button("Clear chat", elem_id="qa-clear", scale=1, min_width=110)
                    md_btn = gr.DownloadButton("Export .md", elem_id="qa-export-md", interactive=False, scale=1,
                                               min_width=110)
                    js_btn = gr.DownloadButton("Export .json", elem_id="qa-export-json", interactive=False, scale=1,
                                               min_width=110)
            with gr.Column(scale=5, min_width=300, elem_id="qa-side"):
                with gr.Tab("Sources", elem_id="qa-sources-tab"):
                    sources = gr.Markdown(render.sources(None), elem_id="qa-sources", elem_classes="qa-panel",
                                          sanitize_html=True, latex_delimiters=[])
                    ctx = gr.Markdown(CONTEXT_HINT, elem_id="qa-context", elem_classes="qa-panel",
                                      sanitize_html=True, latex_delimiters=[])  # which citation is open
                    with gr.Column(visible="hidden", elem_id="qa-viewer") as viewer, gr.Tabs(elem_id="qa-views") as views:
                        # a PDF's page, marked; shown for a PDF only (Gradio 6.31 hides a tab by an update only
                        # when it was built hidden)
                        with gr.Tab("Page", id="page", elem_id="qa-page-tab", visible=False) as page_tab:
                            with gr.Row(elem_id="qa-page-nav"):
                                nav = {name: gr.Button(name, elem_id=f"qa-{key}", size="sm", min_width=70)
                                       for name, key in (("◀ Previous", "prev"), ("Cited page", "cited"),
                                                         ("Next ▶", "next"), ("Zoom out", "zoom-out"),
                                                         ("Zoom in", "zoom-in"))}
                            pageview_md = gr.Markdown("", elem_id="qa-pageview", elem_classes="qa-panel",
                                                      sanitize_html=True, latex_delimiters=[])
                        with gr.Tab("Paragraphs", id="paragraphs", elem_id="qa-paragraphs-tab"):
                            paras = gr.Markdown("", elem_id="qa-paragraphs", elem_classes="qa-panel", sanitize_html=True,
                                                latex_delimiters=[])  # the cited paragraph between its neighbours
                        with gr.Tab("Document", id="document", elem_id="qa-document-tab"):
                            docview = gr.Markdown("", elem_id="qa-document", elem_classes="qa-panel",
                                                  sanitize_html=True, latex_delimiters=[])  # scrolled to the citation
                with gr.Tab("Corpus", elem_id="qa-corpus-tab"):
                    corpus_md = gr.Markdown(render.corpus(a.documents()), elem_id="qa-corpus", elem_classes="qa-panel",
                                         sanitize_html=True, latex_delimiters=[])
                    upload = gr.File(label=f"Add documents ({', '.join(SUFFIXES)})", file_count="multiple",
                                     file_types=list(SUFFIXES), type="filepath", elem_id="qa-upload")
                    status = gr.Markdown("", elem_id="qa-status", sanitize_html=True, latex_delimiters=[])
                    with gr.Row():
                        doomed = gr.Dropdown(corpus.choices(a), value=None, label="Document to remove",
                                             elem_id="qa-remove-doc", scale=3)
                        remove_btn = gr.Button("Remove", elem_id="qa-remove", variant="stop", scale=1, min_width=90)


        pick = gr.Textbox(visible="hidden", elem_id="qa-pick", max_length=40)  # "TURN:RANK", set by page.js
        page_state = gr.State(None)  # the page view's document, page and zoom (qa.serve.pageview.View)

        # -- events --------------------------------------------------------------------------------
        private: dict[str, Any] = {"api_visibility": "private"}
        answer_out = [question, chat, state, shown, sources, ctx, viewer, md_btn, js_btn]
        asking = {"fn": respond, "inputs": [question, k, state, picker], "outputs": answer_out,
                  "concurrency_id": "ask", "concurrency_limit": 1, **private}
        seen = gr.State(None) if follow else None  # the index generation the corpus panel shows
        for asked in (ask.click(**asking), question.submit(**asking), ex.load_input_event.then(**asking)):
            asked.then(None, js=FOCUS_JS, **private)  # the box is ready for the next question
            if seen is not None:
                asked.then(_follower(a), [picker, seen], [corpus_md, picker, doomed, seen], **private)
        if seen is not None:  # and while the page is only open: a file dropped in is listed within seconds
            gr.Timer(FOLLOW_EVERY).tick(_follower(a), [picker, seen], [corpus_md, picker, doomed, seen],
                                        show_progress="hidden", trigger_mode="always_last", **private)
        chat.select(select_turn, [state, shown], [shown, sources, ctx, viewer], **private)
        pick.change(show_context, [pick, state, shown],
                    [ctx, viewer, paras, docview, sources, shown, views, page_tab, pageview_md, page_state],
                    show_progress="minimal", **private).then(None, js=REVEAL_JS, **private)
        for name, step, zoom, home in (("◀ Previous", -1, 0, False), ("Next ▶", 1, 0, False),
                                       ("Cited page", 0, 0, True), ("Zoom out", 0, -1, False), ("Zoom in", 0, 1, False)):
            # a click while the last one is on its way is never dropped (Gradio's default for a click): it runs
            # when that one is done, from the page it left, so two quick clicks on Previous go back two pages
            nav[name].click(mover(step, zoom, home), [page_state], [pageview_md, page_state], show_progress="minimal",
                            trigger_mode="always_last", **private)
        clear_btn.click(clear, None, [chat, state, shown, sources, ctx, viewer, md_btn, js_btn], **private)
        demo.optional_inputs = (picker,)
        corpus_out = [status, corpus_md, picker, doomed]
        upload.upload(_adder(a, temp_root, upload_bytes), [upload], [*corpus_out, upload], concurrency_id="index_writer",
                      concurrency_limit=1, show_progress="full", show_progress_on=[status], **private)
        remove_btn.click(_remover(a), [doomed], corpus_out, concurrency_id="index_writer", concurrency_limit=1,
                         show_progress="full", show_progress_on=[status], **private)
        demo.load(_safe(lambda: _corpus_views(a)), None, [corpus_md, picker, doomed], **private)  # other sessions' uploads
        gr.api(_safe(ask_api), api_name="ask", concurrency_id="ask", concurrency_limit=1, api_visibility="public")
    return demo


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None,
          watch: bool = False) -> int:
    """`qa serve`: the chat page on host:port until interrupted; returns the exit status. With
    `watch`, what changes in the corpus folder is indexed as it comes (qa.serve.watch)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # our own news, and only warnings from libraries
        handler.addFilter(lambda r: r.levelno >= logging.WARNING or r.name.split(".")[0] == "qa")
    login = server.parse_auth(host, auth)  # refuses a non-loopback address without a login
    # bad settings fail before any loading
    threads, waiting, grace = rest.threads_setting(), server.queue_size(), server.pending_grace()
    server.sweep(Path(os.environ["GRADIO_TEMP_DIR"]).parent)  # what stopped servers left behind
    warnings = check.Warnings()
    watcher = Watcher(settings, logging.getLogger("qa.watch").info) if watch else None  # before the index opens
    a = Assistant(settings, warn=warnings)
    getattr(a.embedder, "warm_up", lambda: None)()  # the model loads now, not on the first question
    log.info("%s", corpus.index_line(a))
    demo = build(a, warnings=warnings, follow=watch)
    api = rest.RestApi(a, login, threads=threads, waiting=waiting)
    blocked = [settings.index_dir, settings.corpus_dir, Path(__file__).resolve().parents[1]]
    if watcher is not None:
        watcher.start(a, log)
        log.info("watching %s for changes", settings.corpus_dir)
    try:
        return server.run(demo, host, port, login, blocked, theme=gr.themes.Default(), css=CSS, js=PAGE_JS,
                          files_root=Path(os.environ["GRADIO_TEMP_DIR"]),
                          handlers={FnIndexInferError: _no_such_endpoint}, routes=api.routes(), waiting=waiting,
                          grace=grace)
    finally:
        if watcher is not None:
            watcher.close(timeout=10.0)
