#!/usr/bin/env python
"""Trains the answer scorer (qa/models/scorer.py) from the bundled all-MiniLM-L6-v2, on CPU.

    nice .venv/bin/python -m qa.models.training.scorer   # the shipped run (the whole pool) -> qa/models/scorer_model/
    .venv/bin/python -m qa.models.training.scorer --limit 64 --steps 2 --out /tmp/s   # a smoke run (seconds)

What it does, deterministically (fixed seeds, one thread count, the data's and the base weights'
SHA-256 recorded):
1. reads ../shared/training/qa_train.jsonl and squad_train_more.jsonl (--data) and refuses to run if
   any row comes from the evaluation material (the eight SQuAD evaluation documents, the article): by
   title, by question id and by paragraph text, checked here, not trusted;
2. holds out HELD_OUT_DOCS whole documents (chosen by a hash of their titles, never by their
   figures) and the unanswerable questions: they calibrate and measure, they never train;
3. builds (question, answer sentence, hard negative) triplets: the sentence holding the annotated
   answer, against the sentence of the same paragraph that shares most words with the question (the
   one that restates it instead of answering), sentences split as qa splits them;
4. fine-tunes with sentence-transformers' own trainer, MultipleNegativesRankingLoss (the other
   sentences of the batch are negatives too);
5. exports the encoder to ONNX, quantises it to int8, and measures the exported model itself on
   the held-out questions, next to the bundled model; fits the logistic calibration
   P(answers | cosine) on one half of the held-out questions and reports it on the other half;
6. writes model.onnx, tokenizer.json, scorer.json (hashes, canary, calibration, settings) and
   MODEL_CARD.md into --out, atomically (a temporary folder renamed into place).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import MODEL_NAME
from qa.index.lexical import tokens
from qa.ingest.sentences import split
from qa.models.bundled import model_dir, offline_env, sha256
from qa.models.checked import logistic
from qa.models.scorer import CHECK_FILE, Scorer

#: the checkout (corpus/, ../shared beside it) and the models' package folder
ROOT = Path(__file__).resolve().parents[3]
MODELS = Path(__file__).resolve().parents[1]

SHARED = ROOT.parent / "shared"
DATA = SHARED / "training" / "qa_train.jsonl"
#: the rest of SQuAD v1.1's training set (issue 25): 82,497 questions over 428 articles
MORE = SHARED / "training" / "squad_train_more.jsonl"
#: squad_train_more.jsonl articles no model trains on: the abstention model's unseen documents
#: (qa/models/training/abstain.py), chosen by the SHA-256 of their titles
RESERVED_MORE_DOCS = 30
SQUAD = SHARED / "benchmarks" / "squad-v1.1-dev"
#: the evaluation material (SOURCE.md): never trained or tuned on
EVAL_DOCS = ("Super_Bowl_50", "Warsaw", "Normans", "Nikola_Tesla", "Computational_complexity_theory",
             "Scottish_Parliament", "Apollo_program", "Oxygen")
ARTICLE = ROOT / "corpus"
#: whole training documents kept out of training, for calibration and for choosing settings
HELD_OUT_DOCS = 6
SEED = 20261202
CANARY = ("When was the treaty renewed?", "The treaty was renewed in 1981 and again in 2001.")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, nargs="+", default=[DATA, MORE],
                    help="training files (default: the whole pool, qa_train.jsonl and squad_train_more.jsonl, "
                         "less the held-out and reserved documents, as the shipped run; the steps, not the "
                         "files, say how much of it a run reads)")
    ap.add_argument("--out", type=Path, default=MODELS / "scorer_model")
    ap.add_argument("--steps", type=int, default=0,
                    help="optimiser steps (batch --batch); 0 (the default): one pass over the triplets")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--max-seq-length", type=int, default=64)
    ap.add_argument("--freeze-layers", type=int, default=0,
                    help="the word embeddings and this many lower layers stay as bundled (default 0: every layer trained, as the shipped run; 3: a third less work a step)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                    help="bfloat16 mixed precision (fp32 weights); default: where the CPU computes bfloat16 "
                         "(AVX512-BF16 or AMX): 1.07 against 1.67 s a step of 32 with three layers frozen on a 2-core AMD EPYC "
                         "without AMX; 0.94-1.0 s with every layer trained on a 2-core Intel Xeon with AMX (issue 25)")
    ap.add_argument("--limit", type=int, default=None, help="use the first N training rows only (tests)")
    ap.add_argument("--held-out-limit", type=int, default=None, help="measure on N held-out questions only (tests)")
    return ap.parse_args(argv)


# -- data -----------------------------------------------------------------------------------------


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def assert_no_evaluation_material(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Refuses (AssertionError) any row from the eight evaluation documents or the article."""
    titles = {r["title"] for r in rows}
    assert not titles & set(EVAL_DOCS), f"evaluation documents in the training data: {titles & set(EVAL_DOCS)}"
    checked: dict[str, Any] = {"titles": sorted(EVAL_DOCS)}
    eval_questions = SQUAD / "questions_eval_docs.jsonl"
    if eval_questions.is_file():
        ids = {json.loads(line)["id"] for line in eval_questions.read_text().splitlines() if line.strip()}
        overlap = ids & {r["id"] for r in rows}
        assert not overlap, f"{len(overlap)} evaluation questions in the training data"
        checked["question_ids"] = len(ids)
    texts = [(SQUAD / "docs" / f"{d}.txt") for d in EVAL_DOCS] + sorted(ARTICLE.glob("*.txt"))
    material = "\n".join(p.read_text(encoding="utf-8") for p in texts if p.is_file())
    contexts = {r["context"] for r in rows}
    leaked = [c for c in contexts if len(c) > 40 and c[:200] in material]
    assert not leaked, f"{len(leaked)} training paragraphs appear in the evaluation documents or the article"
    checked["paragraphs_checked"] = len(contexts)
    checked["evaluation_texts"] = sum(1 for p in texts if p.is_file())
    return checked


def held_out_titles(rows: list[dict[str, Any]]) -> list[str]:
    """HELD_OUT_DOCS documents of the SQuAD dev part, by the SHA-256 of their titles."""
    dev = sorted({r["title"] for r in rows if r["source"] == "squad-v1.1-dev"})
    return sorted(dev, key=lambda t: hashlib.sha256(t.encode()).hexdigest())[:HELD_OUT_DOCS]


def sentences_of(context: str) -> list[tuple[int, int]]:
    return split(context)


def answer_sentence(spans: list[tuple[int, int]], starts: list[int]) -> int | None:
    for a in starts:
        for i, (s, e) in enumerate(spans):
            if s <= a < e:
                return i
    return None


def holds_answer(span: tuple[int, int], row: dict[str, Any]) -> bool:
    s, e = span
    return any(s <= a and a + len(t) <= e for a, t in zip(row["answer_starts"], row["answers"], strict=True))


def triplets(rows: list[dict[str, Any]], rng: random.Random) -> tuple[list[tuple[str, str, str]], int]:
    """(question, answer sentence, hard negative); the count of questions skipped (no sentence to use)."""
    by_title: dict[str, list[str]] = defaultdict(list)
    split_cache: dict[str, list[tuple[int, int]]] = {}
    for r in rows:
        if r["context"] not in split_cache:
            split_cache[r["context"]] = sentences_of(r["context"])
            by_title[r["title"]].extend(r["context"][s:e] for s, e in split_cache[r["context"]])
    out, skipped = [], 0
    for r in rows:
        spans = split_cache[r["context"]]
        i = answer_sentence(spans, r["answer_starts"])
        if i is None:
            skipped += 1
            continue
        q = set(tokens(r["question"]))
        positive = r["context"][spans[i][0] : spans[i][1]]
        others = [r["context"][s:e] for j, (s, e) in enumerate(spans) if j != i]
        if not others:  # a one-sentence paragraph: the closest sentence elsewhere in the document
            others = [t for t in rng.sample(by_title[r["title"]], min(20, len(by_title[r["title"]]))) if t != positive]
        if not others:
            skipped += 1
            continue
        negative = max(others, key=lambda t: (len(q & set(tokens(t))), -others.index(t)))
        out.append((r["question"], positive, negative))
    return out, skipped


# -- training -------------------------------------------------------------------------------------


def train(model: Any, data: list[tuple[str, str, str]], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    frozen = ("embeddings.", *(f"encoder.layer.{i}." for i in range(args.freeze_layers)))
    for name, parameter in model[0].auto_model.named_parameters():
        parameter.requires_grad = not name.startswith(frozen)

    dataset = Dataset.from_dict({"anchor": [t[0] for t in data], "positive": [t[1] for t in data],
                                 "negative": [t[2] for t in data]})
    settings = SentenceTransformerTrainingArguments(
        output_dir=str(work / "trainer"), max_steps=args.steps, per_device_train_batch_size=args.batch,
        learning_rate=args.lr, warmup_steps=max(1, args.steps // 10), lr_scheduler_type="linear",
        seed=SEED, data_seed=SEED, batch_sampler=BatchSamplers.NO_DUPLICATES, logging_steps=max(1, args.steps // 20),
        save_strategy="no", report_to="none", use_cpu=True, bf16=bool(args.bf16), dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = SentenceTransformerTrainer(model=model, args=settings, train_dataset=dataset,
                                         loss=MultipleNegativesRankingLoss(model))
    t0 = time.time()
    trainer.train()
    logs = [{"step": h["step"], "loss": round(h["loss"], 4)} for h in trainer.state.log_history if "loss" in h]
    return {"seconds": round(time.time() - t0, 1), "steps": trainer.state.global_step, "loss": logs}


def export_onnx(model: Any, folder: Path) -> None:
    """The transformer to ONNX (fp32), then int8 weights (dynamic quantisation, per channel: cosine 0.994 to fp32 against 0.962 per tensor)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    encoder = model[0].auto_model.eval()
    sample = model.tokenizer(["a question?", "a longer sentence of the text."], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"last_hidden_state": {0: "batch", 1: "tokens"}}

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state

    fp32 = folder / "fp32.onnx"
    with torch.no_grad():
        torch.onnx.export(Hidden(), tuple(sample[n] for n in names), str(fp32), input_names=names,
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False)
    quantize_dynamic(str(fp32), str(folder / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True)
    fp32.unlink()


# -- measuring ------------------------------------------------------------------------------------


def measure(encode: Any, rows: list[dict[str, Any]], all_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per held-out question, its document's sentences ranked by cosine: the answer sentence first
    among its own paragraph's sentences, and among the whole document's; plus the candidates
    (top 5 of the document) with labels, for the calibration."""
    docs: dict[str, list[tuple[str, str, tuple[int, int]]]] = defaultdict(list)
    seen: set[str] = set()
    for r in all_rows:
        if r["title"] in {x["title"] for x in rows} and r["context"] not in seen:
            seen.add(r["context"])
            docs[r["title"]].extend((r["context"], r["context"][s:e], (s, e)) for s, e in sentences_of(r["context"]))
    vectors = {t: encode([s for _, s, _ in sents]) for t, sents in docs.items()}
    qv = encode([r["question"] for r in rows])
    paragraph_hits = document_hits = answerable = 0
    pairs: list[tuple[int, float, bool]] = []  # (question number, cosine, holds the answer)
    for n, r in enumerate(rows):
        sents, cos = docs[r["title"]], vectors[r["title"]] @ qv[n]
        labels = [ctx == r["context"] and not r["is_impossible"] and holds_answer(span, r) for ctx, _, span in sents]
        order = np.argsort(-cos)
        for j in order[:5]:
            pairs.append((n, float(cos[j]), bool(labels[j])))
        if r["is_impossible"] or not any(labels):
            continue
        answerable += 1
        document_hits += labels[int(order[0])]
        own = [j for j, (ctx, _, _) in enumerate(sents) if ctx == r["context"]]
        paragraph_hits += labels[max(own, key=lambda j: cos[j])]
    return {"answerable": answerable, "paragraph@1": round(paragraph_hits / max(1, answerable), 4),
            "document@1": round(document_hits / max(1, answerable), 4), "pairs": pairs}


def write_atomically(path: Path, text: str) -> None:
    """`text` into `path` by a temporary file beside it, renamed into place."""
    staged = path.with_name(path.name + ".tmp")
    staged.write_text(text, encoding="utf-8")
    staged.replace(path)


def calibrate(pairs: list[tuple[int, float, bool]]) -> dict[str, Any]:
    """Logistic P(answers | cosine), fitted on the even-numbered questions, judged on the odd ones."""
    fit = np.array([(c, y) for n, c, y in pairs if n % 2 == 0], dtype=np.float64).reshape(-1, 2)
    check = np.array([(c, y) for n, c, y in pairs if n % 2 == 1], dtype=np.float64).reshape(-1, 2)
    a, b = 1.0, 0.0
    x, y = fit[:, 0], fit[:, 1]

    def loss(a: float, b: float) -> float:  # the negative log-likelihood, with the ridge on a
        z = a * x + b
        return float((np.logaddexp(0.0, z) - y * z).sum() + 5e-4 * a * a)

    for _ in range(100):  # Newton's method, with a little ridge so a tiny smoke set still converges
        p = logistic(x, a, b)
        g = np.array([((p - y) * x).sum() + 1e-3 * a, (p - y).sum()])
        w = p * (1 - p)
        h = np.array([[(w * x * x).sum() + 1e-3, (w * x).sum()], [(w * x).sum(), w.sum() + 1e-9]])
        step = np.linalg.solve(h, g)
        # halved until the fit improves: a full step from far off (a figure such as log P(span),
        # bunched near 0 with a long tail) overshoots and diverges
        t, before = 1.0, loss(a, b)
        while t > 1e-6 and not loss(a - t * step[0], b - t * step[1]) <= before:
            t /= 2
        a, b = a - t * step[0], b - t * step[1]
        if np.abs(t * step).max() < 1e-8:
            break
    p = logistic(check[:, 0], a, b) if len(check) else np.zeros(0)
    bins = np.minimum((p * 10).astype(int), 9)
    ece = sum(abs(p[bins == k].mean() - check[bins == k, 1].mean()) * (bins == k).sum() for k in range(10)
              if (bins == k).any()) / max(1, len(p))
    return {"a": round(float(a), 6), "b": round(float(b), 6), "fitted_pairs": len(fit), "checked_pairs": len(check),
            "check_brier": round(float(((p - check[:, 1]) ** 2).mean()) if len(p) else 0.0, 4),
            "check_ece": round(float(ece), 4), "check_positive_share": round(float(check[:, 1].mean()) if len(p) else 0.0, 4)}


def seeded(threads: int) -> None:
    """Offline, every seed fixed, deterministic kernels on `threads` torch threads."""
    offline_env()
    random.seed(SEED)
    np.random.seed(SEED)
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bfloat16 itself (AVX512-BF16 or AMX): there the scorer's short inputs
    train 1.6x faster in bfloat16 mixed precision; elsewhere torch emulates it, slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def hardware() -> str:
    """The CPU a run trained on (its model name, torch threads and version), for its model card."""
    import platform

    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return f"{cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def reserved_titles(more_titles: set[str] | list[str], n: int = RESERVED_MORE_DOCS) -> list[str]:
    """The `n` squad_train_more.jsonl articles kept for the abstention model, by the SHA-256 of their titles."""
    return sorted(more_titles, key=lambda t: hashlib.sha256(t.encode()).hexdigest())[:n]


def data_split(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any], list[str], list[dict[str, Any]], list[dict[str, Any]]]:
    """All rows (evaluation material refused), what was checked, the held-out titles, the training
    rows (answerable, not held out; the first --limit) and the held-out rows (the held-out documents
    and every unanswerable question; --held-out-limit of them, half of each kind). --data is one file
    or several; of squad_train_more.jsonl, RESERVED_MORE_DOCS articles are neither trained on nor
    measured here (`args.reserved` names them after the call)."""
    paths = args.data if isinstance(args.data, list | tuple) else [args.data]
    per_file = {p: read_rows(p) for p in paths}
    rows = [r for p in paths for r in per_file[p]]
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids), "a question id is in the data twice"
    checked = assert_no_evaluation_material(rows)
    held = held_out_titles(rows)
    more = {r["title"] for p in paths if p.name == MORE.name for r in per_file[p]}
    args.reserved = reserved_titles(more) if more else []
    kept_out = set(held) | set(args.reserved)
    train_rows = [r for r in rows if r["title"] not in kept_out and not r["is_impossible"]]
    held_rows = [r for r in rows if r["title"] in held or r["is_impossible"]]
    if args.limit:
        train_rows = train_rows[: args.limit]
    if args.held_out_limit:
        answerable = [r for r in held_rows if not r["is_impossible"]]
        held_rows = answerable[: args.held_out_limit // 2] + [r for r in held_rows if r["is_impossible"]][: args.held_out_limit // 2]
    return rows, checked, held, train_rows, held_rows


def ship(built: Path, out: Path) -> None:
    """Puts the folder `built` at `out`: copied beside it first, then renamed into place, the old one
    moved aside before and removed after, so `out` is never a half-written model."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staged, old = out.with_name(out.name + ".new"), out.with_name(out.name + ".old")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    shutil.copytree(built, staged)
    if out.exists():
        os.replace(out, old)
    os.replace(staged, out)
    shutil.rmtree(old, ignore_errors=True)


# -- main -----------------------------------------------------------------------------------------


def frozen_text(layers: int) -> str:
    """What the card says stayed as bundled: the word embeddings, and the lower layers if any."""
    return f"word embeddings and layers 0-{layers - 1}" if layers else "word embeddings only"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.bf16 is None:
        args.bf16 = cpu_has_bf16()
    t0 = time.time()
    rows, checked, held, train_rows, held_rows = data_split(args)  # evaluation material refused before torch loads
    seeded(args.threads)
    from sentence_transformers import SentenceTransformer

    data, skipped = triplets(train_rows, random.Random(SEED))
    if args.steps <= 0:  # one pass over the triplets
        args.steps = max(1, -(-len(data) // args.batch))
    print(f"train_scorer: {len(data)} triplets from {len(train_rows)} questions ({skipped} skipped); "
          f"held out {len(held_rows)} questions ({', '.join(held)} and the unanswerable)", flush=True)

    base_dir = model_dir()
    model = SentenceTransformer(str(base_dir), device="cpu", local_files_only=True)
    model.max_seq_length = args.max_seq_length
    base = measure(lambda t: model.encode(t, batch_size=64, normalize_embeddings=True), held_rows, rows)
    with tempfile.TemporaryDirectory(prefix="train-scorer-") as tmp:
        work = Path(tmp)
        run = train(model, data, args, work)
        fp32 = measure(lambda t: model.encode(t, batch_size=64, normalize_embeddings=True), held_rows, rows)
        fp32.pop("pairs")
        print(f"train_scorer: {run['steps']} steps in {run['seconds']} s, loss {run['loss'][0]['loss']} -> "
              f"{run['loss'][-1]['loss']}", flush=True)
        out = work / "model"
        out.mkdir()
        export_onnx(model, out)
        shutil.copy(base_dir / "tokenizer.json", out / "tokenizer.json")
        card: dict[str, Any] = {"model": "qa answer scorer (fine-tuned all-MiniLM-L6-v2, int8 ONNX)",
                                "max_seq_length": args.max_seq_length,
                                "files": {n: sha256(out / n) for n in ("model.onnx", "tokenizer.json")},
                                "calibration": {"a": 1.0, "b": 0.0}, "canary": {"question": CANARY[0], "sentence": CANARY[1], "cosine": 0.0}}
        (out / CHECK_FILE).write_text(json.dumps(card))
        shipped = Scorer(out, threads=args.threads, verify=False)
        tuned = measure(shipped.encode, held_rows, rows)
        calibration = calibrate(tuned.pop("pairs"))
        base.pop("pairs")
        cosine = float(shipped.encode([CANARY[0]])[0] @ shipped.encode([CANARY[1]])[0])
        card["calibration"] = {k: calibration[k] for k in ("a", "b")}
        card["canary"]["cosine"] = round(cosine, 6)
        card["training"] = {
            # one file: its name and hash (as the shipped card has them); several: a list and a hash each
            "data": args.data[0].name if len(args.data) == 1 else [p.name for p in args.data],
            "data_sha256": sha256(args.data[0]) if len(args.data) == 1 else {p.name: sha256(p) for p in args.data},
            "base_model": MODEL_NAME, "base_weights_sha256": sha256(base_dir / "model.safetensors"),
            "seed": SEED, "steps": run["steps"], "bf16": bool(args.bf16), "hardware": hardware(), "frozen": frozen_text(args.freeze_layers), "batch": args.batch, "lr": args.lr, "threads": args.threads,
            "max_seq_length": args.max_seq_length, "loss": "MultipleNegativesRankingLoss (in-batch + 1 hard negative)",
            "triplets": len(data), "skipped": skipped, "train_questions": len(train_rows), "limit": args.limit,
            "held_out_documents": held, "held_out_questions": len(held_rows), "reserved_documents": args.reserved,
            "excluded_and_checked": checked, "seconds": run["seconds"], "loss_log": run["loss"],
        }
        card["evaluation"] = {"bundled": base, "scorer": tuned, "scorer_fp32_before_export": fp32, "calibration": calibration,
                              "model_bytes": (out / "model.onnx").stat().st_size}
        (out / CHECK_FILE).write_text(json.dumps(card, indent=1) + "\n")
        (out / "MODEL_CARD.md").write_text(model_card(card))
        Scorer(out).warm_up()  # what ships passes its own self-check
        ship(out, args.out)
    size = (args.out / "model.onnx").stat().st_size / 1e6
    print(f"train_scorer: wrote {args.out} ({size:.1f} MB) in {time.time() - t0:.0f} s; held-out answer sentence "
          f"in its paragraph {base['paragraph@1']} -> {tuned['paragraph@1']}, in its document "
          f"{base['document@1']} -> {tuned['document@1']}", flush=True)
    return 0


def _files(t: dict[str, Any]) -> str:
    """The training files and their hashes, for the card."""
    if isinstance(t["data"], str):
        return f"`{t['data']}` (SHA-256 `{t['data_sha256']}`)"
    return ", ".join(f"`{name}` (SHA-256 `{t['data_sha256'][name]}`)" for name in t["data"])


def _reserved(t: dict[str, Any]) -> str:
    """The squad_train_more.jsonl articles kept for the abstention model, for the card."""
    if not t.get("reserved_documents"):
        return ""
    return (f" Reserved for the abstention model, neither trained on nor measured here: {len(t['reserved_documents'])} "
            "articles of squad_train_more.jsonl (the first by the SHA-256 of their titles).")


def model_card(card: dict[str, Any]) -> str:
    t, e = card["training"], card["evaluation"]
    c = e["calibration"]
    losses = ", ".join(f"{x['step']}: {x['loss']}" for x in t["loss_log"])
    return f"""# The answer scorer

Written by `qa/models/training/scorer.py` (do not edit by hand; rerun the script).

- **What**: all-MiniLM-L6-v2 ({t['base_model']}, weights SHA-256 `{t['base_weights_sha256']}`), fine-tuned as a
  bi-encoder that places a question next to the sentence that answers it; exported to ONNX with int8
  weights ({e['model_bytes'] / 1e6:.1f} MB); mean pooling, L2-normalised, inputs cut at {t['max_seq_length']} tokens.
- **Data**: {_files(t)}: {t['train_questions']} questions, {t['triplets']}
  (question, answer sentence, hard negative) triplets ({t['skipped']} questions skipped: no sentence holds the
  answer start). Hard negative: the sentence of the same paragraph sharing most words with the question.
- **Never seen**: the evaluation documents {', '.join(t['excluded_and_checked']['titles'])} and the article
  (checked by title, question id and paragraph text: {t['excluded_and_checked']['paragraphs_checked']} paragraphs
  against {t['excluded_and_checked']['evaluation_texts']} evaluation texts). Held out for measuring and
  calibration: {', '.join(t['held_out_documents'])} and every unanswerable question ({t['held_out_questions']} questions).{_reserved(t)}
- **Settings**: {t['steps']} steps, batch {t['batch']}, lr {t['lr']} (linear, 10% warm-up), MultipleNegativesRankingLoss,
  kept as bundled (not trained): {t['frozen']},
  {"bfloat16 mixed precision (fp32 weights)" if t.get("bf16") else "fp32"}, seed {t['seed']}, {t['threads']} torch threads,
  {t['seconds']} s of training{f" on {t['hardware']}" if t.get("hardware") else ""}.
- **Loss** (step: loss): {losses}

## Held-out figures (the exported int8 model itself)

| answer sentence ranked first, by cosine alone | bundled MiniLM | scorer (fp32, before export) | scorer (int8, shipped) |
|---|---|---|---|
| among its paragraph's sentences ({e['scorer']['answerable']} questions) | {e['bundled']['paragraph@1']} | {e['scorer_fp32_before_export']['paragraph@1']} | {e['scorer']['paragraph@1']} |
| among its whole document's sentences | {e['bundled']['document@1']} | {e['scorer_fp32_before_export']['document@1']} | {e['scorer']['document@1']} |

Calibration, P(answers) = 1 / (1 + exp(-({c['a']} x cosine + {c['b']}))), fitted on the top-5 sentences of
the even-numbered held-out questions ({c['fitted_pairs']} pairs), judged on the odd ones ({c['checked_pairs']}
pairs, {c['check_positive_share']} of them answer): Brier score {c['check_brier']}, expected calibration error {c['check_ece']}.

Canary: cosine {card['canary']['cosine']} between "{card['canary']['question']}" and "{card['canary']['sentence']}".
"""


if __name__ == "__main__":
    raise SystemExit(main())
