"""Rerunning a finished pipeline run writes no outcome rows, and runs that older harnesses left with
every row repeated (one copy per rerun) read as one row per task, the last one winning.

The run is the cheap one of ``test_pipeline_core.py``: the scripted model and host-folder sandboxes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pipeline_policy
import pytest
from pipeline_host import host_deps

from harness.pipeline import parse_config
from harness.pipeline._main import run_pipeline
from harness.report import build_report, load_run
from harness.store import read_outcomes
from harness.viewer import ViewerServer

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["local__unitconv-1", "local__globmatch-1"]


def _config() -> dict[str, Any]:
    return {
        "suite": str(ROOT / "tasks" / "local"),
        "tasks": TASKS,
        "models": {
            "default": {
                "spec": "scripted",
                "policy": "pipeline_policy:policy",
                "options": {"price": {"input": 3.0, "output": 15.0}},
            }
        },
        "n_trajectories": 2,
        "testing_turns": 3,
        "editing_turns": 4,
        "selector": "votes",
        "first_alone": False,
        "limits": {"trajectories": 2},
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run ``r`` (evaluated: both tasks resolve), run once."""
    tmp = tmp_path_factory.mktemp("rerun")
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp / "xdg"))
    try:
        pipeline_policy.reset()
        summary = run_pipeline(
            parse_config(_config()), ROOT, results_dir=tmp / "results", run_id="r", deps=host_deps(tmp / "sb")
        )
    finally:
        mp.undo()
    assert summary["resolved"] == 2 and not summary["resumed"]
    return tmp / "results"


def _rerun(results: Path, sandboxes: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(results.parent / "xdg"))
    pipeline_policy.reset()
    summary = run_pipeline(
        parse_config(_config()), ROOT, results_dir=results, run_id="r", deps=host_deps(sandboxes)
    )
    assert summary["resumed"] and pipeline_policy.SEEN == []  # nothing redone, no model called
    return summary


def test_rerunning_a_finished_run_writes_no_outcome_rows(
    finished: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = finished / "r" / "outcomes.jsonl"
    first = path.read_bytes()
    assert len(first.splitlines()) == len(TASKS)
    for n in range(2):
        _rerun(finished, tmp_path / f"sb{n}", monkeypatch)
        assert path.read_bytes() == first  # was 2 -> 4 -> 6 rows


def test_repeated_rows_of_older_runs_read_once_and_the_last_wins(
    finished: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What three runs of an older harness left: every row three times. A unit's last row wins, so a
    # row that differs from the earlier copies (a unit redone with other figures) is the one read.
    path = finished / "r" / "outcomes.jsonl"
    rows = path.read_bytes()
    changed = json.loads(rows.splitlines()[0])
    changed["resolved"] = 0.0
    path.write_bytes(rows * 3 + (json.dumps(changed) + "\n").encode())
    outcomes = {o.task_id: o for o in read_outcomes(finished / "r")}
    assert len(outcomes) == len(TASKS) and outcomes[changed["task_id"]].resolved == 0.0
    report = build_report(load_run(finished / "r", finished))
    assert len(report.tasks) == len(TASKS)
    assert report.systems[0].pass_at_1 == pytest.approx(0.5)
    with ViewerServer(finished) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        (listed,) = c.get("/api/runs").json()["runs"]
        assert listed["n_tasks"] == len(TASKS) and listed["systems"][0]["pass_at_1"] == pytest.approx(0.5)
        body = c.get("/api/tasks", params={"run": "r"}).json()
        assert body["total"] == len(TASKS) and len(body["rows"]) == len(TASKS)
    # A rerun rebuilds the changed unit's outcome from its artefacts: one row, which wins; the
    # unchanged unit gets none.
    before = path.read_bytes()
    _rerun(finished, tmp_path / "sb", monkeypatch)
    after = path.read_bytes()
    assert after.startswith(before) and len(after.splitlines()) == len(before.splitlines()) + 1
    assert json.loads(after.splitlines()[-1])["task_id"] == changed["task_id"]
    assert all(o.resolved == 1.0 for o in read_outcomes(finished / "r"))
