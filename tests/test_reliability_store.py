"""Reliability of the index on disk (CASES.md 26-31): corrupt files, metadata out of step, other
settings, no pickle, kill -9 during save, disk full and read-only folders."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import pickle
import random
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from qa import Assistant, Settings
from qa.errors import QAError, StoreError
from qa.index import store
from qa.index.manifest import SCORER_FILE
from qa.models.embedder import FakeEmbedder
from tests.conftest import ROOT

REBUILD = "qa index --force"
QUESTION = "When was the treaty renewed?"


@pytest.fixture(scope="module")
def template(article_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The article's index, built once for the module as `Assistant` builds it (the fake embedder,
    the real scorer's sentence vectors); each test gets a copy of it to damage."""
    index = tmp_path_factory.mktemp("store-template") / "index"
    Assistant(Settings(corpus_dir=article_corpus, index_dir=index), embedder=FakeEmbedder())
    return index


@pytest.fixture
def built(template: Path, settings: Settings, fake_embedder) -> Assistant:
    """The test's own index over its own copy of the article: the template's files, opened as they are."""
    shutil.copytree(template, settings.index_dir, symlinks=True)
    messages: list[str] = []
    a = Assistant(settings, embedder=fake_embedder, warn=messages.append)
    assert messages == [] and a.index.manifest["counts"]["passages"] > 0  # opened, not rebuilt
    return a


def gen_of(settings: Settings) -> Path:
    gen = store.current_generation(settings.index_dir)
    assert gen is not None
    return gen


def answers(a: Assistant) -> list[tuple[int, float]]:
    return [(h.citation.passage_id, round(h.score, 6)) for h in a.ask(QUESTION).hits]


def rewrite(gen: Path, name: str, data: bytes) -> None:
    """Replaces an index file *and* its checksum: what a buggy writer, not a disk fault, would leave."""
    (gen / name).write_bytes(data)
    path = gen / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"][name] = hashlib.sha256(data).hexdigest()
    path.write_text(json.dumps(manifest))


def refused(settings: Settings, embedder, *fragments: str) -> str:
    """Opening the index fails with one StoreError line that names the fix (and each fragment)."""
    with pytest.raises(StoreError) as info:
        Assistant(settings, embedder=embedder)
    message = str(info.value)
    assert "\n" not in message and REBUILD in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def no_corpus(settings: Settings) -> Settings:
    return settings.with_(corpus_dir=settings.corpus_dir.parent / "no-such-corpus")


# -- 27. corrupt index files -----------------------------------------------------------------------


def _flip_payload(data: bytes, n: int = 40) -> bytes:
    out = bytearray(data)
    rng = random.Random(27)
    for i in rng.sample(range(min(64, len(out) // 2), len(out)), min(n, len(out) // 2)):
        out[i] ^= 0x5A
    return bytes(out)


CORRUPTIONS = {
    "truncated to 0 B": lambda d: b"",
    "truncated to 4 B": lambda d: d[:4],
    "truncated to 50%": lambda d: d[: len(d) // 2],
    "minus 1 B": lambda d: d[:-1],
    "random bytes": lambda d: random.Random(1).randbytes(len(d)),
    "40 flipped payload bytes": _flip_payload,
    "trailing garbage": lambda d: d + b"\x00garbage\x00" * 3,
    "a text file": lambda d: b"this is not an index\n",
}


@pytest.mark.parametrize("name", [*store.FILES, SCORER_FILE])
@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_index_file_is_refused_before_faiss_reads_it(built, settings, fake_embedder, monkeypatch, name, corruption):
    gen = gen_of(settings)
    path = gen / name
    data = path.read_bytes()
    if CORRUPTIONS[corruption](data) == data:
        pytest.skip(f"{name} is empty for the article (no repeated passage): that corruption changes nothing")
    path.write_bytes(CORRUPTIONS[corruption](data))
    calls: list[str] = []
    import faiss

    real = faiss.deserialize_index
    monkeypatch.setattr(faiss, "deserialize_index", lambda *a: calls.append("read") or real(*a))
    refused(settings, fake_embedder, "index corrupt (checksum mismatch", str(path))
    refused(no_corpus(settings), fake_embedder, "checksum mismatch", str(path))
    assert calls == []  # detected by the manifest's SHA-256, before FAISS saw a byte


@pytest.mark.parametrize("name", [*store.FILES, SCORER_FILE, "manifest.json"])
def test_a_directory_at_an_index_path_is_refused(built, settings, fake_embedder, name):
    path = gen_of(settings) / name
    path.unlink()
    path.mkdir()
    refused(settings, fake_embedder, str(path))


def test_faiss_runs_with_a_lowered_deserialisation_limit(built, settings, fake_embedder, monkeypatch):
    import faiss

    limits: list[int] = []
    real = faiss.set_deserialization_vector_byte_limit
    monkeypatch.setattr(faiss, "set_deserialization_vector_byte_limit", lambda n: limits.append(n) or real(n))
    a = Assistant(settings, embedder=fake_embedder)
    counts = a.index.manifest["counts"]
    assert len(limits) == 1  # the passages' index; the sentence vectors are a plain .npy array
    assert 4 * 384 * counts["passages"] <= limits[0] < 1 << 30  # not FAISS's 1 TiB default


def test_a_rebuild_repairs_a_corrupt_index(built, settings, fake_embedder):
    before = answers(built)
    path = gen_of(settings) / "passages.faiss"
    path.write_bytes(_flip_payload(path.read_bytes()))
    refused(settings, fake_embedder, "checksum mismatch")
    Assistant(settings, embedder=fake_embedder, load=False).reload(force=True)
    assert answers(Assistant(settings, embedder=fake_embedder)) == before


# -- 28. metadata out of step ----------------------------------------------------------------------


def _jsonl(gen: Path) -> list[str]:
    return (gen / "passages.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)


def test_fewer_passage_records_than_vectors_is_refused(built, settings, fake_embedder):
    gen = gen_of(settings)
    rewrite(gen, "passages.jsonl", "".join(_jsonl(gen)[:-1]).encode())
    refused(settings, fake_embedder, str(gen / "passages.jsonl"), "does not match its manifest")


def test_counts_agreeing_with_records_but_not_with_vectors_is_refused(built, settings, fake_embedder):
    gen = gen_of(settings)
    rewrite(gen, "passages.jsonl", "".join(_jsonl(gen)[:-1]).encode())
    path = gen / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["counts"]["passages"] -= 1
    path.write_text(json.dumps(manifest))
    # the row table (one entry per passage) is checked first; FAISS's count after it
    refused(settings, fake_embedder, str(gen / "sentence_rows.npy"), "does not match its manifest")


@pytest.mark.parametrize(
    "damage",
    ["not json", "a JSON list", "missing key", "text not a string", "sentence past the text", "no sentences", "wrong id"],
)
def test_a_bad_passage_record_is_refused_naming_the_file_and_line(built, settings, fake_embedder, damage):
    """Records are parsed on first use, not at load (qa.index.records): a damaged one whose file's
    checksum the manifest agrees with is refused when it is first used, with one line."""
    gen = gen_of(settings)
    lines = _jsonl(gen)
    record = json.loads(lines[3])
    if damage == "not json":
        lines[3] = "{not json\n"
    elif damage == "a JSON list":
        lines[3] = "[1, 2, 3]\n"
    else:
        if damage == "missing key":
            del record["paragraph"]
        elif damage == "text not a string":
            record["sentences"] = [[0, 10**6, 0, 1]]
        elif damage == "sentence past the text":
            record["sentences"][-1][1] = len(record["text"]) + 5
        elif damage == "no sentences":
            record["sentences"] = []
        elif damage == "wrong id":
            record["id"] = 10**6
        lines[3] = json.dumps(record) + "\n"
    rewrite(gen, "passages.jsonl", "".join(lines).encode())
    a = Assistant(settings, embedder=fake_embedder)  # opens: no record is parsed at load
    fragment = f"{gen / 'passages.jsonl'} line 4"
    with pytest.raises(StoreError) as info:
        a.ask(record["text"])  # its own text: the damaged passage is the first one found
    message = str(info.value)
    assert fragment in message and "qa index --force" in message and "\n" not in message
    with pytest.raises(StoreError, match=re.escape(fragment)):
        list(a.index.passages)
    assert a.index.passages[2].id == 2  # the records around it are fine


def test_missing_invalid_or_newer_manifest_is_refused_naming_it(built, settings, fake_embedder):
    path = gen_of(settings) / "manifest.json"
    original = json.loads(path.read_text())
    path.write_text(json.dumps({**original, "format_version": store.FORMAT_VERSION + 1}))
    assert "newer than this qa reads" in refused(settings, fake_embedder, str(path))
    path.write_text('{"format_version": 2, "model": ')
    refused(settings, fake_embedder, str(path), "not valid JSON")
    path.write_bytes(b"\xff\xfe\x00garbage")
    refused(settings, fake_embedder, str(path))
    path.unlink()
    refused(settings, fake_embedder, str(path), "manifest missing")


@pytest.mark.parametrize("key", ["model", "files", "counts", "chunking", "documents", "sources", "format_version",
                                 "vector_index"])
@pytest.mark.parametrize("value", ["<deleted>", None, "text", 7, [], {}])
def test_any_damaged_manifest_field_is_refused_or_rebuilt_never_a_crash(built, settings, fake_embedder, key, value):
    path = gen_of(settings) / "manifest.json"
    manifest = json.loads(path.read_text())
    if value == "<deleted>":
        del manifest[key]
    else:
        manifest[key] = value
    path.write_text(json.dumps(manifest))
    for s in (settings, no_corpus(settings)):
        try:
            a = Assistant(s, embedder=fake_embedder)
        except StoreError as e:
            assert REBUILD in str(e) and str(path) in str(e)
            continue
        # accepted (rebuilt from the corpus): it must answer, and list its documents
        assert a.ask(QUESTION).hits and all(d["doc"] for d in a.documents())


def test_current_pointer_damage_is_refused(built, settings, fake_embedder):
    pointer = settings.index_dir / "CURRENT"
    for content in (b"gen-nowhere\n", b"../../etc\n", b"\xff\xfe\x00", b""):
        pointer.write_bytes(content)
        refused(settings, fake_embedder, str(pointer))


# -- 29. built under other settings ----------------------------------------------------------------


class Fake768(FakeEmbedder):
    dim = 768  # same name as the 384-d fake: only the dimension differs


def _edit_manifest(settings: Settings, **changes) -> None:
    path = gen_of(settings) / "manifest.json"
    manifest = json.loads(path.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = manifest
        for p in parents:
            node = node[p]
        node[leaf] = value
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "change, shown",
    [
        ({"model__name": "BAAI/bge-base-en-v1.5"}, "BAAI/bge-base-en-v1.5"),
        ({"model__dim": 768}, "768"),
        ({"model__normalize": False}, "normalize"),
        ({"chunking__max_words": 60}, "chunking"),
        ({"chunking__layout": 0}, "chunking"),
    ],
)
def test_index_built_under_other_settings_is_rebuilt_or_refused(built, settings, fake_embedder, change, shown):
    _edit_manifest(settings, **change)
    # without the corpus it cannot be rebuilt: refused, naming the manifest, the difference and the fix
    message = refused(no_corpus(settings), fake_embedder, str(gen_of(settings) / "manifest.json"), shown)
    assert "this qa uses" in message
    # with the corpus: rebuilt, and said so
    messages: list[str] = []
    a = Assistant(settings, embedder=fake_embedder, warn=messages.append)
    assert any("out of date" in m and shown in m and "this qa uses" in m for m in messages), messages
    assert a.ask(QUESTION).hits


def test_a_real_768_dimension_index_never_reaches_faiss_search(settings, fake_embedder):
    Assistant(settings, embedder=Fake768())  # a genuine, self-consistent 768-d index
    refused(no_corpus(settings), fake_embedder, "dim 768", "this qa uses")
    a = Assistant(settings, embedder=fake_embedder)  # with the corpus: rebuilt at 384
    assert a.index.vectors.d == 384 and a.ask(QUESTION).hits


# -- 30. no pickle anywhere --------------------------------------------------------------------------

FORBIDDEN = [
    r"\bpickle\b",
    r"\bcPickle\b",
    r"\bjoblib\b",
    r"\bdill\b",
    r"\bshelve\b",
    r"allow_pickle\s*=\s*True",
    r"weights_only\s*=\s*False",
    r"trust_remote_code\s*=\s*True",
    r"torch\.load\(",
]


def test_no_pickle_in_the_source():
    found = []
    for path in sorted((ROOT / "qa").rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            found += [f"{path.name}:{n}: {line.strip()}" for pattern in FORBIDDEN if re.search(pattern, line)]
    assert found == []


class _Bomb:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_planted_pickles_are_ignored(built, settings, fake_embedder, tmp_path):
    before = answers(built)
    marker = tmp_path / "unpickled"
    bomb = pickle.dumps(_Bomb(marker))
    gen = gen_of(settings)
    for folder in (settings.index_dir, gen):
        for name in ("index.pkl", "docstore.pkl", "index.joblib", "vectors.npy"):
            (folder / name).write_bytes(bomb)
    a = Assistant(settings, embedder=fake_embedder)
    assert answers(a) == before and a.index.path == gen
    assert not marker.exists()


# -- 26. kill -9 during save -------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from pathlib import Path
    from qa import Settings
    from qa.index import store
    from qa.index import indexer
    from qa.ingest.chunks import chunk
    from qa.ingest.documents import load_corpus
    from qa.models.embedder import FakeEmbedder

    corpus, index_dir = Path(sys.argv[1]), Path(sys.argv[2])
    e = FakeEmbedder()
    from qa.index import lexical, vectors as vector_index

    passages = chunk(load_corpus(corpus, 10**8), 120)
    vectors, svecs, per_sentence = indexer._embed(passages, e, None, indexer._no_progress)
    tables = lexical.tables(passages, per_sentence)
    how = {"kind": "flat"}
    base = {**indexer.identity(Settings(corpus_dir=corpus), e), "sources": {}, "documents": [], "vector_index": how}
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        store.save(index_dir, {**base, "serial": n}, passages, vector_index.build(vectors, e.dim, how), svecs,
                   tables, per_sentence)
        print(f"saved {n}", flush=True)
    """
)


def _check_loads(index_dir: Path, embedder) -> int:
    gen = store.current_generation(index_dir)
    assert gen is not None
    manifest = store.read_manifest(gen)
    index = store.load(gen, manifest)
    assert index.vectors.ntotal == len(index.passages) > 0
    return int(manifest["serial"])


@pytest.mark.slow
def test_kill_9_during_save_never_leaves_a_partial_index(corpus, tmp_path, fake_embedder):
    index_dir = tmp_path / "index"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = random.Random(26)
    serial = 0
    outcomes = []
    for _ in range(30):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(corpus), str(index_dir)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        out = proc.communicate(timeout=60)[0]
        assert proc.returncode == -signal.SIGKILL
        # complete lines only: a kill may cut the last one ("saved" written, its number not yet, where
        # stdout is unbuffered)
        saved = [int(line.split()[1]) for line in out.split("\n")[:-1] if line.startswith("saved ")]
        if serial == 0 and not saved and store.current_generation(index_dir) is None:
            outcomes.append("none yet")
            continue
        loaded = _check_loads(index_dir, fake_embedder)
        # the previous generation, or the last one reported saved, or the one being written
        last = saved[-1] if saved else 0
        assert loaded in ({serial} if not saved else set()) | {last, last + 1}, (serial, saved, loaded)
        outcomes.append("new" if saved or loaded != serial else "previous")
        serial = loaded
        # the next start collects what the killed writer left
        store.collect_garbage(index_dir)
        left = sorted(p.name for p in index_dir.iterdir() if p.name not in ("CURRENT", ".lock"))
        assert left == [gen_of_dir(index_dir).name], left
    assert len(outcomes) == 30 and outcomes.count("none yet") < 30


def gen_of_dir(index_dir: Path) -> Path:
    gen = store.current_generation(index_dir)
    assert gen is not None
    return gen


def test_orphans_are_collected_even_before_the_first_commit(tmp_path):
    index_dir = tmp_path / "index"
    (index_dir / "gen-20000101T000000-aaaaaa").mkdir(parents=True)
    (index_dir / "CURRENT.tmp").write_text("gen-20000101T000000-aaaaaa\n")
    store.collect_garbage(index_dir)
    assert sorted(p.name for p in index_dir.iterdir()) == [".lock"]


def test_collection_reads_the_pointer_under_the_writer_lock(built, settings, fake_embedder, monkeypatch):
    """A writer that commits while a starting process collects must not lose its generation."""
    index_dir = settings.index_dir
    first = gen_of(settings)
    real_flock = store.fcntl.flock
    state = {"done": False}

    def racing_flock(f, op):
        # the starting process is about to take the lock: a writer commits first
        if op & store.fcntl.LOCK_NB and not state["done"]:
            state["done"] = True
            Assistant(settings, embedder=fake_embedder, load=False).reload(force=True)
        return real_flock(f, op)

    monkeypatch.setattr(store.fcntl, "flock", racing_flock)
    store.collect_garbage(index_dir)
    new = gen_of(settings)
    assert state["done"] and new != first and new.is_dir()
    store.load(new, store.read_manifest(new))


def test_a_failure_after_the_pointer_moved_keeps_the_new_generation(settings, fake_embedder, monkeypatch):
    a = Assistant(settings, embedder=fake_embedder)
    real = store._fsync_dir
    calls = {"n": 0}

    def flaky(path: Path) -> None:
        if path == settings.index_dir:
            calls["n"] += 1
            raise OSError(errno.EIO, "Input/output error")
        real(path)

    monkeypatch.setattr(store, "_fsync_dir", flaky)
    a.reload(force=True)
    assert calls["n"] == 1
    gen = gen_of(settings)
    store.load(gen, store.read_manifest(gen))


# -- 31. disk full, read-only store ------------------------------------------------------------------


def _leftovers(index_dir: Path, keep: Path) -> list[str]:
    return sorted(
        p.name for p in index_dir.iterdir() if p.name not in ("CURRENT", ".lock", keep.name)
    )


def _assert_old_generation_served(a: Assistant, settings: Settings, gen: Path, before, embedder) -> None:
    assert gen_of(settings) == gen and a.index.path == gen
    assert answers(a) == before  # still served by the running assistant
    assert answers(Assistant(settings, embedder=embedder)) == before  # and by the next start
    assert _leftovers(settings.index_dir, gen) == []


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4, 5])
def test_enospc_during_save_keeps_the_previous_generation(built, settings, fake_embedder, monkeypatch, fail_at):
    gen, before = gen_of(settings), answers(built)
    real = store._write
    calls = {"n": 0}

    def full(path: Path, data: bytes) -> str:
        calls["n"] += 1
        if calls["n"] == fail_at:
            with path.open("wb") as f:  # a partial file, as a full disk leaves it
                f.write(data[: len(data) // 3])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, data)

    monkeypatch.setattr(store, "_write", full)
    with pytest.raises(StoreError, match="could not save the index.*No space left on device"):
        built.reload(force=True)
    monkeypatch.undo()
    _assert_old_generation_served(built, settings, gen, before, fake_embedder)


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode(errors='replace').strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_disk_full_on_a_real_tiny_tmpfs(corpus, tmp_path, fake_embedder):
    with tmpfs(tmp_path / "mnt", "2m") as mnt:
        settings = Settings(corpus_dir=corpus, index_dir=mnt / "index")
        a = Assistant(settings, embedder=fake_embedder)
        gen, before = gen_of(settings), answers(a)
        used = sum(f.stat().st_size for f in gen.iterdir())
        free = shutil.disk_usage(mnt).free
        (mnt / "filler").write_bytes(b"\0" * max(0, free - used // 3))
        with pytest.raises(StoreError, match="could not save the index.*No space left on device"):
            a.reload(force=True)
        _assert_old_generation_served(a, settings, gen, before, fake_embedder)


def test_read_only_index_folder_keeps_serving(corpus, tmp_path, fake_embedder):
    with tmpfs(tmp_path / "mnt", "8m") as mnt:
        settings = Settings(corpus_dir=corpus, index_dir=mnt / "index")
        a = Assistant(settings, embedder=fake_embedder)
        gen, before = gen_of(settings), answers(a)
        done = subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True)
        if done.returncode != 0:
            pytest.skip("cannot remount read-only here")
        with pytest.raises(StoreError, match="could not save the index.*Read-only file system"):
            a.reload(force=True)
        _assert_old_generation_served(a, settings, gen, before, fake_embedder)


def test_unwritable_index_folder_simulated(built, settings, fake_embedder, monkeypatch):
    """The same without mounts (and as root, where mode 0555 would not stop a write)."""
    gen, before = gen_of(settings), answers(built)
    real_mkdir = Path.mkdir

    def denied(self: Path, *args, **kwargs):
        if self.parent == settings.index_dir and self.name.startswith("gen-"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", denied)
    with pytest.raises(StoreError, match="could not save the index.*Permission denied"):
        built.reload(force=True)
    monkeypatch.undo()
    _assert_old_generation_served(built, settings, gen, before, fake_embedder)


def test_store_errors_are_qa_errors():
    assert issubclass(StoreError, QAError)
