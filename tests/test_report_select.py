"""``harness report`` on ``harness select`` runs: the candidate-count curve and ``candidates.png``.

The unit tier builds select runs through :func:`run_select` from small pass matrices (an injected
``build`` stands in for the engine); the docker tier runs the real engine on HumanEval with CodeT's
CodeGen-16B pools.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.report import build_report, load_run
from harness.selection import PassMatrix, TaskData
from harness.selection.curves import coverage_at, curve_sizes
from harness.selection.metrics import pass_at_k
from harness.selection.run import SelectConfig, run_select
from harness.store import read_outcomes
from harness.tasks import FunctionTask, Pool, PoolRecord
from harness.tasks._function import HiddenTests

PNG = b"\x89PNG\r\n\x1a\n"
N = 12  # samples per task: the curve's sizes are 1, 2, 5, 10 and 12


def _task_data(task_id: str, rows: list[list[int]], counts: list[int], correct: list[bool]) -> TaskData:
    cells = np.array(rows, dtype=np.int8)
    m = PassMatrix(
        task_id,
        [f"{task_id}/c{i}" for i in range(cells.shape[0])],
        [f"x{j}" for j in range(cells.shape[1])],
        cells,
        candidate_counts=np.array(counts, dtype=np.int64),
    )
    return TaskData(m, np.array(correct, dtype=np.bool_), N)


# Agreement finds the right program in t0 and t1, misleads in t2; t3 has none right; in t4 every
# program is right; t5's matrix lacks 4 of its 12 samples (they count as wrong).
MATRICES = {
    "t0": _task_data("t0", [[1, 1, 1], [1, 0, 0], [0, 0, 0]], [2, 6, 4], [True, False, False]),
    "t1": _task_data("t1", [[1, 1], [0, 1], [0, 0], [1, 0]], [1, 3, 4, 4], [True, False, False, False]),
    "t2": _task_data("t2", [[0, 0], [1, 1]], [3, 9], [True, False]),
    "t3": _task_data("t3", [[1, 0], [0, 1]], [6, 6], [False, False]),
    "t4": _task_data("t4", [[1, 1], [1, 0]], [7, 5], [True, True]),
    "t5": _task_data("t5", [[1, 1], [0, 0]], [2, 6], [True, False]),
}


def _suite() -> list[FunctionTask]:
    hidden = HiddenTests(code="def check(candidate):\n    pass\n", entry_point="f")
    return [FunctionTask(task_id=t, prompt="def f():\n", entry_point="f", hidden=hidden) for t in MATRICES]


def _pools() -> tuple[Pool, Pool]:
    sols = [PoolRecord(task_id=t, kind="solutions", samples=["    return 1\n"] * N) for t in MATRICES]
    tests = [PoolRecord(task_id=t, kind="tests", samples=["assert f() == 1\n"]) for t in MATRICES]
    return Pool("solutions", sols), Pool("tests", tests)


async def _fake_build(tasks: Sequence[FunctionTask], *_: Any, **__: Any) -> dict[str, TaskData]:
    return {t.task_id: MATRICES[t.task_id] for t in tasks}


def _select(results: Path, run_id: str, **over: Any) -> dict[str, Any]:
    cfg = SelectConfig.model_validate(
        {
            "suite": "humaneval",
            "pool_solutions": "/synthetic/solutions.jsonl",
            "pool_tests": "/synthetic/tests.jsonl",
            "strategies": ["random", "maxpass", "codet", "b4"],
            **over,
        }
    )
    report = run_select(cfg, _suite(), _pools(), results_dir=results, run_id=run_id, build=_fake_build)
    return report.summary


def test_select_outcomes_carry_the_curve(tmp_path: Path) -> None:
    summary = _select(tmp_path, "s1", seeds=[0, 1])
    outcomes = read_outcomes(tmp_path / "s1")
    codet_side = [o for o in outcomes if not o.system.endswith("[b4]")]
    assert codet_side and all(o.extra.get("protocol") == "codet" for o in codet_side)
    sizes = curve_sizes(N)
    assert sizes == [1, 2, 5, 10, 12]
    for o in codet_side:
        task = MATRICES[o.task_id]
        c = int(task.matrix.candidate_counts[task.correct].sum())
        for k in sizes:
            # Oracle coverage at k: the unbiased pass@k of the whole pool, samples the matrix lacks wrong.
            assert o.extra[f"oracle@{k}"] == pytest.approx(pass_at_k(N, c, k))
            assert 0.0 <= o.extra[f"resolved@{k}"] <= 1.0
        # The pool-size point is the run's own figure; coverage there is the oracle.
        assert o.extra[f"resolved@{N}"] == o.resolved
        assert o.extra[f"oracle@{N}"] == float(bool(o.oracle))
        assert o.extra["resolved@1"] == pytest.approx(c / N)  # exact: nothing to choose from
    # One sample leaves nothing to select: every strategy scores the same at k = 1.
    at_one = {(o.task_id, o.seed): set() for o in codet_side}
    for o in codet_side:
        at_one[(o.task_id, o.seed)].add(o.extra["resolved@1"])
    assert all(len(v) == 1 for v in at_one.values())
    # B4's outcomes get no curve (its task filter depends on the draw).
    assert all(not any("@" in k for k in o.extra) for o in outcomes if o.system.endswith("[b4]"))
    # t4 (every sample right) is always solved; t3 (none right) never.
    for o in codet_side:
        if o.task_id in ("t3", "t4"):
            want = 1.0 if o.task_id == "t4" else 0.0
            assert all(o.extra[f"resolved@{k}"] == want for k in sizes)
    # The run's summary and table carry the curve in percent.
    curve = summary["candidates"]
    assert curve["sizes"] == sizes and set(curve["strategies"]) == {"random", "maxpass", "codet", "b4"}
    mean_cov = 100 * np.mean([coverage_at(t, 5) for t in MATRICES.values()])
    assert curve["oracle"]["5"] == pytest.approx(mean_cov)
    assert curve["oracle"]["12"] == pytest.approx(100 * 5 / 6)
    assert json.loads((tmp_path / "s1" / "table.json").read_text())["candidates"] == curve
    assert "## Against the number of candidates" in (tmp_path / "s1" / "table.md").read_text()


def test_report_of_a_select_run_draws_candidates_png(tmp_path: Path) -> None:
    _select(tmp_path, "s2")
    report = build_report(load_run("s2", tmp_path))
    assert {p.series for p in report.curve} == {"random", "maxpass", "codet", "b4"}
    for series in ("codet", "b4"):
        pts = sorted((p for p in report.curve if p.series == series), key=lambda p: p.n_candidates)
        assert [p.n_candidates for p in pts] == [1, 2, 5, 10, 12]
        assert all(p.n_tasks == len(MATRICES) for p in pts)
        cov = [p.oracle for p in pts]
        assert cov == sorted(cov)  # coverage grows with the pool
        system = next(s for s in report.systems if s.system == series)
        assert pts[-1].pass_at_1 == pytest.approx(system.pass_at_1)
        assert pts[-1].oracle == pytest.approx(system.oracle)
    res = CliRunner().invoke(app, ["report", "s2", "--results", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "s2" / "report"
    assert (out / "candidates.png").read_bytes()[:8] == PNG
    assert json.loads(res.stdout)["report"]["curve"]
    md = (out / "report.md").read_text()
    assert "![candidates](candidates.png)" in md and "## Against the number of candidates" in md


def test_pool_size_study_and_b4_only_runs(tmp_path: Path) -> None:
    # A pool-size study at n=5: the curve stops at 5, its last point is the run's own figure.
    _select(tmp_path, "n5", n_samples=5)
    report = build_report(load_run("n5", tmp_path))
    assert sorted({p.n_candidates for p in report.curve}) == [1, 2, 5]
    # Under B4's protocol alone there is no curve, and no candidates.png.
    _select(tmp_path, "b4only", protocol="b4")
    report = build_report(load_run("b4only", tmp_path))
    assert report.curve == []
    res = CliRunner().invoke(app, ["report", "b4only", "--results", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "b4only" / "report" / "candidates.png").exists()
    assert (tmp_path / "b4only" / "report" / "systems.png").exists()


POOLS = "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300"


@pytest.mark.docker
def test_report_of_a_real_select_run_draws_candidates_png(shared_data: Path, tmp_path: Path) -> None:
    base = shared_data / "codet" / POOLS
    results = tmp_path / "results"
    res = CliRunner().invoke(
        app,
        [
            "select",
            "--suite", "humaneval",
            "--pool-solutions", f"{base}_code_solution.jsonl",
            "--pool-tests", f"{base}_test_case.jsonl",
            "--results-dir", str(results),
            "--cache-dir", str(tmp_path / "cache"),
            "--limit-tasks", "3",
            "--strategies", "random,codet,b4",
            "--run-id", "real",
            "--json",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["candidates"]["sizes"] == [1, 2, 5, 10, 25, 50, 100]
    rep = CliRunner().invoke(app, ["report", "real", "--results", str(results), "--json"])
    assert rep.exit_code == 0, rep.output
    assert (results / "real" / "report" / "candidates.png").read_bytes()[:8] == PNG
    curve = json.loads(rep.stdout)["report"]["curve"]
    codet = sorted((p for p in curve if p["series"] == "codet"), key=lambda p: p["n_candidates"])
    assert [p["n_candidates"] for p in codet] == [1, 2, 5, 10, 25, 50, 100]
    # HumanEval/0-2 each have a right sample in 100: full coverage at the pool size, less at one sample.
    assert codet[-1]["oracle"] == 1.0 and codet[0]["oracle"] < 1.0
    assert [p["oracle"] for p in codet] == sorted(p["oracle"] for p in codet)
