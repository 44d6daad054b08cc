"""The fair comparison: every strategy on every task at the same budget, with paired seeds.

One *unit* is (task, strategy, seed). It runs the strategy on the task's public view, then evaluates
every program of the finished tree on the hidden tests (only here), and stores a :class:`UnitRecord`
under ``results/<run-id>/search/units/`` (the full tree and every prompt under ``search/trees/``). A
unit marked done in the run's index is not run again, so a killed comparison resumes.

With ``allocation="adaptive"`` each (strategy, seed) also runs the adaptive split of
:mod:`harness.search._adaptive` at the same total budget, recorded as system ``<strategy>+adaptive``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ConfigError, HarnessError, MissingExtraError, ModelAuthError
from harness.models import BudgetLimits, Spend
from harness.models._types import Model
from harness.search._adaptive import AdaptiveConfig, Difficulty, allocate
from harness.search._attempts import Attempt, AttemptJournal
from harness.search._base import SearchResult
from harness.search._budget import BudgetMeter
from harness.search._evaluate import HiddenEvaluator
from harness.search._executor import Executor, VisibleTest
from harness.search._registry import make_strategy
from harness.store import Run, TaskOutcome, append_outcomes
from harness.tasks._function import FunctionTask

RECORD_VERSION = 1
STAGE = "search"


class CompareConfig(BaseModel):
    """What a comparison runs. Stored in the run's manifest, so a resume must match it."""

    model_config = ConfigDict(extra="forbid")

    suite: str
    model: str
    strategies: list[str]
    budget: BudgetLimits
    seeds: int = Field(default=1, ge=1)
    allocation: Literal["uniform", "adaptive"] = "uniform"
    adaptive: AdaptiveConfig = Field(default_factory=AdaptiveConfig)
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per-strategy config overrides, e.g. ``{"sfs": {"seeds": 3}}``."""
    task_ids: list[str] = Field(default_factory=list)


class NodeRecord(BaseModel):
    """One program of a finished search, with its hidden-test verdict and the spend when it came."""

    model_config = ConfigDict(frozen=True)

    id: int
    parent: int
    kind: str
    score: float
    correct: bool
    cost: Spend


class UnitRecord(BaseModel):
    """The outcome of one (task, system, seed) unit. ``nodes`` are in creation order."""

    model_config = ConfigDict(extra="forbid")

    v: int = RECORD_VERSION
    task_id: str
    system: str
    seed: int
    stopped: str
    limits: BudgetLimits
    spent: Spend
    chosen: int | None
    resolved: bool
    oracle: bool
    nodes: list[NodeRecord]
    calls_by_purpose: dict[str, int] = Field(default_factory=dict)

    def first_correct(self) -> NodeRecord | None:
        return next((n for n in self.nodes if n.correct), None)


def is_internal(system: str) -> bool:
    """The adaptive split's parts (probe and extra searches) are not systems of their own."""
    return system.endswith(("+probe", "+extra"))


def is_combined(system: str) -> bool:
    """An adaptive split's record combines its probe's and extra search's: it spent nothing itself."""
    return system.endswith("+adaptive")


def unit_id(task_id: str, system: str, seed: int) -> str:
    return f"{task_id}|{system}|s{seed}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name)


def unit_path(kind: str, uid: str) -> str:
    """A unit's artefact under the run folder: ``search/<kind>/<unit>.json`` (kind: ``units``,
    ``trees``, ``attempts``)."""
    return f"{STAGE}/{kind}/{_safe(uid)}.json"


def _record(task_id: str, system: str, seed: int, result: SearchResult, correct: list[bool]) -> UnitRecord:
    nodes = [
        NodeRecord(
            id=n.id,
            parent=0 if n.parent is None else n.parent.id,
            kind=n.origin.kind,
            score=n.score,
            correct=ok,
            cost=n.cost,
        )
        for n, ok in zip(result.tree.nodes, correct, strict=True)
    ]
    chosen = result.chosen
    return UnitRecord(
        task_id=task_id,
        system=system,
        seed=seed,
        stopped=result.stopped,
        limits=result.budget.limits,
        spent=result.budget.spent,
        chosen=None if chosen is None else chosen.id,
        resolved=bool(chosen is not None and correct[chosen.id - 1]),
        oracle=any(correct),
        nodes=nodes,
        calls_by_purpose=result.budget.calls_by_purpose,
    )


class Comparison:
    """Runs and stores the units of one comparison (see the module docstring)."""

    def __init__(
        self,
        run: Run,
        cfg: CompareConfig,
        model: Model,
        executor: Executor,
        evaluator: HiddenEvaluator,
        *,
        visible: Mapping[str, Sequence[VisibleTest]] | None = None,
        on_unit: Callable[[UnitRecord], None] | None = None,
        concurrency: int = 1,
    ) -> None:
        self.run = run
        self.cfg = cfg
        self.model = model
        self.executor = executor
        self.evaluator = evaluator
        self.visible = dict(visible or {})
        """Visible tests per task id, when given from outside (e.g. the original prompt's examples)."""
        self.on_unit = on_unit
        self.concurrency = max(1, concurrency)
        self.failures: dict[str, str] = {}
        """Units that failed (unit id -> error); they are retried when the run is resumed."""

    def _path(self, kind: str, uid: str) -> str:
        return unit_path(kind, uid)

    def load(self, uid: str) -> UnitRecord | None:
        path = self.run.dir / self._path("units", uid)
        if not self.run.unit_done(STAGE, uid) or not path.exists():
            return None
        return UnitRecord.model_validate_json(path.read_text())

    async def unit(
        self, task: FunctionTask, strategy: str, seed: int, limits: BudgetLimits, system: str
    ) -> UnitRecord | None:
        """Run (or load, when already done) one unit; ``None`` when it failed (recorded, retried on
        resume). Errors that would fail every unit (credentials, configuration) propagate.

        Whatever the attempt spent is journaled after each model call and when it ends, however it
        ends (:mod:`harness.search._attempts`), so the run's totals count it."""
        uid = unit_id(task.task_id, system, seed)
        done = self.load(uid)
        if done is not None:
            return done
        journal = AttemptJournal.start(
            self.run.dir / self._path("attempts", uid), uid, task.task_id, system, seed
        )
        meter = BudgetMeter(limits, on_record=journal.update)
        self.run.mark(STAGE, uid, "running")
        try:
            return await self._unit(task, strategy, seed, meter, system, uid, journal)
        except (ModelAuthError, ConfigError, MissingExtraError) as exc:
            journal.end(meter, "failed", f"{type(exc).__name__}: {exc}")
            self.run.mark(STAGE, uid, "failed", error="aborted")
            raise
        except HarnessError as exc:
            self.failures[uid] = f"{type(exc).__name__}: {exc}"
            journal.end(meter, "failed", self.failures[uid])
            self.run.mark(STAGE, uid, "failed", error=self.failures[uid][:2000])
            return None
        except BaseException as exc:
            # A crash, a cancellation, Ctrl-C: the spend goes on record, the error goes on.
            journal.end(meter, "failed", f"{type(exc).__name__}: {exc}")
            raise

    async def _unit(
        self,
        task: FunctionTask,
        strategy: str,
        seed: int,
        meter: BudgetMeter,
        system: str,
        uid: str,
        journal: AttemptJournal,
    ) -> UnitRecord:
        search = make_strategy(strategy, **self.cfg.overrides.get(strategy, {}))
        result = await search.search(
            task.public_view(),
            self.model,
            self.executor,
            meter,
            seed=seed,
            tests=self.visible.get(task.task_id),
        )
        correct = await self.evaluator.evaluate(task, [n.program for n in result.tree.nodes])
        record = _record(task.task_id, system, seed, result, correct)
        self.run.write_json(
            self._path("trees", uid),
            {
                "v": RECORD_VERSION,
                "tree": result.tree.to_json(),
                "tests": [t.model_dump() for t in result.tests],
                "calls": [r.model_dump() for r in meter.records],
            },
        )
        self.run.write_json(self._path("units", uid), record.model_dump(mode="json"))
        if not is_internal(system):
            append_outcomes(self.run.dir, [_outcome(record, journal.earlier_unfinished())])
        self.run.mark(STAGE, uid, "done", artefact=self._path("units", uid))
        journal.end(meter, "done")
        if self.on_unit is not None:
            self.on_unit(record)
        return record

    async def run_all(self, tasks: Sequence[FunctionTask]) -> list[UnitRecord]:
        """Every unit, seed-major, so an interrupted run has whole seeds of every strategy first."""
        records: list[UnitRecord] = []
        sem = asyncio.Semaphore(self.concurrency)

        async def one(task: FunctionTask, strategy: str, seed: int) -> UnitRecord | None:
            async with sem:
                return await self.unit(task, strategy, seed, self.cfg.budget, strategy)

        for seed in range(self.cfg.seeds):
            # Units of one seed run concurrently (up to ``concurrency``); results keep a fixed order.
            jobs = [
                asyncio.ensure_future(one(task, strategy, seed))
                for task in tasks
                for strategy in self.cfg.strategies
            ]
            try:
                outs = await asyncio.gather(*jobs)
            except BaseException:
                # One unit aborted the run: stop the others now (their spend is journaled as they
                # stop), rather than let them spend on after the run has reported its totals.
                for job in jobs:
                    job.cancel()
                await asyncio.gather(*jobs, return_exceptions=True)
                raise
            records.extend(r for r in outs if r is not None)
            if self.cfg.allocation == "adaptive":
                for strategy in self.cfg.strategies:
                    records.extend(await self.adaptive(tasks, strategy, seed))
        return records

    async def adaptive(self, tasks: Sequence[FunctionTask], strategy: str, seed: int) -> list[UnitRecord]:
        """Probe every task, allocate the rest of the total budget by marginal gain, combine."""
        cfg, axis = self.cfg, self.cfg.budget.axis
        share = cfg.budget.model_dump()[axis]
        step = cfg.budget.scaled(cfg.adaptive.probe_fraction)
        maybe = [await self.unit(t, strategy, seed, step, f"{strategy}+probe") for t in tasks]
        probes = [p for p in maybe if p is not None]
        if len(probes) < len(tasks):
            return []  # a probe failed: the split would not be at equal total budget; retried on resume
        diffs = [
            Difficulty(
                task_id=p.task_id,
                solved_visible=any(n.score >= 1.0 for n in p.nodes),
                mean_score=sum(n.score for n in p.nodes) / len(p.nodes) if p.nodes else 0.0,
                n_programs=len(p.nodes),
            )
            for p in probes
        ]
        remaining = share * len(tasks) - sum(p.spent.get(axis) for p in probes)
        step_size = step.model_dump()[axis]
        extra = allocate(diffs, int(remaining // step_size), cfg.adaptive)
        out: list[UnitRecord] = []
        for task, probe, k in zip(tasks, probes, extra, strict=True):
            more = None
            if k > 0:
                limits = cfg.budget.with_value(axis, k * step_size)
                # A fresh search with its own seed: the probe's programs are kept, not re-generated.
                more = await self.unit(task, strategy, seed + 1_000_003, limits, f"{strategy}+extra")
                if more is None:
                    continue
            out.append(_combine(probe, more, f"{strategy}+adaptive", seed, cfg.budget))
        for rec in out:
            uid = unit_id(rec.task_id, rec.system, seed)
            self.run.write_json(self._path("units", uid), rec.model_dump(mode="json"))
            append_outcomes(self.run.dir, [_outcome(rec)])
            self.run.mark(STAGE, uid, "done", artefact=self._path("units", uid))
        return out


def _combine(
    probe: UnitRecord, more: UnitRecord | None, system: str, seed: int, limits: BudgetLimits
) -> UnitRecord:
    """The probe's nodes then the extra search's (ids and costs shifted); the choice is the best
    visible score over both, the earliest among ties."""
    nodes = list(probe.nodes)
    spent = probe.spent
    if more is not None:
        base, off = len(nodes), probe.spent
        for n in more.nodes:
            nodes.append(
                n.model_copy(
                    update={
                        "id": n.id + base,
                        "parent": 0 if n.parent == 0 else n.parent + base,
                        "cost": off + n.cost,
                    }
                )
            )
        spent = probe.spent + more.spent
    chosen = max(nodes, key=lambda n: (n.score, -n.id)) if nodes else None
    return UnitRecord(
        task_id=probe.task_id,
        system=system,
        seed=seed,
        stopped=more.stopped if more is not None else probe.stopped,
        limits=limits,
        spent=spent,
        chosen=None if chosen is None else chosen.id,
        resolved=bool(chosen is not None and chosen.correct),
        oracle=any(n.correct for n in nodes),
        nodes=nodes,
    )


def _outcome(r: UnitRecord, failed: Sequence[Attempt] = ()) -> TaskOutcome:
    """The unit's outcome row. ``cost_usd`` and the tokens are the finished search's (the comparison
    is at equal budget: answers replayed from the response cache included); ``extra`` also names the
    earlier attempts that failed and what they paid for."""
    first = r.first_correct()
    lost = sum((a.cost for a in failed), Spend())
    return TaskOutcome(
        task_id=r.task_id,
        system=r.system,
        seed=r.seed,
        resolved=1.0 if r.resolved else 0.0,
        oracle=r.oracle,
        n_candidates=len(r.nodes),
        selected=None if r.chosen is None else str(r.chosen),
        cost_usd=r.spent.cost_usd,
        input_tokens=r.spent.input_tokens,
        output_tokens=r.spent.output_tokens,
        extra={
            "calls": r.spent.calls,
            "programs": r.spent.programs,
            "stopped": r.stopped,
            "first_correct_calls": None if first is None else first.cost.calls,
            "first_correct_tokens": None if first is None else first.cost.tokens,
            "failed_attempts": len(failed),
            "failed_attempts_calls": lost.calls,
            "failed_attempts_cost_usd": lost.cost_usd,
        },
    )
