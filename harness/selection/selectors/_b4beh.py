"""``b4-beh``: ours. B4's consensus sets refined by behaviour (outputs on the tests' inputs).

B4 (Chen et al., ASE 2024) scores each hypothesis "consensus set ``k`` (the programs sharing one pass
row) is exactly the correct programs, and its row the correct tests" and picks uniformly inside the best
set. Two things it leaves on the table, which this selector uses:

* **Behaviour inside a set.** Programs with identical pass rows can still compute different values on
  the inputs of the tests they fail (``PassMatrix.outputs``). Correct programs compute the same function,
  so under B4's hypothesis they form *one* behaviour cluster inside set ``k``. Which cluster it is we do
  not know; by self-consistency (MBR-exec) a behaviour's chance of being the correct one is taken
  proportional to how many samples wrote it. The score of candidate ``i`` in set ``k`` and behaviour
  cluster ``c`` is therefore the log posterior of "``i``'s behaviour is the correct one"::

      score(i) = log P_B4(k) + log(samples in c / samples in k)

* **Nothing to go on.** Without a single passing cell every row is in one set and the score reduces to
  MBR-exec over behaviour (largest cluster of identical outputs), instead of B4's random pick. Only when
  the outputs do not separate anything either is the ranking unranked (the metric's random fallback).

Hyperparameters are B4's released defaults (``beta0 = 1e5``, ``alpha_xy = 1e3``), fixed in advance.
The other options are the variants V2..V7 logged in docs/selector.md with their figures, kept so that
every logged figure can be reproduced; none of them beat the default on the criterion.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.selection._types import Cell, PassMatrix, Ranking
from harness.selection.selectors._agreement import B4Params, b4_set_scores, betaln
from harness.selection.selectors._common import (
    BoolArray,
    FloatArray,
    IntArray,
    all_tied,
    consensus_sets,
    group_keys,
    ranking_from_scores,
)

NAME = "b4-beh"

BETA0_GRID = tuple(10.0**e for e in range(8))
"""``fit_priors``: candidate values of ``beta0`` (1 .. 1e7), fixed before any evaluation."""
ALPHA_GRID = tuple(10.0**e for e in range(5))
"""``fit_priors``: candidate values of ``alpha_xy`` (1 .. 1e4), fixed before any evaluation."""


class B4BehParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    beta0: float = Field(default=1e5, gt=0)
    """B4's prior ``Beta(1, beta0)`` on the rate at which wrong programs pass wrong tests (B4's default)."""
    alpha_xy: float = Field(default=1e3, gt=0)
    """B4's prior ``Beta(alpha_xy, 1)`` on the share of correct programs and of correct tests."""
    behaviour: bool = True
    """Split consensus sets by output hashes (off: exactly B4's ranking, plus the behaviour fallback)."""
    sample_rows: bool = False
    """Variant V2: B4's rows are samples (weighted by ``candidate_counts``) rather than distinct programs."""
    prior_counts: bool = False
    """Variant V4: count samples (and test samples) in B4's two prior terms only; the likelihood terms
    keep distinct programs and tests."""
    hypotheses: Literal["set", "behaviour"] = "set"
    """Variant V5 (``behaviour``): B4's four terms score behaviour clusters directly, no share term."""
    drop_unrun: bool = False
    """Variant V6: rows that never ran (every cell ERROR) are left out of the scoring and ranked last."""
    drop_dead_tests: bool = False
    """Part of variant V7: tests that ran against none of the (remaining) rows are left out."""
    fit_priors: bool = False
    """Variant V3: ``beta0``/``alpha_xy`` chosen per task on :data:`BETA0_GRID` x :data:`ALPHA_GRID` by
    maximum marginal likelihood of the unlabelled matrix (overrides ``beta0``/``alpha_xy``)."""


def _betaln1(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def log_marginal(
    passed: BoolArray, layouts: BoolArray, inverse: IntArray, w: FloatArray, v: FloatArray, p: B4Params
) -> float:
    """Log marginal likelihood of the matrix under B4's model restricted to consensus-set hypotheses.

    B4's score is its joint up to constants that depend on the priors; adding the Beta normalisers makes
    the joints comparable across ``(beta0, alpha_xy)``. Uses no ground truth.
    """
    joint = b4_set_scores(passed, layouts, inverse, w, v, p)
    joint = joint - 2.0 * _betaln1(p.alpha_xy, 1.0) - _betaln1(1.0, p.beta0)
    top = float(joint.max())
    return top + math.log(float(np.exp(joint - top).sum()))


def fit_priors(
    passed: BoolArray, layouts: BoolArray, inverse: IntArray, w: FloatArray, v: FloatArray
) -> B4Params:
    """The grid point of (beta0, alpha_xy) with the highest :func:`log_marginal` (first one on ties)."""
    grid = [B4Params(beta0=beta0, alpha_xy=alpha) for beta0 in BETA0_GRID for alpha in ALPHA_GRID]
    values = [log_marginal(passed, layouts, inverse, w, v, p) for p in grid]
    return grid[int(np.argmax(values))]


def behaviour_share(matrix: PassMatrix, inverse: IntArray) -> FloatArray:
    """For every candidate: samples of its behaviour cluster inside its consensus set / samples of the set.

    A behaviour cluster is the candidates of one set with identical output hashes on every test (0,
    "unknown", is a value like any other, as in ``mbr-behaviour``). Without outputs every share is 1.
    """
    n = matrix.shape[0]
    if matrix.outputs is None or matrix.shape[1] == 0:
        return np.ones(n, dtype=np.float64)
    cluster = behaviour_clusters(matrix, inverse)
    w = matrix.candidate_counts.astype(np.float64)
    if float(w.min()) <= 0:  # a zero-count row would make a share 0/0; count it once
        w = np.maximum(w, 1.0)
    in_cluster = np.bincount(cluster, weights=w)[cluster]
    in_set = np.bincount(inverse, weights=w)[inverse]
    share: FloatArray = in_cluster / in_set
    return share


def _rank_ran_first(
    matrix: PassMatrix, ran: BoolArray, live_tests: BoolArray, params: B4BehParams
) -> Ranking:
    """Score the rows in ``ran`` on the tests in ``live_tests``; the other rows form one last group."""
    rows = np.flatnonzero(ran)
    if rows.size == 0:
        return all_tied(NAME, matrix, ranked=False)
    live = np.flatnonzero(live_tests)
    sub = PassMatrix(
        matrix.task_id,
        [matrix.candidate_ids[i] for i in rows],
        [matrix.test_ids[j] for j in live],
        matrix.cells[np.ix_(rows, live)],
        matrix.times_ms[np.ix_(rows, live)],
        matrix.candidate_counts[rows],
        matrix.test_counts[live],
        None if matrix.outputs is None else matrix.outputs[np.ix_(rows, live)],
    )
    inner = b4_behaviour(sub, params.model_copy(update={"drop_unrun": False, "drop_dead_tests": False}))
    if not inner.ranked:
        return all_tied(NAME, matrix, ranked=False)
    ran_scores = np.asarray(inner.scores, dtype=np.float64)
    scores = np.full(matrix.shape[0], float(ran_scores.min()) - 1e6)
    scores[rows] = ran_scores
    return ranking_from_scores(NAME, matrix, scores)


def joint_scores(
    passed: BoolArray,
    layouts: BoolArray,
    inverse: IntArray,
    w: FloatArray,
    v: FloatArray,
    prior_w: FloatArray,
    prior_v: FloatArray,
    p: B4Params,
) -> FloatArray:
    """B4's four log-Beta terms per hypothesis, with separate weights for the likelihood and the priors.

    ``w``/``v`` weigh rows/tests in the two likelihood terms (how wrong programs pass correct and wrong
    tests); ``prior_w``/``prior_v`` in the two prior terms (share of correct programs, of correct tests).
    With ``prior_w == w`` and ``prior_v == v`` this is exactly :func:`b4_set_scores`. Every hypothesis'
    rows must pass exactly its layout (true for pass-row sets and for behaviour clusters inside them).
    """
    k = layouts.shape[0]
    y = layouts.astype(np.float64)
    n_rows, m_tot = float(w.sum()), float(v.sum())
    n_x = np.bincount(inverse, weights=w, minlength=k)
    n_y = y @ v
    col = w @ passed.astype(np.float64)
    ones_in_e1 = y @ (col * v) - n_x * n_y
    ones_in_e0 = (1.0 - y) @ (col * v)
    size_e1 = (n_rows - n_x) * n_y
    size_e0 = (n_rows - n_x) * (m_tot - n_y)
    px_n, py_n = float(prior_w.sum()), float(prior_v.sum())
    px_k = np.bincount(inverse, weights=prior_w, minlength=k)
    py_k = y @ prior_v
    log_px = betaln(px_k + p.alpha_xy, px_n - px_k + 1.0)
    log_py = betaln(py_k + p.alpha_xy, py_n - py_k + 1.0)
    log_p1 = betaln(ones_in_e1 + 1.0, size_e1 - ones_in_e1 + 1.0)
    log_p0 = betaln(ones_in_e0 + 1.0, size_e0 - ones_in_e0 + p.beta0)
    out: FloatArray = log_px + log_py + log_p1 + log_p0
    return out


def behaviour_clusters(matrix: PassMatrix, set_inverse: IntArray) -> IntArray:
    """Cluster index per candidate: same consensus set and identical output hashes on every test.

    0 ("unknown", e.g. the call raised) is a value like any other, as in ``mbr-behaviour``. Without
    outputs the clusters are the consensus sets.
    """
    if matrix.outputs is None or matrix.shape[1] == 0:
        return set_inverse
    keys = np.concatenate([set_inverse[:, None], np.asarray(matrix.outputs, dtype=np.int64)], axis=1)
    _, cluster = group_keys(keys)
    return cluster


def b4_behaviour(matrix: PassMatrix, params: B4BehParams) -> Ranking:
    """Rank by the posterior that a candidate's behaviour is the correct one (module docstring)."""
    n, m = matrix.shape
    if n == 0 or m == 0:
        return all_tied(NAME, matrix, ranked=False)
    if params.drop_unrun or params.drop_dead_tests:
        ran = (matrix.cells != Cell.ERROR).any(axis=1) if params.drop_unrun else np.ones(n, np.bool_)
        live = (
            (matrix.cells[ran] != Cell.ERROR).any(axis=0) if params.drop_dead_tests else np.ones(m, np.bool_)
        )
        if not (bool(ran.all()) and bool(live.all())):
            return _rank_ran_first(matrix, ran, live, params)
    passed = matrix.passed
    layouts, inverse = consensus_sets(passed)
    counts = np.maximum(matrix.candidate_counts.astype(np.float64), 1.0)
    w = counts if params.sample_rows else np.ones(n, dtype=np.float64)
    v = np.ones(m, dtype=np.float64)
    prior_w = counts if params.prior_counts else w
    prior_v = np.maximum(matrix.test_counts.astype(np.float64), 1.0) if params.prior_counts else v
    if params.fit_priors and bool(passed.any()):
        b4p = fit_priors(passed, layouts, inverse, w, v)
    else:
        b4p = B4Params(beta0=params.beta0, alpha_xy=params.alpha_xy)
    if params.hypotheses == "behaviour":
        cluster = behaviour_clusters(matrix, inverse)
        first = np.zeros(int(cluster.max()) + 1, dtype=np.int64)
        first[cluster[::-1]] = np.arange(n - 1, -1, -1)
        scores = joint_scores(passed, passed[first], cluster, w, v, prior_w, prior_v, b4p)[cluster]
    else:
        set_scores = joint_scores(passed, layouts, inverse, w, v, prior_w, prior_v, b4p)
        share = behaviour_share(matrix, inverse) if params.behaviour else np.ones(n, dtype=np.float64)
        scores = set_scores[inverse] + np.log(share)
    ranking = ranking_from_scores(NAME, matrix, scores)
    if not bool(passed.any()) and len(ranking.groups) == 1:
        # Neither passes nor outputs tell the candidates apart: let the metric fall back (as B4 does).
        return all_tied(NAME, matrix, ranked=False)
    return ranking
