"""report, compare and the viewer API on runs written by a real run kind (``harness search``, scripted
model, local executor, three HumanEval tasks), not on fabricated folders."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from random import Random

import httpx
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.viewer import ViewerServer

cli_search = pytest.importorskip("harness.cli.search")
fakes = pytest.importorskip("test_search_fakes")
tasks_mod = pytest.importorskip("harness.tasks")


def _policy(messages: Sequence[object], rng: Random) -> str:
    """Right on HumanEval/0 and /2 at once; right on /1 only after seeing failing tests."""
    user = str(getattr(messages[-1], "content", ""))
    for task in tasks_mod.load_function_suite("humaneval-pypi")[:3]:
        if f"def {task.entry_point}(" in user:
            if task.task_id == "HumanEval/1" and not re.search(r"Tests failed:\n\s*assert", user):
                return f"```python\n{task.prompt}    return []\n```"
            return f"```python\n{task.prompt + task.canonical_solution}```"
    return "Idea 1: x\nIdea 2: y"


@pytest.fixture(scope="module")
def search_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    mp = pytest.MonkeyPatch()
    mp.setattr(cli_search, "_make_model", lambda *args, **kwargs: fakes.ScriptedModel(_policy))
    try:
        for run_id, strategies in (("s-bon", "best_of_n"), ("s-line", "line")):
            args = ["search", "--model", "scripted", "--suite", "humaneval-pypi", "--limit-tasks", "3",
                    "--strategies", strategies, "--budget", "programs=5", "--executor", "local",
                    "--results-dir", str(root), "--run-id", run_id]  # fmt: skip
            res = CliRunner().invoke(app, args)
            assert res.exit_code == 0, res.output
    finally:
        mp.undo()
    return root


def test_report_on_a_search_run(search_runs: Path) -> None:
    res = CliRunner().invoke(app, ["report", "s-line", "--results", str(search_runs), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)["report"]
    assert not report["partial"], report["problems"]
    (line,) = report["systems"]
    assert line["system"] == "line" and line["n_tasks"] == 3 and line["pass_at_1"] == 1.0
    assert (search_runs / "s-line" / "report" / "systems.png").exists()


def test_compare_search_runs(search_runs: Path, tmp_path: Path) -> None:
    pq = tmp_path / "s.parquet"
    args = ["compare", "s-bon", "s-line", "--results", str(search_runs), "--json", "--parquet", str(pq)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    cmp = json.loads(res.stdout)
    (pair,) = cmp["pairs"]
    # best-of-n never sees feedback, so HumanEval/1 stays wrong; line search repairs it
    assert pair["n_tasks"] == 3 and pair["diff"] == pytest.approx(1 / 3) and pair["b_better"] == 1
    assert cmp["union_coverage"] == 1.0
    duckdb = pytest.importorskip("duckdb")
    n = duckdb.connect().execute(f"SELECT count(*) FROM '{pq}' WHERE system = 'line'").fetchone()
    assert n == (3,)


def test_viewer_serves_search_runs(search_runs: Path) -> None:
    with ViewerServer(search_runs) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        runs = {r["run_id"]: r for r in c.get("/api/runs").json()["runs"]}
        assert runs.keys() >= {"s-bon", "s-line"} and runs["s-line"]["status"] == "done"
        rows = c.get("/api/tasks", params={"run": "s-bon", "status": "unresolved"}).json()["rows"]
        assert [r["task_id"] for r in rows] == ["HumanEval/1"]
        run = c.get("/api/run", params={"run": "s-line"}).json()
        assert "search/budget.png" in run["run_plots"]  # the run kind's own plot is shown too
        png = c.get("/api/plot", params={"run": "s-line", "file": "search/budget.png"})
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
        assert c.get("/api/plot", params={"run": "s-line", "file": "manifest.json"}).status_code == 404
        task = c.get("/api/task", params={"run": "s-bon", "task": "HumanEval/1"}).json()
        assert task["cells"][0]["resolved"] == 0.0 and task["matrix"] is None
