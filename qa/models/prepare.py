"""`python -m qa.models.prepare`: builds the bundled model's ONNX export (and checks it) when it is
missing or damaged, and its int8 copy (which embeds questions and index builds) unless
$QA_INDEX_INT8 is 0; `scripts/setup` runs it once, so `qa ask`, `qa serve` and the Python API then
answer without importing torch."""

from __future__ import annotations

import sys

from qa.config import MODEL_NAME
from qa.models.embedder import MiniLM


def main() -> int:
    model = MiniLM(backend="onnx", warn=lambda m: print(f"qa: {m}", file=sys.stderr))
    model.warm_up()
    copy = " and its int8 copy are" if model.vectors == "int8" else " is"
    print(f"qa: the ONNX export of {MODEL_NAME}{copy} ready in {model.export_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
