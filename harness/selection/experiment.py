"""Offline selection experiments: selectors x protocols over many tasks' pass matrices (pure, no I/O).

``run_experiment`` is what ``harness select`` calls. Pool-size studies subsample each task's solution
pool: ``n`` of the original samples are drawn without replacement (multiplicities respected), the matrix
is restricted to the distinct programs drawn, and everything is averaged over seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from harness.errors import ConfigError, DataError
from harness.selection._types import PassMatrix, Ranking
from harness.selection.metrics import (
    PROTOCOL_LABELS,
    b4_keeps,
    b4_pass_at_1,
    b4_view,
    codet_pass_at_k,
    codet_view,
    default_ran,
    oracle,
)
from harness.selection.selectors import SELECTORS, validate_params

if TYPE_CHECKING:  # keeps `import harness.selection` free of rich
    from rich.table import Table


@dataclass(frozen=True)
class TaskData:
    """One task's evidence and ground truth. ``correct[i]``: distinct candidate ``i`` passes the hidden
    tests. ``n_samples``: pool size (samples the matrix lacks count as wrong). ``ran[i]``: the candidate's
    test program ran (the reference's ``passed`` flag); None derives it with ``metrics.default_ran``."""

    matrix: PassMatrix
    correct: npt.NDArray[np.bool_]
    n_samples: int
    ran: npt.NDArray[np.bool_] | None = field(default=None)
    readings: list[str] | None = field(default=None, compare=False)
    """How each distinct candidate's sample was read (``codet`` or ``program``,
    :mod:`harness.selection.extraction`), when known."""
    cut_programs: int = field(default=0, compare=False)
    main_blocks: int = field(default=0, compare=False)
    """Whole programs run without their ``__main__`` block (``TaskInputs.main_blocks``)."""
    """Samples that define the entry point but were read as completions (``TaskInputs.cut_programs``)."""
    executed: int | None = field(default=None, compare=False)
    """Programs the engine executed for this task when it was built (0: every row came from the engine's
    cache); None when unknown or loaded from a run folder."""

    def __post_init__(self) -> None:
        n = self.matrix.shape[0]
        if np.asarray(self.correct).shape != (n,):
            raise DataError(f"{self.matrix.task_id}: correct has shape {np.shape(self.correct)}, want ({n},)")
        if self.ran is not None and np.asarray(self.ran).shape != (n,):
            raise DataError(f"{self.matrix.task_id}: ran has shape {np.shape(self.ran)}, want ({n},)")
        if int(self.matrix.candidate_counts.sum()) > self.n_samples:
            raise DataError(f"{self.matrix.task_id}: candidate_counts sum above n_samples={self.n_samples}")


class ResultRow(BaseModel):
    """One strategy under one protocol: pass@1 in percent, mean over seeds (std over seeds)."""

    model_config = ConfigDict(frozen=True)

    strategy: str
    protocol: Literal["codet", "b4"]
    pass_at_1: float
    """Percent, mean over seeds of the mean over the protocol's tasks."""
    std: float
    """Percent, population std over seeds (0 with one seed)."""
    n_tasks: float
    """Tasks the protocol kept (mean over seeds: B4's filter depends on the subsample)."""


class TaskRanking(BaseModel):
    """A selector's ranking of one task under one protocol and seed, with its pass@1 (0..1)."""

    model_config = ConfigDict(frozen=True)

    strategy: str
    protocol: Literal["codet", "b4"]
    seed: int
    task_id: str
    pass_at_1: float
    candidate_ids: list[str]
    """Ids of the ranking's candidate indices (the protocol's view of the possibly subsampled pool)."""
    ranking: Ranking


class ExperimentResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    rows: list[ResultRow]
    rankings: list[TaskRanking]
    n_samples: int | None
    seeds: list[int]

    def table(self) -> Table:
        """A rich table; every row names its protocol."""
        from rich.table import Table

        pool = "full pool" if self.n_samples is None else f"pool n={self.n_samples}"
        table = Table(
            title=f"Selection pass@1 ({pool}, {len(self.seeds)} seed(s))",
            caption="CodeT protocol: every task, samples weighted by duplicates, random fallback where "
            "unranked. B4 protocol: distinct solutions that ran, tasks with 0 < p < max_px only.",
        )
        for col in ("protocol", "strategy", "pass@1 %", "± std", "tasks"):
            table.add_column(col, justify="left" if col in ("protocol", "strategy") else "right")
        for row in self.rows:
            table.add_row(
                PROTOCOL_LABELS[row.protocol],
                row.strategy,
                f"{row.pass_at_1:.2f}",
                f"{row.std:.2f}",
                f"{row.n_tasks:g}",
            )
        return table

    def to_json(self) -> dict[str, Any]:
        """``{"unit": "percent", "protocols": {protocol: {"label", "strategies": {name: {...}}}}}``."""
        protocols: dict[str, Any] = {}
        for row in self.rows:
            entry = protocols.setdefault(
                row.protocol, {"label": PROTOCOL_LABELS[row.protocol], "strategies": {}}
            )
            entry["strategies"][row.strategy] = {
                "pass@1": row.pass_at_1,
                "std": row.std,
                "n_tasks": row.n_tasks,
            }
        return {"unit": "percent", "n_samples": self.n_samples, "seeds": self.seeds, "protocols": protocols}


def subsample(task: TaskData, n: int, rng: np.random.Generator) -> TaskData:
    """Draw ``n`` of the task's ``n_samples`` original samples without replacement; keep the distinct
    candidates drawn, with their new multiplicities. Samples absent from the matrix are drawn as nothing."""
    if n >= task.n_samples:
        return task
    m = task.matrix
    owner = np.repeat(np.arange(m.shape[0]), m.candidate_counts)
    slots = rng.choice(task.n_samples, size=n, replace=False)
    drawn = owner[slots[slots < owner.size]]
    counts = np.bincount(drawn, minlength=m.shape[0])
    rows = np.flatnonzero(counts)
    view = PassMatrix(
        m.task_id,
        [m.candidate_ids[i] for i in rows],
        list(m.test_ids),
        m.cells[rows],
        m.times_ms[rows],
        counts[rows].astype(np.int64),
        m.test_counts,
        None if m.outputs is None else m.outputs[rows],
    )
    ran = None if task.ran is None else task.ran[rows]
    return TaskData(view, task.correct[rows], n, ran)


def _selector_of(strategy: str) -> str:
    """``"b4"`` or ``"b4:label"`` (several configurations of one selector side by side)."""
    return strategy.split(":", 1)[0]


def _params_for(strategy: str, params: Mapping[str, Mapping[str, object]], seed: int) -> dict[str, object]:
    selector = _selector_of(strategy)
    chosen = dict(params.get(strategy, params.get(selector, {})))
    spec = SELECTORS.get(selector)
    if spec is not None and "seed" in spec.params.model_fields and "seed" not in chosen:
        chosen["seed"] = seed
    return chosen


def _evaluate_task(
    task: TaskData,
    strategies: Sequence[str],
    protocols: Sequence[Literal["codet", "b4"]],
    params: Mapping[str, Mapping[str, object]],
    seed: int,
    max_px: float,
) -> list[TaskRanking]:
    ran = task.ran if task.ran is not None else default_ran(task.matrix)
    out: list[TaskRanking] = []
    for protocol in protocols:
        if protocol == "codet":
            view, correct = codet_view(task.matrix, ran), task.correct
        else:
            view, correct = b4_view(task.matrix, task.correct, ran)
            if not b4_keeps(correct, max_px):
                continue
        for strategy in strategies:
            selector = _selector_of(strategy)
            spec = SELECTORS[selector]
            ranking = spec.fn(view, validate_params(selector, _params_for(strategy, params, seed)))
            if protocol == "codet":
                value = codet_pass_at_k(ranking, correct, view.candidate_counts, task.n_samples)
            else:
                value = b4_pass_at_1(ranking, correct)
            out.append(
                TaskRanking(
                    strategy=strategy,
                    protocol=protocol,
                    seed=seed,
                    task_id=view.task_id,
                    pass_at_1=value,
                    candidate_ids=list(view.candidate_ids),
                    ranking=ranking,
                )
            )
        value = oracle(correct)
        out.append(
            TaskRanking(
                strategy="oracle",
                protocol=protocol,
                seed=seed,
                task_id=view.task_id,
                pass_at_1=value,
                candidate_ids=[],
                ranking=Ranking(selector="oracle", task_id=view.task_id, scores=[], groups=[], ranked=False),
            )
        )
    return out


def run_experiment(
    tasks: Mapping[str, TaskData],
    *,
    strategies: Sequence[str],
    protocol: Literal["codet", "b4", "both"] = "both",
    n_samples: int | None = None,
    seeds: Sequence[int] = (0,),
    params: Mapping[str, Mapping[str, object]] | None = None,
    max_px: float = 1.0,
) -> ExperimentResult:
    """Rank every task with every strategy and score the rankings under the chosen protocol(s).

    ``strategies``: selector names, optionally ``name:label``; ``params`` is keyed by the full strategy
    string, else by the selector name. A selector with a ``seed`` parameter gets the run's seed unless
    ``params`` sets one. ``oracle`` (any candidate correct) is always reported. ``max_px``: B4's filter.
    """
    params = params or {}
    for strategy in strategies:
        validate_params(_selector_of(strategy), _params_for(strategy, params, 0))
    if not seeds:
        raise ConfigError("run_experiment needs at least one seed")
    protocols: list[Literal["codet", "b4"]] = ["codet", "b4"] if protocol == "both" else [protocol]
    names = [*strategies, "oracle"]
    per_seed: dict[tuple[str, str], list[tuple[float, int]]] = {}
    rankings: list[TaskRanking] = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        outcomes: list[TaskRanking] = []
        for task_id in sorted(tasks):
            task = tasks[task_id] if n_samples is None else subsample(tasks[task_id], n_samples, rng)
            outcomes.extend(_evaluate_task(task, strategies, protocols, params, seed, max_px))
        rankings.extend(outcomes)
        for proto in protocols:
            for name in names:
                values = [o.pass_at_1 for o in outcomes if o.protocol == proto and o.strategy == name]
                mean = float(np.mean(values)) if values else 0.0
                per_seed.setdefault((proto, name), []).append((mean, len(values)))
    rows = [
        ResultRow(
            strategy=name,
            protocol=proto,
            pass_at_1=100.0 * float(np.mean([m for m, _ in per_seed[(proto, name)]])),
            std=100.0 * float(np.std([m for m, _ in per_seed[(proto, name)]])),
            n_tasks=float(np.mean([k for _, k in per_seed[(proto, name)]])),
        )
        for proto in protocols
        for name in names
    ]
    return ExperimentResult(rows=rows, rankings=rankings, n_samples=n_samples, seeds=list(seeds))
