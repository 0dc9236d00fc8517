#!/usr/bin/env python
"""Trains the span model (qa/models/span.py), a start/end reader made from the bundled all-MiniLM-L6-v2, on CPU.

    nice .venv/bin/python -m qa.models.training.span              # the shipped run: one whole pass over the pool
                                                                  # (2,934 steps, 55 minutes here) -> qa/models/span_model/
    .venv/bin/python -m qa.models.training.span --limit 64 --steps 2 --held-out-limit 20 --out /tmp/s   # a smoke run

It reads "[CLS] question [SEP] sentence [SEP]", the sentence that holds the annotated answer (split as
qa splits sentences), and learns which of the sentence's tokens the answer starts and ends at: the
short answer inside the quote that qa gives.

What it does, deterministically (fixed seeds, one thread count, the data's and the base weights'
SHA-256 recorded), with the data rules of the scorer's script (qa/models/training/scorer.py: the same
refusal of evaluation material by title, question id and paragraph text, the same held-out documents,
chosen by a hash of their titles):
1. reads the whole training pool (--data: qa_train.jsonl and squad_train_more.jsonl), keeps each
   answerable question of a document not held out, with the sentence holding its (first) annotated
   answer; an answer that runs across a sentence boundary, or past the input's --max-seq-length
   tokens, is skipped and counted;
2. fine-tunes the first --layers of the bundled weights with a new start/end head (a plain torch loop:
   cross-entropy of the start and of the end over the sentence's tokens, AdamW, linear decay after a
   10% warm-up, batches of similar length, fp32: bfloat16 autocast, --bf16, was slower on this CPU);
3. exports to ONNX with int8 weights and measures the exported model itself on the held-out
   documents' questions: exact match and F1 of its span against every annotated answer (SQuAD's
   normalisation, qa.models.spanscore), each question read with the sentence holding its answer;
4. calibrates, on one half of the held-out questions (judged on the other), P(the span is right,
   F1 >= 0.5 | the span's log-probability), and chooses the no-span rule on the held-out questions:
   the question kinds whose spans are mostly wrong there, the least confidence, the largest share
   of the sentence (see RULE below); writes model.onnx, tokenizer.json, span.json and MODEL_CARD.md
   into --out atomically.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import MODEL_NAME
from qa.models import wordpieces
from qa.models.bundled import model_dir, sha256
from qa.models.checked import logistic
from qa.models.span import CHECK_FILE, MAX_SPAN_TOKENS, SpanModel, encode, kind
from qa.models.spanscore import exact_match, f1
from qa.models.training.scorer import (
    CANARY,
    MODELS,
    SEED,
    SHARED,
    assert_no_evaluation_material,
    calibrate,
    hardware,
    held_out_titles,
    read_rows,
    reserved_titles,
    seeded,
    sentences_of,
    ship,
    write_atomically,
)

DATA = (SHARED / "training" / "qa_train.jsonl", SHARED / "training" / "squad_train_more.jsonl")
#: the no-span rule's choices (on held-out questions only): a question kind gets spans only when its
#: held-out spans are right (F1 >= 0.5) at least KIND_RIGHT of the time (more often right than
#: wrong) over at least KIND_MIN questions (a kind seldom seen there, yes/no questions among them,
#: has no evidence for it); a span is given when its calibrated confidence is at least
#: MIN_CONFIDENCE (more likely right than wrong) and it covers at most MAX_SHARE of the sentence
#: (more is not a short answer)
RULE = {"kind_right": 0.5, "kind_min": 15, "min_confidence": 0.5, "max_share": 0.6}
ALWAYS_NO_SPAN = ("why",)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, nargs="+", default=list(DATA))
    ap.add_argument("--out", type=Path, default=MODELS / "span_model")
    ap.add_argument("--layers", type=int, default=6,
                    help="the first N of the bundled model's six layers (the shipped run: all six, all trained; three "
                         "layers cost about 0.7x a step of six with the lower three frozen, 0.46 s against 0.63-0.70, and gave "
                         "held-out F1 0.764 against 0.775)")
    ap.add_argument("--steps", type=int, default=0,
                    help="optimiser steps (0, the shipped run: --epochs passes over the training questions; one pass is "
                         "2,934 steps of 32, ~3,000 s of training with the default six layers, all trained, on this 2-core CPU; "
                         "see the card and docs/quality.md)")
    ap.add_argument("--epochs", type=float, default=1.0, help="with --steps 0: passes over the training questions")
    ap.add_argument("--batch", type=int, default=32, help="questions a step")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--max-seq-length", type=int, default=96, help="tokens an input is cut at (the sentence's end is cut)")
    ap.add_argument("--freeze-embeddings", action=argparse.BooleanOptionalAction, default=True,
                    help="the word embeddings stay as bundled (11.7M of the 22.7M weights; their update costs a step)")
    ap.add_argument("--freeze-layers", type=int, default=0,
                    help="this many lower layers stay as bundled too (no backward pass through them): 3 costs 0.7x a "
                         "step and gave held-out F1 0.775 against all six trained's 0.852 (docs/quality.md)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=False,
                    help="bfloat16 autocast, the weights staying fp32 (off: on this AVX512-BF16 CPU it cost 5.87 CPU-s "
                         "a step of six layers against fp32's 4.79; see the card)")
    ap.add_argument("--limit", type=int, default=None, help="use the first N training rows only (tests)")
    ap.add_argument("--held-out-limit", type=int, default=None, help="measure on N held-out questions only (tests)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="also save the trained fp32 torch weights in this folder (never committed), for a later "
                         "run's --init")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from the weights an earlier run saved with --keep instead of the bundled model (a "
                         "second pass: training goes on, with a schedule of its own; the card records it)")
    ap.add_argument("--time-steps", type=int, default=0, help="only time N steps and print the seconds a step (choosing settings)")
    ap.add_argument("--card-only", action="store_true", help="only write --out's MODEL_CARD.md again from its span.json")
    ap.add_argument("--measure-only", action="store_true",
                    help="only measure --out's model again on the held-out questions and choose its calibration and "
                         "no-span rule again (after a change to how a span is read, or to RULE); its weights stay")
    return ap.parse_args(argv)


# -- data -----------------------------------------------------------------------------------------


def pool(paths: list[Path]) -> tuple[list[dict[str, Any]], dict[str, Any], list[str], list[str]]:
    """Every row of the data files (evaluation material refused), what was checked, the held-out titles,
    and the articles of squad_train_more.jsonl the scorer and the reader keep for the abstention
    model: kept from this one too, since that model is fitted on what the answer step, this model with
    it, does with documents none of them trained on (qa/models/training/abstain.py)."""
    per_file = {p: read_rows(p) for p in paths}
    rows = [r for p in paths for r in per_file[p]]
    more = {r["title"] for p in paths if p.name == DATA[1].name for r in per_file[p]}
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids), "a question id is in the data twice"
    return rows, assert_no_evaluation_material(rows), held_out_titles(rows), reserved_titles(more) if more else []


def answer_in_sentence(row: dict[str, Any], spans: list[tuple[int, int]]) -> tuple[int, int, int] | None:
    """(sentence number, answer start, answer end in the sentence) of the first annotated answer that
    lies inside one sentence; None when every one runs across a sentence boundary."""
    for a, text in zip(row["answer_starts"], row["answers"], strict=True):
        for n, (s, e) in enumerate(spans):
            if s <= a and a + len(text) <= e:
                return n, a - s, a - s + len(text)
    return None


def token_span(offsets: list[tuple[int, int]], a: int, b: int) -> tuple[int, int] | None:
    """The first and last token covering characters [a, b) of the text; None when cut off."""
    inside = [i for i, (s, e) in enumerate(offsets) if s < b and e > a]
    return (inside[0], inside[-1]) if inside and offsets[inside[-1]][1] >= b else None


def examples(rows: list[dict[str, Any]], tokenizer: Any, max_length: int) -> tuple[list[tuple[list[int], list[int], int, int, int]], dict[str, int]]:
    """(ids, token types, first text token, answer's first token, answer's last token) per usable
    question, and the counts of those skipped: answers across a sentence boundary, cut off."""
    split: dict[str, list[tuple[int, int]]] = {}
    out: list[tuple[list[int], list[int], int, int, int]] = []
    skipped = {"across_sentences": 0, "cut_off": 0}
    for r in rows:
        spans = split.setdefault(r["context"], sentences_of(r["context"]))
        found = answer_in_sentence(r, spans)
        if found is None:
            skipped["across_sentences"] += 1
            continue
        n, a, b = found
        s, e = spans[n]
        enc = encode(tokenizer, r["question"], r["context"][s:e], max_length)
        tokens = token_span(enc.offsets, a, b)
        if tokens is None:
            skipped["cut_off"] += 1
            continue
        out.append((enc.ids, enc.types, enc.first, enc.first + tokens[0], enc.first + tokens[1]))
    return out, skipped


def batches(data: list[Any], size: int, rng: random.Random) -> list[list[int]]:
    """Indices of `data` in batches of `size`: shuffled, then sorted by length within pools of 50
    batches (little padding), the batches shuffled again."""
    order = list(range(len(data)))
    rng.shuffle(order)
    out: list[list[int]] = []
    pool_size = size * 50
    for p in range(0, len(order), pool_size):
        chunk = sorted(order[p : p + pool_size], key=lambda i: len(data[i][0]))
        out.extend(chunk[k : k + size] for k in range(0, len(chunk), size))
    rng.shuffle(out)
    return out


# -- training -------------------------------------------------------------------------------------


def build(args: argparse.Namespace) -> Any:
    from transformers import AutoModelForQuestionAnswering

    start = args.init if args.init else model_dir()
    model = AutoModelForQuestionAnswering.from_pretrained(str(start), num_hidden_layers=args.layers, local_files_only=True)
    if args.freeze_embeddings or args.freeze_layers:
        model.bert.embeddings.word_embeddings.weight.requires_grad = False
    if args.freeze_layers:
        for p in (*model.bert.embeddings.parameters(), *model.bert.encoder.layer[: args.freeze_layers].parameters()):
            p.requires_grad = False
    return model


def tensors(data: list[Any], batch: list[int]) -> tuple[Any, ...]:
    import torch

    width = max(len(data[i][0]) for i in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    text = torch.zeros((len(batch), width), dtype=torch.bool)  # the positions a span may use
    for row, i in enumerate(batch):
        tok, typ, first = data[i][0], data[i][1], data[i][2]
        n = len(tok)
        ids[row, :n] = torch.tensor(tok)
        types[row, :n] = torch.tensor(typ)
        mask[row, :n] = 1
        text[row, first : n - 1] = True
    starts = torch.tensor([data[i][3] for i in batch])
    ends = torch.tensor([data[i][4] for i in batch])
    return ids, types, mask, text, starts, ends


def order_seed(args: argparse.Namespace) -> int:
    """The seed of the order the questions are read in: a pass going on from an earlier run's
    weights (--init) reads them in another order than the first pass did."""
    return SEED + 1 if args.init else SEED


def train(model: Any, data: list[Any], args: argparse.Namespace) -> dict[str, Any]:
    import contextlib

    import torch

    rng = random.Random(order_seed(args))
    steps = args.steps or math.ceil(args.epochs * len(data) / args.batch)
    order: list[list[int]] = []
    while len(order) < steps:
        order.extend(batches(data, args.batch, rng))
    order = order[:steps]
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    warm = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))
    model.train()
    logs: list[dict[str, Any]] = []
    every = max(1, steps // 40)
    running, seen, t0 = 0.0, 0, time.time()
    times: list[float] = []
    cpu: list[float] = []
    for step, batch in enumerate(order, 1):
        t1, c1 = time.time(), time.process_time()
        ids, types, mask, text, starts, ends = tensors(data, batch)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()
        with autocast:
            out = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
        start = out.start_logits.float().masked_fill(~text, -1e4)
        end = out.end_logits.float().masked_fill(~text, -1e4)
        loss = (torch.nn.functional.cross_entropy(start, starts) + torch.nn.functional.cross_entropy(end, ends)) / 2
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad(set_to_none=True)
        running, seen = running + float(loss.detach()), seen + 1
        times.append(time.time() - t1)
        cpu.append(time.process_time() - c1)
        if step % every == 0 or step == steps:
            logs.append({"step": step, "loss": round(running / seen, 4)})
            running, seen = 0.0, 0
            print(f"train_span: step {step}/{steps}, loss {logs[-1]['loss']}, {time.time() - t0:.0f} s", flush=True)
    model.eval()
    return {"seconds": round(time.time() - t0, 1), "steps": steps, "loss": logs,
            "step_seconds": round(float(np.median(times[2:] or times)), 3),
            "step_cpu_seconds": round(float(np.median(cpu[2:] or cpu)), 3)}


def export_onnx(model: Any, tokenizer: Any, folder: Path) -> None:
    """The start/end reader to ONNX (fp32), then int8 weights (dynamic, per channel)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    enc = encode(tokenizer, "a question?", "a longer sentence of the text.", 32)
    sample = (torch.tensor([enc.ids]), torch.ones((1, len(enc.ids)), dtype=torch.long), torch.tensor([enc.types]))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {o: {0: "batch", 1: "tokens"} for o in ("start_logits", "end_logits")}

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.network(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.start_logits, out.end_logits

    fp32 = folder / "fp32.onnx"
    with torch.no_grad():
        torch.onnx.export(Logits(), sample, str(fp32), input_names=names, output_names=["start_logits", "end_logits"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    quantize_dynamic(str(fp32), str(folder / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True)
    fp32.unlink()


# -- measuring ------------------------------------------------------------------------------------


def measure(model: SpanModel, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per held-out answerable question, read with the sentence holding its (first) answer: the span
    found, its log-probability, share, kind, exact match and F1 against every annotated answer that
    lies in that sentence."""
    out = []
    split: dict[str, list[tuple[int, int]]] = {}
    for r in rows:
        if r["is_impossible"]:
            continue
        spans = split.setdefault(r["context"], sentences_of(r["context"]))
        found = answer_in_sentence(r, spans)
        if found is None:
            continue
        s, e = spans[found[0]]
        sentence = r["context"][s:e]
        answers = [t for a, t in zip(r["answer_starts"], r["answers"], strict=True) if s <= a and a + len(t) <= e]
        got = model.find(r["question"], sentence)
        text = "" if got is None else sentence[got.start : got.end]
        out.append({"kind": kind(r["question"]), "logp": math.log(max(got.probability, 1e-12)) if got else -30.0,
                    "share": got.share if got else 1.0, "em": exact_match(text, answers), "f1": f1(text, answers),
                    "gold_share": len(answers[0]) / max(1, len(sentence.strip()))})
    return out


def figures(measured: list[dict[str, Any]], keep: list[bool] | None = None) -> dict[str, Any]:
    """Exact match and F1 over all questions (a question given no span counts 0), the share given a
    span, and EM and F1 over those."""
    keep = keep if keep is not None else [True] * len(measured)
    n, shown = len(measured), [m for m, k in zip(measured, keep, strict=True) if k]
    return {"questions": n, "em": round(sum(m["em"] for m in shown) / max(1, n), 4),
            "f1": round(sum(m["f1"] for m in shown) / max(1, n), 4), "given": round(len(shown) / max(1, n), 4),
            "em_given": round(sum(m["em"] for m in shown) / max(1, len(shown)), 4),
            "f1_given": round(sum(m["f1"] for m in shown) / max(1, len(shown)), 4)}


def choose_rule(measured: list[dict[str, Any]], a: float, b: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The no-span rule (RULE's choices, applied to the held-out figures) and each kind's figures."""
    kinds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in measured:
        kinds[m["kind"]].append(m)
    table = {k: {"questions": len(v), "right": round(sum(m["f1"] >= 0.5 for m in v) / len(v), 4),
                 "f1": round(sum(m["f1"] for m in v) / len(v), 4), "share": round(float(np.median([m["share"] for m in v])), 4)}
             for k, v in sorted(kinds.items())}
    allowed = sorted(k for k, t in table.items() if k not in ALWAYS_NO_SPAN
                     and t["questions"] >= RULE["kind_min"] and t["right"] >= RULE["kind_right"])
    refused = sorted((set(table) | set(ALWAYS_NO_SPAN) | {"other"}) - set(allowed))
    rule = {"span_kinds": allowed, "no_span_kinds": refused, "min_confidence": RULE["min_confidence"],
            "max_share": RULE["max_share"]}
    return rule, table


def decide(card: dict[str, Any], measured: list[dict[str, Any]]) -> None:
    """Fits the calibration and chooses the no-span rule from the held-out measurements, into `card`."""
    calibration = calibrate([(n, m["logp"], m["f1"] >= 0.5) for n, m in enumerate(measured)])
    a, b = calibration["a"], calibration["b"]
    rule, kinds = choose_rule(measured, a, b)
    keep = [applies(rule, m, a, b) for m in measured]
    card["calibration"] = {"a": a, "b": b}
    card["rule"] = rule
    # what other least confidences would give (all held-out questions; the kinds and share as chosen)
    tradeoff = {str(c): figures(measured, [applies(rule | {"min_confidence": c}, m, a, b) for m in measured])
                for c in (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)}
    long_gold = sum(m.get("gold_share", 0.0) > rule["max_share"] for m in measured) / max(1, len(measured))
    card.setdefault("evaluation", {}).update({
        "all": figures(measured), "with_rule": figures(measured, keep), "kinds": kinds, "calibration": calibration,
        "rule_choices": RULE, "tradeoff": tradeoff, "gold_longer_than_max_share": round(long_gold, 4)})


def applies(rule: dict[str, Any], m: dict[str, Any], a: float, b: float) -> bool:
    with np.errstate(over="ignore"):
        confidence = float(logistic(np.asarray(m["logp"]), a, b))
    return (m["kind"] in rule["span_kinds"] and confidence >= rule["min_confidence"]
            and m["share"] <= rule["max_share"])


# -- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    card: dict[str, Any]
    if args.card_only:
        write_atomically(args.out / "MODEL_CARD.md", model_card(json.loads((args.out / CHECK_FILE).read_text())))
        return 0
    if args.measure_only:
        return measure_again(args)
    t0 = time.time()
    rows, checked, held, reserved = pool(args.data)  # evaluation material refused before torch loads
    seeded(args.threads)
    kept_out = set(held) | set(reserved)
    train_rows = [r for r in rows if r["title"] not in kept_out and not r["is_impossible"]]
    held_rows = [r for r in rows if r["title"] in held and not r["is_impossible"]]
    if args.limit:
        train_rows = train_rows[: args.limit]
    if args.held_out_limit:
        held_rows = held_rows[: args.held_out_limit]
    base_dir = model_dir()
    tokenizer = wordpieces.shared(base_dir / "tokenizer.json")
    data, skipped = examples(train_rows, tokenizer, args.max_seq_length)
    lengths = np.array([len(d[0]) for d in data])
    print(f"train_span: {len(data)} questions of {len(train_rows)} ({skipped}); held out {len(held_rows)} "
          f"({', '.join(held)}); input tokens median {np.median(lengths):.0f}, 99th percentile "
          f"{np.percentile(lengths, 99):.0f}, at the cut {float((lengths >= args.max_seq_length).mean()):.4f}", flush=True)
    if args.init and not (args.init / "model.safetensors").is_file():
        raise SystemExit(f"train_span: --init {args.init} holds no model.safetensors (an earlier run's --keep)")
    model = build(args)
    if args.time_steps:
        args.steps = args.time_steps
        run = train(model, data, args)
        print(f"train_span: median {run['step_seconds']:.2f} s ({run['step_cpu_seconds']:.2f} CPU-s) a step of {args.batch} (layers {args.layers}, "
              f"bf16 {args.bf16}, max {args.max_seq_length} tokens, frozen embeddings {args.freeze_embeddings}, "
              f"frozen layers {args.freeze_layers})", flush=True)
        return 0
    with tempfile.TemporaryDirectory(prefix="train-span-") as tmp:
        run = train(model, data, args)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            model.save_pretrained(str(args.keep))  # fp32 safetensors and config, for --init
        out = Path(tmp) / "model"
        out.mkdir()
        export_onnx(model, tokenizer, out)
        shutil.copy(base_dir / "tokenizer.json", out / "tokenizer.json")
        card = {
            "model": f"qa span model (start/end reader, first {args.layers} layers of all-MiniLM-L6-v2, int8 ONNX)",
            "max_seq_length": args.max_seq_length, "max_span_tokens": MAX_SPAN_TOKENS,
            "files": {n: sha256(out / n) for n in ("model.onnx", "tokenizer.json")},
            "calibration": {"a": 1.0, "b": 0.0}, "canary": {"question": CANARY[0], "sentence": CANARY[1], "score": 0.0},
            "rule": {"no_span_kinds": [], "min_confidence": 0.0, "max_share": 1.0}}
        (out / CHECK_FILE).write_text(json.dumps(card))
        shipped = SpanModel(out, threads=args.threads, verify=False)
        card["evaluation"] = {"model_bytes": (out / "model.onnx").stat().st_size}
        measured = measure(shipped, held_rows)
        decide(card, measured)
        found = shipped.find(*CANARY)
        assert found is not None
        card["canary"]["score"] = round(found.score, 6)
        card["canary"]["span"] = CANARY[1][found.start : found.end]
        card["training"] = {
            "data": [p.name for p in args.data], "data_sha256": {p.name: sha256(p) for p in args.data},
            "base_model": MODEL_NAME, "base_weights_sha256": sha256(base_dir / "model.safetensors"),
            "layers": args.layers, "seed": SEED, "steps": run["steps"], "batch": args.batch, "lr": args.lr,
            "epochs": round(run["steps"] * args.batch / max(1, len(data)), 3), "threads": args.threads, "bf16": args.bf16,
            "max_seq_length": args.max_seq_length, "frozen_word_embeddings": args.freeze_embeddings,
            "freeze_layers": args.freeze_layers, "epochs_asked": args.epochs,
            "step_seconds": run["step_seconds"], "step_cpu_seconds": run["step_cpu_seconds"],
            "questions": len(data), "skipped": skipped, "train_questions": len(train_rows), "limit": args.limit,
            "input_tokens": {"median": float(np.median(lengths)), "p99": float(np.percentile(lengths, 99))},
            "held_out_documents": held, "held_out_questions": len(measured), "reserved_documents": reserved,
            "excluded_and_checked": checked, "seconds": run["seconds"], "loss_log": run["loss"],
            "hardware": hardware(),
        }
        if args.init:
            card["training"]["init"] = {"folder": str(args.init), "weights_sha256": sha256(args.init / "model.safetensors"),
                                        "order_seed": order_seed(args)}
        (out / CHECK_FILE).write_text(json.dumps(card, indent=1) + "\n")
        (out / "MODEL_CARD.md").write_text(model_card(card))
        SpanModel(out).warm_up()  # what ships passes its own self-check
        ship(out, args.out)
    e = card["evaluation"]
    print(f"train_span: wrote {args.out} ({(args.out / 'model.onnx').stat().st_size / 1e6:.1f} MB) in {time.time() - t0:.0f} s; "
          f"held-out EM {e['all']['em']} F1 {e['all']['f1']}; with the no-span rule, a span for {e['with_rule']['given']}, "
          f"EM {e['with_rule']['em_given']} F1 {e['with_rule']['f1_given']} of those", flush=True)
    return 0


def measure_again(args: argparse.Namespace) -> int:
    """--measure-only: the model in --out measured again on the held-out questions, its calibration and
    rule chosen again, span.json and MODEL_CARD.md rewritten (the weights and their hashes unchanged)."""
    card = json.loads((args.out / CHECK_FILE).read_text())
    rows, _checked, held, _reserved = pool([SHARED / "training" / n for n in card["training"]["data"]])
    assert held == card["training"]["held_out_documents"], "the held-out documents are not the card's"
    held_rows = [r for r in rows if r["title"] in held and not r["is_impossible"]]
    model = SpanModel(args.out, threads=args.threads, verify=False)
    measured = measure(model, held_rows)
    card["evaluation"].pop("measured", None)
    decide(card, measured)
    found = model.find(*CANARY)
    assert found is not None
    card["canary"]["span"] = CANARY[1][found.start : found.end]
    write_atomically(args.out / CHECK_FILE, json.dumps(card, indent=1) + "\n")
    write_atomically(args.out / "MODEL_CARD.md", model_card(card))
    SpanModel(args.out).warm_up()
    e = card["evaluation"]
    print(f"train_span: measured {args.out} again; held-out EM {e['all']['em']} F1 {e['all']['f1']}; with the no-span "
          f"rule, a span for {e['with_rule']['given']}, EM {e['with_rule']['em_given']} F1 {e['with_rule']['f1_given']} of those")
    return 0



def model_card(card: dict[str, Any]) -> str:
    t, e = card["training"], card["evaluation"]
    c, r, al, wr = e["calibration"], card["rule"], e["all"], e["with_rule"]
    losses = ", ".join(f"{x['step']}: {x['loss']}" for x in t["loss_log"])
    layers = "all six layers" if t["layers"] == 6 else f"the first {t['layers']} of the six layers"
    precision = "bfloat16 autocast (fp32 weights)" if t.get("bf16") else "fp32"
    frozen = int(t.get("freeze_layers", 0))
    trained = f"layers 0-{frozen - 1} kept as bundled" if frozen else "every layer trained"
    went_on = (f"; going on from the weights in `{t['init']['folder']}` (SHA-256 `{t['init']['weights_sha256']}`), an "
               "earlier run's --keep" if t.get("init") else "")
    kinds = "\n".join(f"| {k} | {v['questions']} | {v['right']} | {v['f1']} | {v['share']} |" for k, v in e["kinds"].items())
    data = ", ".join(f"`{n}` (SHA-256 `{h}`)" for n, h in t["data_sha256"].items())
    refused = ", ".join(f'"{k}"' for k in r["no_span_kinds"]) or "none"
    allowed = ", ".join(f'"{k}"' for k in r.get("span_kinds", [])) or "none"
    seen = min(t["questions"], t["steps"] * t["batch"]) if t["epochs"] < 1 else t["questions"]
    reserved = (f" Reserved for the abstention model, neither trained on nor measured here: {len(t['reserved_documents'])} "
                "articles of squad_train_more.jsonl (the first by the SHA-256 of their titles, as the scorer and the reader "
                "keep them)." if t.get("reserved_documents") else "")
    tradeoff = "\n".join(f"| {c} | {v['given']} | {v['em_given']} | {v['f1_given']} | {v['em']} | {v['f1']} |"
                         for c, v in e.get("tradeoff", {}).items())
    return f"""# The span model

Written by `qa/models/training/span.py` (do not edit by hand; rerun the script).

- **What**: an extractive reader made of {layers} of all-MiniLM-L6-v2 ({t['base_model']}, weights SHA-256
  `{t['base_weights_sha256']}`) and a new start/end head, reading "[CLS] question [SEP] sentence [SEP]"
  and marking the answer's first and last token inside the sentence; exported to ONNX with int8 weights
  ({e['model_bytes'] / 1e6:.1f} MB); inputs cut at {t['max_seq_length']} tokens (the question at 40, the sentence's end first).
- **Data**: the training pool, {data}: {t['train_questions']} answerable questions of documents not held
  out or reserved, {t['questions']} usable ({t['skipped']['across_sentences']} skipped because their answer runs across a
  sentence boundary, {t['skipped']['cut_off']} because it lies past the cut), each with the sentence holding its
  first annotated answer (sentences split as qa splits them); the run read {seen} of them, drawn at random from the
  pool ({t['epochs']} of one pass). Input length, in tokens: median
  {t['input_tokens']['median']:.0f}, 99th percentile {t['input_tokens']['p99']:.0f}.
- **Never seen**: the evaluation documents {', '.join(t['excluded_and_checked']['titles'])} and the article
  (checked by title, question id and paragraph text: {t['excluded_and_checked']['paragraphs_checked']} paragraphs
  against {t['excluded_and_checked']['evaluation_texts']} evaluation texts). Held out for measuring, calibration
  and the no-span rule: {', '.join(t['held_out_documents'])} ({t['held_out_questions']} questions whose answer
  lies in one sentence).{reserved}
- **Settings**: {t['steps']} steps ({t['epochs']} passes), {t['batch']} questions a step, lr {t['lr']} (AdamW, linear
  decay after a 10% warm-up), cross-entropy of the start and end token over the sentence's tokens, {precision},
  word embeddings {'frozen (as bundled)' if t['frozen_word_embeddings'] else 'trained'}, {trained}, seed {t['seed']};
  {t['seconds']} s of training on {t['hardware']}{went_on}.
- **Loss** (step: mean loss since the last): {losses}

## Held-out figures (the exported int8 model itself, {al['questions']} questions, each read with its answer's sentence)

| | exact match | F1 | given a span |
|---|---|---|---|
| the best span, always | {al['em']} | {al['f1']} | 1.0 |
| with the no-span rule (no span counts 0) | {wr['em']} | {wr['f1']} | {wr['given']} |
| with the no-span rule, where a span is given | {wr['em_given']} | {wr['f1_given']} | |

SQuAD's normalisation and scoring (the best over the annotated answers; qa.models.spanscore).

## When there is no span

Confidence: P(the span is right, F1 >= 0.5) = 1 / (1 + exp(-({c['a']} x log P(span) + {c['b']}))), P(span) the
model's start x end probability; fitted on the even-numbered held-out questions ({c['fitted_pairs']}), judged on the
odd ones ({c['checked_pairs']}, {c['check_positive_share']} of them right): Brier score {c['check_brier']}, expected
calibration error {c['check_ece']}.

The rule (chosen on these held-out questions only, never on the evaluation documents or the article):
spans only for questions of the kinds {allowed}: those whose held-out spans are right (F1 >= 0.5) at least
{e['rule_choices']['kind_right']} of the time over at least {e['rule_choices']['kind_min']} questions; none for {refused} ("why" always: its
answer is a reason, a clause, not a short answer; "other", no question word, as yes/no questions have, has
too few held-out questions to tell); none when the confidence is under {r['min_confidence']} (more likely wrong than
right); none when the span covers more than {r['max_share']} of the sentence's characters (then it marks no short
answer).

| question kind | questions | right (F1 >= 0.5) | F1 | median share of the sentence |
|---|---|---|---|---|
{kinds}

Of the held-out annotated answers, {e.get('gold_longer_than_max_share', '-')} cover more than {r['max_share']} of their sentence.
What other least confidences would give (the same held-out questions; kinds and share as chosen):

| least confidence | given a span | EM where given | F1 where given | EM, none counting 0 | F1, none counting 0 |
|---|---|---|---|---|---|
{tradeoff}

Canary: score (start + end logit) {card['canary']['score']}, span "{card['canary'].get('span', '')}" for
"{card['canary']['question']}" / "{card['canary']['sentence']}".
"""


if __name__ == "__main__":
    raise SystemExit(main())
