#!/usr/bin/env python
"""Trains the answer reader (qa/models/reader.py), a cross-encoder made from the bundled all-MiniLM-L6-v2, on CPU.

    nice .venv/bin/python -m qa.models.training.reader --stop-after 3625 --keep /tmp/kept --out /tmp/first
    nice .venv/bin/python -m qa.models.training.reader --init /tmp/kept --examples-from 58000 --steps 2200 \
        --lr 2e-5 --keep /tmp/kept2 --out /tmp/second
    nice .venv/bin/python -m qa.models.training.reader --init /tmp/kept2 --examples-from 93200 --steps 1008 \
        --lr 2e-5    # the shipped reader's three runs -> qa/models/reader_model/ (its card's lineage)
    .venv/bin/python -m qa.models.training.reader --limit 64 --steps 2 --held-out-limit 20 --out /tmp/r   # a smoke run

The scorer (qa/models/training/scorer.py) reads the question and the sentence apart; the reader reads them
together, "[CLS] question [SEP] sentence [SEP]", so it can see that "renewed twice, in 1981 and 2001"
answers "In which years was the treaty renewed?" and the sentence about 1961 beside it does not.
With --context (the default) it reads each sentence with the one before it in its paragraph,
"[CLS] question [SEP] sentence [SEP] sentence before [SEP]", so a sentence that says "it" or "he"
can be judged by what it refers to. With --null (the default) it also learns a no-answer score,
what it gives the question alone ("[CLS] question [SEP] [SEP]"), as SQuAD 2.0 readers do: above every
sentence that does not answer, below the one that does; --removed of the questions are also shown
without their answer sentence, where the no-answer score is the one to pick. It costs a forward
pass per (question, sentence) pair, so it is asked only about the few best candidates.

What a run costs, and what was cut so the whole SQuAD v1.1 training pool (qa_train.jsonl and
squad_train_more.jsonl, ~94k answerable questions) can be read on a 2-core CPU (issue 25; seconds a
step of 16 questions, 2 threads, this project's AMD EPYC with AVX512-BF16 but no AMX; a 16-step
probe each): the recipe before (six layers, 3 hard negatives + 1 in-batch, 112 tokens) 5.02 s;
six layers with the word embeddings and lower three kept as bundled, 2 hard negatives, no in-batch
negative, 96 tokens 2.33 s; the same with the first three layers only, all trained, 1.41 s.
bfloat16 autocast was slower than fp32 on this CPU (AMX absent), so it is on only where the CPU has
AMX tiles (`fast_bf16`); on this project's Intel Xeon with AMX a step of the shipped recipe (six
layers, all trained, 2 hard negatives, no in-batch negative, 112 tokens) took 1.5-2.0 s in
bfloat16. --steps 0 trains one whole pass. The defaults are the shipped reader's first run (the
whole pool, every layer trained, examples 0 .. 64,000 of the seed's fixed order, 4,000 steps
planned; a 112-minute limit stopped it at step 3,625, which --stop-after repeats); its second run
went on from the first's --keep over examples 58,000 .. 93,200 at lr 2e-5, and its third from the
second's over the rest of the pool, 93,200 .. 109,315 (docs/quality.md, "Issue 25 part 1").
--keep DIR saves a run's torch weights and --init DIR goes on from them, so a pass too long for one
sitting can be trained in pieces (each piece a schedule of its own).

What it does, deterministically (fixed seeds, one thread count, the data's and the base weights'
SHA-256 recorded), with the data rules of train_scorer.py (the same refusal of evaluation material,
the same held-out documents):
1. builds, per training question, the sentence holding its answer against --negatives hard
   negatives: the sentences of its paragraph that share most words with it, then the closest
   sentences of its document's other paragraphs (what retrieval puts beside the answer); the
   unanswerable questions are all held out, with the held-out documents, to calibrate abstention;
   with --null, a --removed share of the questions once more, without the sentence holding their
   answer (nor any sentence holding its words): hard negatives only, "no answer" to be picked;
2. fine-tunes with sentence-transformers' own CrossEncoderTrainer and its
   MultipleNegativesRankingLoss for cross-encoders (the answer against its hard negatives and one
   other question's answer; with --null, the question's no-answer score as one more column, the one
   to pick where the answer was removed): a ranking loss, since a binary loss from these weights
   stays at its prior;
3. exports to ONNX with int8 weights and measures the exported model on the held-out questions:
   the answer sentence first among its paragraph's sentences, and among the scorer's best
   --candidates sentences of its document (as qa asks it), next to the scorer alone; and how many
   questions it would abstain on: unanswerable ones, answerable ones, and answerable ones asked of
   their document without their paragraph (a text that does not answer them);
4. fits the calibration P(answers | logit) on one half of the held-out questions (answerable and
   unanswerable; with --null, of each logit less its question's no-answer logit), judges it on the
   other, and writes model.onnx, tokenizer.json, reader.json and MODEL_CARD.md into --out atomically.
"""

from __future__ import annotations

import argparse
import json
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
from qa.models.bundled import model_dir, sha256
from qa.models.checked import logistic
from qa.models.reader import CHECK_FILE, NULL, PREVIOUS, Reader, reading
from qa.models.scorer import Scorer
from qa.models.training.scorer import (
    CANARY,
    DATA,
    MODELS,
    MORE,
    SEED,
    calibrate,
    data_split,
    hardware,
    holds_answer,
    read_rows,
    seeded,
    sentences_of,
    ship,
    write_atomically,
)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, nargs="+", default=[DATA, MORE],
                    help="training files (default: the whole pool, qa_train.jsonl and squad_train_more.jsonl, as the "
                         "shipped reader's first run)")
    ap.add_argument("--out", type=Path, default=MODELS / "reader_model")
    ap.add_argument("--layers", type=int, default=6, help="the first N of the bundled model's six layers")
    ap.add_argument("--steps", type=int, default=4000,
                    help="optimiser steps (4000 x 16: the shipped reader's first run planned them, and read 3625 of them; "
                         "--stop-after 3625 repeats it); 0: one pass over the training questions")
    ap.add_argument("--freeze-layers", type=int, default=0,
                    help="the word embeddings and the first N layers stay as bundled (0: train all)")
    ap.add_argument("--in-batch", type=int, default=0,
                    help="other questions' answers read as negatives too (sentence-transformers' in-batch negatives)")
    ap.add_argument("--scaling", type=str, default="",
                    help="also measure the model (torch, fp32) on the held-out questions after this many training "
                         "questions, comma-separated: the data-scaling table of the model card ('' for none)")
    ap.add_argument("--batch", type=int, default=16, help="questions a step (each with its answer and negatives)")
    ap.add_argument("--negatives", type=int, default=2, help="hard negatives a question")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-seq-length", type=int, default=None,
                    help="tokens an input is cut at (default: 112 with --context, 80 without)")
    ap.add_argument("--context", action=argparse.BooleanOptionalAction, default=True,
                    help="read each sentence with the sentence before it in its paragraph (qa.models.reader.reading)")
    ap.add_argument("--null", action=argparse.BooleanOptionalAction, default=True,
                    help="learn a no-answer score (the question alone), read beside each sentence's score "
                         "(qa.models.reader.NULL); on, as in the shipped reader (docs/quality.md, eighth and "
                         "thirteenth rounds)")
    ap.add_argument("--removed", type=float, default=0.25,
                    help="with --null: the share of questions also shown without their answer sentence")
    ap.add_argument("--candidates", type=int, default=8, help="the scorer's best sentences of a document the reader is measured on")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                    help="train in bfloat16 mixed precision, the weights staying fp32 (default: where the CPU has AMX "
                         "tiles, 1.4x faster than fp32 there; slower with AVX512-BF16 alone, emulated without either)")
    ap.add_argument("--limit", type=int, default=None, help="use the first N training rows only (tests)")
    ap.add_argument("--held-out-limit", type=int, default=None, help="measure on N held-out questions only (tests)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="also save the trained fp32 torch weights in this folder, for a later run's --init")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from a folder an earlier run saved with --keep, or from a shipped reader's folder "
                         "(its int8 weights dequantized: qa.models.training.dequantize), instead of the bundled "
                         "model (training goes on: more data, more steps)")
    ap.add_argument("--train-files", nargs="+", default=None, metavar="NAME",
                    help="train only on the questions of these --data files (by name; default: all of them), the "
                         "held-out ones measured as always: with --init, the data the earlier reader never saw")
    ap.add_argument("--examples-from", type=int, default=0, metavar="N",
                    help="read examples N .. N + steps x batch of the seed's fixed order, each once (default 0, as the "
                         "shipped reader's first run; pieces of one long run, each going on from the last with --init, "
                         "read disjoint questions); -1: the trainer draws steps x batch at random from all")
    ap.add_argument("--minutes", type=float, default=None,
                    help="stop training after this many minutes, whatever the step, and write the model as it is "
                         "(the card says so): a run that must end within a working session")
    ap.add_argument("--stop-after", type=int, default=None, metavar="STEP",
                    help="end after this step, the learning-rate schedule staying that of --steps: a run that "
                         "--minutes stopped, reproduced step for step")
    ap.add_argument("--lineage", type=Path, nargs="+", default=None, metavar="CARD",
                    help="with --card-only: the reader.json of each earlier run this one went on from, first to last "
                         "(the first from the bundled model): recorded in --out's card, which then says how to train it again")
    ap.add_argument("--card-only", action="store_true",
                    help="only write --out's MODEL_CARD.md again from its reader.json (after a change to the card's wording)")
    return ap.parse_args(argv)


# -- data -----------------------------------------------------------------------------------------


def overlap_order(question: str, sentences: list[str] | list[frozenset[str]]) -> list[int]:
    """Indices of `sentences`, most words shared with the question first (ties: text order); each
    sentence as text or as its set of words (`tokens`), computed once by a caller that asks often."""
    q = set(tokens(question))
    words = [w if isinstance(w, frozenset) else frozenset(tokens(w)) for w in sentences]
    return sorted(range(len(words)), key=lambda j: (-len(q & words[j]), j))


def readings(paragraph: str, spans: list[tuple[int, int]], context: bool) -> list[str]:
    """What the reader reads of each sentence of a paragraph: the sentence, with the one before it
    where `context` says so."""
    texts = [paragraph[s:e] for s, e in spans]
    return [reading(t, texts[j - 1] if j else "") for j, t in enumerate(texts)] if context else texts


def examples(rows: list[dict[str, Any]], all_rows: list[dict[str, Any]], k: int, rng: random.Random,
             context: bool = False, removed: float = 0.0) -> tuple[list[list[str]], list[int], int]:
    """[question, answer sentence, negative x k] per answerable question (a ranking loss needs an
    answer, so unanswerable questions only calibrate), each sentence as the reader reads it
    (`readings`), labelled 1; for a `removed` share of them (drawn from `rng`), [question, negative
    x (k + 1)] once more, labelled 0 (no sentence answers: none holds the answer's words); and the
    count of questions skipped."""
    paragraphs: dict[str, list[str]] = defaultdict(list)  # title -> contexts, in order
    spans: dict[str, list[tuple[int, int]]] = {}
    # each paragraph's sentences, and what the reader reads of them, once: negatives are chosen by
    # the sentence's own words (not its context's), then given as the reader reads them
    plain: dict[str, list[frozenset[str]]] = {}
    read: dict[str, list[str]] = {}
    titles = {r["title"] for r in rows}  # only their documents' sentences are read
    for r in all_rows:
        if r["title"] in titles and r["context"] not in spans:
            spans[r["context"]] = sentences_of(r["context"])
            paragraphs[r["title"]].append(r["context"])
            plain[r["context"]] = [frozenset(tokens(t)) for t in readings(r["context"], spans[r["context"]], False)]
            read[r["context"]] = readings(r["context"], spans[r["context"]], context)
    out: list[tuple[list[str], int]] = []
    skipped = 0
    for r in rows:
        own = read[r["context"]]
        answer = [j for j, span in enumerate(spans[r["context"]]) if holds_answer(span, r)]
        if r["is_impossible"] or not answer:
            skipped += 1
            continue
        positive = own[answer[0]]
        inside = [own[j] for j in overlap_order(r["question"], plain[r["context"]]) if j not in answer]
        others = [r2 for r2 in paragraphs[r["title"]] if r2 != r["context"]]
        words = [t for r2 in others for t in plain[r2]]
        texts = [t for r2 in others for t in read[r2]]
        outside = [texts[j] for j in overlap_order(r["question"], words)[: 4 * k]]
        # the hardest of the paragraph first, then retrieval-like ones from the document, deduplicated
        pool = list(dict.fromkeys([t for t in inside[: max(1, k - 1)]] + outside[:k] + inside[max(1, k - 1):] + outside[k:]))
        pool = [t for t in pool if t != positive]
        if len(pool) < k:
            skipped += 1
            continue
        out.append(([r["question"], positive, *pool[:k]], 1))
        if removed and rng.random() < removed:
            answers = [a.lower() for a in r["answers"]]
            clean = [t for t in pool if not any(a in t.lower() for a in answers)]
            if len(clean) > k:
                out.append(([r["question"], *clean[: k + 1]], 0))
    rng.shuffle(out)
    return [d for d, _ in out], [y for _, y in out], skipped


# -- training -------------------------------------------------------------------------------------


def fast_bf16() -> bool:
    """Whether bfloat16 mixed precision pays on this CPU: with AMX tiles (Intel Sapphire Rapids and
    later) it was 1.4x faster than fp32 (docs/quality.md, sixth round); with AVX512-BF16 alone (an AMD
    EPYC) it was slower (5.87 against 4.79 CPU-s a step, issue 25), and without either torch emulates it."""
    import torch

    return bool(torch.cpu._is_amx_tile_supported())


def ranking_loss(model: Any, null: bool, in_batch: int = 1) -> Any:
    """Cross-encoder MultipleNegativesRankingLoss (hard negatives + `in_batch` other questions'
    answers); with `null`, each
    question's no-answer score (the question alone) is one more column: the one to pick in a row
    labelled 0 (its answer removed), one more negative in a row labelled 1."""
    import torch
    from sentence_transformers.cross_encoder.losses import MultipleNegativesRankingLoss

    class WithNoAnswer(MultipleNegativesRankingLoss):
        def forward(self, inputs: list[list[str]], labels: Any, prompt: str | None = None, task: str | None = None) -> Any:
            anchors = inputs[0]
            scores = [self.call_model_with_columns(anchors, inputs[1], prompt=prompt, task=task)]
            if self.num_negatives:
                scores += [self.call_model_with_columns(anchors, n, prompt=prompt, task=task)
                           for n in self.get_in_batch_negatives(anchors, inputs[1:])]
            scores += [self.call_model_with_columns(anchors, n, prompt=prompt, task=task) for n in inputs[2:]]
            scores.append(self.call_model_with_columns(anchors, [NULL] * len(anchors), prompt=prompt, task=task))
            logits = torch.cat(scores, dim=0).reshape(-1, len(anchors)).T
            if self.activation_fn:
                logits = self.activation_fn(logits)
            if self.scale:
                logits = logits * self.scale
            target = torch.where(labels > 0.5, 0, logits.shape[1] - 1).long().to(logits.device)
            return self.cross_entropy_loss(logits, target)

    return (WithNoAnswer if null else MultipleNegativesRankingLoss)(model, num_negatives=in_batch)


def freeze(model: Any, layers: int) -> int:
    """Keeps the word embeddings and the first `layers` layers as bundled (no gradient: their backward
    pass is not computed); the count of parameters left to train."""
    network = model[0].model
    if layers:
        network.bert.embeddings.word_embeddings.weight.requires_grad = False
        for layer in network.bert.encoder.layer[:layers]:
            for w in layer.parameters():
                w.requires_grad = False
    return sum(w.numel() for w in network.parameters() if w.requires_grad)


def scaling_callback(model: Any, args: argparse.Namespace, measure_now: Any) -> Any:
    """A trainer callback that measures the model on the held-out questions once the training
    questions seen (steps x batch) pass each of --scaling's counts: the data-scaling table."""
    from transformers import TrainerCallback

    marks = sorted(int(x) for x in args.scaling.split(",") if x.strip()) if args.scaling else []
    batch = args.batch

    class Scaling(TrainerCallback):
        def __init__(self) -> None:
            self.rows: list[dict[str, Any]] = []

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            seen = state.global_step * batch
            while marks and seen >= marks[0]:
                marks.pop(0)
                network = model[0].model
                network.eval()
                t0 = time.time()
                figures = measure_now()
                network.train()
                self.rows.append({"questions": seen, "step": state.global_step} | figures)
                print(f"train_reader: after {seen} questions (step {state.global_step}): {figures} "
                      f"({time.time() - t0:.0f} s to measure)", flush=True)
            return control

    return Scaling()


def deadline(minutes: float | None, step: int | None) -> Any:
    """A trainer callback that ends training once `minutes` have passed or after step `step`
    (checked after each step), the learning-rate schedule staying the planned one."""
    from transformers import TrainerCallback

    class Deadline(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            self.end = time.time() + 60 * minutes if minutes else float("inf")
            return control

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if time.time() >= self.end or (step is not None and state.global_step >= step):
                control.should_training_stop = True
                why = f"{minutes:g} minutes are up" if time.time() >= self.end else "--stop-after"
                print(f"train_reader: {why} at step {state.global_step} of {state.max_steps}", flush=True)
            return control

    return Deadline()


def read_figures(data: list[list[str]], labels: list[int], read: int, start: int | None, order: int) -> dict[str, Any]:
    """What a run read: with --examples-from, the slice start .. start + len(data) of the fixed order
    (the trainer reads it in its own order: all of it once when the run ends on its planned step), its
    distinct questions counted by text; otherwise `read` examples drawn at random from all `order`."""
    if start is None:
        return {"examples": read, "drawn_from": order, "slice": None}
    return {"examples": min(read, len(data)), "drawn_from": order, "slice": [start, start + len(data)],
            "slice_questions": len({d[0] for d in data}), "slice_with_answer": sum(labels), "whole_slice": read >= len(data)}


def train(model: Any, data: list[list[str]], labels: list[int], args: argparse.Namespace, work: Path,
          callbacks: list[Any] | None = None) -> dict[str, Any]:
    from datasets import Dataset
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments

    columns: dict[str, list[Any]] = {"question": [d[0] for d in data], "answer": [d[1] for d in data]}
    columns |= {f"negative_{i}": [d[2 + i] for d in data] for i in range(args.negatives)}
    if args.null:
        columns["label"] = [float(y) for y in labels]  # not a text: the batch sampler and the loss's negatives skip it
    settings = CrossEncoderTrainingArguments(
        output_dir=str(work / "trainer"), max_steps=args.steps, per_device_train_batch_size=args.batch,
        learning_rate=args.lr, warmup_steps=max(1, args.steps // 10), lr_scheduler_type="linear",
        seed=SEED, data_seed=SEED, batch_sampler=BatchSamplers.NO_DUPLICATES, logging_steps=max(1, args.steps // 40),
        save_strategy="no", report_to="none", use_cpu=True, bf16=args.bf16, dataloader_num_workers=0, disable_tqdm=True,
    )
    trainer = CrossEncoderTrainer(model=model, args=settings, train_dataset=Dataset.from_dict(columns),
                                  loss=ranking_loss(model, args.null, args.in_batch), callbacks=callbacks)
    t0 = time.time()
    trainer.train()
    logs = [{"step": h["step"], "loss": round(h["loss"], 4)} for h in trainer.state.log_history if "loss" in h]
    return {"seconds": round(time.time() - t0, 1), "steps": trainer.state.global_step, "loss": logs}


def export_onnx(model: Any, folder: Path) -> None:
    """The classifier to ONNX (fp32, one logit a pair), then int8 weights (dynamic, per channel)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    network = model[0].model.eval()
    sample = model.tokenizer([["a question?", "a longer sentence of the text."]], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"logits": {0: "batch"}}

    class Logit(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.network(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    fp32 = folder / "fp32.onnx"
    with torch.no_grad():
        torch.onnx.export(Logit(), tuple(sample[n] for n in names), str(fp32), input_names=names,
                          output_names=["logits"], dynamic_axes=axes, opset_version=17, dynamo=False)
    quantize_dynamic(str(fp32), str(folder / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True)
    fp32.unlink()


# -- measuring ------------------------------------------------------------------------------------


def torch_margins(model: Any, context: bool, null: bool) -> Any:
    """Reader.margins for the model in training (torch, fp32): what the data-scaling table reads."""
    import torch

    def margins(question: str, sentences: list[str], before: list[str] | None = None) -> np.ndarray:
        texts = [reading(t, b) for t, b in zip(sentences, before, strict=True)] if context and before is not None else sentences
        pairs = [(question, t) for t in texts] + ([(question, NULL)] if null else [])
        with torch.no_grad():
            out = np.asarray(model.predict(pairs, batch_size=32, show_progress_bar=False,
                                           activation_fn=torch.nn.Identity()), dtype=np.float32).reshape(-1)
        return out[: len(texts)] - out[-1] if null else out

    return margins


def measure(logits: Any, cosines: Any, rows: list[dict[str, Any]], all_rows: list[dict[str, Any]], n: int,
            elsewhere: bool = True) -> dict[str, Any]:
    """Per held-out question: the answer sentence first among its paragraph's sentences by the
    reader, and among the scorer's best `n` sentences of its document by the scorer alone and by the
    reader; every candidate's (question number, logit, holds the answer) for the calibration; and,
    per answerable question, (question number, best logit) among the scorer's best `n` sentences of
    its document outside its own paragraph (the question asked of a text that does not answer it).
    `logits`: the reader's figure the calibration reads (Reader.margins); without `elsewhere`, the
    questions are not asked of their document without their paragraph (`removed` stays empty)."""
    docs: dict[str, list[tuple[str, tuple[int, int]]]] = defaultdict(list)
    seen: set[str] = set()
    titles = {r["title"] for r in rows}
    for r in all_rows:
        if r["title"] in titles and r["context"] not in seen:
            seen.add(r["context"])
            docs[r["title"]].extend((r["context"], span) for span in sentences_of(r["context"]))
    hits = {"paragraph@1": 0, "scorer_top@1": 0, "reader_top@1": 0, "in_candidates": 0}
    pairs: list[tuple[int, float, bool]] = []
    removed: list[tuple[int, float]] = []
    answerable = 0
    for q, r in enumerate(rows):
        sents = docs[r["title"]]
        texts = [ctx[s:e] for ctx, (s, e) in sents]
        before = [texts[j - 1] if j and sents[j - 1][0] == ctx else "" for j, (ctx, _) in enumerate(sents)]
        labels = [ctx == r["context"] and not r["is_impossible"] and holds_answer(span, r) for ctx, span in sents]
        top = [int(j) for j in np.argsort(-cosines(r["question"], texts))[:n]]
        scores = logits(r["question"], [texts[j] for j in top], [before[j] for j in top])
        pairs.extend((q, float(s), bool(labels[j])) for j, s in zip(top, scores, strict=True))
        if r["is_impossible"] or not any(labels):
            continue
        answerable += 1
        own = [j for j, (ctx, _) in enumerate(sents) if ctx == r["context"]]
        own_scores = logits(r["question"], [texts[j] for j in own], [before[j] for j in own])
        hits["paragraph@1"] += labels[own[int(np.argmax(own_scores))]]
        hits["scorer_top@1"] += labels[top[0]]
        hits["reader_top@1"] += labels[top[int(np.argmax(scores))]]
        hits["in_candidates"] += any(labels[j] for j in top)
        others = [j for j, (ctx, _) in enumerate(sents) if ctx != r["context"]] if elsewhere else []
        if others:
            cos = cosines(r["question"], [texts[j] for j in others])
            near = [others[int(j)] for j in np.argsort(-cos)[:n]]
            removed.append((q, float(logits(r["question"], [texts[j] for j in near], [before[j] for j in near]).max())))
    out: dict[str, Any] = {k: round(v / max(1, answerable), 4) for k, v in hits.items()}
    return out | {"answerable": answerable, "questions": len(rows), "pairs": pairs, "removed": removed}


def abstention(pairs: list[tuple[int, float, bool]], removed: list[tuple[int, float]], rows: list[dict[str, Any]],
               a: float, b: float) -> dict[str, Any]:
    """With P = the calibrated probability of a question's best candidate: how many unanswerable
    questions fall under 0.5, how many answerable ones do, and how many answerable ones do when
    their own paragraph is left out (odd-numbered questions: not fitted)."""
    best: dict[int, float] = {}
    for q, s, _ in pairs:
        best[q] = max(best.get(q, -1e9), s)
    odd = [q for q in best if q % 2 == 1]
    p = {q: float(logistic(np.asarray(best[q]), a, b)) for q in odd}
    imp = [q for q in odd if rows[q]["is_impossible"]]
    ans = [q for q in odd if not rows[q]["is_impossible"]]
    gone = [float(logistic(np.asarray(s), a, b)) for q, s in removed if q % 2 == 1]
    return {"unanswerable": len(imp), "answerable": len(ans), "without_own_paragraph": len(gone),
            "without_own_paragraph_below_half": round(sum(x < 0.5 for x in gone) / max(1, len(gone)), 4),
            "unanswerable_below_half": round(sum(p[q] < 0.5 for q in imp) / max(1, len(imp)), 4),
            "answerable_below_half": round(sum(p[q] < 0.5 for q in ans) / max(1, len(ans)), 4)}


def training_examples(args: argparse.Namespace) -> tuple[Any, ...]:
    """The data split (`data_split`, the training rows kept to --train-files) and the examples of
    the training rows in the seed's fixed order (`examples`): what a run with these options reads
    a slice of (scripts/reader_questions.py rebuilds each earlier run's with it)."""
    rows, checked, held, train_rows, held_rows = data_split(args)
    if args.train_files:
        chosen = {r["id"] for p in args.data if p.name in args.train_files for r in read_rows(p)}
        train_rows = [r for r in train_rows if r["id"] in chosen]
    built = examples(train_rows, rows, args.negatives, random.Random(SEED), args.context, args.removed if args.null else 0.0)
    return rows, checked, held, train_rows, held_rows, built


# -- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.examples_from < -1:  # at once, not after minutes of building examples
        raise SystemExit(f"train_reader: --examples-from {args.examples_from} is below 0 (-1: drawn at random)")
    if args.examples_from == -1:
        args.examples_from = None
    if args.card_only:
        written = json.loads((args.out / CHECK_FILE).read_text())
        if args.lineage:
            written["training"]["lineage"] = lineage(args.lineage)
            write_atomically(args.out / CHECK_FILE, json.dumps(written, indent=1) + "\n")
        write_atomically(args.out / "MODEL_CARD.md", model_card(written))
        return 0
    # what the arguments alone refuse, refused before torch and the libraries load
    unknown = set(args.train_files or ()) - {p.name for p in args.data}
    if unknown:
        raise SystemExit(f"train_reader: --train-files {', '.join(sorted(unknown))} is not among --data")
    if args.init and not any((args.init / n).is_file() for n in ("model.safetensors", "model.onnx")):
        raise SystemExit(f"train_reader: --init {args.init} holds neither model.safetensors (an earlier run's --keep) "
                         "nor model.onnx (a shipped reader)")
    t0 = time.time()
    # the data (evaluation material refused) before torch loads; its order is drawn from its own seeded rng
    rows, checked, held, train_rows, held_rows, (data, labels, skipped) = training_examples(args)
    seeded(args.threads)
    if args.bf16 is None:
        args.bf16 = fast_bf16()
    from sentence_transformers.cross_encoder import CrossEncoder

    if args.max_seq_length is None:
        args.max_seq_length = 112 if args.context else 80
    order = len(data)
    if args.examples_from is not None:  # a slice of the fixed order (rng above), read once each
        if not 0 <= args.examples_from < len(data):
            raise SystemExit(f"train_reader: --examples-from {args.examples_from} is past the {len(data)} examples")
        end = args.examples_from + (args.steps * args.batch if args.steps else len(data))
        data, labels = data[args.examples_from:end], labels[args.examples_from:end]
    if not args.steps:
        args.steps = -(-len(data) // args.batch)  # one pass
    print(f"train_reader: {sum(labels)} questions with an answer and {args.negatives} negatives each, "
          f"{len(labels) - sum(labels)} without their answer ({skipped} skipped); held out {len(held_rows)} ({', '.join(held)} and the unanswerable), "
          f"{len(args.reserved)} articles reserved; {args.steps} steps of {args.batch}", flush=True)

    base_dir = model_dir()
    init: dict[str, Any] | None = None
    if args.init and (args.init / "model.safetensors").is_file():  # an earlier run's --keep: its own layers, not --layers
        model = CrossEncoder(str(args.init), max_length=args.max_seq_length, device="cpu", local_files_only=True)
        args.layers = model[0].model.config.num_hidden_layers
        init = {"folder": str(args.init), "weights_sha256": sha256(args.init / "model.safetensors"), "form": "keep"}
    elif args.init:  # a shipped reader: its int8 weights, dequantized, in a network of its shape
        from qa.models.training import dequantize

        args.layers = dequantize.layers(args.init / "model.onnx")
        model = CrossEncoder(str(base_dir), num_labels=1, max_length=args.max_seq_length, device="cpu", local_files_only=True,
                             config_kwargs={"num_hidden_layers": args.layers})
        dequantize.load_into(model[0].model, args.init / "model.onnx")
        init = {"folder": str(args.init), "weights_sha256": sha256(args.init / "model.onnx"), "form": "int8"}
    else:
        model = CrossEncoder(str(base_dir), num_labels=1, max_length=args.max_seq_length, device="cpu", local_files_only=True,
                             config_kwargs={"num_hidden_layers": args.layers})
    trainable = freeze(model, args.freeze_layers)
    scorer = Scorer()
    answerable = [r for r in held_rows if not r["is_impossible"]]

    def measure_now() -> dict[str, Any]:
        figures = measure(torch_margins(model, args.context, args.null), scorer.cosines, answerable, rows, args.candidates,
                          elsewhere=False)
        return {k: figures[k] for k in ("paragraph@1", "reader_top@1", "scorer_top@1", "in_candidates", "answerable")}

    scaling = scaling_callback(model, args, measure_now)
    callbacks = [scaling] + ([deadline(args.minutes, args.stop_after)] if args.minutes or args.stop_after else [])
    with tempfile.TemporaryDirectory(prefix="train-reader-") as tmp:
        work = Path(tmp)
        run = train(model, data, labels, args, work, callbacks)
        if args.scaling:
            model[0].model.eval()
            scaling.rows.append({"questions": run["steps"] * args.batch, "step": run["steps"]} | measure_now())
        print(f"train_reader: {run['steps']} steps in {run['seconds']} s, loss {run['loss'][0]['loss']} -> "
              f"{run['loss'][-1]['loss']}", flush=True)
        out = work / "model"
        out.mkdir()
        export_onnx(model, out)
        shutil.copy(base_dir / "tokenizer.json", out / "tokenizer.json")
        card: dict[str, Any] = {"model": f"qa answer reader (cross-encoder, first {args.layers} layers of all-MiniLM-L6-v2, int8 ONNX)",
                                "max_seq_length": args.max_seq_length, "context": PREVIOUS if args.context else None,
                                "null": args.null,
                                "files": {n: sha256(out / n) for n in ("model.onnx", "tokenizer.json")},
                                "calibration": {"a": 1.0, "b": 0.0}, "canary": {"question": CANARY[0], "sentence": CANARY[1], "logit": 0.0}}
        (out / CHECK_FILE).write_text(json.dumps(card))
        shipped = Reader(out, threads=args.threads, verify=False)
        figures = measure(shipped.margins, scorer.cosines, held_rows, rows, args.candidates)
        pairs, removed = figures.pop("pairs"), figures.pop("removed")
        calibration = calibrate(pairs)
        a, b = calibration["a"], calibration["b"]
        card["calibration"] = {"a": a, "b": b}
        card["canary"]["logit"] = round(float(shipped.logits(CANARY[0], [CANARY[1]])[0]), 6)
        card["training"] = {
            "data": [p.name for p in args.data], "data_sha256": {p.name: sha256(p) for p in args.data},
            "reserved_documents": args.reserved, "freeze_layers": args.freeze_layers, "trainable_parameters": trainable,
            "in_batch": args.in_batch, "scaling": scaling.rows, "hardware": hardware(),
            "base_model": MODEL_NAME, "base_weights_sha256": sha256(base_dir / "model.safetensors"),
            "init": init, "train_files": args.train_files, "minutes": args.minutes, "planned_steps": args.steps, "stop_after": args.stop_after,
            "read": read_figures(data, labels, run["steps"] * args.batch, args.examples_from, order),
            "layers": args.layers, "seed": SEED, "steps": run["steps"], "batch": args.batch, "negatives": args.negatives,
            "lr": args.lr, "threads": args.threads, "bf16": args.bf16, "max_seq_length": args.max_seq_length,
            "context": args.context, "null": args.null, "removed": args.removed if args.null else 0.0,
            "loss": f"cross-encoder MultipleNegativesRankingLoss (hard negatives + {args.in_batch} in-batch"
                    + (" + the question's no-answer score)" if args.null else ")"),
            "questions": sum(labels), "without_answer": len(labels) - sum(labels), "skipped": skipped, "train_questions": len(train_rows), "limit": args.limit,
            "held_out_documents": held, "held_out_questions": len(held_rows),
            "excluded_and_checked": checked, "seconds": run["seconds"], "loss_log": run["loss"],
        }
        card["evaluation"] = {"reader": figures, "candidates": args.candidates, "calibration": calibration,
                              "abstention": abstention(pairs, removed, held_rows, a, b), "model_bytes": (out / "model.onnx").stat().st_size}
        (out / CHECK_FILE).write_text(json.dumps(card, indent=1) + "\n")
        (out / "MODEL_CARD.md").write_text(model_card(card))
        Reader(out).warm_up()  # what ships passes its own self-check
        ship(out, args.out)
    if args.keep:  # the fp32 torch weights, for a later run's --init (never committed: the int8 export ships)
        model.save_pretrained(str(args.keep))
    size = (args.out / "model.onnx").stat().st_size / 1e6
    print(f"train_reader: wrote {args.out} ({size:.1f} MB) in {time.time() - t0:.0f} s; held-out answer sentence among the "
          f"scorer's best {args.candidates}: scorer {figures['scorer_top@1']} -> reader {figures['reader_top@1']}; "
          f"in its paragraph {figures['paragraph@1']}", flush=True)
    return 0


#: what a lineage entry keeps of an earlier run's card (the rest: its data checks, loss log, scaling)
_LINEAGE_KEYS = ("data", "train_files", "init", "layers", "freeze_layers", "steps", "planned_steps", "stop_after", "minutes",
                 "batch", "negatives", "in_batch", "lr", "max_seq_length", "context", "null", "removed", "seed", "read",
                 "questions", "seconds", "hardware")


def lineage(cards: list[Path]) -> list[dict[str, Any]]:
    """The earlier runs a reader went on from, first to last, each as its card records it (the
    fields `_LINEAGE_KEYS`), with its export's SHA-256 and its held-out figure."""
    out: list[dict[str, Any]] = []
    for path in cards:
        card = json.loads(path.read_text())
        t = card["training"]
        out += t.get("lineage", [])
        out.append({k: t.get(k) for k in _LINEAGE_KEYS} | {"model_sha256": card["files"]["model.onnx"],
                                                          "reader_top@1": card["evaluation"]["reader"]["reader_top@1"]})
    return out


def model_card(card: dict[str, Any]) -> str:
    t, e = card["training"], card["evaluation"]
    c, f, ab = e["calibration"], e["reader"], e["abstention"]
    losses = ", ".join(f"{x['step']}: {x['loss']}" for x in t["loss_log"])
    gone = (f", {ab['without_own_paragraph_below_half']} of {ab['without_own_paragraph']} answerable ones asked of their document "
            "without their own paragraph" if "without_own_paragraph" in ab else "")
    null = 'The no-answer logit: the question alone, "[CLS] question [SEP] [SEP]". ' if t.get("null") else ""
    figure = "(logit - no-answer logit)" if t.get("null") else "logit"
    layers = "all six layers" if t["layers"] == 6 else f"the first {t['layers']} of the six layers"
    precision = "bfloat16 mixed precision (fp32 weights)" if t.get("bf16") else "fp32"
    files = t["data"] if isinstance(t["data"], list) else [t["data"]]
    digests = t["data_sha256"] if isinstance(t["data_sha256"], dict) else {files[0]: t["data_sha256"]}
    data = ", ".join(f"`{f}` (SHA-256 `{digests[f]}`)" for f in files)
    frozen = (f", the word embeddings and the first {t['freeze_layers']} layers kept as bundled ({t['trainable_parameters']:,} parameters trained)"
              if t.get("freeze_layers") else "")
    reserved = (f" Reserved for the abstention model, neither trained on nor measured here: {len(t['reserved_documents'])} articles "
                "of squad_train_more.jsonl (the first by the SHA-256 of their titles)." if t.get("reserved_documents") else "")
    where = f" on {t['hardware']}" if t.get("hardware") else ""
    if t.get("init"):
        kind = ("a shipped reader's int8 weights, dequantized" if t["init"].get("form") == "int8"
                else "an earlier run's --keep")
        where += f"; continued from the reader in `{t['init']['folder']}` (weights SHA-256 `{t['init']['weights_sha256']}`), {kind}"
    if t.get("train_files"):
        where += f"; trained on the questions of {', '.join(t['train_files'])} only"
    r = t.get("read") or {}
    if r.get("slice"):
        whole = "all of it, once each" if r["whole_slice"] else f"{r['examples']:,} of them, the run stopped early"
        where += (f"; read examples {r['slice'][0]:,} to {r['slice'][1]:,} of the {r['drawn_from']:,} in the seed's fixed order "
                  f"({r['slice_questions']:,} distinct questions), {whole}")
    if t["steps"] < t.get("planned_steps", t["steps"]):
        why = f"at its {t['minutes']:g}-minute limit" if t.get("minutes") else "by --stop-after"
        where += (f"; stopped {why} after {t['steps']} of {t['planned_steps']} planned steps (the learning rate "
                  f"scheduled for {t['planned_steps']}; `--steps {t['planned_steps']} --stop-after {t['steps']}` repeats it)")
    scaling = ""
    if t.get("scaling"):
        lines = "\n".join(f"| {x['questions']:,} | {x['step']} | {x['paragraph@1']} | {x['scorer_top@1']} | {x['reader_top@1']} |"
                          for x in t["scaling"])
        scaling = f"""
## Data scaling (one run, measured as it went: torch fp32 on the {t['scaling'][0]['answerable']} answerable held-out questions)

Points along one linear-decay schedule, not separate runs: the early points are measured mid-schedule.
An example is a question with its answer sentence and negatives, or (about one in five) a question shown
again without its answer sentence; the examples are drawn at random from all {t['questions']:,} questions.

| training examples seen | step | answer first in its paragraph | scorer's best {e['candidates']}: scorer | the same, by the reader |
|---|---|---|---|---|
{lines}
"""
    removed = (f"\n  {t['without_answer']} of them (a {t['removed']} share drawn) once more without their answer sentence (nor any "
               "sentence holding the answer's words): the sentences only, the question's no-answer score to pick"
               if t.get("null") else "")
    reads = ('"[CLS] question [SEP] sentence [SEP] the sentence before it in its paragraph [SEP]" (the sentence before '
             'cut first)' if t.get("context") else '"[CLS] question [SEP] sentence [SEP]"')
    return f"""# The answer reader

Written by `qa/models/training/reader.py` (do not edit by hand; rerun the script).

- **What**: a cross-encoder made of {layers} of all-MiniLM-L6-v2 ({t['base_model']},
  weights SHA-256 `{t['base_weights_sha256']}`) and a new one-logit head, reading {reads};
  exported to ONNX with int8 weights ({e['model_bytes'] / 1e6:.1f} MB); inputs cut at {t['max_seq_length']} tokens.
- **Data**: {data}: {t['train_questions']} questions, {t['questions']} of them
  used ({t['skipped']} skipped: no sentence holds the whole answer, or too few sentences), each with its answer
  sentence and {t['negatives']} hard negatives: the sentences of its paragraph sharing most words with it, then the
  closest sentences of its document's other paragraphs.{removed}
- **Never seen**: the evaluation documents {', '.join(t['excluded_and_checked']['titles'])} and the article
  (checked by title, question id and paragraph text: {t['excluded_and_checked']['paragraphs_checked']} paragraphs
  against {t['excluded_and_checked']['evaluation_texts']} evaluation texts). Held out for measuring and
  calibration: {', '.join(t['held_out_documents'])} and every unanswerable question ({t['held_out_questions']} questions).{reserved}
- **Settings**: {t['steps']} steps, {t['batch']} questions a step, lr {t['lr']} (linear, 10% warm-up), {t['loss']},
  {precision}{frozen}, seed {t['seed']}, {t['threads']} torch threads, {t['seconds']} s of training{where}.
- **Loss** (step: loss): {losses}

## Held-out figures (the exported int8 model itself, {f['answerable']} answerable of {f['questions']} questions)

| answer sentence ranked first | |
|---|---|
| among its paragraph's sentences, by the reader | {f['paragraph@1']} |
| among the scorer's best {e['candidates']} sentences of its document, by the scorer alone | {f['scorer_top@1']} |
| among the same {e['candidates']}, by the reader | {f['reader_top@1']} |
| the answer is among those {e['candidates']} at all | {f['in_candidates']} |

{null}Calibration, P(answers) = 1 / (1 + exp(-({c['a']} x {figure} + {c['b']}))), fitted on the candidates of the
even-numbered held-out questions ({c['fitted_pairs']} pairs), judged on the odd ones ({c['checked_pairs']}
pairs, {c['check_positive_share']} of them answer): Brier score {c['check_brier']}, expected calibration error {c['check_ece']}.
Best candidate under P = 0.5 (odd-numbered questions): {ab['unanswerable_below_half']} of {ab['unanswerable']} unanswerable,
{ab['answerable_below_half']} of {ab['answerable']} answerable{gone}.

Canary: logit {card['canary']['logit']} for "{card['canary']['question']}" / "{card['canary']['sentence']}".
{scaling}{lineage_section(t)}"""


def lineage_section(t: dict[str, Any]) -> str:
    """The card's account of the runs this reader went on from (--lineage), and the run itself."""
    runs = t.get("lineage") or []
    if not runs:
        return ""

    def how(r: dict[str, Any]) -> str:
        start = ("the bundled model" if not r.get("init") else
                 f"{'the int8 export' if r['init'].get('form') == 'int8' else 'the kept fp32 weights'} of the run before "
                 f"(SHA-256 `{r['init']['weights_sha256'][:12]}`)")
        files = ", ".join(r.get("train_files") or ([r["data"]] if isinstance(r["data"], str) else r["data"]))
        read = r.get("read") or {}
        drawn = (f"examples {read['slice'][0]:,}-{read['slice'][1]:,} of the fixed order" if read.get("slice")
                 else "drawn at random")
        planned = f" of {r['planned_steps']}" if r.get("planned_steps") and r["planned_steps"] != r["steps"] else ""
        return (f"| {start} | {files} | {r['steps']}{planned} x {r['batch']}, {drawn} | {r['negatives']} + {1 if r.get('in_batch') is None else r['in_batch']} "
                f"in-batch, lr {r['lr']}, {r.get('freeze_layers') or 0} frozen | {r['seconds']} s | {r.get('hardware') or ''} | {r.get('reader_top@1', '')} |")

    rows = "\n".join(how(r) for r in [*runs, t | {"reader_top@1": "this card"}])
    return f"""
## Lineage: {len(runs) + 1} runs, each going on from the one before

This reader is the last of these runs of `qa/models/training/reader.py` (the first with the script's
defaults; each later one with `--init` naming the one before, and the options shown). Held-out
figure: the answer sentence first among the scorer's best 8, by the reader.

| started from | trained on | steps x questions | negatives, learning rate, layers frozen | training | hardware | held out |
|---|---|---|---|---|---|---|
{rows}
"""


if __name__ == "__main__":
    raise SystemExit(main())
