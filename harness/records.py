"""Typed records that cross package boundaries: candidates, generated tests, the pass matrix, rankings.

They sit at the bottom of the layers (docs/ARCHITECTURE.md) because every stage and the store hold them:
the selection engine fills a :class:`PassMatrix`, selectors return a :class:`Ranking`, search and the
pipeline make :class:`Candidate` s, and the store writes all of them into a run's folder.
``harness.selection`` re-exports them, and that is where most code imports them from.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field


class Cell(IntEnum):
    """Outcome of one (candidate, test) cell. Only ``PASS`` counts as passing."""

    FAIL = 0
    PASS = 1
    ERROR = 2
    TIMEOUT = 3


class Provenance(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str = ""
    """Where it came from: a pool file, a trajectory id, a model spec."""
    model: str = ""
    sample_index: int | None = None
    cost_usd: float = 0.0


class Candidate(BaseModel):
    """A candidate program (function body completion or full program) or patch."""

    model_config = ConfigDict(frozen=True)

    id: str
    task_id: str
    code: str
    provenance: Provenance = Field(default_factory=Provenance)


class GeneratedTest(BaseModel):
    """A model-generated test (e.g. one ``assert`` line). Never a hidden (ground-truth) test."""

    model_config = ConfigDict(frozen=True)

    id: str
    task_id: str
    code: str
    provenance: Provenance = Field(default_factory=Provenance)


class PassMatrix:
    """Candidates x tests outcomes over *distinct* candidates and *distinct* tests (of one task).

    ``cells[i, j]`` is a :class:`Cell` code; ``times_ms[i, j]`` its run time. ``candidate_counts[i]`` and
    ``test_counts[j]`` keep the multiplicity of each distinct program and test in the original samples,
    so protocols that count duplicates (CodeT) and those that do not (B4) can both be computed.
    """

    __slots__ = (
        "candidate_counts",
        "candidate_ids",
        "cells",
        "outputs",
        "task_id",
        "test_counts",
        "test_ids",
        "times_ms",
    )

    def __init__(
        self,
        task_id: str,
        candidate_ids: list[str],
        test_ids: list[str],
        cells: npt.NDArray[np.int8],
        times_ms: npt.NDArray[np.float32] | None = None,
        candidate_counts: npt.NDArray[np.int64] | None = None,
        test_counts: npt.NDArray[np.int64] | None = None,
        outputs: npt.NDArray[np.int64] | None = None,
    ) -> None:
        n, m = len(candidate_ids), len(test_ids)
        if cells.shape != (n, m):
            raise ValueError(f"cells has shape {cells.shape}, expected ({n}, {m})")
        self.task_id = task_id
        self.candidate_ids = candidate_ids
        self.test_ids = test_ids
        self.cells = cells.astype(np.int8, copy=False)
        self.times_ms = times_ms if times_ms is not None else np.zeros((n, m), dtype=np.float32)
        self.candidate_counts = (
            candidate_counts if candidate_counts is not None else np.ones(n, dtype=np.int64)
        )
        self.test_counts = test_counts if test_counts is not None else np.ones(m, dtype=np.int64)
        self.outputs = outputs
        """Optional behaviour: ``outputs[i, j]`` is a 64-bit hash of what candidate ``i`` computed on test
        ``j``'s input (e.g. the left side of ``assert f(x) == y``), 0 where unknown. Used by MBR-exec."""

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.candidate_ids), len(self.test_ids))

    @property
    def passed(self) -> npt.NDArray[np.bool_]:
        """Boolean matrix: True where the cell passed."""
        out: npt.NDArray[np.bool_] = self.cells == Cell.PASS
        return out


class Ranking(BaseModel):
    """A selector's verdict: ``groups`` lists tied groups of candidate indices, best group first.

    Every candidate appears in exactly one group. Metrics take the exact expectation over a tied group
    (a uniformly random pick inside it), which is the tie-break rule unless a selector documents another.
    """

    model_config = ConfigDict(frozen=True)

    selector: str
    task_id: str
    scores: list[float]
    groups: list[list[int]]
    ranked: bool = True
    """False when the selector had nothing to go on (e.g. no tests); metrics may then fall back."""

    @property
    def top(self) -> list[int]:
        return self.groups[0] if self.groups else []
