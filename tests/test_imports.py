"""The package tree is the pipeline: a lower stage never imports a higher one.

Reads every module's imports (top-level and inside functions) with `ast`, so a lazy import that
reaches up a stage is caught as well as a top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "qa"

# Lowest first. A module may import its own stage and any lower one; `eval` and `serve` are side by
# side (neither imports the other); the package facade `qa` and the CLI sit on top.
STAGES: dict[str, float] = {
    "qa.errors": 0, "qa.text": 0.5,
    "qa.disk": 0.75,           # a folder's writer lock and fsync: the store, the model cache, the corpus seed
    "qa.places": 1.25,         # where the corpus, index and model cache live: the settings' defaults
    "qa.ingest": 1,
    "qa.config": 1.5,          # the settings name the ingest versions they depend on
    "qa.models": 1.75,         # the embedder, the scorer and the reader: sessions, export, checks, cards
    "qa.index": 2,
    "qa.models.training": 2.5, # the training scripts mine negatives with the index's BM25 tokens
    # the abstention model is fitted on what the whole answer step computes, run as qa eval runs it
    "qa.models.training.abstain_fit": 4.5, "qa.models.training.abstain": 6.5,
    "qa.search": 3,
    "qa.answer": 4,
    "qa.assistant": 5,
    "qa.eval": 6, "qa.serve": 6,
    "qa": 7, "qa.cli": 7.5, "qa.__main__": 8,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def stage_of(module: str) -> str:
    best = max((s for s in STAGES if module == s or module.startswith(s + ".")), key=len)
    return best


def imported(path: Path) -> set[str]:
    """Every qa module that `path` imports, resolving `from qa.pkg import module` to the module."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "qa"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qa":
            for alias in node.names:
                sub = ROOT.parent.joinpath(*node.module.split("."), alias.name)
                is_module = sub.with_suffix(".py").exists() or (sub / "__init__.py").exists()
                out.add(f"{node.module}.{alias.name}" if is_module else node.module)
    return out


MODULES = sorted(p for p in ROOT.rglob("*.py"))


def test_every_module_has_a_stage():
    assert MODULES
    for path in MODULES:
        stage_of(module_name(path))  # raises ValueError (max of nothing) for a module outside STAGES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_module_imports_a_higher_stage(path: Path):
    me = stage_of(module_name(path))
    for target in sorted(imported(path)):
        them = stage_of(target)
        if me == them:
            continue
        assert STAGES[them] < STAGES[me], f"{module_name(path)} ({me}) imports {target} ({them})"


def test_only_the_ui_module_imports_gradio():
    for path in MODULES:
        if module_name(path) == "qa.serve.ui":
            continue
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any(n.split(".")[0] in {"gradio", "gradio_client"} for n in names), module_name(path)


def test_public_api_is_stable():
    import qa
    from qa.answer.result import Citation, Hit, Result

    assert set(qa.__all__) == {*qa._PUBLIC, "__version__"}
    assert {"Assistant", "Settings"} <= set(qa.__all__)
    assert qa.Assistant.__module__ == "qa.assistant" and qa.Settings.__module__ == "qa.config"
    for cls in (Result, Hit, Citation):
        assert getattr(qa, cls.__name__) is cls


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle in `graph` (module -> modules it imports), or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            found = visit(target)
            if found:
                return found
        path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        found = visit(node)
        if found:
            return found
    return None


def test_no_import_circle():
    """No module reaches itself through its imports, lazy ones included (the embedder, its export
    and its onnxruntime session imported each other before they moved into `qa.models`). A package
    handing work to its own modules (`qa.ingest.formats` reading a file with `formats.docx`, which
    uses the package's `Block`) is a package's own business, not a circle between modules."""
    names = {module_name(p) for p in MODULES}
    graph = {me: {t for t in imported(p) if t in names and t != me and not t.startswith(me + ".")}
             for p in MODULES for me in [module_name(p)]}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
