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

import ctypes
import os
import signal
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from harness.errors import HarnessError
from harness.selection._types import PassMatrix, Ranking
from harness.selection.experiment import TaskData, TaskRanking, _params_for, _selector_of, subsample
from harness.selection.metrics import codet_pass_at_k, codet_view, default_ran, pass_at_k
from harness.selection.selectors import SELECTORS, validate_params

CURVE_GRID: tuple[int, ...] = (1, 2, 5, 10, 25, 50, 100)
CURVE_DRAWS = 5
"""Subsamples per pool size below the run's: one draw of a small pool is a noisy figure."""

PARALLEL_MIN_CALLS = 2000
"""Selector calls (draws x tasks x strategies) below which the draws run in-process: forking workers
costs ~0.1 s, a selector call ~0.2 ms."""

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
    workers: int | None = None,
    on_start: StartFn | None = None,
) -> dict[CurveKey, dict[str, float]]:
    """``resolved@k`` and ``oracle@k`` for every CodeT-protocol outcome of the run.

    ``rankings`` are the run's own (their CodeT pass@1 is the point at the pool size, per seed); below
    it, a selector's figure is its mean over ``draws`` subsamples (the run's seeds, then further ones)
    and is the same on every seed's outcome. ``n_samples`` is the run's pool size (None: each task's
    whole pool, the grid stopping at the largest).

    The draws are independent (one seeded generator per size and seed), so they may run in ``workers``
    forked processes (None: the usable CPUs, in-process below :data:`PARALLEL_MIN_CALLS` selector calls);
    the figures do not depend on it. ``on_start(draws, processes)`` is called once they run (a progress
    line; after the workers are forked)."""
    if not tasks:
        return {}
    pool = n_samples if n_samples is not None else max(t.n_samples for t in tasks.values())
    sizes = curve_sizes(pool)
    draw_seeds = list(dict.fromkeys(seeds))
    first_new = max(draw_seeds, default=-1) + 1
    draw_seeds += range(first_new, first_new + max(0, draws - len(draw_seeds)))
    shared: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    # One sample leaves nothing to choose: every selector's pass@1 there is exactly the pool's pass@1.
    units = [(k, seed) for k in sizes[:-1] if k > 1 for seed in draw_seeds]
    job = _Draws(tasks, tuple(strategies), params)
    order = [(task_id, strategy) for task_id in sorted(tasks) for strategy in strategies]
    # Appended in (size, seed) order, as the per-size experiments did: the means sum in the same order.
    for (k, _seed), values in zip(units, _run_draws(job, units, workers, on_start), strict=True):
        for (task_id, strategy), value in zip(order, values, strict=True):
            shared[(strategy, task_id)][f"resolved@{k}"].append(value)
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


SelectorFn = Callable[[PassMatrix, Any], Ranking]
StartFn = Callable[[int, int], None]
"""Told ``(draws, worker processes)`` when the draws start (0 processes: they run in-process)."""


@dataclass(frozen=True)
class _Draws:
    """What every subsample draw shares: the tasks, the strategies and their parameters."""

    tasks: Mapping[str, TaskData]
    strategies: tuple[str, ...]
    params: Mapping[str, Mapping[str, object]]

    def selectors(self, seed: int) -> list[tuple[SelectorFn, BaseModel]]:
        """Each strategy's function and validated parameters for ``seed`` (raises ConfigError)."""
        out: list[tuple[SelectorFn, BaseModel]] = []
        for strategy in self.strategies:
            selector = _selector_of(strategy)
            chosen = validate_params(selector, _params_for(strategy, self.params, seed))
            out.append((SELECTORS[selector].fn, chosen))
        return out


def _draw(job: _Draws, k: int, seed: int) -> list[float]:
    """CodeT-protocol pass@1 of every strategy on a ``k``-sample subsample of every task, task by task
    (sorted ids) then strategy by strategy: exactly what ``run_experiment(..., protocol="codet",
    n_samples=k, seeds=[seed])`` scores, without the rankings' records and the summary rows."""
    rng = np.random.default_rng(seed)
    chosen = job.selectors(seed)
    values: list[float] = []
    for task_id in sorted(job.tasks):
        task = subsample(job.tasks[task_id], k, rng)
        ran = task.ran if task.ran is not None else default_ran(task.matrix)
        view = codet_view(task.matrix, ran)
        for fn, params in chosen:
            ranking = fn(view, params)
            values.append(codet_pass_at_k(ranking, task.correct, view.candidate_counts, task.n_samples))
    return values


_JOB: _Draws | None = None
"""The forked workers' copy of the draws' inputs (inherited, never pickled)."""


PR_SET_PDEATHSIG = 1
"""``prctl`` option (linux/prctl.h): the signal this process gets when the thread that forked it ends."""


def _init_worker(job: _Draws, parent: int) -> None:
    global _JOB
    _die_with_parent(parent)
    _JOB = job


def _die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this forked worker when ``parent`` ends, however it ends.

    A ``harness select`` killed by SIGKILL runs no cleanup: its workers went on computing draws nobody
    would read, then waited forever for more, holding whatever they inherited. The death signal is
    armed first; a parent already gone by then (the worker was re-parented) is checked right after.
    Linux only (elsewhere the workers end with the pool, and a killed parent's are left as before)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed in a curve worker")
    if os.getppid() != parent:
        os._exit(1)


def _draw_in_worker(unit: tuple[int, int]) -> list[float]:
    if _JOB is None:
        raise HarnessError("a curve worker ran without _init_worker: start it through _run_draws")
    return _draw(_JOB, *unit)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _run_draws(
    job: _Draws,
    units: Sequence[tuple[int, int]],
    workers: int | None,
    on_start: StartFn | None = None,
) -> list[list[float]]:
    """``_draw`` for every ``(k, seed)`` unit, results in ``units``' order wherever they ran;
    ``on_start(units, processes)`` once they run (after the workers are forked, if any)."""
    for seed in dict.fromkeys(seed for _, seed in units):
        job.selectors(seed)  # a bad parameter raises here, not inside a worker
    calls = len(units) * len(job.tasks) * len(job.strategies)
    if workers is None:
        workers = _usable_cpus() if calls >= PARALLEL_MIN_CALLS else 1
    workers = min(workers, len(units))
    import multiprocessing

    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        if on_start is not None:
            on_start(len(units), 0)
        return [_draw(job, k, seed) for k, seed in units]
    from concurrent.futures import ProcessPoolExecutor

    # Largest pools first, so that the last unit to finish is a short one.
    by_cost = sorted(range(len(units)), key=lambda i: -units[i][0])
    results: list[list[float]] = [[] for _ in units]
    context = multiprocessing.get_context("fork")  # the tasks are inherited, not pickled
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(job, os.getpid())
    ) as pool:
        done = pool.map(_draw_in_worker, [units[i] for i in by_cost])  # the workers are forked here
        if on_start is not None:
            on_start(len(units), workers)
        for i, values in zip(by_cost, done, strict=True):
            results[i] = values
    return results


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
