"""Offline, proved (CASES.md 33): no connection leaves the machine, in tests or in use."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

PROBE = textwrap.dedent(
    """
    import json, os, sys
    import sitecustomize  # the test network guard: loopback only, every attempt recorded
    from pathlib import Path
    from qa import Assistant, Settings
    a = Assistant(Settings(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2])))
    result = a.ask("When did Pyongyang test a nuclear device?")
    print(json.dumps({
        "answer": result.answer.text if result.answer else None,
        "attempts": sitecustomize.ATTEMPTS,
        "hub_offline": os.environ.get("HF_HUB_OFFLINE"),
    }))
    """
)


def test_the_suite_itself_cannot_reach_the_network():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(OSError, match="network access is disabled"):
            s.connect(("192.0.2.1", 80))  # TEST-NET-1: never routable anyway
        assert s.connect_ex(("2001:db8::1" if s.family == socket.AF_INET6 else "198.51.100.1", 443)) != 0
    finally:
        s.close()
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("huggingface.co", 443)
    # loopback still works
    server = socket.create_server(("127.0.0.1", 0))
    try:
        client = socket.create_connection(server.getsockname()[:2], timeout=5)
        client.close()
    finally:
        server.close()


def test_subprocesses_of_the_suite_cannot_reach_the_network():
    code = "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=5)\nexcept OSError as e:\n    print(e)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "network access is disabled" in done.stdout, done


@pytest.mark.parametrize("hub_env", ["set", "unset"])
def test_offline_start_loads_model_and_index_and_answers_with_zero_attempts(
    article_assistant, tmp_path, hub_env
):
    index = tmp_path / "index"
    shutil.copytree(article_assistant.settings.index_dir, index)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update({"HF_HOME": str(tmp_path / "empty-hf-home"), "XDG_CACHE_HOME": str(tmp_path / "cache")})
    if hub_env == "set":
        env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(article_assistant.settings.corpus_dir), str(index)],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    import json

    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["attempts"] == [] and "blocked" not in done.stderr
    assert out["answer"] and "October 2006" in out["answer"]
    assert out["hub_offline"] == "1"  # qa sets it itself before the hub libraries load
    assert not any((tmp_path / "empty-hf-home").rglob("*"))  # nothing fetched or cached


def _unshare_works() -> str | None:
    if not shutil.which("unshare"):
        return "no unshare command"
    done = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    return None if done.returncode == 0 else f"unshare -n is not permitted here ({done.stderr.strip()})"


def test_qa_ask_in_a_network_namespace_without_network(article_assistant, tmp_path):
    reason = _unshare_works()
    if reason:
        pytest.skip(reason)
    index = tmp_path / "index"
    shutil.copytree(article_assistant.settings.index_dir, index)
    env = {k: v for k, v in os.environ.items() if k not in ("QA_TEST_NETGUARD",)}  # the kernel guards here
    env["HF_HOME"] = str(tmp_path / "empty-hf-home")
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "qa", "ask", "--corpus", str(article_assistant.settings.corpus_dir),
         "--index", str(index), "--json", "When did Pyongyang test a nuclear device?"],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    import json

    assert "October 2006" in json.loads(done.stdout)["answer"]["text"]
    # and inside the namespace nothing but loopback exists
    probe = subprocess.run(["unshare", "-n", sys.executable, "-c",
                            "import socket\ntry:\n socket.create_connection(('192.0.2.1', 80), timeout=3)\n"
                            "except OSError as e:\n print(type(e).__name__, e.errno)"],
                           capture_output=True, text=True, timeout=60, env=env)
    assert "OSError" in probe.stdout or "Error" in probe.stdout, probe


def test_import_does_not_touch_the_network_or_load_torch():
    code = "import sys, qa, qa.cli, qa.index.store, qa.index.indexer; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.stdout.strip() == "False" and "blocked" not in done.stderr


def test_guard_module_is_on_the_path_of_subprocesses():
    assert str(Path(ROOT / "tests" / "netguard")) in os.environ["PYTHONPATH"].split(os.pathsep)
