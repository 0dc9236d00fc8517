"""Every answerable question of the held-out training documents, in the SQuAD sample's format.

    .venv/bin/python eval/held_out_questions.py --out /tmp/held-out.jsonl
    QA_EVAL_CACHE=/tmp/qa-vectors .venv/bin/python eval/scorer_ablation.py --questions /tmp/held-out.jsonl ...

The sample's `questions.jsonl` has 40 questions a document, so the ablation's held-out figures rest
on 240 questions; `qa_train.jsonl` holds every question of those documents (about 900 answerable).
Each is written with its answers' character spans in the document text of the sample's `docs/`
(its paragraph found there), so the pipeline can be measured on them as on the sample. These are
training material kept out of training (the documents qa/models/training/scorer.py holds out, read from
the shipped scorer's card), never the evaluation documents.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.eval.squad import doc_id  # noqa: E402
from qa.models.scorer import CHECK_FILE, MODEL_FOLDER  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "training" / "qa_train.jsonl")
    p.add_argument("--squad", type=Path, default=ROOT.parent / "shared" / "benchmarks" / "squad-v1.1-dev")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    held = json.loads((MODEL_FOLDER / CHECK_FILE).read_text())["training"]["held_out_documents"]
    texts = {t: (args.squad / "docs" / f"{doc_id(t)}.txt").read_text(encoding="utf-8") for t in held}
    lines, lost = [], 0
    for line in args.data.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["title"] not in texts or r["is_impossible"]:
            continue
        at = texts[r["title"]].find(r["context"])
        if at < 0:
            lost += 1
            continue
        spans = [[at + s, at + s + len(a)] for a, s in zip(r["answers"], r["answer_starts"], strict=True)]
        lines.append(json.dumps({"id": r["id"], "doc_id": doc_id(r["title"]), "question": r["question"],
                                 "answers": r["answers"], "answer_char_spans": spans}))
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"held_out_questions: {len(lines)} questions of {', '.join(held)} -> {args.out}"
          + (f" ({lost} whose paragraph is not in the document text left out)" if lost else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
