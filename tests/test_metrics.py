"""Metrics and the two protocols' rules, on hand-built cases."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from harness.selection import Cell, PassMatrix, Ranking
from harness.selection.metrics import (
    b4_keeps,
    b4_pass_at_1,
    b4_view,
    codet_pass_at_k,
    codet_view,
    default_ran,
    oracle,
    pass_at_k,
    random_pick,
)


def brute_pass_at_k(n: int, c: int, k: int) -> float:
    samples = [True] * c + [False] * (n - c)
    subsets = list(combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_pass_at_k_equals_brute_force_enumeration(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_k_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def ranking(groups: list[list[int]], ranked: bool = True) -> Ranking:
    n = sum(len(g) for g in groups)
    return Ranking(selector="s", task_id="t", scores=[0.0] * n, groups=groups, ranked=ranked)


def test_codet_pass_at_1_is_the_sample_weighted_share_in_the_top_group() -> None:
    correct = np.array([True, False, True, False])
    counts = np.array([3, 1, 1, 5])
    r = ranking([[0, 1], [2, 3]])
    assert codet_pass_at_k(r, correct, counts, 10) == pytest.approx(3 / 4)


def test_codet_falls_back_to_unbiased_pass_at_k_over_the_pool_when_unranked() -> None:
    correct = np.array([True, False])
    counts = np.array([2, 5])
    r = ranking([[0, 1]], ranked=False)
    # 2 correct of a pool of 10 samples (3 samples missing from the matrix count as wrong).
    assert codet_pass_at_k(r, correct, counts, 10) == pytest.approx(0.2)
    assert codet_pass_at_k(r, correct, counts, 10, k=2) == pytest.approx(pass_at_k(10, 2, 2))


def test_codet_pass_at_k_follows_the_released_choose_count_rule() -> None:
    correct = np.array([True, False, False])
    counts = np.array([1, 1, 2])
    r = ranking([[1, 0], [2]])
    p_top = 0.5  # one of two samples correct in the top group; the second group is all wrong
    assert codet_pass_at_k(r, correct, counts, 4, k=2) == pytest.approx(1 - (1 - p_top) * 1.0)
    # k=3 with two groups: the extra pick goes to the top group (with replacement).
    assert codet_pass_at_k(r, correct, counts, 4, k=3) == pytest.approx(1 - (1 - p_top) ** 2)


def matrix(cells: list[list[int]], counts: list[int]) -> PassMatrix:
    arr = np.array(cells, dtype=np.int8)
    return PassMatrix(
        "t",
        [f"c{i}" for i in range(arr.shape[0])],
        [f"x{j}" for j in range(arr.shape[1])],
        arr,
        candidate_counts=np.array(counts, dtype=np.int64),
        test_counts=np.array([2] * arr.shape[1], dtype=np.int64),
    )


E, P, F, T = int(Cell.ERROR), int(Cell.PASS), int(Cell.FAIL), int(Cell.TIMEOUT)


def test_default_ran_counts_all_error_rows_and_testless_tasks_as_not_run() -> None:
    m = matrix([[P, F], [E, E], [T, E], [F, F]], [1, 1, 1, 1])
    assert default_ran(m).tolist() == [True, False, True, True]
    empty = PassMatrix("t", ["a"], [], np.zeros((1, 0), dtype=np.int8))
    assert default_ran(empty).tolist() == [False]


def test_codet_view_wipes_passes_of_rows_that_did_not_run() -> None:
    m = matrix([[P, P], [P, F]], [1, 1])
    view = codet_view(m, np.array([True, False]))
    assert view.passed.tolist() == [[True, True], [False, False]]
    assert codet_view(m, np.array([True, True])) is m


def test_b4_view_keeps_distinct_rows_that_ran_with_unit_multiplicity() -> None:
    m = matrix([[P, F], [E, E], [F, P]], [3, 1, 2])
    correct = np.array([True, True, False])
    view, vc = b4_view(m, correct, default_ran(m))
    assert view.candidate_ids == ["c0", "c2"]
    assert view.candidate_counts.tolist() == [1, 1] and view.test_counts.tolist() == [1, 1]
    assert vc.tolist() == [True, False]


@pytest.mark.parametrize(
    "correct, max_px, keep",
    [
        ([True, False], 1.0, True),
        ([False, False], 1.0, False),
        ([True, True], 1.0, False),
        ([True, True, False], 0.6, False),
        ([True, False, False], 0.6, True),
        ([], 1.0, False),
    ],
)
def test_b4_filter_keeps_tasks_with_0_lt_p_lt_max_px(correct: list[bool], max_px: float, keep: bool) -> None:
    assert b4_keeps(np.array(correct, dtype=np.bool_), max_px) is keep


def test_b4_pass_at_1_is_the_distinct_share_in_the_top_group() -> None:
    r = ranking([[0, 1, 2], [3]])
    assert b4_pass_at_1(r, np.array([True, False, False, True])) == pytest.approx(1 / 3)


def test_oracle_and_random_pick() -> None:
    correct = np.array([False, True, False])
    assert oracle(correct) == 1.0 and oracle(~np.ones(3, dtype=np.bool_)) == 0.0
    assert random_pick(correct, np.array([1, 2, 7]), 10) == pytest.approx(0.2)
    assert random_pick(correct, None, None) == pytest.approx(1 / 3)
