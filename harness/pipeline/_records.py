"""Records of the pipeline's stages (resume artefacts) and the per-task and per-stage accounting."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.models import Spend
from harness.pipeline._trajectory import TrajectoryRecord
from harness.pipeline.context import ContextResult
from harness.selection._types import Ranking
from harness.store import Run, StageTotals, TaskOutcome
from harness.trajectory import TrajectoryEvent, iter_events

ABANDONED = "abandoned"
"""Folder of the run (``abandoned/<key>/<log>.<n>.jsonl``) holding the logs of attempts that did not
finish (a kill, a sandbox failure, a lost artefact), outside ``trajectories/`` which the viewer lists."""


class SelectionRecord(BaseModel):
    """What voting and selection decided for one task (the ``selection`` stage's artefact)."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    task_id: str
    candidates: list[str]
    """Distinct candidate patches (dedup of the trajectories' patches)."""
    groups: list[list[int]]
    tests: list[str]
    matrix: dict[str, Any]
    votes: Ranking
    b4: Ranking
    method: str
    chosen: int
    """Index into ``candidates``."""
    reason: str = ""
    fell_back: bool = False
    spent: Spend = Field(default_factory=Spend)


class EvalRecord(BaseModel):
    """Hidden-test verdicts of every distinct candidate of one task (the ``evaluation`` artefact)."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    task_id: str
    chosen: int
    resolved: bool
    candidate_resolved: list[bool | None]
    """Per distinct candidate (None: not evaluated); empty patches are False."""
    outcomes: list[str]
    time_s: float = 0.0


def set_aside(run_dir: Path, key: str, name: str) -> None:
    """Before an attempt starts afresh, move the log a former attempt of it left
    (``trajectories/<key>/<name>.jsonl``) to ``abandoned/<key>/<name>.<n>.jsonl``: the calls it was
    answered were paid, and :func:`abandoned_spent` keeps counting them. One rename, so a kill cannot
    count a log twice or lose it; an empty log (no event written) is removed."""
    path = run_dir / "trajectories" / key / f"{name}.jsonl"
    if not path.exists():
        return
    if path.stat().st_size == 0:
        path.unlink()
        return
    folder = run_dir / ABANDONED / key
    folder.mkdir(parents=True, exist_ok=True)
    n = 1
    while (folder / f"{name}.{n}.jsonl").exists():
        n += 1
    path.replace(folder / f"{name}.{n}.jsonl")


def abandoned_spent(run_dir: Path, key: str) -> dict[str, Spend]:
    """Calls, tokens and dollars per stage of the task's abandoned attempts, read from their logs
    (every event carrying usage is an answered call). Seconds are not counted. In a trajectory's log the
    testing loop's conversation comes first, the editing loop's second (each opens with its system
    message).

    Each answered call is counted once. A unit's next attempt (its next abandoned log, or the log of the
    attempt that finished) sends the same requests, and the response cache answers those the abandoned
    attempt had answered: that attempt's record counts them, so they are left out here. They are told by
    the next attempt's responses marked ``cached``, matched on the answer's text."""
    out = {s: Spend() for s in ("context", "testing", "editing", "selection")}
    folder = run_dir / ABANDONED / key
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        name = path.name.split(".", 1)[0]
        replayed = _replayed(_next_attempt(run_dir, key, path))
        chats = 0
        for e in iter_events(path):
            if e.type == "model_request" and any(
                m.get("role") == "system" for m in e.data.get("messages", []) if isinstance(m, dict)
            ):
                chats += 1
            if not _answered(e):
                continue
            answer = _answer(e.data)
            if answer is not None and replayed.get(answer, 0) > 0:
                replayed[answer] -= 1
                continue
            stage = name if name in ("context", "selection") else ("testing" if chats <= 1 else "editing")
            u = e.usage
            out[stage] = out[stage] + Spend(
                calls=int(u is not None),
                input_tokens=u.input_tokens + u.cache_read_tokens + u.cache_write_tokens if u else 0,
                output_tokens=u.output_tokens if u else 0,
                cost_usd=e.cost_usd,
            )
    return out


def _answered(e: TrajectoryEvent) -> bool:
    """Whether an event is an answered model call (it carries usage or a cost)."""
    return e.usage is not None or bool(e.cost_usd)


def _answer(data: dict[str, Any]) -> str | None:
    """The model's answer an event carries: a response's text, a relevance note's answer."""
    text = data.get("text", data.get("answer"))
    return text if isinstance(text, str) else None


def _next_attempt(run_dir: Path, key: str, path: Path) -> Path:
    """The attempt after the abandoned log ``path`` (``<name>.<n>.jsonl``): ``<name>.<n+1>.jsonl``, or the
    unit's log in ``trajectories/`` (which may not exist)."""
    name, n = path.name.split(".")[:2]
    later = path.with_name(f"{name}.{int(n) + 1}.jsonl") if n.isdigit() else None
    if later is not None and later.exists():
        return later
    return run_dir / "trajectories" / key / f"{name}.jsonl"


def _replayed(path: Path) -> dict[str, int]:
    """How many times each answer was served to the attempt logged at ``path`` by the response cache."""
    counts: dict[str, int] = {}
    if not path.exists():
        return counts
    for e in iter_events(path):
        answer = _answer(e.data)
        if e.data.get("cached") is True and answer is not None and _answered(e):
            counts[answer] = counts.get(answer, 0) + 1
    return counts


def task_outcome(
    task_id: str,
    system: str,
    ctx: ContextResult,
    records: list[TrajectoryRecord],
    sel: SelectionRecord,
    ev: EvalRecord | None,
    abandoned: dict[str, Spend] | None = None,
) -> TaskOutcome:
    """The run summary's row for a task: the choice's resolution, oracle coverage over the distinct
    candidates, a random trajectory's expected resolution, cost and tokens of every stage, including
    what attempts that did not finish spent (``abandoned``, see :func:`abandoned_spent`). ``time_s`` is
    the work's seconds summed over stages and finished trajectories, read from the artefacts (so a
    resumed run reports the same figure), not the wall time."""
    lost = abandoned or {}
    lost_ctx, lost_sel = lost.get("context", Spend()), lost.get("selection", Spend())
    lost_traj = lost.get("testing", Spend()) + lost.get("editing", Spend())
    spent = ctx.spent + sel.spent + lost_ctx + lost_sel + lost_traj
    for r in records:
        spent = spent + r.testing + r.editing
    resolved = float(ev.resolved) if ev is not None else 0.0
    known = ev is not None and None not in ev.candidate_resolved
    oracle = any(bool(x) for x in ev.candidate_resolved) if ev is not None else None
    if oracle is False and not known:
        oracle = None  # some candidate was not judged: coverage is unknown
    random_pick = None
    if ev is not None and known:
        # A uniformly random candidate patch (duplicates count as often as they were written; with an
        # ensemble the other systems' patches are candidates too).
        hits = sum(len(g) for g, ok in zip(sel.groups, ev.candidate_resolved, strict=True) if ok)
        random_pick = hits / max(1, sum(len(g) for g in sel.groups))
    return TaskOutcome(
        task_id=task_id,
        system=system,
        resolved=resolved,
        oracle=oracle,
        random_pick=random_pick,
        n_candidates=sum(len(g) for g in sel.groups) or len(records),
        selected=f"ours:{sel.chosen}",
        cost_usd=round(spent.cost_usd, 6),
        input_tokens=spent.input_tokens,
        output_tokens=spent.output_tokens,
        time_s=round(
            ctx.spent.time_s + sum(r.time_s for r in records) + sel.spent.time_s + (ev.time_s if ev else 0.0),
            3,
        ),
        extra={
            "distinct_candidates": len(sel.candidates),
            "fell_back": sel.fell_back,
            "tests": len(sel.tests),
            "cost_context": round(ctx.spent.cost_usd + lost_ctx.cost_usd, 6),
            "cost_trajectories": round(
                sum(r.testing.cost_usd + r.editing.cost_usd for r in records) + lost_traj.cost_usd, 6
            ),
            "cost_selection": round(sel.spent.cost_usd + lost_sel.cost_usd, 6),
            "cost_abandoned": round(lost_ctx.cost_usd + lost_traj.cost_usd + lost_sel.cost_usd, 6),
            "time_context": round(ctx.spent.time_s, 3),
            "time_trajectories": round(sum(r.time_s for r in records), 3),
            "time_selection": round(sel.spent.time_s, 3),
            "time_evaluation": round(ev.time_s, 3) if ev is not None else 0.0,
        },
    )


def stage_totals(run_dir: Path, keys: Sequence[str]) -> list[StageTotals]:
    """Per stage, summed from the artefacts of the tasks ``keys`` (evaluation: time only), plus the
    calls, tokens and dollars of attempts that did not finish (:func:`abandoned_spent`), so a resumed
    run counts everything it paid for."""
    totals = {s: Spend() for s in ("context", "testing", "editing", "selection")}
    eval_time = 0.0
    for key in keys:
        for stage, lost in abandoned_spent(run_dir, key).items():
            totals[stage] = totals[stage] + lost
        ctx_path = run_dir / "context" / f"{key}.json"
        if ctx_path.exists():
            totals["context"] = (
                totals["context"] + ContextResult.model_validate_json(ctx_path.read_text()).spent
            )
        for path in sorted((run_dir / "trajectories_out" / key).glob("*.json")):
            rec = TrajectoryRecord.model_validate_json(path.read_text())
            totals["testing"] = totals["testing"] + rec.testing
            totals["editing"] = totals["editing"] + rec.editing
        sel_path = run_dir / "selection" / f"{key}.json"
        if sel_path.exists():
            totals["selection"] = (
                totals["selection"] + SelectionRecord.model_validate_json(sel_path.read_text()).spent
            )
        ev_path = run_dir / "eval" / f"{key}.json"
        if ev_path.exists():
            eval_time += EvalRecord.model_validate_json(ev_path.read_text()).time_s
    out = [
        StageTotals(
            stage=s,
            calls=v.calls,
            input_tokens=v.input_tokens,
            output_tokens=v.output_tokens,
            cost_usd=round(v.cost_usd, 6),
            time_s=round(v.time_s, 3),
        )
        for s, v in totals.items()
    ]
    out.append(StageTotals(stage="evaluation", time_s=round(eval_time, 3)))
    return out


def summary(outcomes: Sequence[TaskOutcome], stages: Sequence[StageTotals]) -> dict[str, Any]:
    """Per task and in total: resolution, oracle coverage, random pick, cost; stages' totals."""
    n = max(1, len(outcomes))
    return {
        "tasks": [o.model_dump(mode="json") for o in outcomes],
        "resolved": sum(o.resolved for o in outcomes),
        "n_tasks": len(outcomes),
        "resolved_rate": sum(o.resolved for o in outcomes) / n,
        "oracle": sum(bool(o.oracle) for o in outcomes) / n,
        "random_pick": sum(o.random_pick or 0.0 for o in outcomes) / n,
        "cost_usd": round(sum(o.cost_usd for o in outcomes), 6),
        "stages": [s.model_dump() for s in stages],
    }


def write_summary(run: Run, data: dict[str, Any]) -> Path:
    return run.write_text("summary.json", json.dumps(data, indent=2, sort_keys=True) + "\n")
