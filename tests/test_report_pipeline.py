"""``harness report`` and ``harness compare`` on runs of the pipeline (``harness run``).

The runs are real pipeline runs with the scripted model and host-folder sandboxes, as in
``tests/test_pipeline_core.py`` (the docker tier runs the same pipeline in containers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pipeline_policy
import pytest
from pipeline_host import host_deps
from typer.testing import CliRunner

from harness.cli import app
from harness.pipeline import parse_config
from harness.pipeline._main import run_pipeline
from harness.store import read_outcomes, read_stages

ROOT = Path(__file__).resolve().parents[1]
PRICE = {"input": 3.0, "output": 15.0}
TASKS = ["local__unitconv-1", "local__globmatch-1"]
PNG = b"\x89PNG\r\n\x1a\n"


def _run(results: Path, run_id: str, sandboxes: Path, **over: Any) -> dict[str, Any]:
    pipeline_policy.reset()
    cfg: dict[str, Any] = {
        "suite": str(ROOT / "tasks" / "local"),
        "tasks": TASKS,
        "models": {
            "default": {"spec": "scripted", "policy": "pipeline_policy:policy", "options": {"price": PRICE}}
        },
        "n_trajectories": 4,
        "testing_turns": 3,
        "editing_turns": 4,
        "limits": {"trajectories": 2},
        **over,
    }
    return run_pipeline(
        parse_config(cfg), ROOT, results_dir=results, run_id=run_id, deps=host_deps(sandboxes)
    )


@pytest.fixture(scope="module")
def pipeline_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two finished pipeline runs: ``full`` resolves both tasks; ``starved`` runs out of budget at once."""
    base = tmp_path_factory.mktemp("pipeline-runs")
    results = base / "results"
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(base / "xdg"))
    try:
        full = _run(results, "full", base / "sb")
        starved = _run(results, "starved", base / "sb", n_trajectories=2, budget_usd=0.004)
    finally:
        mp.undo()
        pipeline_policy.reset()
    assert full["resolved"] == 2 and starved["resolved"] == 0
    return results


def test_report_of_a_pipeline_run(pipeline_runs: Path) -> None:
    res = CliRunner().invoke(app, ["report", "full", "--results", str(pipeline_runs), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)["report"]
    assert report["kind"] == "pipeline" and not report["partial"] and report["status"] == "done"
    (system,) = report["systems"]
    outcomes = read_outcomes(pipeline_runs / "full")
    # The choice, the oracle and the random pick, as the pipeline scored them (4 trajectories, 3 right).
    assert system["n_tasks"] == 2 and system["pass_at_1"] == 1.0 and system["oracle"] == 1.0
    assert system["random_pick"] == pytest.approx(0.75)
    assert system["swebench"]["resolved_ids"] == sorted(TASKS)
    assert system["cost_usd"] == pytest.approx(sum(o.cost_usd for o in outcomes))
    assert system["input_tokens"] == sum(o.input_tokens for o in outcomes) > 0
    assert [t["task_id"] for t in report["tasks"]] == sorted(TASKS)
    # Tokens, dollars and time per stage are the run's stages.json; the total adds them up.
    stages = read_stages(pipeline_runs / "full")
    names = [s["stage"] for s in report["stages"]]
    assert names == [s.stage for s in stages]
    assert {"context", "testing", "editing", "selection", "evaluation"} <= set(names)
    assert report["total"]["cost_usd"] == pytest.approx(sum(s.cost_usd for s in stages))
    assert report["total"]["calls"] == sum(s.calls for s in stages) > 0
    # One candidate count per task: no curve against the number of candidates, the other plots drawn.
    assert report["curve"] == []
    out = pipeline_runs / "full" / "report"
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md", "stages.png", "systems.png"]
    for name in ("stages.png", "systems.png"):
        assert (out / name).read_bytes()[:8] == PNG
    md = (out / "report.md").read_text()
    assert "| pipeline:agent |" in md and "| editing |" in md and "PARTIAL" not in md


def test_compare_two_pipeline_runs(pipeline_runs: Path, tmp_path: Path) -> None:
    pq = tmp_path / "cmp.parquet"
    args = ["compare", "full", "starved", "--results", str(pipeline_runs), "--json", "--n-boot", "500"]
    res = CliRunner().invoke(app, [*args, "--parquet", str(pq), "--md", str(tmp_path / "cmp.md")])
    assert res.exit_code == 0, res.output
    cmp = json.loads(res.stdout)
    labels = [c["label"] for c in cmp["columns"]]
    assert labels == ["full:pipeline:agent", "starved:pipeline:agent"]
    assert [c["pass_at_1"] for c in cmp["columns"]] == [1.0, 0.0]
    (pair,) = cmp["pairs"]
    assert pair["n_tasks"] == 2 and pair["diff"] == pytest.approx(-1.0)
    assert pair["a_better"] == 2 and pair["b_better"] == 0
    assert pair["ci_low"] == pytest.approx(-1.0) and pair["ci_high"] == pytest.approx(-1.0)
    assert cmp["union_coverage"] == 1.0 and cmp["best_of_columns"] == 1.0
    assert [r["task_id"] for r in cmp["rows"]] == sorted(TASKS)
    assert "starved:pipeline:agent" in (tmp_path / "cmp.md").read_text()
    # The Parquet export answers the same question through DuckDB.
    import duckdb  # the report extra (and the dev dependencies) install it

    rows = duckdb.sql(
        f"SELECT run_id, avg(resolved), sum(cost_usd) > 0 FROM '{pq}' GROUP BY run_id ORDER BY run_id"
    ).fetchall()
    assert rows == [("full", 1.0, True), ("starved", 0.0, True)]
