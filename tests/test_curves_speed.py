"""The fast paths behind ``harness select``'s pool-size curves give exactly the straightforward figures.

``curve_extras`` scores its subsample draws itself (optionally in forked workers) instead of running one
``run_experiment`` per pool size, and the selectors group rows and tie scores without ``np.unique(axis=0)``.
Each is compared here, bit for bit, with the straightforward computation it replaced.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pytest

from harness.selection import PassMatrix, TaskData
from harness.selection.curves import CURVE_DRAWS, CurveKey, coverage_at, curve_extras, curve_sizes
from harness.selection.experiment import TaskRanking, run_experiment
from harness.selection.selectors import SELECTORS
from harness.selection.selectors._common import consensus_sets, group_keys, ranking_from_scores

STRATEGIES = sorted(SELECTORS)  # every registered selector, so every one of them is exercised


def _reference_extras(
    tasks: Mapping[str, TaskData],
    rankings: Sequence[TaskRanking],
    *,
    strategies: Sequence[str],
    seeds: Sequence[int],
    params: Mapping[str, Mapping[str, object]],
    n_samples: int | None,
    draws: int = CURVE_DRAWS,
) -> dict[CurveKey, dict[str, float]]:
    """``curve_extras`` as first written: one ``run_experiment`` per pool size below the run's."""
    pool = n_samples if n_samples is not None else max(t.n_samples for t in tasks.values())
    sizes = curve_sizes(pool)
    draw_seeds = list(dict.fromkeys(seeds))
    first_new = max(draw_seeds, default=-1) + 1
    draw_seeds += range(first_new, first_new + max(0, draws - len(draw_seeds)))
    shared: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for k in [k for k in sizes[:-1] if k > 1]:
        smaller = run_experiment(
            tasks, strategies=strategies, protocol="codet", n_samples=k, seeds=draw_seeds, params=params
        )
        for r in smaller.rankings:
            if r.strategy != "oracle":
                shared[(r.strategy, r.task_id)][f"resolved@{k}"].append(r.pass_at_1)
    coverage = {tid: {f"oracle@{k}": coverage_at(t, k) for k in sizes} for tid, t in tasks.items()}
    out: dict[CurveKey, dict[str, float]] = {}
    for r in rankings:
        if r.protocol != "codet" or r.strategy == "oracle":
            continue
        means = {key: sum(v) / len(v) for key, v in shared[(r.strategy, r.task_id)].items()}
        exact = {"resolved@1": coverage[r.task_id]["oracle@1"]} if pool > 1 else {}
        out[(r.strategy, r.seed, r.task_id)] = {
            **exact,
            **means,
            f"resolved@{pool}": r.pass_at_1,
            **coverage[r.task_id],
        }
    return out


def _task(rng: np.random.Generator, task_id: str, n_samples: int) -> TaskData:
    """A pool like the real ones: a few behaviours (pass rows and outputs) shared by many samples,
    noise rows, all-error rows that did not run, and some samples missing from the matrix."""
    n = int(rng.integers(1, 16))
    m = int(rng.integers(1, 20))
    proto = rng.integers(0, 2, size=(3, m))
    cells = np.where(rng.random((n, 1)) < 0.6, proto[rng.integers(0, 3, size=n)], rng.integers(0, 4, (n, m)))
    cells[rng.random(n) < 0.15] = 2  # ERROR rows: their program did not run
    outputs = np.where(cells == 1, 7, rng.integers(-3, 3, size=(n, m)))
    outputs[0, 0] = np.iinfo(np.int64).min  # the signed order of extreme hashes is kept
    counts = rng.multinomial(n_samples - int(rng.integers(0, 4)), np.ones(n) / n)
    counts = np.maximum(counts, 1)
    while counts.sum() > n_samples:
        counts[int(np.argmax(counts))] -= 1
    matrix = PassMatrix(
        task_id,
        [f"{task_id}/c{i}" for i in range(n)],
        [f"x{j}" for j in range(m)],
        cells.astype(np.int8),
        candidate_counts=counts.astype(np.int64),
        test_counts=rng.integers(1, 4, size=m).astype(np.int64),
        outputs=outputs.astype(np.int64),
    )
    correct = rng.random(n) < 0.4
    ran = None if rng.random() < 0.5 else (cells != 2).any(axis=1)
    return TaskData(matrix, correct, n_samples, ran)


def _tasks(seed: int, n_tasks: int, n_samples: int) -> dict[str, TaskData]:
    rng = np.random.default_rng(seed)
    return {f"t{i:02d}": _task(rng, f"t{i:02d}", n_samples) for i in range(n_tasks)}


def _both(
    tasks: Mapping[str, TaskData], seeds: list[int], n_samples: int | None, workers: int
) -> tuple[dict[CurveKey, dict[str, float]], dict[CurveKey, dict[str, float]]]:
    """``curve_extras`` and the reference on one run of every selector (plus a B4-beh variant)."""
    params: dict[str, dict[str, object]] = {"b4-beh:v2": {"sample_rows": True, "drop_unrun": True}}
    strategies = [*STRATEGIES, "b4-beh:v2"]
    run = run_experiment(tasks, strategies=strategies, seeds=seeds, params=params, n_samples=n_samples)
    fast = curve_extras(
        tasks,
        run.rankings,
        strategies=strategies,
        seeds=seeds,
        params=params,
        n_samples=n_samples,
        workers=workers,
    )
    ref = _reference_extras(
        tasks, run.rankings, strategies=strategies, seeds=seeds, params=params, n_samples=n_samples
    )
    return fast, ref


def _same(fast: dict[CurveKey, dict[str, float]], ref: dict[CurveKey, dict[str, float]]) -> None:
    """Equal to the last bit, keys in the same order (the figures' order is the table's)."""
    assert list(fast) == list(ref)
    for key, values in ref.items():
        assert list(fast[key].items()) == list(values.items()), key


@pytest.mark.parametrize(("seed", "seeds", "n_samples"), [(0, [0], None), (1, [2, 0], None), (2, [1], 12)])
def test_curve_matches_one_experiment_per_size(seed: int, seeds: list[int], n_samples: int | None) -> None:
    tasks = _tasks(seed, n_tasks=8, n_samples=30)
    fast, ref = _both(tasks, seeds, n_samples, workers=1)
    assert fast and any(k.startswith("resolved@5") for v in fast.values() for k in v)
    _same(fast, ref)


def test_curve_in_forked_workers_matches() -> None:
    """Forced onto two workers (the figures' default only forks for big runs): same figures, in order."""
    tasks = _tasks(3, n_tasks=6, n_samples=30)
    fast, ref = _both(tasks, [0, 1], None, workers=2)
    _same(fast, ref)


def _unique_rows_reference(rows: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], list[int]]:
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    return uniq, inverse.reshape(-1).tolist()


@pytest.mark.parametrize("seed", range(6))
def test_grouping_matches_unique_over_rows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 40)), int(rng.integers(1, 70))
    passed = rng.random((n, m)) < rng.random()
    passed[rng.integers(0, n, size=n // 2)] = passed[0]
    layouts, inverse = consensus_sets(passed)
    packed = np.packbits(passed, axis=1)
    _, ref_first, ref_inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    assert inverse.tolist() == ref_inverse.reshape(-1).tolist()
    assert np.array_equal(layouts, passed[ref_first])

    info = np.iinfo(np.int64)
    keys = rng.choice(np.array([info.min, -(2**40), -1, 0, 1, 2**40, info.max]), size=(n, m))
    keys[rng.integers(0, n, size=n // 2)] = keys[-1]
    uniq, labels = group_keys(keys)
    ref_uniq, ref_labels = _unique_rows_reference(keys)
    assert labels.tolist() == ref_labels and np.array_equal(uniq, ref_uniq)


@pytest.mark.parametrize("seed", range(6))
def test_tie_groups_match_unique_over_scores(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    scores = rng.choice(np.array([-0.0, 0.0, 1.5, -2.0, 1e300, -np.inf, np.inf]), size=n)
    matrix = PassMatrix("t", [f"c{i}" for i in range(n)], ["x"], np.zeros((n, 1), dtype=np.int8))
    uniq, inverse = np.unique(scores, return_inverse=True)
    want = [np.flatnonzero(inverse == k).tolist() for k in range(uniq.size - 1, -1, -1)]
    ranking = ranking_from_scores("s", matrix, scores)
    assert ranking.groups == want
    assert ranking.scores == scores.tolist()
