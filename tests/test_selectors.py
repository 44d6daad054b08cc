"""Selectors on small hand-built matrices with hand-computed rankings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.selection import PassMatrix, Ranking, select
from harness.selection.selectors import SELECTORS, B4Params, b4


def matrix(
    rows: list[list[int]],
    counts: list[int] | None = None,
    test_counts: list[int] | None = None,
    outputs: list[list[int]] | None = None,
) -> PassMatrix:
    cells = np.array(rows, dtype=np.int8).reshape(len(rows), -1 if rows else 0)
    n, m = cells.shape
    return PassMatrix(
        "t",
        [f"c{i}" for i in range(n)],
        [f"x{j}" for j in range(m)],
        cells,
        candidate_counts=None if counts is None else np.array(counts, dtype=np.int64),
        test_counts=None if test_counts is None else np.array(test_counts, dtype=np.int64),
        outputs=None if outputs is None else np.array(outputs, dtype=np.int64),
    )


def groups(r: Ranking) -> list[list[int]]:
    return [sorted(g) for g in r.groups]


ROWS = [[1, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]]


def test_every_selector_puts_every_candidate_in_exactly_one_group() -> None:
    m = matrix(ROWS, counts=[1, 1, 3, 1])
    for name in SELECTORS:
        r = select(name, m)
        assert sorted(i for g in r.groups for i in g) == [0, 1, 2, 3], name
        assert len(r.scores) == 4


def test_random_ties_everyone() -> None:
    r = select("random", matrix(ROWS))
    assert groups(r) == [[0, 1, 2, 3]] and r.ranked


def test_maxpass_counts_tests_and_optionally_their_multiplicity() -> None:
    m = matrix([[1, 0, 0], [0, 1, 1], [1, 1, 0]], test_counts=[5, 1, 1])
    assert groups(select("maxpass", m)) == [[1, 2], [0]]
    assert groups(select("maxpass", m, test_multiplicity=True)) == [[2], [0], [1]]


def test_mbr_clusters_identical_rows_counting_samples() -> None:
    m = matrix(ROWS, counts=[1, 1, 3, 1])
    assert groups(select("mbr", m)) == [[2], [0, 1], [3]]
    assert groups(select("mbr", m, solution_multiplicity=False)) == [[0, 1], [2, 3]]


def test_mbr_behaviour_uses_outputs_and_is_unranked_without_them() -> None:
    out = [[7, 8, 9], [7, 8, 9], [7, 8, 1], [7, 8, 9]]
    r = select("mbr-behaviour", matrix(ROWS, outputs=out))
    assert groups(r) == [[0, 1, 3], [2]] and r.ranked
    r = select("mbr-behaviour", matrix(ROWS))
    assert groups(r) == [[0, 1, 2, 3]] and not r.ranked


def test_codet_released_score_is_tests_times_sqrt_solutions_with_duplicates() -> None:
    m = matrix(ROWS, counts=[1, 1, 3, 1], test_counts=[1, 2, 1])
    r = select("codet", m)
    # {c0,c1}: tests 1+2=3, samples 2 -> 3*sqrt(2); {c2}: 1*sqrt(3); {c3}: 1*sqrt(1).
    assert r.scores == pytest.approx([3 * math.sqrt(2)] * 2 + [math.sqrt(3), 1.0])
    assert groups(r) == [[0, 1], [2], [3]]


def test_codet_paper_product_can_reorder_sets() -> None:
    m = matrix([[1, 1, 0], [0, 0, 1]], counts=[1, 3])
    assert groups(select("codet", m)) == [[0], [1]]  # 2*sqrt(1)=2 > 1*sqrt(3)
    assert groups(select("codet", m, score="paper")) == [[1], [0]]  # 2*1 < 1*3


def test_codet_merges_exact_ties_and_puts_all_fail_rows_last() -> None:
    m = matrix([[1, 1, 0], [0, 0, 1], [0, 0, 0]], counts=[1, 4, 7])
    r = select("codet", m)
    assert groups(r) == [[0, 1], [2]]  # 2*sqrt(1) == 1*sqrt(4); the all-fail row scores 0
    assert r.scores[2] == 0.0


@pytest.mark.parametrize("name", ["maxpass", "mbr", "codet", "b4"])
def test_no_passing_cell_or_no_tests_is_unranked(name: str) -> None:
    for m in (matrix([[0, 0], [0, 3]]), matrix([[], []])):
        r = select(name, m)
        assert not r.ranked and groups(r) == [[0, 1]]


def test_empty_matrix_gives_an_empty_unranked_ranking() -> None:
    r = select("codet", matrix([]))
    assert r.groups == [] and not r.ranked


def _b4_direct(e: np.ndarray, beta0: float, alpha: float) -> dict[tuple[int, ...], float]:
    """B4's formula written the slow way: one sub-matrix per consensus set."""

    def betaln(a: float, b: float) -> float:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    def term(ones: float, size: float, a: float = 1.0, b: float = 1.0) -> float:
        return betaln(ones + a, size - ones + b)

    out = {}
    for layout in {tuple(r) for r in e.tolist()}:
        y = np.array(layout)
        x = np.array([tuple(r) == layout for r in e.tolist()])
        e1 = e[~x][:, y == 1]
        e0 = e[~x][:, y == 0]
        out[layout] = (
            term(x.sum(), len(x), a=alpha)
            + term(y.sum(), len(y), a=alpha)
            + term(e1.sum(), e1.size)
            + term(e0.sum(), e0.size, b=beta0)
        )
    return out


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("beta0", [1e4, 1e5, 1e6])
def test_b4_vectorised_equals_the_direct_formula(seed: int, beta0: float) -> None:
    rng = np.random.default_rng(seed)
    e = (rng.random((12, 9)) < 0.5).astype(np.int8)
    e[:4] = e[0]  # a big consensus set
    direct = _b4_direct(e, beta0, 1e3)
    r = select("b4", matrix(e.tolist()), beta0=beta0)
    for i, row in enumerate(e.tolist()):
        assert r.scores[i] == pytest.approx(direct[tuple(row)], rel=1e-9, abs=1e-6)


def test_b4_matches_scipy_betaln_when_available() -> None:
    sc = pytest.importorskip("scipy.special")
    from harness.selection.selectors._agreement import betaln

    a = np.array([1.0, 3.5, 1e3 + 7, 2e5])
    b = np.array([1.0, 2.0, 1e5 + 3, 1.0])
    assert betaln(a, b) == pytest.approx(sc.betaln(a, b), rel=1e-10)


def test_b4_top_group_is_the_map_consensus_set() -> None:
    # The top group is the layout with the largest posterior computed directly.
    e = np.array([[1, 1, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1], [0, 0, 1]])
    direct = _b4_direct(e, 1e5, 1e3)
    best = max(direct, key=lambda k: direct[k])
    r = b4(matrix(e.tolist()), B4Params())
    assert [tuple(e[i]) for i in r.top] == [best] * len(r.top)


def test_b4_multiplicity_counts_duplicates_as_rows() -> None:
    e = [[1, 0], [0, 1], [0, 0]]
    expanded = [[1, 0], [0, 1], [0, 1], [0, 1], [0, 0]]
    r = select("b4", matrix(e, counts=[1, 3, 1]), multiplicity=True)
    full = select("b4", matrix(expanded))
    assert r.scores == pytest.approx([full.scores[0], full.scores[1], full.scores[4]])


def test_unknown_selector_and_unknown_param_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown selector"):
        select("nope", matrix(ROWS))
    with pytest.raises(ConfigError, match="beta_0"):
        select("b4", matrix(ROWS), beta_0=1.0)
