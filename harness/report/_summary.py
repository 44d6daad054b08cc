"""A run's report: per-system metrics, per-task outcomes, stage totals and the candidate-count curve.

Metrics, as the design names them: *pass@1 of the choice* is the mean over tasks of ``resolved`` (each
already the exact expectation over a tied group), seeds averaged per task first. *Oracle coverage* is
the share of tasks where any candidate is correct. *Random pick* is the expected pass@1 of a uniformly
random candidate. Two protocols are reported, always labelled: the whole suite (CodeT) and the
selection-relevant tasks only (B4: tasks with a correct candidate where a random pick is not already
certain to be right, i.e. ``oracle`` and ``random_pick < 1``).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from harness.report._load import RunData
from harness.store import StageTotals, TaskOutcome

REPORT_VERSION = 1
_EXTRA_CURVE = re.compile(r"^(resolved|oracle)@(?:n=)?(\d+)$")


class TaskCell(BaseModel):
    """One system's outcome on one task, seeds averaged (costs and tokens summed over seeds)."""

    model_config = ConfigDict(extra="forbid")

    system: str
    resolved: float
    oracle: float | None = None
    random_pick: float | None = None
    n_candidates: int | None = None
    selected: str | None = None
    n_seeds: int = 1
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    time_s: float = 0.0


class TaskRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str
    cells: list[TaskCell]


class SwebenchCounts(BaseModel):
    """The counting part of a swebench run report: ``resolved_ids`` are tasks the system solved for
    sure, ``tied_ids`` those it solved in expectation only (a tie with correct and wrong members)."""

    model_config = ConfigDict(extra="forbid")

    total_instances: int
    completed_instances: int
    resolved_instances: int
    unresolved_instances: int
    resolved_ids: list[str]
    unresolved_ids: list[str]
    tied_ids: list[str]


class SystemSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: str
    n_tasks: int
    n_seeds: int
    pass_at_1: float
    oracle: float | None
    random_pick: float | None
    relevant_tasks: int
    relevant_pass_at_1: float | None
    relevant_random_pick: float | None
    cost_usd: float
    input_tokens: int
    output_tokens: int
    time_s: float
    swebench: SwebenchCounts


class CurvePoint(BaseModel):
    """Selected pass@1 and oracle coverage of one series at one number of candidates."""

    model_config = ConfigDict(extra="forbid")

    series: str
    n_candidates: int
    pass_at_1: float | None
    oracle: float | None
    n_tasks: int


class RunReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = REPORT_VERSION
    run_id: str
    kind: str
    created_at: float | None
    status: str | None
    partial: bool
    problems: list[str]
    systems: list[SystemSummary]
    tasks: list[TaskRow]
    stages: list[StageTotals]
    total: StageTotals
    curve: list[CurvePoint] = Field(default_factory=list)
    methods: dict[str, str] = Field(default_factory=dict)


def _mean(xs: Iterable[float | None]) -> float | None:
    vals = [float(x) for x in xs if x is not None]
    return sum(vals) / len(vals) if vals else None


def _cell(system: str, outs: list[TaskOutcome]) -> TaskCell:
    return TaskCell(
        system=system,
        resolved=sum(o.resolved for o in outs) / len(outs),
        oracle=_mean(None if o.oracle is None else float(o.oracle) for o in outs),
        random_pick=_mean(o.random_pick for o in outs),
        n_candidates=max((o.n_candidates for o in outs if o.n_candidates is not None), default=None),
        selected=outs[-1].selected,
        n_seeds=len(outs),
        cost_usd=sum(o.cost_usd for o in outs),
        input_tokens=sum(o.input_tokens for o in outs),
        output_tokens=sum(o.output_tokens for o in outs),
        time_s=sum(o.time_s for o in outs),
    )


def natural_key(task_id: str) -> list[tuple[int, int | str]]:
    """Sort key that puts ``HumanEval/2`` before ``HumanEval/10``."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", task_id) if p]


def task_rows(outcomes: list[TaskOutcome]) -> list[TaskRow]:
    """Per-task rows (natural order of task ids), one cell per system in first-seen order."""
    grouped: dict[str, dict[str, list[TaskOutcome]]] = defaultdict(lambda: defaultdict(list))
    for o in sorted(outcomes, key=lambda o: o.seed):
        grouped[o.task_id][o.system].append(o)
    return [
        TaskRow(task_id=t, cells=[_cell(s, outs) for s, outs in by_sys.items()])
        for t, by_sys in sorted(grouped.items(), key=lambda kv: natural_key(kv[0]))
    ]


def systems_of(outcomes: Iterable[TaskOutcome]) -> list[str]:
    return list(dict.fromkeys(o.system for o in outcomes))


def _b4_cells(system: str, rows: list[TaskRow], cells: list[TaskCell]) -> list[TaskCell]:
    """The cells the B4 columns average. A selection run scores every strategy under B4's own protocol
    too, as the system ``"<strategy> [b4]"`` (distinct solutions that ran, its own tasks): those are the
    B4 figures of ``<strategy>``, and a ``[b4]`` system's tasks are all B4's. Elsewhere: the tasks with a
    correct candidate where a random pick is not already right, outcomes as they are."""
    if system.endswith(" [b4]"):
        return cells
    b4 = [c for r in rows for c in r.cells if c.system == f"{system} [b4]"]
    if b4:
        return b4
    return [c for c in cells if c.oracle is not None and c.oracle > 0 and (c.random_pick or 0.0) < 1.0]


def summarize_system(system: str, rows: list[TaskRow]) -> SystemSummary:
    cells = [c for r in rows for c in r.cells if c.system == system]
    ids = [r.task_id for r in rows for c in r.cells if c.system == system]
    relevant = _b4_cells(system, rows, cells)
    resolved_ids = [t for t, c in zip(ids, cells, strict=True) if c.resolved >= 1.0]
    unresolved_ids = [t for t, c in zip(ids, cells, strict=True) if c.resolved <= 0.0]
    tied_ids = [t for t, c in zip(ids, cells, strict=True) if 0.0 < c.resolved < 1.0]
    return SystemSummary(
        system=system,
        n_tasks=len(cells),
        n_seeds=max((c.n_seeds for c in cells), default=0),
        pass_at_1=_mean(c.resolved for c in cells) or 0.0,
        oracle=_mean(c.oracle for c in cells),
        random_pick=_mean(c.random_pick for c in cells),
        relevant_tasks=len(relevant),
        relevant_pass_at_1=_mean(c.resolved for c in relevant),
        relevant_random_pick=_mean(c.random_pick for c in relevant),
        cost_usd=sum(c.cost_usd for c in cells),
        input_tokens=sum(c.input_tokens for c in cells),
        output_tokens=sum(c.output_tokens for c in cells),
        time_s=sum(c.time_s for c in cells),
        swebench=SwebenchCounts(
            total_instances=len(cells),
            completed_instances=len(cells),
            resolved_instances=len(resolved_ids),
            unresolved_instances=len(unresolved_ids),
            resolved_ids=resolved_ids,
            unresolved_ids=unresolved_ids,
            tied_ids=tied_ids,
        ),
    )


def candidate_curve(outcomes: list[TaskOutcome]) -> list[CurvePoint]:
    """Selected pass@1 and coverage against the number of candidates, from whichever the run has:

    - ``extra`` fields ``resolved@N`` / ``oracle@N`` on outcomes (one series per system), or
    - variants of one system at several candidate counts, named ``<family>@<anything>`` (e.g.
      ``codet@n=8``), each at its most common ``n_candidates`` (one series per family).
    """
    points: list[CurvePoint] = []
    by_series: dict[tuple[str, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for o in outcomes:
        for key, value in o.extra.items():
            m = _EXTRA_CURVE.match(key)
            if m and isinstance(value, int | float) and not isinstance(value, bool):
                by_series[(o.system, int(m.group(2)))][m.group(1)].append(float(value))
    per_system: dict[str, list[TaskOutcome]] = defaultdict(list)
    for o in outcomes:
        if "@" in o.system and o.n_candidates is not None:
            per_system[o.system].append(o)
    family_n: dict[str, dict[int, list[TaskOutcome]]] = defaultdict(lambda: defaultdict(list))
    for system, outs in per_system.items():
        # A variant's candidate count is its usual one; a search's per-task node count is no budget.
        n = Counter(o.n_candidates for o in outs).most_common(1)[0][0]
        if n is not None:
            family_n[system.split("@")[0]][n].extend(outs)
    for family, by_n in family_n.items():
        if len(by_n) < 2 or any((family, n) in by_series for n in by_n):
            continue
        for n, outs in by_n.items():
            by_series[(family, n)]["resolved"].extend(o.resolved for o in outs)
            by_series[(family, n)]["oracle"].extend(float(o.oracle) for o in outs if o.oracle is not None)
    for (series, n), metrics in sorted(by_series.items()):
        n_tasks = max((len(v) for v in metrics.values()), default=0)
        points.append(
            CurvePoint(
                series=series,
                n_candidates=n,
                pass_at_1=_mean(metrics.get("resolved", [])),
                oracle=_mean(metrics.get("oracle", [])),
                n_tasks=n_tasks,
            )
        )
    return points


def _total(stages: list[StageTotals], systems: list[SystemSummary]) -> StageTotals:
    if stages:
        return StageTotals(
            stage="total",
            calls=sum(s.calls for s in stages),
            input_tokens=sum(s.input_tokens for s in stages),
            output_tokens=sum(s.output_tokens for s in stages),
            cost_usd=sum(s.cost_usd for s in stages),
            time_s=sum(s.time_s for s in stages),
        )
    # No stage totals written (yet): fall back on what the outcomes carry.
    return StageTotals(
        stage="total",
        input_tokens=sum(s.input_tokens for s in systems),
        output_tokens=sum(s.output_tokens for s in systems),
        cost_usd=sum(s.cost_usd for s in systems),
        time_s=sum(s.time_s for s in systems),
    )


METHODS = {
    "pass_at_1": "mean over tasks of `resolved` (exact expectation over the selector's tied group), "
    "seeds averaged per task first",
    "oracle": "share of tasks where any candidate is correct (oracle coverage)",
    "random_pick": "expected pass@1 of a uniformly random candidate",
    "relevant": "B4 columns: a selection run's '<strategy> [b4]' outcomes (B4's protocol: distinct "
    "solutions that ran, tasks with 0 < p < 1); other runs: only tasks with a correct candidate and "
    "random_pick < 1. The other columns are the whole-suite (CodeT) protocol",
}


def build_report(data: RunData) -> RunReport:
    rows = task_rows(data.outcomes)
    systems = [summarize_system(s, rows) for s in systems_of(data.outcomes)]
    created = data.manifest.created_at if data.manifest is not None else None
    return RunReport(
        run_id=data.run_id,
        kind=data.kind,
        created_at=created,
        status=data.status,
        partial=data.partial,
        problems=list(data.problems),
        systems=systems,
        tasks=rows,
        stages=list(data.stages),
        total=_total(data.stages, systems),
        curve=candidate_curve(data.outcomes),
        methods=dict(METHODS),
    )
