"""The torch-free query path: the ONNX export of the model, its checks, and what each command imports.

The export lives in the run's temporary $QA_MODEL_CACHE (conftest); tests that damage one work on a
copy of that cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.models import export
from qa.models.embedder import MiniLM
from tests.conftest import ARTICLE, SHARED, TREATY, needs_shared

ROOT = Path(__file__).resolve().parents[1]
SQUAD_DOCS = SHARED / "benchmarks" / "squad-v1.1-dev" / "docs"
#: never imported by `qa ask`, `qa serve` or the Python API once the export exists
TORCH_STACK = ("torch", "transformers", "sentence_transformers")
#: never imported by `qa --help`
HEAVY = (*TORCH_STACK, "faiss", "gradio", "onnxruntime", "tokenizers", "bm25s", "numpy", "scipy", "pysbd")
#: what the child prints last: which of HEAVY it imported
_REPORT = "import json, sys; print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))"


@pytest.fixture(scope="module")
def torch_model():
    model = MiniLM(backend="torch")
    model.warm_up()
    return model


@pytest.fixture(scope="module")
def onnx_model(embedder):
    """The float export (the default embeds by its int8 copy, tests/test_int8.py)."""
    assert embedder.backend == "onnx"  # the default
    model = MiniLM(int8=False)
    model.warm_up()
    assert model.backend == "onnx" and model.export_path == embedder.export_path
    return model


def squad_sentences(n: int = 200) -> list[str]:
    """n sentences spread over the SQuAD evaluation documents (a numeric check only, not tuning)."""
    from qa.ingest.sentences import split

    every: list[str] = []
    for path in sorted(SQUAD_DOCS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        every += [text[a:b] for a, b in split(text)]
    assert len(every) >= n
    return every[:: len(every) // n][:n]


def article_texts() -> list[str]:
    from qa.ingest.chunks import chunk
    from qa.ingest.documents import ingest

    passages = chunk(ingest(ARTICLE.parent, 50 << 20).documents, 120)
    passages = [p for p in passages if p.doc.endswith(ARTICLE.name)]
    return [p.search_text() for p in passages] + [p.sentence_text(i) for p in passages for i in range(len(p.sentences))]


def assert_same_vectors(torch_model, onnx_model, texts: list[str]) -> np.ndarray:
    """Both backends give the same vectors for `texts` (the ONNX ones returned)."""
    a, b = torch_model.encode(texts), onnx_model.encode(texts)
    assert a.shape == b.shape == (len(texts), 384) and b.dtype == np.float32
    diff = float(np.abs(a - b).max())
    print(f"\nONNX vs sentence-transformers over {len(texts)} texts: max difference {diff:.2g}")
    assert diff <= 1e-5
    return b


def test_onnx_vectors_equal_sentence_transformers(torch_model, onnx_model):
    texts = article_texts()
    assert len(texts) >= 26
    texts += ["", "   ", "word " * 600, "Ünïcödé — “quotes” 北京 🙂", TREATY]  # empty, past 256 tokens, odd text
    b = assert_same_vectors(torch_model, onnx_model, texts)
    # one text alone (no padding) and inside a batch give the same vector
    assert np.abs(onnx_model.encode([texts[3]])[0] - b[3]).max() <= 1e-5


@needs_shared("benchmarks/squad-v1.1-dev/docs")
def test_onnx_vectors_equal_sentence_transformers_on_squad_sentences(torch_model, onnx_model):
    assert_same_vectors(torch_model, onnx_model, squad_sentences())


def test_the_export_is_recorded_with_its_checksums(onnx_model):
    where = onnx_model.export_path.parent
    assert where.parent == export.cache_root() and onnx_model.fingerprint[:16] in where.name
    record = json.loads((where / export.RECORD).read_text())
    assert record["fingerprint"] == onnx_model.fingerprint and record["version"] == export.EXPORT_VERSION
    for name in export.FILES:
        assert export.sha256_file(where / name) == record["files"][name]
    assert not [p for p in where.iterdir() if p.name.startswith(".") and p.name != ".lock"]  # no leftovers


def _child(code: str, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


def _imported(done: subprocess.CompletedProcess) -> list[str]:
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def built(article_assistant) -> list[str]:
    s = article_assistant.settings
    return ["--corpus", str(s.corpus_dir), "--index", str(s.index_dir)]


def test_help_imports_none_of_the_heavy_libraries():
    code = ("import sys; sys.argv = ['qa', '--help']\nfrom qa.cli import main\ntry:\n    main()\n"
            "except SystemExit:\n    pass\n" + _REPORT.format(heavy=HEAVY))
    assert _imported(_child(code)) == []


def test_qa_ask_never_imports_torch(built):
    code = (f"import sys\nfrom qa.cli import main\nassert main(['ask', *{built!r}, {TREATY!r}]) == 0\n"
            + _REPORT.format(heavy=HEAVY))
    done = _child(code)
    assert "1961" in done.stdout.splitlines()[0]
    assert set(_imported(done)).isdisjoint(TORCH_STACK)


def test_the_python_api_never_imports_torch(article_assistant):
    s = article_assistant.settings
    code = (f"import qa\na = qa.Assistant(qa.Settings(corpus_dir={str(s.corpus_dir)!r}, index_dir={str(s.index_dir)!r}))\n"
            f"assert '1961' in a.ask({TREATY!r}).answer.text\n" + _REPORT.format(heavy=HEAVY))
    imported = _imported(_child(code))
    assert set(imported).isdisjoint(TORCH_STACK) and "onnxruntime" in imported


def test_qa_serve_never_imports_torch_pandas_pyarrow_nor_mcp(built, tmp_path):
    """The real `qa serve` in a child, asked one question over HTTP; then the child reports."""
    from tests.uiserver import free_port

    port = free_port()
    code = f"""
import json, sys, threading, time, httpx
from qa.cli import main
threading.Thread(target=main, args=(['serve', '--port', '{port}', *{built!r}],), daemon=True).start()
url = 'http://127.0.0.1:{port}/'
for _ in range(600):
    try:
        if httpx.get(url, timeout=5).status_code == 200:
            break
    except httpx.HTTPError:
        pass
    time.sleep(0.3)
event = httpx.post(url + 'gradio_api/call/ask', json={{'data': [{TREATY!r}]}}, timeout=60).json()['event_id']
body = httpx.get(url + 'gradio_api/call/ask/' + event, timeout=60).text
assert '1961' in body, body
# a name the article never mentions: the lexical index's spelling check (rapidfuzz) reads it
answer = httpx.post(url + 'api/ask', json={{'question': 'What is the capital of Australia?'}}, timeout=60)
assert answer.status_code == 200, answer.text
print(json.dumps(sys.modules['gradio.component_meta'].create_or_modify_pyi.__module__), flush=True)
print(json.dumps(sorted(m for m in {(*HEAVY, "pandas.core", "pyarrow", "mcp", "rapidfuzz.process")!r} if sys.modules.get(m) is not None)), flush=True)
import os
os._exit(0)
"""
    done = _child(code, env={"QA_HOME": str(tmp_path / "home")})
    imported = _imported(done)
    assert set(imported).isdisjoint(TORCH_STACK) and "gradio" in imported
    # gradio's components were made without writing their type stubs (server.skip_component_stubs)
    assert json.loads(done.stdout.strip().splitlines()[-2]) == "qa.serve.server"
    assert "rapidfuzz.process" in imported  # which asks whether pandas is loaded at every match
    assert "pandas.core" not in imported  # gradio imports pandas at its top; deferred, it is never loaded (41 MiB)
    assert "pyarrow" not in imported  # nor pyarrow (33 MiB), which pandas would load if it were
    assert "mcp" not in imported  # nor the 22 MiB MCP SDK gradio would import for an MCP server that is off


def test_an_index_built_by_either_backend_serves_the_other(corpus, tmp_path, torch_model, onnx_model, embedder):
    from qa import Assistant, Settings

    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    by_torch = Assistant(settings, embedder=torch_model)
    assert by_torch.index.manifest["backend"] == "torch"
    messages: list[str] = []
    by_onnx = Assistant(settings, embedder=onnx_model, warn=messages.append)
    assert messages == [] and by_onnx.index.path == by_torch.index.path  # loaded, not rebuilt
    texts = [p.search_text() for p in by_onnx.index.passages]
    stored = by_onnx.index.vectors.reconstruct_n(0, len(texts))
    assert np.abs(stored - onnx_model.encode(texts)).max() <= 1e-5
    assert by_onnx.ask(TREATY).answer.text == by_torch.ask(TREATY).answer.text
    by_int8 = Assistant(settings, embedder=embedder, warn=messages.append)  # questions by the int8 copy
    assert messages == [] and by_int8.index.path == by_torch.index.path
    assert by_int8.ask(TREATY).answer.text == by_torch.ask(TREATY).answer.text


# -- a damaged or missing export ------------------------------------------------------------------


@pytest.fixture
def cache(onnx_model, tmp_path, monkeypatch) -> Path:
    """A copy of the run's model cache, in use for this test; returns the export's folder in it."""
    copy = tmp_path / "models"
    shutil.copytree(export.cache_root(), copy, ignore=shutil.ignore_patterns(".lock"))
    monkeypatch.setenv(export.CACHE_ENV, str(copy))
    return copy / onnx_model.export_path.parent.name


def flip_a_weight_byte(where: Path) -> None:
    path = where / export.DATA_FILE
    with path.open("r+b") as f:
        f.seek(path.stat().st_size // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0x40]))


def test_a_damaged_export_is_rebuilt(cache, onnx_model):
    flip_a_weight_byte(cache)
    messages: list[str] = []
    model = MiniLM(warn=messages.append)  # the default: its int8 copy is made from the export, checked first
    texts = ["China and North Korea signed a treaty in 1961.", "coal"]
    asked = model.encode(texts)
    assert "damaged" in messages[0] and "building it again" in messages[0], messages
    assert all("again" in m for m in messages) and len(messages) <= 2, messages  # the copy too, if it changed
    floats = MiniLM(int8=False, warn=messages.append).encode(texts)
    assert np.abs(floats - onnx_model.encode(texts)).max() <= 1e-6 and len(messages) <= 2
    assert (asked * floats).sum(axis=1).min() >= 0.98
    record = json.loads((cache / export.RECORD).read_text())
    assert export.sha256_file(cache / export.DATA_FILE) == record["files"][export.DATA_FILE]


NO_TORCH = "import sys\nfor m in ('torch', 'transformers', 'sentence_transformers'):\n    sys.modules[m] = None\n"


def _ask_without_torch(built: list[str]) -> subprocess.CompletedProcess:
    return _child(NO_TORCH + f"from qa.cli import main\nsys.exit(main(['ask', *{built!r}, {TREATY!r}]))")


def _one_line(done: subprocess.CompletedProcess, *fragments: str) -> str:
    assert done.returncode == 1 and done.stdout == "", done.stdout
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("qa: error: ") and "Traceback" not in done.stderr, done.stderr
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]
    return lines[-1]


def test_without_torch_a_missing_export_is_refused_in_one_line(built, tmp_path):
    env_cache = {export.CACHE_ENV: str(tmp_path / "empty")}
    done = subprocess.run([sys.executable, "-c", NO_TORCH + f"from qa.cli import main\nsys.exit(main(['ask', *{built!r}, 'x?']))"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **env_cache})
    _one_line(done, "cannot build the ONNX export", "torch is not installed", "scripts/setup")


def test_without_torch_a_damaged_export_is_refused_never_used(cache, built):
    flip_a_weight_byte(cache)
    _one_line(_ask_without_torch(built), "cannot build the ONNX export", "torch is not installed")


def test_an_export_with_other_weights_fails_its_canary(cache, built):
    """Weights changed and the record rewritten to match: the canary vector still tells."""
    path = cache / export.DATA_FILE
    size = path.stat().st_size
    with path.open("r+b") as f:  # the encoder layers' weights (after the word embeddings) zeroed
        f.seek(size // 2)
        f.write(bytes(size // 3))
    record = json.loads((cache / export.RECORD).read_text())
    record["files"][export.DATA_FILE] = export.sha256_file(cache / export.DATA_FILE)
    (cache / export.RECORD).write_text(json.dumps(record))
    from qa.models import ortmodel
    from qa.models.bundled import expected, model_dir

    encoder, why = ortmodel._open(cache, record, ortmodel.tokenizer(model_dir(None)), 1, expected())
    assert encoder is None and "canary" in why, why
    # and through the command line, with no torch to rebuild it: refused
    _one_line(_ask_without_torch(built), "cannot build the ONNX export")


def test_a_deferred_module_loads_on_first_use_and_then_is_the_real_one():
    """qa.serve.server._Deferred: `import name` gives the stand-in without loading anything; the
    first attribute imports the real module, which then stands in sys.modules itself."""
    import importlib
    import sys

    from qa.serve.server import _Deferred

    name = "colorsys"  # small, pure Python, and not imported by the test run so far
    saved = sys.modules.pop(name, None)
    try:
        sys.modules[name] = _Deferred(name)
        stand_in = importlib.import_module(name)
        assert isinstance(stand_in, _Deferred) and sys.modules[name] is stand_in
        assert stand_in.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)  # the real function
        real = sys.modules[name]
        assert not isinstance(real, _Deferred) and stand_in.hls_to_rgb is real.hls_to_rgb
        assert importlib.import_module(name) is real
    finally:
        sys.modules.pop(name, None)
        if saved is not None:
            sys.modules[name] = saved


STUB_WRITER = """
WRITTEN = []

def create_or_modify_pyi(component_class, class_name, events):
    WRITTEN.append(class_name)

class Meta(type):
    def __new__(mcls, name, bases, attrs):
        made = super().__new__(mcls, name, bases, attrs)
        create_or_modify_pyi(made, name, [])
        return made
"""


def test_gradios_component_stubs_are_not_written_by_the_classes_its_import_makes(tmp_path, monkeypatch):
    """skip_component_stubs, on a package laid out like gradio (gradio.component_meta: a metaclass
    that calls its module's stub writer for each class it makes; gradio.components: the classes):
    imported after it, no class made calls the writer, and the import hook leaves sys.meta_path; a
    module loaded before it has its writer swapped in place; twice is once."""
    import importlib
    import sys

    from qa.serve import server

    package = tmp_path / "stubby"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("meta", "early"):
        (package / f"{name}.py").write_text(STUB_WRITER)
        (package / f"made_{name}.py").write_text(f"from stubby.{name} import Meta\n\nclass Made(metaclass=Meta):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    hooks = list(sys.meta_path)
    try:
        early = importlib.import_module("stubby.early")
        assert importlib.import_module("stubby.made_early").Made and early.WRITTEN == ["Made"]  # gradio without qa
        server.skip_component_stubs("stubby.meta")
        server.skip_component_stubs("stubby.meta")
        assert len(sys.meta_path) == len(hooks) + 1
        made = importlib.import_module("stubby.made_meta").Made
        meta = sys.modules["stubby.meta"]
        assert made.__name__ == "Made" and type(made) is meta.Meta  # the class itself is made as before
        assert meta.WRITTEN == [] and sys.meta_path == hooks  # its stub skipped; the hook used once, then gone
        server.skip_component_stubs("stubby.early")
        early.Meta("Later", (), {})
        assert early.WRITTEN == ["Made"] and sys.meta_path == hooks
    finally:
        sys.meta_path[:] = hooks
        for name in [m for m in sys.modules if m == "stubby" or m.startswith("stubby.")]:
            del sys.modules[name]


def test_lean_imports_hides_the_stand_in_once_the_server_modules_are_imported(monkeypatch):
    """Inside the block `import pandas` binds the stand-in and loads nothing; after it, sys.modules
    holds no pandas, so a library asking whether pandas is loaded (rapidfuzz's
    `hasattr(sys.modules.get("pandas"), "NA")`) hears no instead of loading it, and what bound the
    stand-in still gets the real library on first use."""
    import importlib
    import sys

    from qa.serve import server

    name = "colorsys"  # small, pure Python, and not imported by the test run so far
    saved = sys.modules.pop(name, None)
    monkeypatch.setattr(server, "_DEFERRED", (name,))
    monkeypatch.setattr(server, "_NEVER_SERVED", ())  # this process may import them later
    monkeypatch.delitem(sys.modules, "pandas", raising=False)  # the block stands aside when pandas is loaded
    try:
        with server.lean_imports():
            bound = importlib.import_module(name)
            assert isinstance(bound, server._Deferred) and sys.modules[name] is bound
        assert sys.modules.get(name) is None  # a probe sees nothing loaded, and loads nothing
        assert bound.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)  # first use: the real module
        real = sys.modules[name]
        assert not isinstance(real, server._Deferred) and bound.hls_to_rgb is real.hls_to_rgb
        assert importlib.import_module(name) is real
    finally:
        sys.modules.pop(name, None)
        if saved is not None:
            sys.modules[name] = saved
