"""The abstention model's fitting, measuring and writing (qa/models/training/abstain.py gathers the
figures): two L2-regularised logistic regressions fitted by Newton's method on standardised
figures, two-fold cross-fitting over documents, the threshold's choice, reliability tables, and the
model folder with its check file and card."""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from qa.answer.abstain import CLIP, FEATURES
from qa.answer.compose import Rules
from qa.models.abstainer import CHECK_FILE, WEIGHTS_FILE, Abstainer
from qa.models.bundled import sha256
from qa.models.training.scorer import ship

#: the ridge on the standardised weights (a little: the figures are few and some move together)
L2 = 1.0
#: the kinds fitted on, and the one only chosen with (COVID-QA's development questions)
KINDS = ("answerable", "near", "away", "unanswerable")
CHOOSING = "covid"
BANDS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0000001)


def folds(asked: list[dict[str, Any]]) -> np.ndarray:
    """Two folds over documents, each about as large: the documents in the order of their titles'
    SHA-256, each to the fold with fewer cases of its kind so far (unanswerable questions and
    answerable ones balanced apart), so both folds hold the same mix and a model fitted on one is
    measured on a like one."""
    count: dict[tuple[str, str], int] = {}
    for a in asked:
        key = (a["title"], "unanswerable" if a["kind"] == "unanswerable" else "answerable")
        count[key] = count.get(key, 0) + 1
    load: dict[str, list[int]] = {"unanswerable": [0, 0], "answerable": [0, 0]}
    where: dict[str, int] = {}
    for (title, kind), n in sorted(count.items(), key=lambda kv: (hashlib.sha256(kv[0][0].encode()).hexdigest(), kv[0][1])):
        if title not in where:
            where[title] = int(np.argmin(load[kind]))
        load[kind][where[title]] += n
    return np.array([where[a["title"]] for a in asked])


def logistic_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = L2) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mean, scale, coef, intercept) of a weighted logistic regression on standardised `x`."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    beta = np.zeros(z.shape[1])
    ridge = np.full(z.shape[1], l2)
    ridge[-1] = 0.0  # the intercept is not shrunk
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -50, 50)))
        grad = z.T @ (w * (p - y)) + ridge * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(ridge + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    return mean, scale, beta[:-1], float(beta[-1])


def predict(model: tuple[np.ndarray, np.ndarray, np.ndarray, float], x: np.ndarray) -> np.ndarray:
    mean, scale, coef, intercept = model
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(((x - mean) / scale) @ coef + intercept, -50, 50))))


def answerable_weights(kinds: np.ndarray) -> np.ndarray:
    """Each answerable case weighs 1; each kind of unanswered case weighs as much in all as a third
    of the answerable ones (so no kind outweighs the others by its count)."""
    w = np.ones(len(kinds))
    n = float((kinds == "answerable").sum())
    for k in KINDS[1:]:
        m = (kinds == k).sum()
        if m:
            w[kinds == k] = n / 3 / m
    return w


def fit_heads(x: np.ndarray, kinds: np.ndarray, right: np.ndarray) -> dict[str, Any]:
    """Both heads on these cases: P(answerable) on every kind, P(right) on the questions as they come."""
    heads: dict[str, Any] = {"answerable": logistic_fit(x, (kinds == "answerable").astype(float), answerable_weights(kinds))}
    natural = (kinds == "answerable") | (kinds == "unanswerable")
    heads["confidence"] = logistic_fit(x[natural], right[natural].astype(float), np.ones(int(natural.sum())))
    return heads


def reliability(p: np.ndarray, right: np.ndarray) -> list[dict[str, Any]]:
    """In each confidence band: how many answers, their mean confidence, how often the quote was right."""
    out = []
    for lo, hi in zip(BANDS[:-1], BANDS[1:], strict=True):
        m = (p >= lo) & (p < hi)
        out.append({"band": f"{lo:.1f}-{min(hi, 1.0):.1f}", "n": int(m.sum()),
                    "confidence": round(float(p[m].mean()), 3) if m.any() else None,
                    "right": round(float(right[m].mean()), 3) if m.any() else None})
    return out


def ece(p: np.ndarray, right: np.ndarray) -> float:
    bins = np.minimum((p * 10).astype(int), 9)
    return float(sum(abs(p[bins == k].mean() - right[bins == k].mean()) * (bins == k).sum() for k in range(10)
                     if (bins == k).any()) / max(1, len(p)))


def choose(p_held: np.ndarray, p_covid: np.ndarray, held_false: float, covid_false: float,
           held_base: np.ndarray | None = None, covid_base: np.ndarray | None = None) -> float:
    """The highest threshold that refuses at most `held_false` of the held-out answerable questions
    and `covid_false` of COVID-QA's, given their P(answerable) and which of them are refused
    whatever it says (`*_base`: the strict kinds' veto, the hand-set rules where the model does not judge)."""
    hb = np.zeros(len(p_held), bool) if held_base is None else held_base
    cb = np.zeros(len(p_covid), bool) if covid_base is None else covid_base
    best = 0.0
    for t in sorted(set(np.round(np.concatenate([p_held, p_covid]), 6).tolist())):
        held = ((p_held < t) | hb).mean() if len(p_held) else 0.0
        covid = ((p_covid < t) | cb).mean() if len(p_covid) else 0.0
        if held <= held_false and covid <= covid_false:
            best = t
        else:
            break
    return float(best)


def _arrays(asked: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    have = np.array([a["signals"] is not None for a in asked])
    x = np.array([[a["signals"][f] for f in FEATURES] if a["signals"] else [0.0] * len(FEATURES) for a in asked])
    col = {f: x[:, i] for i, f in enumerate(FEATURES)}
    rules = np.array([a["rules_abstain"] for a in asked], dtype=bool)
    # refused whatever the model says, as the answer step does (a count quoted without a figure, a
    # quote lacking the kind asked for that the reader doubts)
    shipped = Rules()
    strict = rules & np.array([bool(a["signals"]) and shipped.overrule_model(a["signals"]) for a in asked])
    return {"have": have, "x": x, "kinds": np.array([a["kind"] for a in asked]), "right": np.array([a["right"] for a in asked]),
            "folds": folds(asked), "rules": rules,
            # the model judges a quote the reader read (body text: what it was fitted on); the hand-set
            # rules judge the rest (a title or byline quoted, which no training question asks for)
            "judged": have & (col["reader_quote"] > -CLIP), "strict": strict & have}


def measure(asked: list[dict[str, Any]], held_false: float, covid_false: float) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Cross-fitted figures, the models fitted on every case, and the threshold chosen."""
    a = _arrays(asked)
    x, kinds, right, rules, judged = a["x"], a["kinds"], a["right"], a["rules"], a["judged"]
    fitted = judged & np.isin(kinds, KINDS)
    p_ans, p_conf = np.zeros(len(asked)), np.zeros(len(asked))
    for f in (0, 1):
        train, test = fitted & (a["folds"] != f), fitted & (a["folds"] == f)
        if train.any() and test.any() and len(set(kinds[train])) > 1:
            heads = fit_heads(x[train], kinds[train], right[train])
            p_ans[test], p_conf[test] = predict(heads["answerable"], x[test]), predict(heads["confidence"], x[test])
    heads = fit_heads(x[fitted], kinds[fitted], right[fitted])
    covid = judged & (kinds == CHOOSING)
    p_ans[covid], p_conf[covid] = predict(heads["answerable"], x[covid]), predict(heads["confidence"], x[covid])
    base = np.where(judged, a["strict"], rules)  # refused whatever the threshold
    held, cov = kinds == "answerable", kinds == CHOOSING
    t = choose(np.where(judged, p_ans, 1.0)[held], np.where(judged, p_ans, 1.0)[cov], held_false, covid_false,
               base[held], base[cov])
    refused = np.where(judged, (p_ans < t) | a["strict"], rules)
    figures: dict[str, Any] = {"threshold": round(t, 6), "cases": {k: int((kinds == k).sum()) for k in (*KINDS, CHOOSING)},
                               "judged_by_rules": int((~judged).sum())}
    for k in (*KINDS, CHOOSING):
        m = kinds == k
        if m.any():
            figures[k] = {"refused": round(float(refused[m].mean()), 4), "refused_by_rules": round(float(rules[m].mean()), 4)}
    natural = np.isin(kinds, ("answerable", "unanswerable")) & judged
    answered = ~refused & natural
    figures["right_when_answered"] = {
        "model": round(float(right[answered].mean()), 4) if answered.any() else None,
        "rules": round(float(right[~rules & natural].mean()), 4) if (~rules & natural).any() else None}
    reader = 1.0 / (1.0 + np.exp(-x[:, FEATURES.index("reader_quote")]))
    before = ~rules & natural  # what the hand-set rules answered, with the reader's probability shown
    only = answered & held
    figures["reliability"] = {
        "model": reliability(p_conf[answered], right[answered]), "model_ece": _ece(p_conf, right, answered),
        "model_answerable": reliability(p_conf[only], right[only]), "model_answerable_ece": _ece(p_conf, right, only),
        "reader_before": reliability(reader[before], right[before]), "reader_before_ece": _ece(reader, right, before)}
    figures["answerable_auc"] = round(_auc(p_ans[fitted], kinds[fitted] == "answerable"), 4)
    return figures, heads, t


def _ece(p: np.ndarray, right: np.ndarray, m: np.ndarray) -> float | None:
    return round(ece(p[m], right[m]), 4) if m.any() else None


def _auc(p: np.ndarray, y: np.ndarray) -> float:
    pos, neg = p[y], p[~y]
    if not len(pos) or not len(neg):
        return 0.0
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]))) + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def fit_and_write(asked: list[dict[str, Any]], record: dict[str, Any], args: argparse.Namespace) -> None:
    figures, heads, t = measure(asked, args.held_out_false, args.covid_false)
    weights = {"features": list(FEATURES),
               "mean": heads["answerable"][0].tolist(), "scale": heads["answerable"][1].tolist(), "threshold": t}
    # one standardisation for both heads: the confidence head's weights re-expressed on it
    m_a, s_a = heads["answerable"][0], heads["answerable"][1]
    m_c, s_c, coef_c, b_c = heads["confidence"]
    coef = coef_c * s_a / s_c
    weights["answerable"] = {"coef": heads["answerable"][2].tolist(), "intercept": heads["answerable"][3]}
    weights["confidence"] = {"coef": coef.tolist(), "intercept": float(b_c + ((m_a - m_c) / s_c) @ coef_c)}
    first = next(a for a in asked if a["signals"])
    with tempfile.TemporaryDirectory(prefix="abstain-model-") as tmp:
        out = Path(tmp) / "model"
        out.mkdir()
        (out / WEIGHTS_FILE).write_text(json.dumps(weights, indent=1) + "\n")
        card: dict[str, Any] = {"model": "qa abstention model (two logistic regressions over the answer step's figures)",
                                "files": {WEIGHTS_FILE: sha256(out / WEIGHTS_FILE)},
                                "canary": {"signals": first["signals"], "answerable": 0.0, "confidence": 0.0}}
        (out / CHECK_FILE).write_text(json.dumps(card))
        got = Abstainer(out, verify=False).judge(first["signals"])
        card["canary"] |= {"answerable": got.answerable, "confidence": got.confidence}
        card["training"] = record | {"l2": L2, "held_out_false": args.held_out_false, "covid_false": args.covid_false}
        card["evaluation"] = figures
        (out / CHECK_FILE).write_text(json.dumps(card, indent=1) + "\n")
        (out / "MODEL_CARD.md").write_text(model_card(card, weights))
        Abstainer(out).warm_up()  # what ships passes its own self-check
        ship(out, args.out)
    print(f"train_abstain: threshold {t:.4f}; cross-fitted: " + ", ".join(
        f"{k} refused {figures[k]['refused']} (rules {figures[k]['refused_by_rules']})" for k in (*KINDS, CHOOSING) if k in figures),
        flush=True)


def _span_hash(t: dict[str, Any]) -> str:
    """The span model's hash, for a model fitted since it helps choose the quote."""
    span = t["fitted_with"].get("span")
    return f" and the span model `{span[:16]}...`" if span else ""


def _bands(*tables: list[dict[str, Any]]) -> str:
    def cells(r: dict[str, Any]) -> str:
        return " | ".join(str(r[k]) if r[k] is not None else "-" for k in ("n", "confidence", "right"))

    return "\n".join(f"| {rows[0]['band']} | " + " | ".join(cells(r) for r in rows) + " |" for rows in zip(*tables, strict=True))


def model_card(card: dict[str, Any], weights: dict[str, Any]) -> str:
    t, e = card["training"], card["evaluation"]
    kinds = {"answerable": "answerable, of their own document", "near": "the same, of their document without the paragraphs holding the answer",
             "away": "the same, of another article", "unanswerable": "SQuAD 2.0's unanswerable, of their own document",
             CHOOSING: "COVID-QA development questions, each of its own paper (choosing only)"}
    rows = "\n".join(f"| {kinds[k]} | {e['cases'][k]} | {e[k]['refused']} | {e[k]['refused_by_rules']} |"
                     for k in (*KINDS, CHOOSING) if k in e)
    coefs = "\n".join(f"| {f} | {a:+.3f} | {c:+.3f} |" for f, a, c in
                      zip(weights["features"], weights["answerable"]["coef"], weights["confidence"]["coef"], strict=True))
    data = ", ".join(f"`{n}` (SHA-256 `{h}`)" for n, h in t["data"].items())
    r = e["reliability"]
    return f"""# The abstention model

Written by `qa/models/training/abstain.py` (do not edit by hand; rerun the script).

- **What**: two logistic regressions (L2 {t['l2']}, standardised figures) over what the answer step computes
  for a question (`qa.answer.abstain.FEATURES`): P(the documents answer it), under {e['threshold']:.4f} the
  assistant abstains; and P(the quote is right), the confidence shown. It judges quotes the reader read (body
  text); a count quoted without any figure is still refused whatever it says (`Rules.strict_kinds`), as is a quote
  without the kind asked for that the reader gives under {Rules().untyped_reader} (`Rules.untyped_reader`), and a title or
  byline quoted is judged by the hand-set rules, with no confidence shown.
- **Data**: {data}. Documents the shipped reader, scorer and span model never trained on: held out by their cards
  ({', '.join(t['held_out_documents'])}: every answerable question) and {len(t['more_documents'])} articles of
  squad_train_more.jsonl (at most {t['per_doc']} answerable questions each), each question asked three ways;
  SQuAD 2.0's unanswerable questions
  ({', '.join(t['unanswerable_documents'])}). Fitted with the reader `{t['fitted_with']['reader'][:16]}...`, the
  scorer `{t['fitted_with']['scorer'][:16]}...`{_span_hash(t)} (model.onnx SHA-256): a retrained model needs this script rerun.
- **Never seen**: the eight SQuAD evaluation documents and the article (checked in both files by title,
  question id and paragraph text). COVID-QA's development questions only choose the threshold.
- **Run**: {t['asked']} cases asked through the answer step in this run, {t['read_back']} read back from an
  earlier run's `--features` file; {t['seconds']} s in all.
- **Threshold**: the highest refusing at most {t['held_out_false']} of the answerable questions (cross-fitted)
  and at most {t['covid_false']} of COVID-QA's.

## Cross-fitted figures (two folds over documents: no case judged by a model fitted on its document)

| cases | n | refused | refused by the hand-set rules before |
|---|---|---|---|
{rows}

{e['judged_by_rules']} cases quoted a sentence the reader did not read (judged by the hand-set rules, as in the answer
step). Area under the ROC curve, answerable against the rest: {e['answerable_auc']}. Quotes right when answered
(answerable and unanswerable questions of their own documents): {e['right_when_answered']['model']} (the hand-set
rules: {e['right_when_answered']['rules']}).

Reliability of the confidence shown (in each band, how often the quote was right), cross-fitted, on the
questions answered: answerable and unanswerable ones of their own documents (ECE {r['model_ece']}), and the
answerable ones alone (ECE {r['model_answerable_ece']}); beside them the reader's probability, which was shown
before, on what the hand-set rules answered (ECE {r['reader_before_ece']}):

| confidence | answers | mean confidence | quote right | answerable alone: answers | mean | right | reader before: answers | mean | right |
|---|---|---|---|---|---|---|---|---|---|
{_bands(r['model'], r['model_answerable'], r['reader_before'])}

## Weights (on standardised figures)

| figure | answerable | confidence |
|---|---|---|
{coefs}
"""
