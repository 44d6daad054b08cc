"""Consensus-set selectors: CodeT's dual agreement and B4, as in their released code."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from harness.selection._types import PassMatrix, Ranking
from harness.selection.selectors._common import (
    BoolArray,
    FloatArray,
    IntArray,
    all_tied,
    consensus_sets,
    nothing_to_go_on,
    ranking_from_scores,
    weights,
)


class CodeTParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: Literal["released", "paper"] = "released"
    """``released``: tests x sqrt(solutions), as ``agreement.py`` computes it; ``paper``: tests x solutions
    (the product written in the CodeT paper)."""
    solution_multiplicity: bool = True
    """Count duplicate samples of a program (the released code expands each distinct solution into its
    sample ids)."""
    test_multiplicity: bool = True
    """Count duplicate test samples (the released code expands each distinct test into its sample ids)."""


def codet(matrix: PassMatrix, params: CodeTParams) -> Ranking:
    """Dual execution agreement (Chen et al., 2022), matching microsoft/CodeT ``agreement.py``.

    A consensus set is the candidates that pass exactly the same (non-empty) set of tests. Its score is
    ``|tests| * sqrt(|solutions|)`` with both sizes counted over samples (duplicates included). Each
    candidate gets its set's score. Candidates passing no test are not in any set in the released code;
    they get 0 here, below every set (a set's score is >= 1). No passing cell at all: unranked.
    """
    if nothing_to_go_on(matrix):
        return all_tied("codet", matrix, ranked=False)
    passed = matrix.passed
    layouts, inverse = consensus_sets(passed)
    n_solutions = np.bincount(inverse, weights=weights(matrix.candidate_counts, params.solution_multiplicity))
    n_tests = layouts.astype(np.float64) @ weights(matrix.test_counts, params.test_multiplicity)
    solution_term = np.sqrt(n_solutions) if params.score == "released" else n_solutions
    set_scores: FloatArray = n_tests * solution_term
    return ranking_from_scores("codet", matrix, set_scores[inverse])


class B4Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    beta0: float = Field(default=1e5, gt=0)
    """Prior ``Beta(1, beta0)`` on the rate at which wrong solutions pass wrong tests (B4 sweeps 1e4, 1e5,
    1e6; 1e5 is our default)."""
    alpha_xy: float = Field(default=1e3, gt=0)
    """Prior ``Beta(alpha_xy, 1)`` on the share of correct solutions and of correct tests."""
    multiplicity: bool = False
    """Treat each *sample* as a row/column (duplicates repeated). The released B4 works on distinct
    solutions and distinct tests, so this is off by default."""


_lgamma = np.frompyfunc(math.lgamma, 1, 1)


def betaln(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> FloatArray:
    """``log B(a, b)`` elementwise (numpy has no lgamma; the arrays here hold a few hundred values)."""
    lg_a = np.asarray(_lgamma(a), dtype=np.float64)
    lg_b = np.asarray(_lgamma(b), dtype=np.float64)
    lg_ab = np.asarray(_lgamma(np.add(a, b)), dtype=np.float64)
    out: FloatArray = lg_a + lg_b - lg_ab
    return out


def b4_set_scores(
    passed: BoolArray, layouts: BoolArray, inverse: IntArray, w: FloatArray, v: FloatArray, p: B4Params
) -> FloatArray:
    """Log posterior (up to a constant) of "consensus set k is exactly the correct solutions and its
    layout exactly the correct tests", for every set k, without materialising the sub-matrices."""
    n_rows, m_tot = float(w.sum()), float(v.sum())
    n_x = np.bincount(inverse, weights=w, minlength=layouts.shape[0])
    y = layouts.astype(np.float64)
    n_y = y @ v
    col = w @ passed.astype(np.float64)  # weighted passes per test over all rows
    ones_in_e1 = y @ (col * v) - n_x * n_y  # rows outside the set, tests in the layout
    ones_in_e0 = (1.0 - y) @ (col * v)  # rows outside the set, tests outside the layout
    size_e1 = (n_rows - n_x) * n_y
    size_e0 = (n_rows - n_x) * (m_tot - n_y)
    log_py = betaln(n_y + p.alpha_xy, m_tot - n_y + 1.0)
    log_px = betaln(n_x + p.alpha_xy, n_rows - n_x + 1.0)
    log_p1 = betaln(ones_in_e1 + 1.0, size_e1 - ones_in_e1 + 1.0)
    log_p0 = betaln(ones_in_e0 + 1.0, size_e0 - ones_in_e0 + p.beta0)
    out: FloatArray = log_px + log_py + log_p1 + log_p0
    return out


def b4(matrix: PassMatrix, params: B4Params) -> Ranking:
    """B4 (Chen et al., ASE 2024), matching ZJU-CTAG/B4 ``strategy.B4``.

    Every distinct pass row (including all-fail rows) defines a hypothesis: its candidates are the
    correct ones and the tests it passes are the correct tests. The score is the sum of four log-Beta
    terms: the prior on the number of correct tests and of correct solutions (``alpha_xy``), the rate at
    which the other solutions pass the correct tests (uniform prior), and the rate at which they pass the
    wrong ones (``beta0``). Vectorised: O(sets x tests) after one pass over the matrix.
    """
    if nothing_to_go_on(matrix):
        return all_tied("b4", matrix, ranked=False)
    passed = matrix.passed
    layouts, inverse = consensus_sets(passed)
    w = weights(matrix.candidate_counts, params.multiplicity)
    v = weights(matrix.test_counts, params.multiplicity)
    scores = b4_set_scores(passed, layouts, inverse, w, v, params)
    return ranking_from_scores("b4", matrix, scores[inverse])
