"""Summaries of a comparison: pass@1 of the choice, oracle coverage, spend to the first correct
program, and the same against the budget (curves drawn from each unit's creation-ordered nodes, which
is exact because strategies are anytime)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from harness._extras import require
from harness.search._compare import NodeRecord, UnitRecord, is_internal


class SystemSummary(BaseModel):
    """One system (strategy, or ``<strategy>+adaptive``) over all its units."""

    model_config = ConfigDict(frozen=True)

    system: str
    units: int
    pass_at_1: float
    """Mean over (task, seed) units of the chosen program's hidden-test correctness."""
    oracle: float
    """Mean over units of "some program of the search is correct"."""
    found: int
    """Units where some program was correct."""
    calls_to_first_correct: float | None
    """Mean calls spent when the first correct program came back (over units that found one)."""
    tokens_to_first_correct: float | None
    programs_to_first_correct: float | None
    mean_calls: float
    mean_tokens: float
    mean_programs: float
    mean_cost_usd: float


class CurvePoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    budget: float
    pass_at_1: float
    oracle: float


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def summarise(records: Sequence[UnitRecord]) -> list[SystemSummary]:
    by: dict[str, list[UnitRecord]] = {}
    for r in records:
        if not is_internal(r.system):
            by.setdefault(r.system, []).append(r)
    out = []
    for system, rs in by.items():
        firsts = [f for f in (r.first_correct() for r in rs) if f is not None]
        n = len(rs)
        out.append(
            SystemSummary(
                system=system,
                units=n,
                pass_at_1=sum(r.resolved for r in rs) / n,
                oracle=sum(r.oracle for r in rs) / n,
                found=len(firsts),
                calls_to_first_correct=_mean([f.cost.calls for f in firsts]),
                tokens_to_first_correct=_mean([f.cost.tokens for f in firsts]),
                programs_to_first_correct=_mean([f.cost.programs for f in firsts]),
                mean_calls=sum(r.spent.calls for r in rs) / n,
                mean_tokens=sum(r.spent.tokens for r in rs) / n,
                mean_programs=sum(r.spent.programs for r in rs) / n,
                mean_cost_usd=sum(r.spent.cost_usd for r in rs) / n,
            )
        )
    return out


def _spend(node: NodeRecord, position: int, axis: str) -> float:
    # On the programs axis a node's position is exact even inside a batched request.
    return float(position) if axis == "programs" else node.cost.get(axis)


def choice_at(record: UnitRecord, budget: float, axis: str) -> tuple[bool, bool]:
    """(chosen program correct, any program correct) had the unit stopped at ``budget``."""
    best: NodeRecord | None = None
    any_ok = False
    for pos, node in enumerate(record.nodes, 1):
        if _spend(node, pos, axis) > budget:
            break
        any_ok = any_ok or node.correct
        if best is None or node.score > best.score:
            best = node
    return (best is not None and best.correct, any_ok)


def curves(records: Sequence[UnitRecord], axis: str, grid: Sequence[float]) -> dict[str, list[CurvePoint]]:
    """Pass@1 and oracle coverage per system at each budget of ``grid`` (adaptive systems excluded:
    their per-task budgets differ by design)."""
    by: dict[str, list[UnitRecord]] = {}
    for r in records:
        if "+" not in r.system:
            by.setdefault(r.system, []).append(r)
    out: dict[str, list[CurvePoint]] = {}
    for system, rs in by.items():
        pts = []
        for b in grid:
            pairs = [choice_at(r, b, axis) for r in rs]
            pts.append(
                CurvePoint(
                    budget=b,
                    pass_at_1=sum(p for p, _ in pairs) / len(pairs),
                    oracle=sum(o for _, o in pairs) / len(pairs),
                )
            )
        out[system] = pts
    return out


def budget_grid(limit: float, axis: str, points: int = 10) -> list[float]:
    if axis in ("programs", "calls"):
        return [float(b) for b in range(1, int(limit) + 1)]
    return [limit * (i + 1) / points for i in range(points)]


def plot(
    path: Path, curve: dict[str, list[CurvePoint]], records: Sequence[UnitRecord], axis: str, title: str
) -> Path:
    """Three panels: pass@1 and oracle coverage against the budget, and the share of units whose
    first correct program came within a number of calls. Needs the ``report`` extra."""
    matplotlib = require("matplotlib", "report")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "report")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for system, pts in curve.items():
        xs = [p.budget for p in pts]
        axes[0].plot(xs, [p.pass_at_1 for p in pts], marker="o", ms=3, label=system)
        axes[1].plot(xs, [p.oracle for p in pts], marker="o", ms=3, label=system)
    by: dict[str, list[UnitRecord]] = {}
    for r in records:
        if "+" not in r.system:
            by.setdefault(r.system, []).append(r)
    max_calls = max((r.spent.calls for r in records), default=1)
    grid = list(range(0, max_calls + 1))
    for system, rs in by.items():
        firsts = [f.cost.calls for f in (r.first_correct() for r in rs) if f is not None]
        axes[2].step(grid, [sum(c <= g for c in firsts) / len(rs) for g in grid], where="post", label=system)
    axes[0].set(xlabel=f"budget ({axis})", ylabel="pass@1 of the chosen program", ylim=(0, 1.02))
    axes[1].set(xlabel=f"budget ({axis})", ylabel="oracle coverage (any program correct)", ylim=(0, 1.02))
    axes[2].set(xlabel="model calls", ylabel="units with a correct program found", ylim=(0, 1.02))
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report_json(records: Sequence[UnitRecord], axis: str, limit: float) -> dict[str, Any]:
    grid = budget_grid(limit, axis)
    return {
        "systems": [s.model_dump() for s in summarise(records)],
        "axis": axis,
        "curves": {k: [p.model_dump() for p in v] for k, v in curves(records, axis, grid).items()},
    }
