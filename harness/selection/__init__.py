"""Selection: the pass-matrix engine, selectors over a typed matrix, and the metrics."""

from harness.selection._types import Candidate, Cell, GeneratedTest, PassMatrix, Provenance, Ranking
from harness.selection.experiment import ExperimentResult, TaskData, run_experiment
from harness.selection.selectors import SELECTORS, select

__all__ = [
    "SELECTORS",
    "Candidate",
    "Cell",
    "ExperimentResult",
    "GeneratedTest",
    "PassMatrix",
    "Provenance",
    "Ranking",
    "TaskData",
    "run_experiment",
    "select",
]
