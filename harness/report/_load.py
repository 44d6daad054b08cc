"""Finding and reading one run's folder for report, compare and the viewer.

A run is named by its id under a results folder or by a path. Reading never writes: the SQLite index
is opened read-only, so a report or a viewer can look at a live run without disturbing it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import ValidationError

from harness.errors import DataError
from harness.store import Manifest, StageTotals, TaskOutcome, read_outcomes, read_stages

DONE_STATUSES = frozenset({"done", "finished", "complete", "completed"})


@dataclass
class RunData:
    """What a run's folder holds, plus why it is partial (an empty ``problems`` means complete)."""

    run_id: str
    dir: Path
    manifest: Manifest | None
    outcomes: list[TaskOutcome]
    stages: list[StageTotals]
    status: str | None
    """The run's status in the index (``running``, ``done``, ``failed``...), None when not indexed."""
    unit_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per stage, how many units of the index are in each status."""
    problems: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.problems)

    @property
    def kind(self) -> str:
        return self.manifest.kind if self.manifest is not None else "unknown"


def resolve_run_dir(spec: str | Path, results_dir: str | Path) -> Path:
    """The folder of run ``spec``: a path to a run folder, or a run id under ``results_dir``."""
    direct = Path(spec)
    for candidate in (direct, Path(results_dir) / str(spec)):
        if candidate.is_dir() and _looks_like_run(candidate):
            return candidate
    if direct.is_dir() or (Path(results_dir) / str(spec)).is_dir():
        raise DataError(
            f"{spec!r} is a folder but not a run (no manifest.json, outcomes.jsonl or stages.json); "
            "point at results/<run-id>"
        )
    known = list_run_dirs(results_dir)
    hint = ", ".join(p.name for p in known[:5]) or "none"
    raise DataError(
        f"no run {spec!r}: not a run folder and not a run id under {Path(results_dir)!s} "
        f"(runs there: {hint}); pass a path or set --results / HARNESS_RESULTS"
    )


def _looks_like_run(path: Path) -> bool:
    return any((path / name).exists() for name in ("manifest.json", "outcomes.jsonl", "stages.json"))


def list_run_dirs(results_dir: str | Path) -> list[Path]:
    """Run folders under ``results_dir``, newest first by folder mtime."""
    root = Path(results_dir)
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and _looks_like_run(p)]
    return sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True)


def read_manifest(run_dir: Path) -> Manifest | None:
    path = run_dir / "manifest.json"
    if not path.exists():
        return None
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise DataError(f"{path}: malformed manifest ({exc.error_count()} errors)") from exc


def index_rows(results_dir: Path) -> dict[str, tuple[str, str, float]]:
    """``run_id -> (kind, status, created_at)`` from ``index.sqlite``, read-only; empty when absent."""
    conn = _open_index(results_dir)
    if conn is None:
        return {}
    try:
        rows = conn.execute("SELECT run_id, kind, status, created_at FROM runs").fetchall()
    except sqlite3.Error:
        return {}
    finally:
        conn.close()
    return {str(r): (str(k), str(s), float(t)) for r, k, s, t in rows}


def _open_index(results_dir: Path) -> sqlite3.Connection | None:
    path = results_dir / "index.sqlite"
    if not path.exists():
        return None
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return None


def index_state(results_dir: Path, run_id: str) -> tuple[str | None, dict[str, dict[str, int]]]:
    """A run's status and unit counts per stage and status, from the index (read-only)."""
    return index_rows(results_dir).get(run_id, (None, None, 0.0))[1], _unit_counts(results_dir, run_id)


def refresh_index_state(data: RunData) -> RunData:
    """``data`` with status, unit counts and problems re-read from the index (files untouched)."""
    status, units = index_state(data.dir.parent, data.run_id)
    fresh = replace(data, status=status, unit_counts=units, problems=[])
    fresh.problems = _problems(fresh)
    return fresh


def _unit_counts(results_dir: Path, run_id: str) -> dict[str, dict[str, int]]:
    conn = _open_index(results_dir)
    if conn is None:
        return {}
    try:
        rows = conn.execute(
            "SELECT stage, status, COUNT(*) FROM units WHERE run_id=? GROUP BY stage, status", (run_id,)
        ).fetchall()
    except sqlite3.Error:
        return {}
    finally:
        conn.close()
    counts: dict[str, dict[str, int]] = {}
    for stage, status, n in rows:
        counts.setdefault(str(stage), {})[str(status)] = int(n)
    return counts


def load_run(spec: str | Path, results_dir: str | Path) -> RunData:
    """Read a run. A partial run (still running, killed, failed units, missing files) still loads;
    its ``problems`` say what is missing. A folder that is no run at all raises :class:`DataError`."""
    run_dir = resolve_run_dir(spec, results_dir)
    manifest = read_manifest(run_dir)
    run_id = manifest.run_id if manifest is not None else run_dir.name
    # The index lives beside the run folders; a run given by path may sit in another results folder.
    status, units = index_state(run_dir.parent, run_id)
    try:
        stages = read_stages(run_dir)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise DataError(f"{run_dir / 'stages.json'}: malformed stage totals ({exc})") from exc
    data = RunData(
        run_id=run_id,
        dir=run_dir,
        manifest=manifest,
        outcomes=read_outcomes(run_dir),
        stages=stages,
        status=status,
        unit_counts=units,
    )
    data.problems = _problems(data)
    return data


def _problems(data: RunData) -> list[str]:
    problems: list[str] = []
    if data.manifest is None:
        problems.append("no manifest.json")
    if not data.outcomes:
        problems.append("no outcomes yet (outcomes.jsonl missing or empty)")
    if data.status is not None and data.status not in DONE_STATUSES:
        problems.append(f"run status is {data.status!r}")
    for stage, counts in sorted(data.unit_counts.items()):
        open_units = sum(n for s, n in counts.items() if s != "done")
        if open_units:
            detail = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s != "done")
            problems.append(f"stage {stage}: {detail}")
    return problems
