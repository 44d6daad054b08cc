from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import DataError
from harness.report import build_report, candidate_curve, load_run, write_report
from harness.report._demo import make_demo_run
from harness.store import Run, StageTotals, TaskOutcome, append_outcomes, write_stages


def _outcome(task: str, system: str, resolved: float, **kw: object) -> TaskOutcome:
    return TaskOutcome.model_validate({"task_id": task, "system": system, "resolved": resolved, **kw})


@pytest.fixture
def small_run(tmp_path: Path) -> Path:
    run = Run(tmp_path, "r-small", "select", {"k": 1}, seeds=[0, 1])
    append_outcomes(run.dir, [
        # t1: codet sure, random 0.25; two seeds for codet averaging to 0.75
        _outcome("t1", "codet", 1.0, seed=0, oracle=True, random_pick=0.25, n_candidates=4, cost_usd=0.5),
        _outcome("t1", "codet", 0.5, seed=1, oracle=True, random_pick=0.25, n_candidates=4, cost_usd=0.5),
        _outcome("t1", "random", 0.25, oracle=True, random_pick=0.25, n_candidates=4),
        # t2: no correct candidate
        _outcome("t2", "codet", 0.0, oracle=False, random_pick=0.0, n_candidates=4, input_tokens=10),
        _outcome("t2", "random", 0.0, oracle=False, random_pick=0.0, n_candidates=4),
        # t3: every candidate correct: not selection-relevant under B4
        _outcome("t3", "codet", 1.0, oracle=True, random_pick=1.0, n_candidates=4),
        _outcome("t3", "random", 1.0, oracle=True, random_pick=1.0, n_candidates=4),
    ])  # fmt: skip
    write_stages(run.dir, [StageTotals(stage="02_tests", calls=3, cost_usd=1.5, time_s=2.0),
                           StageTotals(stage="05_selection", time_s=0.5)])  # fmt: skip
    run.finish("done")
    run.close()
    return tmp_path


def test_metrics_follow_their_definitions(small_run: Path) -> None:
    report = build_report(load_run("r-small", small_run))
    assert not report.partial and report.problems == []
    codet, rand = report.systems
    assert codet.system == "codet" and rand.system == "random"
    assert codet.pass_at_1 == pytest.approx((0.75 + 0.0 + 1.0) / 3)  # seeds averaged per task first
    assert codet.n_seeds == 2
    assert codet.oracle == pytest.approx(2 / 3)
    assert codet.random_pick == pytest.approx((0.25 + 0 + 1) / 3)
    assert codet.relevant_tasks == 1  # only t1: oracle and random_pick < 1
    assert codet.relevant_pass_at_1 == pytest.approx(0.75)
    assert rand.relevant_pass_at_1 == pytest.approx(0.25)
    assert codet.cost_usd == pytest.approx(1.0)
    assert codet.swebench.resolved_ids == ["t3"]
    assert codet.swebench.tied_ids == ["t1"]
    assert codet.swebench.unresolved_ids == ["t2"]
    assert [r.task_id for r in report.tasks] == ["t1", "t2", "t3"]
    assert report.total.cost_usd == pytest.approx(1.5) and report.total.time_s == pytest.approx(2.5)


def test_report_files_and_plots(tmp_path: Path) -> None:
    make_demo_run(tmp_path, "demo", n_tasks=6)
    data = load_run("demo", tmp_path)
    report = build_report(data)
    written = write_report(report, data.dir / "report")
    names = sorted(p.name for p in written)
    assert names == ["candidates.png", "report.json", "report.md", "stages.png", "systems.png"]
    for png in (p for p in written if p.suffix == ".png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stored = json.loads((data.dir / "report" / "report.json").read_text())
    assert stored["version"] == 1 and len(stored["tasks"]) == 6
    md = (data.dir / "report" / "report.md").read_text()
    assert "| b4 |" in md and "![candidates](candidates.png)" in md and "PARTIAL" not in md


def test_curve_from_extras_and_from_system_families() -> None:
    extras = [
        _outcome(
            "a", "codet", 1, extra={"resolved@1": 0.0, "oracle@1": 0.0, "resolved@4": 1.0, "oracle@4": 1.0}
        ),
        _outcome(
            "b", "codet", 1, extra={"resolved@1": 1.0, "oracle@1": 1.0, "resolved@4": 1.0, "oracle@4": 1.0}
        ),
    ]
    pts = {(p.series, p.n_candidates): p for p in candidate_curve(extras)}
    assert pts[("codet", 1)].pass_at_1 == 0.5 and pts[("codet", 4)].oracle == 1.0
    families = [
        _outcome("a", "b4@n=2", 0.0, n_candidates=2, oracle=False),
        _outcome("a", "b4@n=8", 1.0, n_candidates=8, oracle=True),
        _outcome("a", "solo", 1.0, n_candidates=8, oracle=True),
    ]
    pts = {(p.series, p.n_candidates): p for p in candidate_curve(families)}
    assert set(pts) == {("b4", 2), ("b4", 8)}  # a single candidate count draws no curve
    assert pts[("b4", 8)].pass_at_1 == 1.0 and pts[("b4", 2)].oracle == 0.0


def test_partial_run_reports_what_it_has(tmp_path: Path) -> None:
    run = Run(tmp_path, "live", "select", {})
    append_outcomes(run.dir, [_outcome("t1", "codet", 1.0, oracle=True)])
    run.mark("06_eval", "t1", "done")
    run.mark("06_eval", "t2", "running")
    with (run.dir / "outcomes.jsonl").open("a") as fh:
        fh.write('{"task_id": "t2", "sys')  # torn by a kill
    data = load_run("live", tmp_path)
    report = build_report(data)
    assert report.partial
    assert any("running" in p for p in report.problems)
    assert any("06_eval: 1 running" in p for p in report.problems)
    assert report.systems[0].n_tasks == 1
    assert "PARTIAL RUN" in (write_report(report, tmp_path / "out", plots=False)[1]).read_text()
    run.close()


def test_missing_and_non_run_folders_have_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no run 'nope'.*runs there: none"):
        load_run("nope", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a run"):
        load_run("empty", tmp_path)
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "outcomes.jsonl").write_text("")
    data = load_run(tmp_path / "bare", tmp_path / "elsewhere")  # a path works from anywhere
    assert data.partial and "no manifest.json" in data.problems


def test_cli_report(small_run: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["report", "r-small", "--results", str(small_run), "--json", "--no-plots"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert body["report"]["systems"][0]["system"] == "codet"
    assert (small_run / "r-small" / "report" / "report.md").exists()
    res = runner.invoke(app, ["report", "r-small", "--results", str(small_run), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0 and (tmp_path / "o" / "systems.png").exists()
    res = runner.invoke(app, ["report", "missing", "--results", str(small_run)])
    assert res.exit_code == 2 and "no run 'missing'" in res.output
