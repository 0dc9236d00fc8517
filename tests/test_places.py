"""Where qa keeps the corpus, the index and the model cache (qa.places), `qa where`, and the per-user
folder seeded with the example article that ships inside the package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa import places
from tests.conftest import ARTICLE, TREATY

CLEARED = ("QA_CORPUS", "QA_INDEX", "QA_HOME", "XDG_DATA_HOME")


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with no ./corpus, and HOME and XDG_DATA_HOME inside tmp_path."""
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path


def run_qa(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in CLEARED}
    return subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd, env={**environ, **env})


def test_the_example_shipped_in_the_package_is_the_corpus_article_byte_for_byte():
    shipped = sorted(p.name for p in places.EXAMPLE.iterdir())
    assert shipped == [ARTICLE.name]
    assert (places.EXAMPLE / ARTICLE.name).read_bytes() == ARTICLE.read_bytes()


def test_inside_a_checkout_the_defaults_are_the_relative_corpus_and_index_as_before(elsewhere, monkeypatch):
    from qa import Settings

    (elsewhere / "work" / "corpus").mkdir()
    s = Settings()
    assert (s.corpus_dir, s.index_dir) == (Path("corpus"), Path("index"))
    assert places.corpus().why == places.index().why == "./corpus in the current folder"
    monkeypatch.setenv("QA_CORPUS", "/somewhere/docs")
    monkeypatch.setenv("QA_INDEX", "/somewhere/index")
    s = Settings()
    assert (s.corpus_dir, s.index_dir) == (Path("/somewhere/docs"), Path("/somewhere/index"))
    assert (places.corpus().source, places.index().source) == ("env", "env")
    assert places.corpus("mine").path == Path("mine") and places.corpus("mine").why == "--corpus"
    assert places.index("idx").path == Path("idx") and places.index("idx").why == "--index"


def test_outside_a_checkout_the_defaults_are_the_per_user_folder_and_nothing_is_written(elsewhere, monkeypatch):
    from qa import Settings

    s = Settings()
    assert s.corpus_dir == elsewhere / "xdg" / "qa" / "corpus"
    assert s.index_dir == elsewhere / "xdg" / "qa" / "index"
    assert places.corpus().why == "per-user folder: no ./corpus here"
    monkeypatch.delenv("XDG_DATA_HOME")  # the XDG default under HOME
    assert Settings().corpus_dir == elsewhere / "home" / ".local" / "share" / "qa" / "corpus"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/path")  # not absolute: ignored, as the XDG spec says
    assert Settings().index_dir == elsewhere / "home" / ".local" / "share" / "qa" / "index"
    monkeypatch.setenv("QA_CORPUS", "  ")  # blank: unset
    assert Settings().corpus_dir == elsewhere / "home" / ".local" / "share" / "qa" / "corpus"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["work"]  # working them out made nothing
    assert list((elsewhere / "work").iterdir()) == []


def test_outside_a_checkout_each_corpus_given_by_flag_gets_its_own_per_user_index(elsewhere):
    from qa import Settings

    papers, notes = elsewhere / "papers", elsewhere / "my notes"
    first, second = Settings.for_corpus(papers), Settings.for_corpus(notes)
    assert first.corpus_dir == papers and second.corpus_dir == notes
    indexes = elsewhere / "xdg" / "qa" / "indexes"
    assert first.index_dir.parent == second.index_dir.parent == indexes
    assert first.index_dir.name.startswith("papers-") and second.index_dir.name.startswith("my-notes-")
    assert Settings.for_corpus(papers).index_dir == first.index_dir  # the same corpus, the same index
    assert Settings.for_corpus().index_dir == elsewhere / "xdg" / "qa" / "index"  # the per-user corpus's
    assert Settings.for_corpus(papers, "idx").index_dir == Path("idx")  # --index still wins
    found = {p.name: p for p in places.where(papers)}
    assert found["index"].path == first.index_dir and str(papers) in found["index"].why
    (elsewhere / "work" / "corpus").mkdir()  # in a checkout: ./index, whichever corpus
    assert Settings.for_corpus(papers).index_dir == Path("index")


def test_the_model_cache_is_the_one_the_export_uses(elsewhere, monkeypatch):
    from qa.models import export

    monkeypatch.delenv("QA_MODEL_CACHE")
    place = places.model_cache()
    assert place.path == elsewhere / "home" / ".qa" / "models" == export.cache_root()
    assert place.source == "default"
    monkeypatch.setenv("QA_HOME", str(elsewhere / "qa-home"))
    assert places.model_cache().path == elsewhere / "qa-home" / "models" == export.cache_root()
    assert places.model_cache().why == "$QA_HOME/models"
    monkeypatch.setenv("QA_MODEL_CACHE", str(elsewhere / "cache"))
    assert places.model_cache().path == elsewhere / "cache" == export.cache_root()
    assert places.model_cache().why == "$QA_MODEL_CACHE"


def test_seed_fills_only_a_missing_per_user_corpus_once(elsewhere):
    user = places.corpus().path
    other = elsewhere / "other"
    assert not places.seed(other) and not other.exists()  # not the per-user folder: left alone
    assert places.seed(user)
    assert [p.name for p in user.iterdir()] == [ARTICLE.name]
    assert (user / ARTICLE.name).read_bytes() == ARTICLE.read_bytes()
    (user / ARTICLE.name).unlink()  # the user took it out: it is not put back
    assert not places.seed(user) and list(user.iterdir()) == []
    assert [p.name for p in user.parent.iterdir()] == ["corpus"]  # no temporary folder left


def test_a_failed_seed_is_one_line_and_leaves_no_half_corpus(elsewhere, monkeypatch):
    from qa.errors import CorpusError

    user = places.corpus().path

    def disk_full(src, dst, *args):
        dst.write(src.read(100))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(places.shutil, "copyfileobj", disk_full)
    with pytest.raises(CorpusError) as e:
        places.seed(user)
    assert str(e.value) == f"cannot create the corpus folder {user}: No space left on device"
    assert list(user.parent.iterdir()) == []  # no corpus, and no temporary folder


def test_a_per_user_folder_that_cannot_be_made_is_one_line(elsewhere, monkeypatch):
    from qa.errors import CorpusError

    monkeypatch.setenv("XDG_DATA_HOME", str(elsewhere / "file"))
    (elsewhere / "file").write_text("not a folder")
    with pytest.raises(CorpusError, match="cannot create the corpus folder"):
        places.seed(places.corpus().path)


def test_a_seed_racing_another_keeps_the_folder_that_arrived_first(elsewhere, monkeypatch):
    user = places.corpus().path
    real_rename = os.rename

    def beaten(src, dst):
        Path(dst).mkdir()
        (Path(dst) / "theirs.txt").write_text("the other process's corpus")
        real_rename(src, dst)

    monkeypatch.setattr(places.os, "rename", beaten)
    assert not places.seed(user)
    assert [p.name for p in user.iterdir()] == ["theirs.txt"]
    assert [p.name for p in user.parent.iterdir()] == ["corpus"]


def test_qa_where_names_each_folder_and_why(elsewhere):
    env = {"HOME": str(elsewhere / "home"), "XDG_DATA_HOME": str(elsewhere / "xdg"),
           "QA_MODEL_CACHE": str(elsewhere / "cache")}
    done = run_qa("where", cwd=elsewhere / "work", env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == [
        f"corpus       {elsewhere / 'xdg' / 'qa' / 'corpus'}  (per-user folder: no ./corpus here; "
        "the example article is put there on first use)",
        f"index        {elsewhere / 'xdg' / 'qa' / 'index'}  (per-user folder: no ./corpus here)",
        f"model cache  {elsewhere / 'cache'}  ($QA_MODEL_CACHE)",
    ]
    assert not (elsewhere / "xdg").exists()  # `qa where` only looks
    done = run_qa("where", "--json", "--corpus", "docs", cwd=elsewhere / "work", env={**env, "QA_INDEX": "/srv/idx"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "corpus": {"path": str(elsewhere / "work" / "docs"), "source": "flag", "why": "--corpus", "exists": False},
        "index": {"path": "/srv/idx", "source": "env", "why": "$QA_INDEX", "exists": False},
        "model_cache": {"path": str(elsewhere / "cache"), "source": "env", "why": "$QA_MODEL_CACHE", "exists": False},
    }
    (elsewhere / "work" / "corpus").mkdir()
    done = run_qa("where", "--json", cwd=elsewhere / "work", env=env)
    found = json.loads(done.stdout)
    assert found["corpus"]["path"] == str(elsewhere / "work" / "corpus") and found["corpus"]["source"] == "cwd"
    assert found["index"]["path"] == str(elsewhere / "work" / "index") and found["index"]["exists"] is False


def test_qa_ask_outside_a_checkout_answers_from_the_seeded_per_user_folder(elsewhere):
    """The real model, a real index on disk: the first question makes the per-user corpus and index."""
    env = {"HOME": str(elsewhere / "home"), "XDG_DATA_HOME": str(elsewhere / "xdg")}
    done = run_qa("ask", "--json", "-k", "1", TREATY, cwd=elsewhere / "work", env=env)
    assert done.returncode == 0, done.stderr
    user = elsewhere / "xdg" / "qa"
    assert f"made the corpus folder {user / 'corpus'} with the example article" in done.stderr
    answer = json.loads(done.stdout)["answer"]
    citation = answer["citation"]
    assert citation["doc"] == f"corpus/{ARTICLE.name}"
    raw = (user / "corpus" / ARTICLE.name).read_text(encoding="utf-8")
    assert "Treaty on Friendship" in raw[citation["start"]:citation["end"]]
    assert (user / "index" / "CURRENT").is_file()
    assert list((elsewhere / "work").iterdir()) == []  # nothing written where it ran
    again = run_qa("ask", "--json", "-k", "1", TREATY, cwd=elsewhere / "work", env=env)
    assert again.returncode == 0 and "made the corpus folder" not in again.stderr
    assert json.loads(again.stdout)["answer"]["citation"] == citation


def test_qa_where_has_help_with_an_example(tmp_path):
    done = run_qa("where", "--help", cwd=tmp_path, env={})
    assert done.returncode == 0, done.stderr
    assert "example: qa where --json" in done.stdout
    assert "--corpus" in done.stdout and "--index" in done.stdout and "--json" in done.stdout
    top = run_qa("--help", cwd=tmp_path, env={})
    assert "where" in top.stdout
