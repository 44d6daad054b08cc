"""``b4-beh`` (ours) on hand-built matrices: what it adds to B4 and where it must agree with B4."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.selection import PassMatrix, Ranking, select
from harness.selection.selectors import B4BehParams, B4Params, b4_behaviour
from harness.selection.selectors._agreement import b4_set_scores
from harness.selection.selectors._b4beh import (
    behaviour_clusters,
    behaviour_share,
    fit_priors,
    joint_scores,
    log_marginal,
)
from harness.selection.selectors._common import consensus_sets

P, F, E = 1, 0, 2  # Cell.PASS, Cell.FAIL, Cell.ERROR


def matrix(
    rows: list[list[int]],
    counts: list[int] | None = None,
    outputs: list[list[int]] | None = None,
    test_counts: list[int] | None = None,
) -> PassMatrix:
    cells = np.array(rows, dtype=np.int8)
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


# Candidates 0-2 share a pass row (they pass tests 0-2 and fail 3), 3-4 share another, 5 passes nothing.
ROWS = [
    [P, P, P, F],
    [P, P, P, F],
    [P, P, P, F],
    [F, F, P, P],
    [F, F, P, P],
    [F, F, F, F],
]


def test_without_outputs_it_ranks_exactly_as_b4() -> None:
    m = matrix(ROWS, counts=[1, 2, 1, 3, 1, 1])
    ours, theirs = select("b4-beh", m), select("b4", m)
    assert groups(ours) == groups(theirs)
    assert ours.ranked and ours.selector == "b4-beh"


def test_a_consensus_set_is_split_by_behaviour_and_the_most_sampled_behaviour_wins() -> None:
    # 0-2 pass the same tests but on test 3's input (which they all fail) 1 and 2 compute 7, 0 computes 9.
    outputs = [[1, 2, 3, 9], [1, 2, 3, 7], [1, 2, 3, 7], [5, 5, 3, 4], [5, 5, 3, 4], [0, 0, 0, 0]]
    m = matrix(ROWS, counts=[3, 1, 1, 1, 1, 1], outputs=outputs)
    b4_top = select("b4", m).groups[0]
    assert sorted(b4_top) == [0, 1, 2]  # B4 ties the whole set
    r = select("b4-beh", m)
    # Candidate 0 was sampled 3 times, its behaviour holds 3 of the set's 5 samples; 1 and 2 hold 2.
    assert groups(r)[:2] == [[0], [1, 2]]
    s = np.asarray(r.scores)
    assert s[0] - s[1] == pytest.approx(math.log(3 / 2))
    # The shares that produced it.
    _, inverse = consensus_sets(m.passed)
    assert behaviour_share(m, inverse).tolist()[:3] == pytest.approx([0.6, 0.4, 0.4])


def test_behaviour_refinement_can_be_switched_off() -> None:
    outputs = [[1, 2, 3, 9], [1, 2, 3, 7], [1, 2, 3, 7], [5, 5, 3, 4], [5, 5, 3, 4], [0, 0, 0, 0]]
    m = matrix(ROWS, counts=[3, 1, 1, 1, 1, 1], outputs=outputs)
    assert groups(select("b4-beh", m, behaviour=False)) == groups(select("b4", m))


def test_clusters_never_cross_consensus_sets() -> None:
    # 0 and 1 compute the same outputs but differ in a pass cell (a timeout, say): different clusters.
    m = matrix([[P, P], [P, F], [P, P]], outputs=[[4, 4], [4, 4], [4, 4]])
    _, inverse = consensus_sets(m.passed)
    cluster = behaviour_clusters(m, inverse)
    assert cluster[0] == cluster[2] != cluster[1]


def test_nothing_passes_falls_back_to_the_largest_behaviour_cluster() -> None:
    rows = [[F, F], [F, F], [F, F], [F, F]]
    m = matrix(rows, counts=[1, 1, 2, 1], outputs=[[3, 4], [3, 4], [3, 4], [8, 8]])
    r = select("b4-beh", m)
    assert r.ranked
    assert groups(r) == [[0, 1, 2], [3]]
    assert not select("b4", m).ranked  # B4 has nothing to go on there


def test_nothing_passes_and_no_distinguishing_outputs_is_unranked() -> None:
    rows = [[F, E], [F, E]]
    assert not select("b4-beh", matrix(rows)).ranked
    assert not select("b4-beh", matrix(rows, outputs=[[3, 0], [3, 0]])).ranked


def test_empty_matrices_are_unranked() -> None:
    empty_tests = PassMatrix("t", ["a", "b"], [], np.zeros((2, 0), dtype=np.int8))
    assert not select("b4-beh", empty_tests).ranked
    no_rows = PassMatrix("t", [], ["x"], np.zeros((0, 1), dtype=np.int8))
    r = select("b4-beh", no_rows)
    assert not r.ranked and r.groups == []


def test_joint_scores_reduce_to_b4_with_equal_weights() -> None:
    m = matrix(ROWS)
    passed = m.passed
    layouts, inverse = consensus_sets(passed)
    w, v = np.array([1.0, 2, 1, 3, 1, 1]), np.ones(4)
    p = B4Params()
    assert joint_scores(passed, layouts, inverse, w, v, w, v, p) == pytest.approx(
        b4_set_scores(passed, layouts, inverse, w, v, p)
    )


def test_prior_counts_favour_the_more_sampled_set() -> None:
    # Two sets that B4 sees symmetrically (each passes one test the other fails); set {1} was sampled 5x.
    m = matrix([[P, F], [F, P]], counts=[1, 5])
    assert groups(select("b4", m)) == [[0, 1]]
    assert groups(select("b4-beh", m, prior_counts=True)) == [[1], [0]]


def test_behaviour_hypotheses_score_clusters_directly() -> None:
    outputs = [[1, 2, 3, 9], [1, 2, 3, 7], [1, 2, 3, 7], [5, 5, 3, 4], [5, 5, 3, 4], [0, 0, 0, 0]]
    m = matrix(ROWS, outputs=outputs)
    r = select("b4-beh", m, hypotheses="behaviour")
    assert groups(r)[0] == [1, 2]  # two distinct programs agree, the third in their set is alone


def test_rows_that_never_ran_go_last_and_do_not_enter_the_scores() -> None:
    rows = [[P, P, F], [P, P, F], [F, P, P], [E, E, E], [E, E, E]]
    m = matrix(rows)
    r = select("b4-beh", m, drop_unrun=True)
    assert sorted(r.groups[-1]) == [3, 4]
    ran_only = select("b4-beh", matrix(rows[:3]))
    assert groups(r)[:-1] == groups(ran_only)
    assert not select("b4-beh", matrix([[E, E], [E, E]]), drop_unrun=True).ranked


def test_fit_priors_picks_a_grid_point_by_marginal_likelihood() -> None:
    m = matrix(ROWS)
    passed = m.passed
    layouts, inverse = consensus_sets(passed)
    w, v = np.ones(6), np.ones(4)
    best = fit_priors(passed, layouts, inverse, w, v)
    value = log_marginal(passed, layouts, inverse, w, v, best)
    for other in (B4Params(beta0=1.0, alpha_xy=1.0), B4Params(beta0=1e7, alpha_xy=1e4), B4Params()):
        assert value >= log_marginal(passed, layouts, inverse, w, v, other)
    assert select("b4-beh", m, fit_priors=True).ranked


def test_params_are_validated_and_defaults_documented() -> None:
    p = B4BehParams()
    assert (p.beta0, p.alpha_xy, p.behaviour) == (1e5, 1e3, True)
    assert not (p.sample_rows or p.prior_counts or p.fit_priors or p.drop_unrun)
    assert p.hypotheses == "set"
    with pytest.raises(ConfigError):
        select("b4-beh", matrix(ROWS), gamma=1.0)
    assert b4_behaviour(matrix(ROWS), p).selector == "b4-beh"


def test_dead_tests_are_left_out_of_the_scoring() -> None:
    # Test 2 errors against every program: no evidence; scoring without it equals scoring it away by hand.
    rows = [[P, F, E], [P, F, E], [F, P, E]]
    with_dead = select("b4-beh", matrix(rows), drop_dead_tests=True)
    by_hand = select("b4-beh", matrix([r[:2] for r in rows]))
    assert groups(with_dead) == groups(by_hand)
    assert with_dead.scores == pytest.approx(by_hand.scores)
    assert with_dead.scores != pytest.approx(select("b4-beh", matrix(rows)).scores)
