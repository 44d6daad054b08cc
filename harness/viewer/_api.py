"""The viewer's JSON API: plain functions from query values to JSON-able dicts (no web types here).

Every list that can be long is paged (``offset``/``limit``), so the browser never receives a whole
10,000-event trajectory or a whole suite's task table at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import DataError
from harness.report import TaskRow
from harness.report._load import index_rows, list_run_dirs
from harness.report._plots import available_plots
from harness.store import (
    read_candidates,
    read_correct,
    read_instance_report,
    read_matrix,
    read_rankings,
    task_key,
)
from harness.viewer._state import NotFound, ViewerState

MAX_EVENTS_PAGE = 500
MAX_TASKS_PAGE = 500
TASK_STATUSES = ("resolved", "unresolved", "tied", "missed", "no-oracle")


def runs(state: ViewerState) -> dict[str, Any]:
    """Every run folder, newest first, with its headline figures. Runs the index knows but whose
    folder is gone are listed as ``missing``."""
    indexed = index_rows(state.results_dir)
    out: list[dict[str, Any]] = []
    seen = set()
    for run_dir in list_run_dirs(state.results_dir):
        seen.add(run_dir.name)
        try:
            data, report = state.run(run_dir.name)
        except NotFound:
            continue
        except DataError as exc:
            # One unreadable folder (a malformed manifest or outcome line, a symlink out of the
            # results folder) must not hide every other run: it is listed with the reason, and its
            # own page says the same. (lstat: a symlink's target is not looked at.)
            kind, status, created = indexed.get(run_dir.name, ("unknown", None, None))
            out.append(
                {
                    "run_id": run_dir.name,
                    "dir": run_dir.name,
                    "kind": kind,
                    "status": status,
                    "created_at": created or run_dir.lstat().st_mtime,
                    "partial": True,
                    "n_tasks": 0,
                    "systems": [],
                    "cost_usd": 0.0,
                    "error": str(exc),
                }
            )
            continue
        out.append(
            {
                "run_id": data.run_id,
                "dir": run_dir.name,
                "kind": data.kind,
                "status": data.status,
                "created_at": report.created_at or indexed.get(run_dir.name, ("", "", None))[2],
                "partial": data.partial,
                "n_tasks": len(report.tasks),
                "systems": [{"system": s.system, "pass_at_1": s.pass_at_1} for s in report.systems],
                "cost_usd": report.total.cost_usd,
            }
        )
    for run_id, (kind, status, created) in indexed.items():
        if run_id not in seen:
            out.append(
                {
                    "run_id": run_id,
                    "dir": None,
                    "kind": kind,
                    "status": status,
                    "created_at": created,
                    "partial": True,
                    "n_tasks": 0,
                    "systems": [],
                    "cost_usd": 0.0,
                    "missing": True,
                }
            )
    out.sort(key=lambda r: r["created_at"] or 0.0, reverse=True)
    return {"results_dir": str(state.results_dir), "runs": out}


def run(state: ViewerState, run_id: str) -> dict[str, Any]:
    data, report = state.run(run_id)
    manifest = data.manifest.model_dump(mode="json") if data.manifest is not None else None
    body = report.model_dump(mode="json", exclude={"tasks"})
    body.update(
        dir=data.dir.name,
        manifest=manifest,
        unit_counts=data.unit_counts,
        n_tasks=len(report.tasks),
        plots=available_plots(report),
        run_plots=state.run_pngs(run_id),
        n_trajectories=len(state.trajectories(data.dir)),
        has_matrices=(data.dir / "04_matrix").is_dir() and state.inside(data.dir / "04_matrix"),
    )
    return body


def _status(row: TaskRow, system: str) -> set[str]:
    cell = next((c for c in row.cells if c.system == system), None)
    if cell is None:
        return set()
    tags = {"resolved" if cell.resolved >= 1 else "unresolved" if cell.resolved <= 0 else "tied"}
    if cell.oracle is not None and cell.oracle <= 0:
        tags.add("no-oracle")
    elif cell.oracle is not None and cell.resolved < 1:
        tags.add("missed")  # a correct candidate existed and the choice was not (surely) it
    return tags


def tasks(
    state: ViewerState,
    run_id: str,
    *,
    status: str = "",
    q: str = "",
    system: str = "",
    offset: int = 0,
    limit: int = 50,
) -> dict[str, Any]:
    """The task table of a run, filtered by ``status`` (of ``system``, default the first) and by a
    case-insensitive substring ``q`` of the task id or selected candidate, then paged."""
    data, report = state.run(run_id)
    systems = [s.system for s in report.systems]
    system = system if system in systems else (systems[0] if systems else "")
    rows: list[TaskRow] = report.tasks
    if status:
        rows = [r for r in rows if status in _status(r, system)]
    if q:
        needle = q.lower()
        rows = [
            r
            for r in rows
            if needle in r.task_id.lower() or any(needle in (c.selected or "").lower() for c in r.cells)
        ]
    trajs: dict[str, int] = {}
    for task, _, _ in state.trajectories(data.dir):
        trajs[task] = trajs.get(task, 0) + 1
    limit = max(1, min(limit, MAX_TASKS_PAGE))
    page = rows[max(0, offset) : max(0, offset) + limit]
    return {
        "systems": systems,
        "system": system,
        "statuses": list(TASK_STATUSES),
        "total": len(report.tasks),
        "filtered": len(rows),
        "offset": max(0, offset),
        "rows": [_task_json(r, trajs) for r in page],
    }


def _task_json(row: TaskRow, trajs: dict[str, int]) -> dict[str, Any]:
    first = row.cells[0]
    # The folders ``list_trajectories`` matches for this task: the id itself and its key, once each
    # (they are the same folder for an id such as ``astropy__astropy-12907``).
    n_traj = sum(trajs.get(name, 0) for name in {row.task_id, task_key(row.task_id)})
    return {
        "task_id": row.task_id,
        "oracle": first.oracle,
        "random_pick": first.random_pick,
        "n_candidates": first.n_candidates,
        "cost_usd": sum(c.cost_usd for c in row.cells),
        "n_trajectories": n_traj,
        "cells": [c.model_dump(mode="json") for c in row.cells],
    }


def task(state: ViewerState, run_id: str, task_id: str) -> dict[str, Any]:
    """Everything about one task: outcomes per system, candidates, pass matrix, rankings, trajectories."""
    data, report = state.run(run_id)
    row = next((r for r in report.tasks if r.task_id == task_id), None)
    state.check_task_files(data.dir, task_id)
    trajs = state.trajectories(data.dir, task_id)
    matrix = read_matrix(data.dir, task_id)
    if row is None and not trajs and matrix is None:
        raise NotFound(f"run {run_id!r} has no task {task_id!r}")
    rankings = read_rankings(data.dir, task_id) or []
    candidates = read_candidates(data.dir, task_id) or []
    out: dict[str, Any] = {
        "run_id": run_id,
        "task_id": task_id,
        "cells": [c.model_dump(mode="json") for c in row.cells] if row else [],
        "candidates": [c.model_dump(mode="json") for c in candidates],
        "rankings": [r.model_dump(mode="json") for r in rankings],
        "correct": read_correct(data.dir, task_id),
        "evaluation": read_instance_report(data.dir, task_id) or _pipeline_report(state, data.dir, task_id),
        "matrix": None,
        "trajectories": [],
    }
    if matrix is not None:
        out["matrix"] = {
            "candidate_ids": matrix.candidate_ids,
            "test_ids": matrix.test_ids,
            "cells": matrix.cells.tolist(),
            "candidate_counts": matrix.candidate_counts.tolist(),
        }
    for _, traj_id, path in trajs:
        lock, pager = state.pager(path)
        with lock:
            n = pager.refresh()
            out["trajectories"].append(
                {"traj_id": traj_id, "n_events": n, "cost_usd": pager.total_cost, "types": pager.type_counts}
            )
    return out


def _pipeline_report(state: ViewerState, run_dir: Path, task_id: str) -> dict[str, Any] | None:
    """The swebench-shaped evaluation of a pipeline run's chosen candidate (``harness run`` keeps it as
    ``eval/<key>/c<k>/report.json``, ``k`` being ``chosen`` in ``eval/<key>.json``), or None."""
    key = task_key(task_id)
    summary = run_dir / "eval" / f"{key}.json"
    try:
        chosen = json.loads(state.check(summary).read_text(encoding="utf-8")).get("chosen")
        if not isinstance(chosen, int) or isinstance(chosen, bool) or chosen < 0:
            return None
        path = state.check(run_dir / "eval" / key / f"c{chosen}" / "report.json")
        body = json.loads(path.read_text(encoding="utf-8")).get(task_id)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError) as exc:
        raise DataError(f"{run_dir.name}/eval/{key}: unreadable evaluation ({exc})") from exc
    return body if isinstance(body, dict) else None


def trajectory(
    state: ViewerState, run_id: str, task_id: str, traj_id: str, *, offset: int = 0, limit: int = 200
) -> dict[str, Any]:
    """One page of a trajectory's events, with totals so the page can tell whether the log grew."""
    path = state.trajectory_path(run_id, task_id, traj_id)
    run_status = state.run(run_id)[0].status
    lock, pager = state.pager(path)
    limit = max(1, min(limit, MAX_EVENTS_PAGE))
    with lock:
        total = pager.refresh()
        events = pager.page(offset, limit)
        start = max(0, offset)
        cum = [pager.cost_before(start + i + 1) for i in range(len(events))]
        types, cost = pager.type_counts, pager.total_cost
        head = events[:1] if start == 0 else pager.page(0, 1)
    ended = types.get("end", 0) > 0
    return {
        "run_id": run_id,
        "task_id": task_id,
        "traj_id": traj_id,
        "total": total,
        "offset": start,
        "limit": limit,
        "types": types,
        "total_cost": cost,
        "ended": ended,
        "run_status": run_status,
        "t0": head[0].ts if head else None,
        "events": [
            {"i": start + i, "cum_cost": cum[i], **e.model_dump(mode="json", exclude_none=True)}
            for i, e in enumerate(events)
        ],
    }
