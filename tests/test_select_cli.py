"""``harness select`` end to end on real HumanEval tasks and CodeT's CodeGen-16B pools.

The experiment itself runs the real engine in the Docker sandbox (``docker`` tier); the friendly errors
on bad inputs are raised before any engine starts (``unit`` tier).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import harness.selection.run as select_run
from harness.cli import app
from harness.report import load_run
from harness.tasks import Pool, PoolProvenance, PoolRecord, load_codet_pool, load_function_suite, write_pool

POOLS = "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300"


def _pools(shared_data: Path) -> tuple[Path, Path]:
    base = shared_data / "codet" / POOLS
    return Path(f"{base}_code_solution.jsonl"), Path(f"{base}_test_case.jsonl")


def _invoke(args: list[str]) -> Any:
    return CliRunner().invoke(app, ["select", *args])


def _said(res: Any) -> str:
    """The CLI's message with rich's line wrapping undone."""
    return " ".join(str(res.output).split())


def _base(shared_data: Path, tmp_path: Path, *extra: str) -> list[str]:
    sol, tests = _pools(shared_data)
    return [
        "--suite", "humaneval", "--pool-solutions", str(sol), "--pool-tests", str(tests),
        "--results-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"), *extra,
    ]  # fmt: skip


@pytest.mark.docker
def test_select_json_files_report_and_resume(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _base(
        shared_data,
        tmp_path,
        "--limit-tasks",
        "3",
        "--strategies",
        "random,codet,b4",
        "--run-id",
        "r1",
        "--json",
    )
    res = _invoke(args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)  # exactly one JSON object on stdout
    assert summary["n_tasks"] == 3 and summary["matrices_built"] == 3
    # Where the matrices' time went: a child per program run (tests and ground truth), cells' times
    # within the workers' slot time.
    engine = summary["engine"]
    assert engine["children"] >= summary["programs_run"] > 0
    assert 0 < engine["test_s"] + engine["timeout_s"] <= engine["slot_s"]
    assert set(summary["protocols"]) == {"codet", "b4"}
    codet = summary["protocols"]["codet"]
    assert codet["label"].startswith("CodeT")
    assert set(codet["strategies"]) == {"random", "codet", "b4", "oracle"}
    for protocol in summary["protocols"].values():
        for row in protocol["strategies"].values():
            assert 0.0 <= row["pass@1"] <= 100.0
    # HumanEval/0, /1, /2: CodeGen-16B solves each at least once in 100 samples.
    assert codet["strategies"]["oracle"]["pass@1"] == 100.0
    assert codet["strategies"]["oracle"]["n_tasks"] == 3

    run_dir = tmp_path / "results" / "r1"
    for name in (
        "manifest.json",
        "table.json",
        "table.md",
        "rankings.jsonl",
        "outcomes.jsonl",
        "stages.json",
    ):
        assert (run_dir / name).is_file(), name
    assert len(list((run_dir / "04_matrix").glob("*.npz"))) == 3
    assert len(list((run_dir / "05_selection").glob("*.json"))) == 3
    assert "| CodeT: all tasks" in (run_dir / "table.md").read_text()
    rankings = [json.loads(x) for x in (run_dir / "rankings.jsonl").read_text().splitlines()]
    assert {(r["strategy"], r["protocol"]) for r in rankings} >= {("codet", "codet"), ("b4", "codet")}

    # harness report / view read the run like any other.
    data = load_run("r1", tmp_path / "results")
    assert data.kind == "select" and not data.partial
    systems = {o.system for o in data.outcomes}
    assert {"random", "codet", "b4"} <= systems
    assert all(o.oracle is not None for o in data.outcomes)
    rep = CliRunner().invoke(app, ["report", "r1", "--results", str(tmp_path / "results"), "--no-plots"])
    assert rep.exit_code == 0, rep.output

    # Same run id: the finished run only reprints its table; nothing is built again.
    def no_build() -> Any:
        raise AssertionError("a resumed run rebuilt its matrices")

    monkeypatch.setattr(select_run, "_default_build", no_build)
    again = _invoke(args)
    assert again.exit_code == 0, again.output
    resumed = json.loads(again.stdout)
    assert resumed["resumed"] and resumed["matrices_reused"] == 3
    assert resumed["protocols"] == summary["protocols"]


@pytest.mark.docker
def test_select_resume_rebuilds_only_missing_matrices(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed after its matrices (before selection) resumes from them; a lost matrix is rebuilt
    alone. A new run id over the same pools hits the engine's content cache."""
    args = _base(
        shared_data, tmp_path, "--limit-tasks", "2", "--strategies", "maxpass,codet", "--run-id", "r2"
    )
    first = _invoke([*args, "--json"])
    assert first.exit_code == 0, first.output
    run_dir = tmp_path / "results" / "r2"
    (run_dir / "table.json").unlink()  # as if killed before the selection stage finished
    (run_dir / "04_matrix" / "HumanEval__1.npz").unlink()
    seen: list[list[str]] = []
    real = select_run._default_build()

    async def counting(tasks: Any, *a: Any, **kw: Any) -> Any:
        seen.append([t.task_id for t in tasks])
        return await real(tasks, *a, **kw)

    monkeypatch.setattr(select_run, "_default_build", lambda: counting)
    again = _invoke([*args, "--json"])
    assert again.exit_code == 0, again.output
    assert seen == [["HumanEval/1"]]
    summary = json.loads(again.stdout)
    # The lost matrix was assembled again from the engine's content cache: nothing executed, and the
    # counts say so (before: matrices_built 1).
    assert summary["matrices_reused"] == 1 and summary["matrices_cached"] == 1
    assert summary["matrices_built"] == 0 and summary["programs_run"] == 0
    assert summary["engine"]["children"] == 0 and summary["engine"]["slot_s"] == 0  # no worker ran
    assert summary["protocols"] == json.loads(first.stdout)["protocols"]
    # The table (not JSON) names both protocols and the oracle.
    table = _invoke(
        _base(shared_data, tmp_path, "--limit-tasks", "2", "--strategies", "codet", "--run-id", "r3")
    )
    assert table.exit_code == 0, table.output
    assert (
        "CodeT: all tasks" in table.stdout and "B4: 0<p<max_px" in table.stdout and "oracle" in table.stdout
    )


def test_missing_pool_file_is_a_friendly_error(shared_data: Path, tmp_path: Path) -> None:
    sol, _ = _pools(shared_data)
    res = _invoke(
        [
            "--pool-solutions",
            str(sol),
            "--pool-tests",
            str(tmp_path / "nope.jsonl"),
            "--results-dir",
            str(tmp_path),
        ]
    )
    assert res.exit_code == 2
    assert "--pool-tests" in _said(res) and "no such file" in _said(res)
    assert "Traceback" not in _said(res)


def test_a_bad_run_id_is_a_friendly_error_and_writes_nothing(shared_data: Path, tmp_path: Path) -> None:
    """Refused before any work, the id shown as typed (rich markup in it is not interpreted)."""
    for bad in ("../outside", "[bold]x"):
        res = _invoke(_base(shared_data, tmp_path, "--run-id", bad))
        assert res.exit_code == 2, res.output
        said = _said(res)
        assert f"run id {bad!r} cannot name a run folder" in said and "Traceback" not in said
    assert not (tmp_path / "outside").exists() and not (tmp_path / "results").exists()


def test_malformed_pool_is_a_friendly_error(shared_data: Path, tmp_path: Path) -> None:
    sol, _ = _pools(shared_data)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "HumanEval/0", "samples": "not a list"}\n')
    res = _invoke(["--pool-solutions", str(sol), "--pool-tests", str(bad), "--results-dir", str(tmp_path)])
    assert res.exit_code == 2 and "--pool-tests" in _said(res) and "not a pool record" in _said(res)
    bad.write_text("this is not json\n")
    res = _invoke(["--pool-solutions", str(sol), "--pool-tests", str(bad), "--results-dir", str(tmp_path)])
    assert res.exit_code == 2 and "invalid JSON" in _said(res)


def test_swapped_pools_are_named(shared_data: Path, tmp_path: Path) -> None:
    sol, tests = _pools(shared_data)
    res = _invoke(["--pool-solutions", str(tests), "--pool-tests", str(sol), "--results-dir", str(tmp_path)])
    assert res.exit_code == 2 and "swap" in _said(res)


def test_our_pool_format_is_detected(shared_data: Path, tmp_path: Path) -> None:
    """A pool in our JSONL format loads like CodeT's (same samples), and a pool of the wrong kind is named."""
    _sol, tests = _pools(shared_data)
    suite = load_function_suite("humaneval")
    codet = load_codet_pool(tests, suite, "tests")
    ours = tmp_path / "tests.jsonl"
    prov = PoolProvenance(source=str(tests), model="codegen-16B-mono")
    write_pool(ours, Pool("tests", [PoolRecord(task_id=r.task_id, kind="tests", samples=r.samples,
                                               provenance=prov) for r in codet]))  # fmt: skip
    loaded = select_run.load_pool_file(ours, "tests", suite)
    assert loaded.samples("HumanEval/5") == codet.samples("HumanEval/5")
    res = _invoke(["--pool-solutions", str(ours), "--pool-tests", str(tests), "--results-dir", str(tmp_path)])
    assert res.exit_code == 2 and "holds a pool of tests" in _said(res)


def test_bad_options_are_config_errors(shared_data: Path, tmp_path: Path) -> None:
    sol, tests = _pools(shared_data)
    common = ["--pool-solutions", str(sol), "--pool-tests", str(tests), "--results-dir", str(tmp_path)]
    for extra, words in (
        (["--strategies", "codet,nope"], "unknown strategies"),
        (["--seed", "1", "--seeds", "3"], "not both"),
        (["--protocol", "x"], "--protocol"),
        (["--suite", "apps"], "--suite"),
        (["--set", "b4beta0=1"], "STRATEGY.FIELD=VALUE"),
    ):
        res = _invoke([*common, *extra])
        assert res.exit_code == 2, (extra, _said(res))
        assert words in _said(res), (extra, _said(res))
