"""benchmarks/peers.py, the harness that times qa's index build against txtai's and Haystack's.

Figures are never asserted (the machine is shared); what is checked is that the harness measures what
it says: the peers' passages, the corpus it hands to all three, the counts it reads back from qa's
index, and a whole run end to end with the real `qa index` (and the real peers where their venv,
made by benchmarks/peers-setup, is on this machine).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import peers
from tests.conftest import ARTICLE, ROOT

sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))
import passages  # noqa: E402  # benchmarks/peers/passages.py, standard library only


def test_peer_passages_keep_paragraphs_and_every_word():
    long = " ".join(f"w{i}" for i in range(301))
    text = f"Title line\n\n{long}\n \nshort one.\n\n\n"
    chunks = list(passages.paragraph_chunks(text))
    assert chunks[0] == "Title line" and chunks[-1] == "short one."
    middle = chunks[1:-1]
    assert len(middle) == math.ceil(301 / passages.MAX_WORDS) == 3
    assert all(len(c.split()) <= passages.MAX_WORDS for c in middle)
    assert max(len(c.split()) for c in middle) - min(len(c.split()) for c in middle) <= 1  # balanced
    assert " ".join(middle).split() == long.split()  # every word once, in order


def test_prepare_copies_only_plain_text_and_refuses_the_rest(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "a.txt").write_text("one two three", encoding="utf-8")
    (good / "b.txt").write_text("four five", encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    folder, words = peers.prepare(good, work)
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt", "b.txt"] and words == 5

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.txt").write_text("text", encoding="utf-8")
    (mixed / "b.pdf").write_bytes(b"%PDF-1.4")
    latin = tmp_path / "latin"
    latin.mkdir()
    (latin / "a.txt").write_bytes("caf\xe9".encode("latin-1"))
    for bad, says in ((mixed, "only .txt files"), (latin, "not UTF-8"), (tmp_path / "absent", "not a folder"),
                      (work / "corpus" / "a.txt", "not a folder")):
        with pytest.raises(peers.Refused, match=says) as e:
            peers.prepare(bad, tmp_path / "work2")
        assert "\n" not in str(e.value)


def test_refusals_are_one_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "benchmarks.peers", "--corpus", str(tmp_path), "--systems", "qa,lucene"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.strip().count("\n") == 0 and "--systems must name" in run.stderr


def _run(tmp_path: Path, systems: str) -> dict:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / ARTICLE.name).write_bytes(ARTICLE.read_bytes())
    out = tmp_path / "figures.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks.peers", "--corpus", str(corpus), "--repeats", "1",
                          "--systems", systems, "--json", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    figures = json.loads(out.read_text())
    assert "ratio to qa" in run.stdout and "not counted" in run.stdout
    return figures


def test_a_real_qa_build_is_timed_and_counted(tmp_path):
    figures = _run(tmp_path, "qa")
    [result] = figures["results"]
    qa = result["systems"]["qa"]
    assert result["files"] == 1 and result["words"] == len(ARTICLE.read_text(encoding="utf-8").split())
    # the counts read back from the generation qa wrote: every passage, plus the sentences it embeds
    assert qa["chunks"] > 10 and qa["sentences"] >= qa["chunks"]
    assert qa["chunks"] < qa["vectors"] <= qa["chunks"] + qa["sentences"]
    assert qa["median_words"] <= qa["max_words"] == 120
    assert qa["ratio_to_qa"] == 1.0 and qa["median_s"] > 0 and len(qa["runs"]) == 1
    assert qa["check"]["top"]  # the saved index answered a question afterwards
    assert figures["before"]["loadavg"] and figures["after"]["loadavg"]


@pytest.mark.slow
@pytest.mark.skipif(not peers.PEERS_PY.exists(), reason="no peers' venv here (benchmarks/peers-setup makes it)")
def test_the_peers_build_saved_hybrid_indexes_offline(tmp_path):
    """The real txtai and Haystack builds, under the suite's network guard, on the same article."""
    figures = _run(tmp_path, "qa,txtai,haystack")
    rows = figures["results"][0]["systems"]
    for name in ("txtai", "haystack"):
        row = rows[name]
        assert row["chunks"] == row["vectors"] > 5, row
        assert row["threads"] == len(os.sched_getaffinity(0))  # torch on every core
        assert row["bytes_on_disk"] > row["vectors"] * 384 * 4  # the vectors at least, saved
        assert row["ratio_to_qa"] > 0
    assert rows["txtai"]["scoring"]["method"] == "bm25"  # the keyword half of the hybrid
    assert rows["txtai"]["check"]["count"] == rows["txtai"]["chunks"] and rows["txtai"]["check"]["top"]
    assert rows["haystack"]["check"]["top_bm25"] and rows["haystack"]["check"]["top_dense"]
