"""Measuring answer quality: the article dev set, the SQuAD evaluation documents and COVID-QA dev."""

from pathlib import Path

#: where `qa eval --squad` looks when given no folder: ../shared/benchmarks/squad-v1.1-dev beside the
#: repository (the SQuAD sample is kept there, not in the repository: a clone alone has none)
SQUAD_DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "squad-v1.1-dev"
#: where `qa eval --covid` looks when given no folder: ../shared/benchmarks/covid-qa-dev beside the
#: repository (49 long papers and 841 questions; not part of the repository either)
COVID_DEFAULT = SQUAD_DEFAULT.parent / "covid-qa-dev"
