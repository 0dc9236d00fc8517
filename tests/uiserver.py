"""Starts the real `qa serve` in a subprocess for the UI and API tests (not a test module)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen
    home: Path
    corpus: Path
    index: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(tmp: Path, corpus: Path, index: Path | None = None, env: dict[str, str] | None = None,
          args: list[str] | None = None, wait: float = 240.0) -> Server:
    """Copies the corpus (and a built index, so start-up does not rebuild it) under `tmp` and
    serves them on a free loopback port; returns once the page answers."""
    work = tmp / "corpus"
    shutil.copytree(corpus, work)
    built = tmp / "index"
    if index is not None:
        shutil.copytree(index, built)
    home = tmp / "home"
    environ = {**os.environ, "QA_HOME": str(home), "GRADIO_TEMP_DIR": str(home / "gradio_tmp"),
               "QA_TORCH_THREADS": "1", **(env or {})}
    port = free_port()
    log = tmp / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qa", "serve", "--port", str(port), "--corpus", str(work), "--index", str(built),
             *(args or [])],
            stdout=out, stderr=subprocess.STDOUT, env=environ, cwd=tmp,
        )
    server = Server(f"http://127.0.0.1:{port}/", port, proc, home, work, built, log)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"qa serve exited with {proc.returncode}:\n{server.output()}")
        try:
            if httpx.get(server.url, timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop(server)
    raise RuntimeError(f"qa serve did not come up:\n{server.output()}")


def stop(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
