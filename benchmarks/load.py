"""Load on the chat server from a second process: N users asking in a loop, through the page's
Gradio API (gradio_client, /ask) or the REST API (POST /api/ask).

    .venv/bin/python benchmarks/load.py --url http://127.0.0.1:7860/ [--users 1,8,16] [--duration 20]
    .venv/bin/python benchmarks/load.py --serve [--users 1,8,16]   # starts `qa serve` on ./corpus first
    .venv/bin/python benchmarks/load.py --serve --api rest

For each number of users, every user (a thread with its own client: a gradio_client.Client, or an
httpx.Client for REST) asks the article's questions in turn for `--duration` seconds (or until
`--requests` are counted), after `--warmup` seconds of the same load that are not counted. A REST
answer counts as an error unless it is a 200 with the result's JSON. Prints, per level: requests, errors (by kind), p50/p95/max latency, throughput,
and the server's resident memory before and after (with --pid, or the server --serve started).
`--json` prints one JSON object instead. Figures are printed, never asserted: tests/test_load.py
asserts on them.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "What treaty did China and North Korea sign in 1961?",
    "When did Pyongyang test a nuclear device?",
    "Why did Russia decide not to renew the treaty?",
    "How did trade between China and North Korea change in 1993?",
    "Who wrote the article?",
    "What is the capital of Australia?",
    "When did Xi Jinping visit Pyongyang?",
    "What did the UN Security Council resolution 1718 impose?",
]


def rss(pid: int | None) -> int | None:
    if pid is None:
        return None
    import psutil

    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class GradioUser:
    """One gradio_client user of the page's /ask endpoint, made as `Client(url)`."""

    def __init__(self, url: str) -> None:
        from gradio_client import Client

        self.client = Client(url, verbose=False, **self.options())

    def options(self) -> dict[str, Any]:
        return {}

    def ask(self, question: str) -> None:
        self.client.predict(question, api_name="/ask")

    def close(self) -> None:
        self.client.close()


class GradioSharedSSLUser(GradioUser):
    """The same, given one SSL context: gradio_client makes a new HTTP client for every call (two
    per predict), and each one otherwise loads the CA bundle afresh, even for an http:// URL."""

    def options(self) -> dict[str, Any]:
        return {"ssl_verify": _ssl_context()}


def _ssl_context() -> Any:
    global _SSL
    if _SSL is None:
        import ssl

        _SSL = ssl.create_default_context()
    return _SSL


_SSL: Any = None


class RestUser:
    """One REST user (a keep-alive httpx connection) of POST /api/ask."""

    def __init__(self, url: str) -> None:
        import httpx

        self.url = url + "api/ask"
        self.client = httpx.Client(timeout=60)

    def ask(self, question: str) -> None:
        r = self.client.post(self.url, json={"question": question})
        if r.status_code != 200 or "passages" not in r.json():
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:100]}")

    def close(self) -> None:
        self.client.close()


class GradioRawUser:
    """The page's /ask through Gradio's queue protocol by hand (POST queue/join, then read the
    queue/data event stream) on one keep-alive connection: the server's share of a gradio_client
    call, without the client's own costs (a new HTTP client per call, 50 ms polling)."""

    def __init__(self, url: str) -> None:
        import uuid

        import httpx

        self.url = url
        self.client = httpx.Client(timeout=60)
        found = [i for i, d in enumerate(self.client.get(url + "config").json()["dependencies"])
                 if d.get("api_name") == "ask"]
        self.fn_index = found[0]
        self.session = uuid.uuid4().hex[:12]

    def ask(self, question: str) -> None:
        r = self.client.post(self.url + "gradio_api/queue/join",
                             json={"data": [question, 5, None], "fn_index": self.fn_index, "session_hash": self.session})
        r.raise_for_status()
        with self.client.stream("GET", self.url + "gradio_api/queue/data", params={"session_hash": self.session}) as s:
            for line in s.iter_lines():
                if line.startswith("data:") and '"process_completed"' in line:
                    if not json.loads(line[5:]).get("success"):
                        raise RuntimeError(line[:120])
                    return
        raise RuntimeError("the event stream ended without a result")

    def close(self) -> None:
        self.client.close()


USERS = {"gradio": GradioUser, "gradio-ssl": GradioSharedSSLUser, "gradio-raw": GradioRawUser, "rest": RestUser}


def level(url: str, users: int, duration: float, warmup: float, pid: int | None,
          api: str = "gradio", requests: int | None = None) -> dict[str, Any]:
    """One load level: `users` concurrent clients of `api` for warmup + duration seconds, or until
    `requests` counted requests are done, whichever comes first."""
    clients = [USERS[api](url) for _ in range(users)]
    latencies: list[float] = []
    errors: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    begin = time.monotonic()
    counted_from = begin + warmup
    end = counted_from + duration
    done = threading.Event()  # `requests` counted: every user stops after its request on the way
    before: list[int | None] = [None]

    def user(n: int) -> None:
        i = n
        while True:
            t0 = time.monotonic()
            if t0 >= end or done.is_set():
                return
            try:
                clients[n].ask(QUESTIONS[i % len(QUESTIONS)])
                kind = None
            except Exception as e:  # every failure is counted, by kind
                kind = f"{type(e).__name__}: {str(e)[:120]}"
            t1 = time.monotonic()
            i += 1
            if t0 < counted_from:
                continue
            with lock:
                if kind is None:
                    latencies.append(t1 - t0)
                else:
                    errors[kind] += 1
                if requests is not None and len(latencies) + sum(errors.values()) >= requests:
                    done.set()

    def sample_before() -> None:
        time.sleep(max(0.0, counted_from - time.monotonic()))
        before[0] = rss(pid)

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    threads.append(threading.Thread(target=sample_before, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counted = max(1e-9, min(time.monotonic(), end) - counted_from)
    after = rss(pid)
    for c in clients:
        c.close()
    requests = len(latencies) + sum(errors.values())
    growth = (after - before[0]) / before[0] if after and before[0] else None
    return {
        "api": api,
        "users": users,
        "seconds": round(counted, 1),
        "requests": requests,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(1000 * percentile(latencies, 0.95), 1) if latencies else None,
        "max_ms": round(1000 * max(latencies), 1) if latencies else None,
        "throughput_rps": round(len(latencies) / counted, 2),
        "rss_before_mib": round(before[0] / 2**20, 1) if before[0] else None,
        "rss_after_mib": round(after / 2**20, 1) if after else None,
        "rss_growth": round(growth, 4) if growth is not None else None,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(corpus: Path, work: Path, build_first: bool = False) -> tuple[str, subprocess.Popen[bytes]]:
    """Starts `qa serve` on a copy of `corpus` under `work`; returns its URL and process. With
    `build_first`, `qa index` builds the index in a process of its own first, so the server's peak
    memory is that of serving."""
    import httpx

    shutil.copytree(corpus, work / "corpus")
    port = _free_port()
    env = {**os.environ, "QA_HOME": str(work / "home")}
    if build_first:
        subprocess.run([sys.executable, "-m", "qa", "index", "--corpus", str(work / "corpus"), "--index",
                        str(work / "index")], check=True, stdout=subprocess.DEVNULL, env=env, cwd=work)
    proc = subprocess.Popen([sys.executable, "-m", "qa", "serve", "--port", str(port), "--corpus",
                             str(work / "corpus"), "--index", str(work / "index")],
                            stdout=subprocess.DEVNULL, stderr=(work / "server.log").open("wb"), env=env, cwd=work)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"qa serve exited ({proc.returncode}); see {work / 'server.log'}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return url, proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("qa serve did not come up")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="the running server, e.g. http://127.0.0.1:7860/")
    where.add_argument("--serve", action="store_true", help="start `qa serve` on --corpus first")
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus", help="with --serve (default ./corpus)")
    p.add_argument("--users", default="1,8,16", help="comma-separated user counts (default 1,8,16)")
    p.add_argument("--duration", type=float, default=20.0, help="counted seconds per level (default 20)")
    p.add_argument("--requests", type=int, help="end a level once this many requests are counted (default: --duration only)")
    p.add_argument("--warmup", type=float, default=3.0, help="uncounted seconds per level (default 3)")
    p.add_argument("--api", choices=sorted(USERS), default="gradio", help="which API to load (default gradio)")
    p.add_argument("--pid", type=int, help="the server's process id, to report its memory")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    counts = [int(u) for u in args.users.split(",") if u.strip()]
    proc = None
    work = None
    url, pid = args.url, args.pid
    if args.serve:
        work = Path(tempfile.mkdtemp(prefix="qa-load-"))
        url, proc = serve(args.corpus, work)
        pid = proc.pid
    try:
        levels = [level(url, n, args.duration, args.warmup, pid, args.api, args.requests) for n in counts]
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps({"url": url, "cpus": os.cpu_count(), "levels": levels}))
        return 0
    print(f"{args.api} load on {url} from pid {os.getpid()} ({os.cpu_count()} CPUs)")
    print(f"{'users':>5} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'req/s':>7} "
          f"{'RSS MiB':>15}")
    for r in levels:
        mem = f"{r['rss_before_mib']}→{r['rss_after_mib']}" if r["rss_before_mib"] else "-"
        print(f"{r['users']:>5} {r['requests']:>8} {r['errors']:>6} {r['p50_ms']!s:>8} {r['p95_ms']!s:>8} "
              f"{r['max_ms']!s:>8} {r['throughput_rps']:>7} {mem:>15}")
        for kind, n in r["error_kinds"].items():
            print(f"      {n} × {kind}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
