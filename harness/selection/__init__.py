"""Selection: the pass-matrix engine, selectors over a typed matrix, and the metrics."""

from harness.selection._types import Candidate, Cell, GeneratedTest, PassMatrix, Provenance, Ranking

__all__ = ["Candidate", "Cell", "GeneratedTest", "PassMatrix", "Provenance", "Ranking"]
