"""Comparing runs: a per-task x per-(run, system) table, ensemble coverage and paired differences.

Paired differences use the tasks both columns have. The confidence interval is a percentile bootstrap
over tasks (resampling tasks with replacement, ``n_boot`` resamples, numpy ``default_rng(seed)``, so a
rerun gives the same interval); the p-value is a two-sided paired sign-flip permutation test over the
same tasks. Both treat tasks as the unit of sampling, the way Inspect's paired comparison does.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from harness.errors import DataError
from harness.report._load import RunData
from harness.report._summary import natural_key, systems_of, task_rows

COMPARE_VERSION = 1
METHOD = (
    "paired over tasks present in both columns; diff = mean(b) - mean(a) of per-task pass@1 (seeds "
    "averaged); 95% CI: percentile bootstrap over tasks ({n_boot} resamples, numpy default_rng({seed})); "
    "p: two-sided paired sign-flip permutation test ({n_boot} flips, same generator); union coverage: "
    "share of all tasks where some column has a correct candidate (oracle > 0 or resolved > 0)"
)


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str
    run_id: str
    system: str
    n_tasks: int
    pass_at_1: float
    oracle: float | None
    partial: bool


class CompareRow(BaseModel):
    """One task: per-column pass@1 (None where the column lacks the task) and oracle coverage."""

    model_config = ConfigDict(extra="forbid")

    task_id: str
    resolved: list[float | None]
    oracle: list[float | None]


class PairedDiff(BaseModel):
    model_config = ConfigDict(extra="forbid")

    a: str
    b: str
    n_tasks: int
    mean_a: float | None = None
    mean_b: float | None = None
    diff: float | None = None
    """mean(b) - mean(a) over the tasks both have."""
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    b_better: int = 0
    a_better: int = 0
    ties: int = 0


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = COMPARE_VERSION
    runs: list[str]
    partial_runs: list[str]
    columns: list[Column]
    rows: list[CompareRow]
    union_coverage: float | None
    """Share of all tasks where at least one column had a correct candidate (ensemble oracle)."""
    best_of_columns: float | None
    """Mean over tasks of the best column's pass@1: an ensemble with a perfect per-task chooser."""
    pairs: list[PairedDiff]
    method: str = Field(default="")


def bootstrap_diff(d: npt.NDArray[np.float64], n_boot: int, seed: int) -> tuple[float, float, float]:
    """``(ci_low, ci_high, p_value)`` for the mean of paired differences ``d`` (see module doc)."""
    rng = np.random.default_rng(seed)
    n = len(d)
    means = np.empty(n_boot)
    flips_ge = 0
    observed = abs(float(d.mean()))
    chunk = max(1, min(n_boot, 2_000_000 // max(n, 1)))  # bound memory to ~16 MB per chunk
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(k, n))
        means[start : start + k] = d[idx].mean(axis=1)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(k, n))
        flips_ge += int((np.abs((signs * d).mean(axis=1)) >= observed - 1e-12).sum())
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi), (flips_ge + 1) / (n_boot + 1)


def _pair(a: int, b: int, cols: list[Column], rows: list[CompareRow], n_boot: int, seed: int) -> PairedDiff:
    both = [
        (r.resolved[a], r.resolved[b])
        for r in rows
        if r.resolved[a] is not None and r.resolved[b] is not None
    ]
    if not both:
        return PairedDiff(a=cols[a].label, b=cols[b].label, n_tasks=0)
    va = np.array([x for x, _ in both], dtype=np.float64)
    vb = np.array([y for _, y in both], dtype=np.float64)
    d = vb - va
    lo, hi, p = bootstrap_diff(d, n_boot, seed)
    return PairedDiff(
        a=cols[a].label,
        b=cols[b].label,
        n_tasks=len(both),
        mean_a=float(va.mean()),
        mean_b=float(vb.mean()),
        diff=float(d.mean()),
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        b_better=int((d > 0).sum()),
        a_better=int((d < 0).sum()),
        ties=int((d == 0).sum()),
    )


def compare_runs(runs: list[RunData], *, n_boot: int = 10_000, seed: int = 0) -> Comparison:
    """Compare every (run, system) column of ``runs``. All pairs are compared when there are at most
    eight columns; beyond that, each column against the first (the baseline)."""
    if not runs:
        raise DataError("compare needs at least one run")
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):
        raise DataError(f"a run is named twice: {ids}; name each run once")
    multi = len(runs) > 1
    columns: list[Column] = []
    cells: dict[tuple[int, str], tuple[float, float | None]] = {}
    for run in runs:
        rows = task_rows(run.outcomes)
        for system in systems_of(run.outcomes):
            col = len(columns)
            mine = [(r.task_id, c) for r in rows for c in r.cells if c.system == system]
            for task_id, c in mine:
                cells[(col, task_id)] = (c.resolved, c.oracle)
            oracles = [c.oracle for _, c in mine if c.oracle is not None]
            columns.append(
                Column(
                    label=f"{run.run_id}:{system}" if multi else system,
                    run_id=run.run_id,
                    system=system,
                    n_tasks=len(mine),
                    pass_at_1=sum(c.resolved for _, c in mine) / len(mine),
                    oracle=sum(oracles) / len(oracles) if oracles else None,
                    partial=run.partial,
                )
            )
    if not columns:
        raise DataError(f"none of the runs {ids} has outcomes yet; nothing to compare")
    task_ids = sorted({t for (_, t) in cells}, key=natural_key)
    table = [
        CompareRow(
            task_id=t,
            resolved=[cells[(i, t)][0] if (i, t) in cells else None for i in range(len(columns))],
            oracle=[cells[(i, t)][1] if (i, t) in cells else None for i in range(len(columns))],
        )
        for t in task_ids
    ]
    covered = [
        any((o or 0) > 0 or (r or 0) > 0 for o, r in zip(row.oracle, row.resolved, strict=True))
        for row in table
    ]
    best = [max((r for r in row.resolved if r is not None), default=0.0) for row in table]
    if len(columns) <= 8:
        pairs_idx = list(itertools.combinations(range(len(columns)), 2))
    else:
        pairs_idx = [(0, j) for j in range(1, len(columns))]
    return Comparison(
        runs=ids,
        partial_runs=[r.run_id for r in runs if r.partial],
        columns=columns,
        rows=table,
        union_coverage=sum(covered) / len(covered) if covered else None,
        best_of_columns=sum(best) / len(best) if best else None,
        pairs=[_pair(a, b, columns, table, n_boot, seed) for a, b in pairs_idx],
        method=METHOD.format(n_boot=n_boot, seed=seed),
    )
