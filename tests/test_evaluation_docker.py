"""SWE-bench-style evaluation in real containers, on a small repository laid out as a SWE-bench record.

The repository has a base commit and a newer commit (the fix and the hidden tests); the record points
at a local clone. The instance image must hold the base commit only.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from harness.evaluation import Evaluator, InstanceReport
from harness.tasks import RepoSource, RepoTask, load_swebench
from harness.tasks.images import TaskImages

pytestmark = pytest.mark.docker

OPS_BASE = '''"""Arithmetic helpers."""


def mean(values):
    return sum(values) / len(values)


def clamp(x, low, high):
    return max(low, min(x, high))


def scale(values, factor):
    return [v * factor for v in values]
'''
OPS_FIXED = OPS_BASE.replace(
    "    return sum(values) / len(values)",
    '    if not values:\n        raise ValueError("mean of no values")\n    return sum(values) / len(values)',
)
OPS_WRONG = OPS_BASE.replace("    return sum(values) / len(values)", "    return 0 if not values else 1")
TEST_OPS = """from calc.ops import clamp, mean


def test_mean():
    assert mean([1, 2, 3]) == 2


def test_clamp():
    assert clamp(5, 0, 3) == 3
"""
TEST_HIDDEN = """import pytest

from calc.ops import mean


def test_mean_of_nothing():
    with pytest.raises(ValueError, match="no values"):
        mean([])


@pytest.mark.parametrize("values", [[2], [2, 2]], ids=["one value", "two [values]"])
def test_mean_same(values):
    assert mean(values) == 2
"""
HIDDEN_MARK = "test_mean_of_nothing"


def _git(cwd: Path, *args: str) -> str:
    # Fixed identity and dates: the same SHAs every run, so the instance image is built once.
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t"}
    env.update(GIT_COMMITTER_EMAIL="t@t", GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    env.update(GIT_AUTHOR_DATE="2024-02-02T00:00:00+0000", GIT_COMMITTER_DATE="2024-02-02T00:00:00+0000")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def _diff(repo: Path, rel: str, content: str) -> str:
    """The diff from the work tree's current ``rel`` to ``content`` (the tree is left unchanged)."""
    path = repo / rel
    old = path.read_text() if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    _git(repo, "add", "-N", rel)
    diff = _git(repo, "diff", "--", rel)
    if old is None:
        _git(repo, "rm", "-q", "--cached", rel)
        path.unlink()
    else:
        path.write_text(old)
    return diff


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("calc")
    src = root / "upstream"
    (src / "calc").mkdir(parents=True)
    (src / "tests").mkdir()
    (src / "calc" / "__init__.py").write_text("")
    (src / "calc" / "ops.py").write_text(OPS_BASE)
    (src / "tests" / "test_ops.py").write_text(TEST_OPS)
    _git(src, "init", "-q", "-b", "main")
    _git(src, "add", "-A")
    _git(src, "commit", "-q", "-m", "base")
    base = _git(src, "rev-parse", "HEAD").strip()
    patch = _diff(src, "calc/ops.py", OPS_FIXED)
    wrong_patch = _diff(src, "calc/ops.py", OPS_WRONG)
    test_patch = _diff(src, "tests/test_hidden.py", TEST_HIDDEN)
    # The newer history that must never reach an instance image: the fix and the hidden tests.
    (src / "calc" / "ops.py").write_text(OPS_FIXED)
    (src / "tests" / "test_hidden.py").write_text(TEST_HIDDEN)
    _git(src, "add", "-A")
    _git(src, "commit", "-q", "-m", "fix mean([])")
    _git(src, "tag", "v1")
    clone = root / "clone"
    _git(root, "clone", "-q", str(src), str(clone))
    return {
        "instance_id": "calc__calc-7",
        "repo": "calc/calc",
        "base_commit": base,
        "future_commit": _git(src, "rev-parse", "HEAD").strip(),
        "problem_statement": "mean([]) raises ZeroDivisionError",
        "patch": patch,
        "test_patch": test_patch,
        "FAIL_TO_PASS": json.dumps(["tests/test_hidden.py::test_mean_of_nothing"]),
        "PASS_TO_PASS": json.dumps(
            [
                "tests/test_hidden.py::test_mean_same[one value]",
                "tests/test_hidden.py::test_mean_same[two [values]]",
            ]
        ),
        "version": "1.0",
        "wrong_patch": wrong_patch,
        "source": {"kind": "path", "location": str(clone)},
        # Not a repository swebench's specs know: the record names its environment (the default one),
        # as a record without one takes swebench's spec (and would be unsupported).
        "environment": {},
    }


@pytest.fixture(scope="module")
def task(record: dict[str, object], tmp_path_factory: pytest.TempPathFactory) -> RepoTask:
    path = tmp_path_factory.mktemp("records") / "calc.jsonl"
    path.write_text(json.dumps(record) + "\n")
    (loaded,) = load_swebench(path)
    assert loaded.source == RepoSource(kind="path", location=str(record["source"]["location"]))  # type: ignore[index]
    return loaded


@pytest.fixture(scope="module")
def evaluator(base_image: str) -> Evaluator:
    return Evaluator(TaskImages(base_image=base_image), concurrency=2)


def _eval(evaluator: Evaluator, task: RepoTask, patch: str | None) -> InstanceReport:
    return asyncio.run(evaluator.evaluate(task, patch, model_name="test"))


def _run_in(image: str, script: str) -> str:
    proc = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "-u",
            "0",
            "-w",
            "/testbed",
            image,
            "sh",
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def test_gold_patch_resolves(evaluator: Evaluator, task: RepoTask) -> None:
    rep = _eval(evaluator, task, task.patch)
    assert rep.outcome == "resolved", rep
    assert rep.resolved and rep.patch_successfully_applied and rep.apply_method == "git apply --verbose"
    assert rep.tests_status.PASS_TO_PASS.success == list(task.PASS_TO_PASS)


def test_broken_patch_does_not_apply(evaluator: Evaluator, task: RepoTask) -> None:
    # A file that does not exist (fuzz 5 would place a hunk whose context merely differs).
    broken = task.patch.replace("calc/ops.py", "calc/missing.py")
    assert broken != task.patch
    rep = _eval(evaluator, task, broken)
    assert rep.outcome == "patch_failed"
    assert rep.patch_exists and not rep.patch_successfully_applied and not rep.resolved


def test_wrong_fix_is_unresolved(evaluator: Evaluator, task: RepoTask) -> None:
    wrong = task.patch.replace('raise ValueError("mean of no values")', "return 0")
    assert wrong != task.patch
    rep = _eval(evaluator, task, wrong)
    assert rep.outcome == "unresolved" and rep.patch_successfully_applied and not rep.resolved
    assert rep.tests_status.FAIL_TO_PASS.failure == list(task.FAIL_TO_PASS)


def test_wrong_fix_that_breaks_pass_to_pass(
    evaluator: Evaluator, task: RepoTask, record: dict[str, object]
) -> None:
    rep = _eval(evaluator, task, str(record["wrong_patch"]))
    assert rep.outcome == "unresolved"
    assert rep.tests_status.PASS_TO_PASS.failure


def test_fuzzy_patch_applies_through_the_fallback(evaluator: Evaluator, task: RepoTask) -> None:
    # The hunk's first context line does not match the file: `git apply` refuses, `patch --fuzz` applies.
    lines = task.patch.splitlines(keepends=True)
    first = next(i for i, ln in enumerate(lines) if ln.startswith("@@")) + 1
    assert lines[first].startswith(" ")
    lines[first] = " # a comment upstream removed\n"
    fuzzy = "".join(lines)
    rep = _eval(evaluator, task, fuzzy)
    assert rep.apply_method == "patch --batch --fuzz=5 -p1 -i"
    assert rep.resolved


def test_empty_and_none_patches(evaluator: Evaluator, task: RepoTask) -> None:
    none = _eval(evaluator, task, None)
    assert none.patch_is_None and none.outcome == "empty_patch" and not none.resolved
    empty = asyncio.run(evaluator.evaluate(task, "", run_empty=True))
    assert empty.outcome == "unresolved"
    assert empty.tests_status.FAIL_TO_PASS.failure == list(task.FAIL_TO_PASS)
    assert empty.tests_status.PASS_TO_PASS.failure == []


def test_instance_image_hides_history_and_tests(
    evaluator: Evaluator, task: RepoTask, record: dict[str, object]
) -> None:
    image = asyncio.run(evaluator.image_for(task))
    out = _run_in(
        image,
        "git log --all --format=%H; echo ---; git reflog; echo ---; git remote -v; git tag; echo ---; "
        f"git cat-file -e {record['future_commit']} 2>/dev/null && echo FUTURE; "
        f"ls tests; grep -rl {HIDDEN_MARK} . || true; echo ---; git status --porcelain",
    )
    log, reflog, remotes, rest, status = out.split("---\n")
    assert log.split() == [task.base_commit]
    assert reflog.strip() == "" and remotes.strip() == ""
    assert "FUTURE" not in rest and "test_hidden.py" not in rest and HIDDEN_MARK not in rest
    assert "test_ops.py" in rest
    assert status.strip() == ""


def test_image_failure_is_an_infrastructure_error(task: RepoTask) -> None:
    ev = Evaluator(TaskImages(base_image="harness-no-such-image:none"))
    rep = asyncio.run(ev.evaluate(task, task.patch))
    assert rep.outcome == "error" and rep.is_infra_error
    assert "harness-no-such-image" in (rep.error or "")


def test_eval_cli_writes_reports_and_resumes(
    task: RepoTask, record: dict[str, object], base_image: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps([record]))
    preds = tmp_path / "preds.jsonl"
    preds.write_text(
        json.dumps({"instance_id": task.instance_id, "model_name_or_path": "gold", "model_patch": task.patch})
        + "\n"
    )
    out = tmp_path / "eval"
    args = ["eval", str(preds), "--suite", str(suite), "--out", str(out), "--base-image", base_image]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    report_path = out / task.instance_id / "report.json"
    report = json.loads(report_path.read_text())[task.instance_id]
    assert report["resolved"] is True and report["patch_successfully_applied"] is True
    assert (
        "PASSED tests/test_hidden.py::test_mean_of_nothing"
        in (out / task.instance_id / "test_output.txt").read_text()
    )
    # One log per instance beside its report, as SWE-bench's run_instance.log.
    instance_log = (out / task.instance_id / "run_instance.log").read_text()
    for said in (
        "patch applied with git apply",
        "test command: ",
        "tests ended: ",
        "exit ",
        "verdict: resolved",
    ):
        assert said in instance_log, said
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resolved_ids"] == [task.instance_id]
    stamp = report_path.stat().st_mtime_ns
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0, second.output
    assert report_path.stat().st_mtime_ns == stamp
