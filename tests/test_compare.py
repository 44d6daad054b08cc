from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import DataError
from harness.report import bootstrap_diff, compare_runs, load_run, render_comparison_markdown, write_parquet
from harness.store import Run, TaskOutcome, append_outcomes


def _run(root: Path, run_id: str, system: str, resolved: dict[str, float], oracle: dict[str, bool]) -> None:
    run = Run(root, run_id, "search", {"id": run_id})
    append_outcomes(run.dir, [
        TaskOutcome(task_id=t, system=system, resolved=r, oracle=oracle.get(t), cost_usd=0.1, n_candidates=4)
        for t, r in resolved.items()
    ])  # fmt: skip
    run.finish("done")
    run.close()


@pytest.fixture
def two_runs(tmp_path: Path) -> Path:
    _run(
        tmp_path,
        "a",
        "best-of-n",
        {"t1": 1, "t2": 0, "t3": 0, "t4": 0.5},
        {"t1": True, "t2": False, "t3": True},
    )
    _run(tmp_path, "b", "mcts", {"t1": 1, "t2": 1, "t3": 0, "t5": 1}, {"t1": True, "t2": True, "t3": False})
    return tmp_path


def test_table_union_coverage_and_pairs(two_runs: Path) -> None:
    runs = [load_run("a", two_runs), load_run("b", two_runs)]
    cmp = compare_runs(runs, n_boot=2000)
    assert [c.label for c in cmp.columns] == ["a:best-of-n", "b:mcts"]
    assert [r.task_id for r in cmp.rows] == ["t1", "t2", "t3", "t4", "t5"]
    row = {r.task_id: r for r in cmp.rows}
    assert row["t4"].resolved == [0.5, None] and row["t5"].resolved == [None, 1.0]
    # covered: t1, t2 (b's oracle), t3 (a's oracle), t4 (a resolved half), t5 (b resolved)
    assert cmp.union_coverage == 1.0
    assert cmp.best_of_columns == pytest.approx((1 + 1 + 0 + 0.5 + 1) / 5)
    (pair,) = cmp.pairs
    assert pair.n_tasks == 3  # t1..t3, the tasks both have
    assert pair.diff == pytest.approx(1 / 3)
    assert (pair.b_better, pair.a_better, pair.ties) == (1, 0, 2)
    assert pair.ci_low is not None and pair.ci_high is not None
    assert pair.ci_low <= pair.diff <= pair.ci_high
    assert "percentile bootstrap" in cmp.method
    md = render_comparison_markdown(cmp)
    assert "| a:best-of-n | b:mcts | 3 |" in md


def test_bootstrap_is_seeded_and_sound() -> None:
    rng = np.random.default_rng(7)
    d = rng.normal(0.2, 0.5, size=400)
    lo, hi, p = bootstrap_diff(d, 4000, seed=3)
    assert (lo, hi, p) == bootstrap_diff(d, 4000, seed=3)  # fixed seed, same interval
    se = d.std(ddof=1) / np.sqrt(len(d))
    assert lo < d.mean() < hi
    assert (hi - lo) == pytest.approx(2 * 1.96 * se, rel=0.15)  # agrees with the normal approximation
    assert p < 0.01
    lo0, hi0, p0 = bootstrap_diff(np.zeros(30), 500, seed=0)
    assert lo0 == hi0 == 0.0 and p0 == 1.0


def test_parquet_is_queryable_with_duckdb(two_runs: Path, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    runs = [load_run("a", two_runs), load_run("b", two_runs)]
    path = write_parquet(runs, tmp_path / "out" / "cmp.parquet")
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT run_id, system, count(*), avg(resolved), sum(cost_usd) FROM '{path}' GROUP BY ALL ORDER BY run_id"
    ).fetchall()
    assert rows[0][:3] == ("a", "best-of-n", 4) and rows[0][3] == pytest.approx(0.375)
    assert rows[1][:3] == ("b", "mcts", 4) and rows[1][3] == pytest.approx(0.75)
    both = con.execute(
        f"SELECT count(*) FROM (SELECT task_id FROM '{path}' GROUP BY task_id HAVING count(DISTINCT run_id) = 2)"
    ).fetchone()
    assert both == (3,)


def test_compare_errors(two_runs: Path) -> None:
    a = load_run("a", two_runs)
    with pytest.raises(DataError, match="named twice"):
        compare_runs([a, a])
    empty = Run(two_runs, "empty", "x", {})
    empty.close()
    with pytest.raises(DataError, match="has outcomes yet"):
        compare_runs([load_run("empty", two_runs)])


def test_cli_compare(two_runs: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    pq, md = tmp_path / "c.parquet", tmp_path / "c.md"
    args = ["compare", "a", "b", "--results", str(two_runs), "--json", "--parquet", str(pq), "--md", str(md),
            "--n-boot", "500"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert body["pairs"][0]["n_tasks"] == 3 and pq.exists() and "# Comparison" in md.read_text()
    res = runner.invoke(app, ["compare", "a", "b", "--results", str(two_runs), "--n-boot", "200"])
    assert res.exit_code == 0 and "union coverage" in res.stdout


def test_system_names_with_brackets_print_as_they_are(tmp_path: Path) -> None:
    # `harness select` names a selector scored under B4's protocol "b4 [b4]": the tables must not read
    # "[b4]" as rich markup (it vanished, so two rows printed as "b4").
    from typer.testing import CliRunner

    _run(tmp_path, "x", "b4 [b4]", {"t1": 1, "t2": 0}, {"t1": True, "t2": True})
    _run(tmp_path, "y", "codet [bold]", {"t1": 1, "t2": 1}, {"t1": True, "t2": True})
    runner = CliRunner()
    res = runner.invoke(app, ["report", "x", "--results", str(tmp_path), "--no-plots"])
    assert res.exit_code == 0, res.output
    assert "b4 [b4]" in res.output
    res = runner.invoke(app, ["compare", "x", "y", "--results", str(tmp_path), "--n-boot", "50"])
    assert res.exit_code == 0, res.output
    assert "x:b4 [b4]" in res.output and "y:codet [bold]" in res.output
