"""Measuring answer quality: the article dev set and the SQuAD evaluation documents."""

from pathlib import Path

#: where `qa eval --squad` looks when given no folder: ../shared/benchmarks/squad-v1.1-dev beside the
#: repository (the SQuAD sample is kept there, not in the repository: a clone alone has none)
SQUAD_DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "squad-v1.1-dev"
