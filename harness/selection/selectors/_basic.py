"""Baselines: a uniformly random pick, most tests passed, and MBR-exec (pass rows or behaviour)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from harness.selection._types import PassMatrix, Ranking
from harness.selection.selectors._common import (
    all_tied,
    consensus_sets,
    group_keys,
    nothing_to_go_on,
    ranking_from_scores,
    weights,
)


class RandomParams(BaseModel):
    """``random`` takes no parameters: every candidate is tied."""

    model_config = ConfigDict(extra="forbid")


def random_pick(matrix: PassMatrix, params: RandomParams) -> Ranking:
    """All candidates in one tied group; a metric's expectation over it is the random-pick baseline."""
    return all_tied("random", matrix, ranked=True)


class MaxPassParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    test_multiplicity: bool = False
    """Weight each distinct test by how often it was sampled (B4's MaxPass counts distinct tests)."""


def maxpass(matrix: PassMatrix, params: MaxPassParams) -> Ranking:
    """Score = number of tests passed; ties share a group."""
    if nothing_to_go_on(matrix):
        return all_tied("maxpass", matrix, ranked=False)
    w = weights(matrix.test_counts, params.test_multiplicity)
    return ranking_from_scores("maxpass", matrix, matrix.passed.astype(np.float64) @ w)


class MbrParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    solution_multiplicity: bool = True
    """Count duplicate samples of a program in its cluster's size (MBR-exec votes over samples)."""


def mbr(matrix: PassMatrix, params: MbrParams) -> Ranking:
    """MBR-exec over pass/fail rows: score = size of the cluster of candidates with the same row.

    With the 0/1 loss "rows differ", the minimum-Bayes-risk candidate is one of the largest cluster.
    """
    if nothing_to_go_on(matrix):
        return all_tied("mbr", matrix, ranked=False)
    _, inverse = consensus_sets(matrix.passed)
    sizes = np.bincount(inverse, weights=weights(matrix.candidate_counts, params.solution_multiplicity))
    return ranking_from_scores("mbr", matrix, sizes[inverse])


def mbr_behaviour(matrix: PassMatrix, params: MbrParams) -> Ranking:
    """MBR-exec over behaviour: cluster by the output hashes on the tests' inputs (``PassMatrix.outputs``).

    Two candidates agree when every output hash is equal (0, "unknown", only matches 0). Without
    outputs the selector has nothing to go on and returns an unranked all-tied ranking.
    """
    n, m = matrix.shape
    if matrix.outputs is None or n == 0 or m == 0 or not bool((matrix.outputs != 0).any()):
        return all_tied("mbr-behaviour", matrix, ranked=False)
    _, inverse = group_keys(np.asarray(matrix.outputs, dtype=np.int64))
    sizes = np.bincount(inverse, weights=weights(matrix.candidate_counts, params.solution_multiplicity))
    return ranking_from_scores("mbr-behaviour", matrix, sizes[inverse])
