"""Selection against the number of candidates: what ``harness report``'s ``candidates.png`` draws.

For every pool size ``k`` of a small grid (1, 2, 5, 10, 25, 50, 100 below the run's pool size, then the
pool size itself), under CodeT's protocol (every task, duplicates counted):

- ``oracle@k``: oracle coverage of a pool of ``k`` samples, the unbiased pass@k of the task's whole pool
  (Chen et al., 2021; an exact expectation, no sampling);
- ``resolved@k``: each selector's pass@1 when it ranks ``k`` samples drawn without replacement from the
  pool (:func:`~harness.selection.experiment.subsample`), the mean over ``CURVE_DRAWS`` draws (the run's
  seeds, then further ones); at the pool size itself it is the run's own figure, per seed; at one
  sample it is exact (nothing to choose: the pool's unbiased pass@1).

The values ride on the run's per-task outcomes as ``extra`` fields, the format
:func:`harness.report.candidate_curve` reads. B4's protocol gets no curve: its task filter depends on
the draw, so its points would not cover the same tasks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from harness.selection.experiment import TaskData, TaskRanking, run_experiment
from harness.selection.metrics import pass_at_k

CURVE_GRID: tuple[int, ...] = (1, 2, 5, 10, 25, 50, 100)
CURVE_DRAWS = 5
"""Subsamples per pool size below the run's: one draw of a small pool is a noisy figure."""

CurveKey = tuple[str, int, str]
"""``(strategy, seed, task_id)`` of a CodeT-protocol outcome."""


def curve_sizes(pool: int, grid: Sequence[int] = CURVE_GRID) -> list[int]:
    """The grid's sizes below ``pool``, then ``pool`` itself (the run's own point)."""
    if pool < 1:
        return []
    return [k for k in grid if k < pool] + [pool]


def coverage_at(task: TaskData, k: int) -> float:
    """Probability that ``k`` samples drawn from the task's pool hold a correct one (unbiased pass@k).
    Samples the matrix lacks count as wrong; ``k`` above the pool size means the whole pool."""
    n = task.n_samples
    if n < 1:
        return 0.0
    c = int(task.matrix.candidate_counts[task.correct].sum())
    return pass_at_k(n, c, min(k, n))


def curve_extras(
    tasks: Mapping[str, TaskData],
    rankings: Sequence[TaskRanking],
    *,
    strategies: Sequence[str],
    seeds: Sequence[int],
    params: Mapping[str, Mapping[str, object]],
    n_samples: int | None,
    draws: int = CURVE_DRAWS,
) -> dict[CurveKey, dict[str, float]]:
    """``resolved@k`` and ``oracle@k`` for every CodeT-protocol outcome of the run.

    ``rankings`` are the run's own (their CodeT pass@1 is the point at the pool size, per seed); below
    it, a selector's figure is its mean over ``draws`` subsamples (the run's seeds, then further ones)
    and is the same on every seed's outcome. ``n_samples`` is the run's pool size (None: each task's
    whole pool, the grid stopping at the largest)."""
    if not tasks:
        return {}
    pool = n_samples if n_samples is not None else max(t.n_samples for t in tasks.values())
    sizes = curve_sizes(pool)
    draw_seeds = list(dict.fromkeys(seeds))
    first_new = max(draw_seeds, default=-1) + 1
    draw_seeds += range(first_new, first_new + max(0, draws - len(draw_seeds)))
    shared: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    # One sample leaves nothing to choose: every selector's pass@1 there is exactly the pool's pass@1.
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


def curve_summary(extras: Mapping[CurveKey, Mapping[str, float]]) -> dict[str, object]:
    """The curve as the run's ``table.json`` carries it: percent per pool size, CodeT's protocol,
    per-task values averaged over seeds first."""
    per: dict[str, dict[int, dict[str, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    oracle: dict[int, dict[str, float]] = defaultdict(dict)
    for (strategy, _seed, task_id), values in extras.items():
        for key, value in values.items():
            metric, _, k = key.partition("@")
            if metric == "resolved":
                per[strategy][int(k)][task_id].append(value)
            else:
                oracle[int(k)][task_id] = value

    def pct(by_task: Mapping[str, float]) -> float:
        return 100.0 * sum(by_task.values()) / len(by_task) if by_task else 0.0

    return {
        "unit": "percent",
        "protocol": "codet",
        "sizes": sorted(oracle),
        "oracle": {str(k): pct(oracle[k]) for k in sorted(oracle)},
        "strategies": {
            s: {str(k): pct({t: sum(v) / len(v) for t, v in by_k[k].items()}) for k in sorted(by_k)}
            for s, by_k in per.items()
        },
    }
