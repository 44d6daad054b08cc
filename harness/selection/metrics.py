"""Metrics over rankings, under two named protocols. Every figure must carry its protocol's label.

``codet`` -- CodeT's protocol (microsoft/CodeT ``evaluation.py``): every task counts; candidates are
    weighted by how many of the original samples they stand for (duplicates counted); pass@1 is the exact
    expectation of a uniformly random pick among the *samples* of the top tied group; a task whose ranking
    is empty or unranked falls back to the unbiased pass@k of the whole pool.
``b4`` -- B4's protocol (ZJU-CTAG/B4 ``main.py``): distinct solutions and distinct tests only; only the
    candidates whose test program ran (the reference's ``passed`` flag) are rows; only tasks whose share
    of correct rows ``p`` satisfies ``0 < p < max_px`` (``max_px = 1`` by default) are kept; pass@1 is
    the share of correct distinct solutions in the top tied group.

Also: the unbiased pass@k estimator (Chen et al., 2021), oracle coverage and the random-pick expectation.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from harness.selection._types import Cell, PassMatrix, Ranking

ProtocolName = Literal["codet", "b4"]
BoolArray = npt.NDArray[np.bool_]

PROTOCOL_LABELS: dict[str, str] = {
    "codet": "CodeT: all tasks, dup. counted",
    "b4": "B4: 0<p<max_px, distinct",
}
"""Short labels for tables; the module docstring defines each protocol in full."""


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al., 2021): ``1 - C(n-c, k) / C(n, k)`` for ``c`` correct of ``n``."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    # The product form avoids huge binomials and matches the reference estimator to the last bit.
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def group_pick(group: list[int], correct: BoolArray, weights: npt.NDArray[np.float64]) -> float:
    """Probability that a pick uniform over ``group``'s weight (samples) is correct."""
    idx = np.asarray(group, dtype=np.int64)
    total = float(weights[idx].sum())
    if total <= 0:
        return 0.0
    return float(weights[idx][correct[idx]].sum()) / total


def codet_pass_at_k(
    ranking: Ranking, correct: BoolArray, counts: npt.NDArray[np.int64], n_samples: int, k: int = 1
) -> float:
    """CodeT protocol, one task. ``counts`` are the samples per distinct candidate; ``n_samples`` the
    pool size (samples missing from the matrix count as wrong in the fallback).

    For ``k > 1`` the released rule is kept: one pick from each of the first ``k`` groups, and when there
    are fewer groups the extra picks go round-robin from the top (picks inside a group with replacement).
    """
    n_correct = int(counts[correct].sum())
    if not ranking.ranked or not ranking.groups:
        return pass_at_k(n_samples, n_correct, k)
    w = counts.astype(np.float64)
    groups = ranking.groups[:k]
    picks = [1] * len(groups)
    for extra in range(max(0, k - len(groups))):
        picks[extra % len(groups)] += 1
    all_wrong = 1.0
    for group, n_pick in zip(groups, picks, strict=True):
        all_wrong *= (1.0 - group_pick(group, correct, w)) ** n_pick
    return 1.0 - all_wrong


def default_ran(matrix: PassMatrix) -> BoolArray:
    """Which candidates' test programs ran, when the engine does not say: a row with at least one
    pass, fail or timeout. An all-``ERROR`` row (e.g. a syntax error) counts as not run; so does every row
    of a task without tests (the reference skips such tasks)."""
    cells = matrix.cells
    ran: BoolArray = ((cells == Cell.PASS) | (cells == Cell.FAIL) | (cells == Cell.TIMEOUT)).any(axis=1)
    return ran


def codet_view(matrix: PassMatrix, ran: BoolArray) -> PassMatrix:
    """The matrix as CodeT's agreement sees it: rows whose program did not run have no passes."""
    if bool(ran.all()):
        return matrix
    cells = matrix.cells.copy()
    cells[~ran] = Cell.ERROR
    return PassMatrix(
        matrix.task_id,
        matrix.candidate_ids,
        matrix.test_ids,
        cells,
        matrix.times_ms,
        matrix.candidate_counts,
        matrix.test_counts,
        matrix.outputs,
    )


def b4_view(matrix: PassMatrix, correct: BoolArray, ran: BoolArray) -> tuple[PassMatrix, BoolArray]:
    """The matrix as B4's ``main.py`` builds ``E``: distinct rows that ran, every multiplicity 1."""
    rows = np.flatnonzero(ran)
    n_tests = matrix.shape[1]
    view = PassMatrix(
        matrix.task_id,
        [matrix.candidate_ids[i] for i in rows],
        list(matrix.test_ids),
        matrix.cells[rows],
        matrix.times_ms[rows],
        np.ones(rows.size, dtype=np.int64),
        np.ones(n_tests, dtype=np.int64),
        None if matrix.outputs is None else matrix.outputs[rows],
    )
    return view, correct[rows]


def b4_keeps(view_correct: BoolArray, max_px: float = 1.0) -> bool:
    """B4's task filter: ``0 < p < max_px`` with ``p`` the share of correct rows (no rows: dropped)."""
    if view_correct.size == 0:
        return False
    p = float(view_correct.mean())
    return p != 0.0 and p < max_px


def b4_pass_at_1(ranking: Ranking, view_correct: BoolArray) -> float:
    """B4 protocol, one kept task: share of correct distinct solutions in the top group."""
    if not ranking.groups:
        return 0.0
    return group_pick(ranking.top, view_correct, np.ones(view_correct.size))


def oracle(correct: BoolArray) -> float:
    """Oracle coverage: 1.0 when any candidate is correct (pass@n of the whole pool)."""
    return float(bool(np.asarray(correct).any()))


def random_pick(correct: BoolArray, counts: npt.NDArray[np.int64] | None, n_samples: int | None) -> float:
    """Expected correctness of a uniformly random sample (``counts``/``n_samples`` given: CodeT's
    pass@1 over the pool) or distinct candidate (``counts`` None: B4's Random)."""
    correct = np.asarray(correct, dtype=np.bool_)
    if counts is None:
        return float(correct.mean()) if correct.size else 0.0
    n = int(n_samples if n_samples is not None else counts.sum())
    return pass_at_k(n, int(counts[correct].sum()), 1) if n else 0.0
