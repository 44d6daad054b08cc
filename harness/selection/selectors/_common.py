"""Building blocks shared by the selectors: consensus sets and rankings from scores."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from harness.selection._types import PassMatrix, Ranking

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


_SIGN = np.uint64(1 << 63)


def _unique_rows(rows: npt.NDArray[Any]) -> tuple[IntArray, IntArray]:
    """``np.unique(rows, axis=0, return_index=True, return_inverse=True)`` without the unique rows.

    ``axis=0`` compares rows as records field by field, which costs ~100 us per call on rows of a few
    dozen bytes; viewing each row as one opaque byte string compares them with ``memcmp`` instead,
    ~8x faster. Rows of unsigned bytes sort the same either way (lexicographically), so the first
    indices and the labels (in sorted-row order) are identical; callers pass big-endian unsigned data.
    """
    flat = np.ascontiguousarray(rows).reshape(rows.shape[0], -1)
    keys = flat.view(np.dtype((np.void, flat.dtype.itemsize * flat.shape[1]))).reshape(-1)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first.astype(np.int64), inverse.reshape(-1).astype(np.int64)


def consensus_sets(passed: BoolArray) -> tuple[BoolArray, IntArray]:
    """Group candidates whose pass/fail rows are identical.

    Returns ``(layouts, inverse)``: ``layouts[k]`` is the row shared by consensus set ``k`` and
    ``inverse[i]`` the set of candidate ``i``. Rows are packed to bytes first, so grouping a
    100 x 500 matrix costs one sort of 100 short byte strings.
    """
    n, m = passed.shape
    if n == 0:
        return np.zeros((0, m), dtype=np.bool_), np.zeros(0, dtype=np.int64)
    if m == 0:
        return np.zeros((1, 0), dtype=np.bool_), np.zeros(n, dtype=np.int64)
    first, inverse = _unique_rows(np.packbits(passed, axis=1))
    layouts: BoolArray = passed[first]
    return layouts, inverse


def group_keys(keys: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], IntArray]:
    """Like :func:`consensus_sets` for integer rows (e.g. behaviour hashes): ``(unique_rows, inverse)``."""
    n = keys.shape[0]
    if n == 0:
        return keys[:0], np.zeros(0, dtype=np.int64)
    if keys.ndim == 2 and keys.shape[1] == 0:
        return keys[:1], np.zeros(n, dtype=np.int64)
    # Big-endian with the sign bit flipped: byte order is then the signed order, column by column.
    ordered = (np.ascontiguousarray(keys, dtype=np.int64).view(np.uint64) ^ _SIGN).astype(">u8")
    first, inverse = _unique_rows(ordered)
    return keys[first], inverse


def ranking_from_scores(
    selector: str, matrix: PassMatrix, values: npt.NDArray[Any], *, ranked: bool = True
) -> Ranking:
    """Tie groups by *exact* score equality, best (highest) first, as the released CodeT/B4 code does."""
    scores = np.asarray(values, dtype=np.float64)
    if scores.shape != (matrix.shape[0],):
        raise ValueError(f"{selector}: {scores.shape[0]} scores for {matrix.shape[0]} candidates")
    if np.isnan(scores).any():
        raise ValueError(f"{selector}: NaN score")
    if scores.size == 0:
        return Ranking(selector=selector, task_id=matrix.task_id, scores=[], groups=[], ranked=False)
    # One stable sort: equal scores end up adjacent, each run in ascending candidate order (what
    # ``np.unique`` + a stable argsort of its labels gave, at a third of the cost: this runs per ranking).
    order = np.argsort(scores, kind="stable")
    ranked_scores = scores[order]
    cuts = (np.flatnonzero(ranked_scores[1:] != ranked_scores[:-1]) + 1).tolist()
    ids = order.tolist()
    bounds = [0, *cuts, len(ids)]
    groups = [ids[bounds[k] : bounds[k + 1]] for k in range(len(bounds) - 2, -1, -1)]
    return Ranking(
        selector=selector, task_id=matrix.task_id, scores=scores.tolist(), groups=groups, ranked=ranked
    )


def all_tied(selector: str, matrix: PassMatrix, *, ranked: bool) -> Ranking:
    """Every candidate in one group: a uniformly random pick."""
    return ranking_from_scores(selector, matrix, np.zeros(matrix.shape[0]), ranked=ranked)


def nothing_to_go_on(matrix: PassMatrix) -> bool:
    """No candidate, no test, or no passing cell: execution evidence cannot tell candidates apart."""
    n, m = matrix.shape
    return n == 0 or m == 0 or not bool(matrix.passed.any())


def weights(counts: IntArray, use: bool) -> FloatArray:
    """Multiplicities as floats, or ones when the selector is told to ignore duplicates."""
    return counts.astype(np.float64) if use else np.ones(counts.shape[0], dtype=np.float64)
