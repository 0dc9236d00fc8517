"""`python -m qa.models.prepare`: builds the bundled model's ONNX export (and checks it) when it is
missing or damaged; `scripts/setup` runs it once, so `qa ask`, `qa serve` and the Python API then
answer without importing torch."""

from __future__ import annotations

import sys

from qa.config import MODEL_NAME
from qa.models.embedder import MiniLM


def main() -> int:
    model = MiniLM(backend="onnx", warn=lambda m: print(f"qa: {m}", file=sys.stderr))
    model.warm_up()
    print(f"qa: the ONNX export of {MODEL_NAME} is ready in {model.export_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
