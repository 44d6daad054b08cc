"""The records of selection, kept in :mod:`harness.records` (below the store, which writes them)."""

from harness.records import Candidate, Cell, GeneratedTest, PassMatrix, Provenance, Ranking

__all__ = ["Candidate", "Cell", "GeneratedTest", "PassMatrix", "Provenance", "Ranking"]
