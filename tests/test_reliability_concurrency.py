"""Concurrency (CASES.md 32 and 36): a rebuild while serving, concurrent encodes and searches."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from qa import Assistant, Settings
from qa.index import store
from tests.conftest import ARTICLE, ROOT

NEW_FACT = "The Zorblax bridge over the Tumen river opened to traffic in 2031."
NEW_Q = "When did the Zorblax bridge open?"


def mixed_texts(n: int) -> list[str]:
    """Texts of 1 to 300 words (mostly question-sized), all different."""
    words = ARTICLE.read_text(encoding="utf-8").split()
    rng = np.random.default_rng(36)
    out = []
    for i in range(n):
        length = int(rng.choice([1, 3, 8, 12, 20, 40], p=[0.1, 0.2, 0.3, 0.2, 0.1, 0.1]))
        length = 300 if i % 50 == 0 else length
        start = int(rng.integers(0, len(words) - length))
        out.append(" ".join(words[start : start + length]) + f" ({i})")
    return out


def _concurrent_encodes(embedder, threads: int, per_thread: int) -> None:
    texts = mixed_texts(threads * per_thread)
    serial = embedder.encode(texts)  # one serial batch
    errors: list[BaseException] = []
    results: dict[int, np.ndarray] = {}
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker(t: int) -> None:
        start.wait()
        for i in range(t, len(texts), threads):
            try:
                # alternate single texts and small mixed batches
                batch = [i] if i % 3 else [i, (i + 7) % len(texts)]
                vecs = embedder.encode([texts[j] for j in batch])
                with lock:
                    results.update(zip(batch, vecs, strict=True))
            except BaseException as e:  # noqa: BLE001 - every failure counts
                with lock:
                    errors.append(e)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(timeout=600)
    assert not any(th.is_alive() for th in pool)
    assert errors == []
    assert len(results) == len(texts)
    got = np.vstack([results[i] for i in range(len(texts))])
    assert float(np.abs(got - serial).max()) < 1e-4


def test_concurrent_encodes_equal_serial(embedder):
    _concurrent_encodes(embedder, threads=16, per_thread=12)


@pytest.mark.slow
def test_concurrent_encodes_equal_serial_16_threads_x_100(embedder):
    # 16 x 600 takes five minutes on two cores; 1,600 encodes keep this under two
    _concurrent_encodes(embedder, threads=16, per_thread=100)


def test_concurrent_faiss_searches_equal_serial(article_assistant, embedder):
    index = article_assistant.index
    queries = embedder.encode(mixed_texts(64))
    serial = [index.vectors.search(q.reshape(1, -1), 10) for q in queries]
    sentences = [index.sentence_vectors @ q for q in queries]

    def one(i: int):
        return index.vectors.search(queries[i].reshape(1, -1), 10), index.sentence_vectors @ queries[i]

    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(one, [i % len(queries) for i in range(16 * 20)]))
    for n, ((scores, rows), sent) in enumerate(got):
        i = n % len(queries)
        np.testing.assert_array_equal(rows, serial[i][1])
        np.testing.assert_array_equal(scores, serial[i][0])
        np.testing.assert_array_equal(sent, sentences[i])


def test_concurrent_questions_equal_serial(article_assistant):
    questions = ["When did Pyongyang test a nuclear device?", "Who wrote the article?",
                 "What did Beijing criticize in 1980?", "How many additional visits did Kim make to China?"]
    serial = {q: article_assistant.ask(q).to_json() for q in questions}
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: article_assistant.ask(questions[i % 4]).to_json(), range(32)))
    for i, result in enumerate(got):
        want = serial[questions[i % 4]]
        assert [p["citation"] for p in result["passages"]] == [p["citation"] for p in want["passages"]]
        assert result["answer"] == want["answer"]


# -- 32. rebuild while serving ---------------------------------------------------------------------


def test_rebuild_while_serving_gives_zero_errors(corpus, tmp_path, fake_embedder, monkeypatch):
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    a = Assistant(settings, embedder=fake_embedder)
    old = a.index
    old_ntotal = old.vectors.ntotal
    (corpus / "bridge.md").write_text(f"# Bridge\n\n{NEW_FACT}\n")

    # slow the rebuild's embedding down so many questions run during it
    real_encode = fake_embedder.encode
    building = threading.Event()

    def slow_encode(texts):
        if len(texts) > 1:
            building.set()
            time.sleep(0.05)
        return real_encode(texts)

    monkeypatch.setattr(fake_embedder, "encode", slow_encode)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: dict[int, list[bool]] = {}

    def serve(t: int) -> None:
        seen[t] = []
        while not stop.is_set():
            try:
                hits = a.ask(NEW_Q).hits
                seen[t].append(any("Zorblax" in h.passage.text for h in hits))
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

    pool = [threading.Thread(target=serve, args=(t,)) for t in range(4)]
    for th in pool:
        th.start()
    try:
        a.reload(force=True)
        assert building.is_set()
        # until every thread has been answered from the new generation: a question takes from ~50 ms
        # to a few hundred on a slow CPU with four asking at once, so no fixed pause fits all machines
        deadline = time.monotonic() + 120
        while not all(seen.get(t) and seen[t][-1] for t in range(len(pool))) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for th in pool:
            th.join(timeout=120)
    assert errors == []
    for answers in seen.values():
        # old generation until the swap, the new one after, never back
        assert answers and answers == sorted(answers), answers
        assert answers[0] is False and answers[-1] is True
    # the generation that was served was never modified; the new one is a new object
    assert old.vectors.ntotal == old_ntotal and a.index is not old
    assert not any("Zorblax" in p.text for p in old.passages)


REBUILDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from qa import Settings
    from qa.index import indexer
    from qa.models.embedder import FakeEmbedder
    settings = Settings(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2]))
    e = FakeEmbedder()
    n = int(sys.argv[3])
    for i in range(n):
        indexer.build(settings, e)
        print("built", i, flush=True)
    """
)


def test_opening_while_another_process_rebuilds_gives_zero_errors(corpus, tmp_path, fake_embedder):
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    Assistant(settings, embedder=fake_embedder)
    script = tmp_path / "rebuild.py"
    script.write_text(REBUILDER)
    proc = subprocess.Popen([sys.executable, str(script), str(corpus), str(settings.index_dir), "6"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    errors, opened = [], 0
    try:
        while proc.poll() is None:
            try:
                a = Assistant(settings, embedder=fake_embedder)
                assert a.ask("When was the treaty renewed?").hits
                opened += 1
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
    finally:
        out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0 and out.count("built") == 6
    assert errors == [] and opened > 0
    gens = [p for p in settings.index_dir.iterdir() if p.name.startswith("gen-")]
    assert gens == [store.current_generation(settings.index_dir)]


def test_loads_of_different_sizes_in_parallel_threads(tmp_path, corpus, fake_embedder):
    """FAISS's deserialisation limit is process-wide: loads in two threads must not trip each other."""
    small = tmp_path / "small"
    small.mkdir()
    (small / "one.txt").write_text("The treaty was renewed in 1981.\n")
    dirs = []
    for c in (corpus, small):
        s = Settings(corpus_dir=c, index_dir=tmp_path / f"index-{c.name}")
        Assistant(s, embedder=fake_embedder)
        dirs.append(s.index_dir)

    def load(i: int) -> int:
        gen = store.current_generation(dirs[i % 2])
        assert gen is not None
        return store.load(gen, store.read_manifest(gen)).vectors.ntotal

    with ThreadPoolExecutor(8) as pool:
        sizes = list(pool.map(load, range(200)))
    assert len(set(sizes[0::2])) == 1 and len(set(sizes[1::2])) == 1 and sizes[0] > sizes[1]
