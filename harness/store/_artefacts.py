"""Per-task stage artefacts of a run: candidates, the pass matrix, selector rankings and which candidates
the hidden tests accepted. Selection runs and the pipeline write them; reports and the viewer read them.

Layout (one file per task, named by :func:`task_key`)::

    03_candidates/<key>.jsonl   one Candidate per line
    04_matrix/<key>.npz         cells, times_ms, candidate_ids, test_ids, candidate_counts, test_counts
    05_selection/<key>.json     {"version", "task_id", "rankings": [Ranking, ...]}
    06_eval/<key>.json          {"version", "task_id", "correct": [bool per matrix candidate]}

Readers return ``None`` when a run has no such artefact for the task: most run kinds have none.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from harness.errors import DataError
from harness.records import Candidate, PassMatrix, Ranking
from harness.store._atomic import atomic_write_bytes, atomic_write_json
from harness.store._run import Run

ARTEFACT_VERSION = 1


def task_key(task_id: str) -> str:
    """A file-name-safe key for a task id (``HumanEval/3`` -> ``HumanEval__3``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", task_id.replace("/", "__"))


class TaskSelection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = ARTEFACT_VERSION
    task_id: str
    rankings: list[Ranking]


class TaskEval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = ARTEFACT_VERSION
    task_id: str
    correct: list[bool]


def write_matrix(run: Run, m: PassMatrix, extra: Mapping[str, Any] | None = None) -> Path:
    """``04_matrix/<key>.npz``; ``extra`` arrays (what a stage needs to resume from the same file, e.g.
    ``harness select``'s ``correct`` and ``outputs``) follow the matrix's own, which readers rely on."""
    arrays: dict[str, Any] = {
        "cells": m.cells,
        "times_ms": m.times_ms,
        "candidate_ids": np.array(m.candidate_ids, dtype=str),
        "test_ids": np.array(m.test_ids, dtype=str),
        "candidate_counts": m.candidate_counts,
        "test_counts": m.test_counts,
        "task_id": np.array(m.task_id),
    }
    clash = arrays.keys() & (extra or {}).keys()
    if clash:
        raise ValueError(f"extra arrays would replace the matrix's own: {sorted(clash)}")
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays, **(extra or {}))
    path = run.path("04_matrix", f"{task_key(m.task_id)}.npz")
    atomic_write_bytes(path, buf.getvalue())
    return path


def write_rankings(
    run: Run, task_id: str, rankings: list[Ranking], correct: list[bool] | None = None
) -> None:
    key = task_key(task_id)
    atomic_write_json(
        run.path("05_selection", f"{key}.json"),
        TaskSelection(task_id=task_id, rankings=rankings).model_dump(),
    )
    if correct is not None:
        write_correct(run, task_id, correct)


def write_correct(run: Run, task_id: str, correct: list[bool]) -> None:
    """``06_eval/<key>.json``: which candidates of the task's matrix the hidden tests accepted."""
    atomic_write_json(
        run.path("06_eval", f"{task_key(task_id)}.json"),
        TaskEval(task_id=task_id, correct=correct).model_dump(),
    )


def write_candidates(run: Run, task_id: str, candidates: list[Candidate]) -> None:
    text = "".join(c.model_dump_json() + "\n" for c in candidates)
    atomic_write_bytes(run.path("03_candidates", f"{task_key(task_id)}.jsonl"), text.encode("utf-8"))


def read_matrix(run_dir: Path, task_id: str) -> PassMatrix | None:
    path = run_dir / "04_matrix" / f"{task_key(task_id)}.npz"
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return PassMatrix(
                task_id,
                [str(x) for x in z["candidate_ids"]],
                [str(x) for x in z["test_ids"]],
                z["cells"],
                times_ms=z.get("times_ms"),
                candidate_counts=z.get("candidate_counts"),
                test_counts=z.get("test_counts"),
            )
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: unreadable pass matrix ({exc})") from exc


def read_rankings(run_dir: Path, task_id: str) -> list[Ranking] | None:
    path = run_dir / "05_selection" / f"{task_key(task_id)}.json"
    if not path.exists():
        return None
    try:
        return TaskSelection.model_validate_json(path.read_text(encoding="utf-8")).rankings
    except ValueError as exc:
        raise DataError(f"{path}: unreadable rankings ({exc})") from exc


def read_correct(run_dir: Path, task_id: str) -> list[bool] | None:
    path = run_dir / "06_eval" / f"{task_key(task_id)}.json"
    if not path.exists():
        return None
    try:
        return TaskEval.model_validate_json(path.read_text(encoding="utf-8")).correct
    except ValueError as exc:
        raise DataError(f"{path}: unreadable evaluation ({exc})") from exc


def read_candidates(run_dir: Path, task_id: str) -> list[Candidate] | None:
    path = run_dir / "03_candidates" / f"{task_key(task_id)}.jsonl"
    if not path.exists():
        return None
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(Candidate.model_validate(json.loads(line)))
            except ValueError as exc:
                raise DataError(f"{path}:{lineno}: malformed candidate ({exc})") from exc
    return out


def read_instance_report(run_dir: Path, task_id: str) -> dict[str, Any] | None:
    """The swebench-shaped evaluation report of a repository task, when the run keeps one under
    ``06_eval/<instance_id>/report.json`` (the layout ``harness eval`` writes into its folder)."""
    base = (run_dir / "06_eval").resolve()
    for name in dict.fromkeys((task_id, task_key(task_id))):
        path = (base / name / "report.json").resolve()
        if not path.is_relative_to(base) or not path.is_file():
            continue  # a task id such as "../x" never reaches outside the run's folder
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{path}: unreadable evaluation report ({exc})") from exc
        body = data.get(task_id) if isinstance(data, dict) else None
        return body if isinstance(body, dict) else None
    return None


def list_trajectories(run_dir: Path, task_id: str | None = None) -> list[tuple[str, str, Path]]:
    """``(task_id, traj_id, path)`` of the run's trajectory logs (``trajectories/<task>/<id>.jsonl``;
    a task id with ``/`` is a nested folder), optionally of one task."""
    root = run_dir / "trajectories"
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.rglob("*.jsonl")):
        task = path.parent.relative_to(root).as_posix()
        if task_id is None or task == task_id or task == task_key(task_id):
            out.append((task, path.stem, path))
    return out
