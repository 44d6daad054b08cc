"""Evaluation as SWE-bench does it, on real data: CodeR's real predictions applied to the real
repositories, swebench's own directives, parsers and grading for SWE-bench records, swebench's report
files read back, and the resume key. No engine: applying a patch needs only git and patch."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.evaluation import (
    Evaluator,
    InstanceReport,
    Prediction,
    applied_method,
    apply_failure,
    apply_script,
    eval_script,
    failures,
    patch_files,
    patch_sha256,
    read_report,
    read_verdicts,
)
from harness.tasks import RepoTask, load_swebench

PREDICTIONS = "swebench/predictions/20240604_CodeR.lite.all_preds.jsonl"
RESULTS = "swebench/predictions/20240604_CodeR.lite.results.json"
REPOS = {"psf/requests": "requests", "pallets/flask": "flask", "pytest-dev/pytest": "pytest"}
"""The repositories of ../shared/data/repos that SWE-bench Lite (test), hence CodeR, has instances of."""


@pytest.fixture(scope="module")
def lite(shared_data: Path) -> dict[str, RepoTask]:
    pytest.importorskip("pyarrow")
    return {t.instance_id: t for t in load_swebench(shared_data / "swebench" / "SWE-bench_Lite-test.parquet")}


@pytest.fixture(scope="module")
def coder(shared_data: Path) -> dict[str, str]:
    rows = [json.loads(x) for x in (shared_data / PREDICTIONS).read_text().splitlines() if x.strip()]
    return {r["instance_id"]: r["model_patch"] or "" for r in rows}


@pytest.fixture(scope="module")
def official(shared_data: Path) -> dict[str, list[str]]:
    data: dict[str, list[str]] = json.loads((shared_data / RESULTS).read_text())
    return data


@pytest.fixture(scope="module")
def clones(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One work tree per repository, cloned from the read-only bare repositories."""
    out = {}
    for repo, name in REPOS.items():
        dest = tmp_path_factory.mktemp("repos") / name
        subprocess.run(
            ["git", "clone", "-q", "--no-checkout", str(shared_data / "repos" / f"{name}.git"), str(dest)],
            check=True,
        )
        out[repo] = dest
    return out


def _apply(clone: Path, task: RepoTask, patch: str, tmp: Path) -> str:
    """Check ``task``'s base commit out clean, run the evaluation's apply script there, return its output."""
    subprocess.run(["git", "checkout", "-q", "-f", task.base_commit], cwd=clone, check=True)
    subprocess.run(["git", "clean", "-q", "-fdx"], cwd=clone, check=True)
    path = tmp / "model.patch"
    path.write_text(patch)
    res = subprocess.run(["sh", "-c", apply_script(str(path))], cwd=clone, capture_output=True, text=True)
    return res.stdout


def test_a_patch_applied_in_reverse_is_not_applied(
    lite: dict[str, RepoTask],
    coder: dict[str, str],
    official: dict[str, list[str]],
    clones: dict[str, Path],
    tmp_path: Path,
) -> None:
    """CodeR's psf__requests-1963 deletes a .coveragerc the base commit does not have: the git tries
    fail, ``patch --batch`` 'Assum[es] -R', creates the file and exits 0. Officially: no_apply."""
    iid = "psf__requests-1963"
    assert iid in official["no_apply"]
    task = lite[iid]
    out = _apply(clones[task.repo], task, coder[iid], tmp_path)
    assert "HARNESS_APPLY=patch --batch --fuzz=5 -p1 -i" in out  # patch did exit 0 ...
    assert "Assuming -R" in out
    assert applied_method(out, coder[iid]) is None  # ... and it is not counted as applied
    assert "in reverse" in apply_failure(out, coder[iid])


@pytest.mark.parametrize("iid", ["psf__requests-2317", "pallets__flask-4045", "pytest-dev__pytest-5227"])
def test_predictions_that_officially_applied_apply(
    iid: str,
    lite: dict[str, RepoTask],
    coder: dict[str, str],
    official: dict[str, list[str]],
    clones: dict[str, Path],
    tmp_path: Path,
) -> None:
    assert iid in official["applied"]
    task = lite[iid]
    out = _apply(clones[task.repo], task, coder[iid], tmp_path)
    assert applied_method(out, coder[iid]) == "git apply --verbose"
    changed = subprocess.run(
        ["git", "diff", "--name-only"], cwd=clones[task.repo], capture_output=True, text=True
    )
    assert changed.stdout.split()  # the tree holds the candidate's change


def test_every_official_apply_verdict_of_coder_in_these_repositories_is_ours(
    lite: dict[str, RepoTask],
    coder: dict[str, str],
    official: dict[str, list[str]],
    clones: dict[str, Path],
    tmp_path: Path,
) -> None:
    judged = set(official["applied"]) | set(official["no_apply"])
    cases = [
        i for i in sorted(coder) if i in lite and lite[i].repo in REPOS and i in judged and coder[i].strip()
    ]
    assert len(cases) == 24
    differ = []
    for iid in cases:
        task = lite[iid]
        out = _apply(clones[task.repo], task, coder[iid], tmp_path)
        ours = applied_method(out, coder[iid]) is not None
        if ours != (iid in official["applied"]):
            differ.append((iid, ours))
    assert differ == []


# --- swebench's directives, parser and grading for SWE-bench records ---------------------------------


def _marked(lines: list[str]) -> str:
    return "+ : '>>>>> Start Test Output'\n" + "\n".join(lines) + "\n+ : '>>>>> End Test Output'\n"


def test_non_test_files_of_the_test_patch_are_not_passed_to_the_test_command(
    lite: dict[str, RepoTask],
) -> None:
    pytest.importorskip("swebench")
    task = lite["pallets__flask-4992"]
    assert "tests/static/config.toml" in task.test_patch
    script = eval_script(task)
    (command,) = [ln for ln in script.splitlines() if ln.startswith(task.environment.test_cmd)]
    assert command.split()[-1] == "tests/test_config.py" and "config.toml" not in command
    # the .toml is still part of the test patch applied, and reset before and after
    assert script.count(f"git checkout {task.base_commit} -- tests/test_config.py") == 2
    assert 'git apply -v "$TEST_PATCH"' in script


def test_test_ids_with_spaces_are_split_as_swebench_splits_them(lite: dict[str, RepoTask]) -> None:
    """flask-5063's PASS_TO_PASS holds ids cut at their first space by swebench's pytest parser
    ('test_locate_app[cliapp.factory-'); harness's own parser keeps ids whole, so a gold run graded by
    it would fail those tests."""
    pytest.importorskip("swebench")
    from harness.evaluation._instance import _grade

    task = lite["pallets__flask-5063"]
    assert "tests/test_cli.py::test_locate_app[cliapp.factory-" in task.PASS_TO_PASS
    full = {
        "tests/test_cli.py::test_locate_app[cliapp.factory-": (
            "tests/test_cli.py::test_locate_app[cliapp.factory- create_app () -app]"
        ),
        'tests/test_cli.py::test_locate_app[cliapp.factory-create_app2("foo",': (
            'tests/test_cli.py::test_locate_app[cliapp.factory-create_app2("foo", "bar")-app2_foo_bar]'
        ),
    }
    lines = [f"PASSED {full.get(t, t)}" for t in (*task.FAIL_TO_PASS, *task.PASS_TO_PASS)]
    tests, resolved = _grade(task, task.patch, _marked(lines))
    assert resolved and tests.PASS_TO_PASS.failure == [] and tests.FAIL_TO_PASS.failure == []

    from harness.evaluation import grade, parse_pytest

    assert not grade(task.FAIL_TO_PASS, task.PASS_TO_PASS, parse_pytest("\n".join(lines)))[1]


def test_swebench_grading_decides_and_reports_in_its_schema(
    lite: dict[str, RepoTask], tmp_path: Path
) -> None:
    get_eval_report = pytest.importorskip("swebench.harness.grading").get_eval_report
    from harness.evaluation._instance import _grade
    from harness.evaluation._swebench import test_spec

    task = lite["psf__requests-2317"]
    lines = [f"PASSED {t}" for t in (*task.FAIL_TO_PASS, *task.PASS_TO_PASS[1:])]
    lines.append(f"FAILED {task.PASS_TO_PASS[0]} - boom")
    tests, resolved = _grade(task, task.patch, _marked(lines))
    assert not resolved and tests.PASS_TO_PASS.failure == [task.PASS_TO_PASS[0]]
    rep = InstanceReport(
        instance_id=task.instance_id,
        patch_exists=True,
        patch_successfully_applied=True,
        resolved=resolved,
        tests_status=tests,
        outcome="unresolved",
    )
    ours = rep.to_swebench()[task.instance_id]
    ours.pop("harness")
    log = tmp_path / "test_output.txt"
    log.write_text(_marked(lines))
    pred = {"instance_id": task.instance_id, "model_patch": task.patch}
    theirs = get_eval_report(test_spec(task), pred, str(log), include_tests_status=True)
    assert ours == theirs[task.instance_id]


# --- swebench's files read back -----------------------------------------------------------------------

SWEBENCH_REPORT = {
    "psf__requests-2317": {
        "patch_is_None": False,
        "patch_exists": True,
        "patch_successfully_applied": True,
        "resolved": True,
        "tests_status": {
            "FAIL_TO_PASS": {
                "success": ["test_requests.py::RequestsTestCase::test_HTTP_200_OK_GET"],
                "failure": [],
            },
            "PASS_TO_PASS": {
                "success": ["test_requests.py::test_data_argument_accepts_tuples"],
                "failure": [],
            },
            "FAIL_TO_FAIL": {"success": [], "failure": []},
            "PASS_TO_FAIL": {"success": [], "failure": []},
        },
    }
}


def test_swebench_report_json_is_read(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(SWEBENCH_REPORT, indent=4))
    rep = read_report(path)
    assert rep is not None and rep.outcome == "resolved" and rep.resolved
    assert rep.tests_status.FAIL_TO_PASS.success == [
        "test_requests.py::RequestsTestCase::test_HTTP_200_OK_GET"
    ]
    assert rep.tests_status.FAIL_TO_FAIL.failure == []
    # written back, the swebench part is the same object
    body = rep.to_swebench()["psf__requests-2317"]
    body.pop("harness")
    assert body == SWEBENCH_REPORT["psf__requests-2317"]

    failed = {"x__y-1": {**SWEBENCH_REPORT["psf__requests-2317"], "resolved": False, "infra_failure": True}}
    path.write_text(json.dumps(failed))
    rep = read_report(path)
    assert rep is not None and rep.outcome == "error" and rep.is_infra_error
    not_applied = {
        "x__y-2": {
            "patch_is_None": False,
            "patch_exists": True,
            "patch_successfully_applied": False,
            "resolved": False,
        }
    }
    path.write_text(json.dumps(not_applied))
    rep = read_report(path)
    assert rep is not None and rep.outcome == "patch_failed"


def test_swebench_final_report_and_results_json_are_read(tmp_path: Path, shared_data: Path) -> None:
    final = {  # make_run_report's keys, swebench 4.1.0
        "total_instances": 5,
        "submitted_instances": 4,
        "completed_instances": 2,
        "resolved_instances": 1,
        "unresolved_instances": 1,
        "empty_patch_instances": 1,
        "error_instances": 1,
        "completed_ids": ["a", "b"],
        "incomplete_ids": ["e"],
        "empty_patch_ids": ["c"],
        "submitted_ids": ["a", "b", "c", "d"],
        "resolved_ids": ["a"],
        "unresolved_ids": ["b"],
        "error_ids": ["d"],
        "schema_version": 2,
        "unstopped_instances": 0,
        "unstopped_containers": [],
        "unremoved_images": [],
    }
    path = tmp_path / "model.run.json"
    path.write_text(json.dumps(final))
    v = read_verdicts(path)
    assert v.kind == "final_report"
    assert [v.outcome(i) for i in "abcde"] == ["resolved", "unresolved", "empty_patch", "error", None]

    coder = read_verdicts(shared_data / RESULTS)
    assert coder.kind == "results"
    assert sum(o == "resolved" for o in coder.outcomes.values()) == 82
    assert (
        coder.outcome("psf__requests-1963") == "patch_failed" and coder.applied["psf__requests-1963"] is False
    )
    assert coder.outcome("pytest-dev__pytest-5227") == "resolved" and coder.applied["pytest-dev__pytest-5227"]
    assert len(coder.timed_out) == 1


# --- resume key, failure lines ------------------------------------------------------------------------


class _Recording(Evaluator):
    """An Evaluator whose instance image is a given tag and whose evaluations are recorded; it tests
    the resume logic of ``run_predictions`` alone (the evaluation itself is tested with an engine)."""

    def __init__(self, tag: str) -> None:
        super().__init__(images=None)  # type: ignore[arg-type]
        self.tag = tag
        self.calls: list[tuple[str, str | None]] = []

    async def image_for(self, task: RepoTask) -> str:
        return self.tag

    async def evaluate(
        self,
        task: RepoTask,
        patch: str | None,
        *,
        model_name: str = "",
        log_dir: Path | None = None,
        run_empty: bool = False,
        image: str | None = None,
    ) -> InstanceReport:
        self.calls.append((task.instance_id, image))
        return InstanceReport(
            instance_id=task.instance_id,
            patch_exists=True,
            patch_successfully_applied=True,
            patch_sha256=patch_sha256(patch),
            environment=image or "",
            outcome="unresolved",
        )


def _run(ev: Evaluator, tasks: list[RepoTask], preds: list[Prediction], out: Path) -> dict[str, object]:
    import asyncio

    return asyncio.run(ev.run_predictions(tasks, preds, out))


@pytest.fixture
def two() -> Iterator[tuple[list[RepoTask], list[Prediction]]]:
    tasks = [
        RepoTask(instance_id=f"o__r-{i}", repo="o/r", base_commit="0" * 40, problem_statement="p")
        for i in (1, 2)
    ]
    yield tasks, [Prediction(instance_id=t.instance_id, model_patch=f"diff {t.instance_id}\n") for t in tasks]


def test_resume_is_keyed_on_patch_and_environment(
    two: tuple[list[RepoTask], list[Prediction]], tmp_path: Path
) -> None:
    tasks, preds = two
    out = tmp_path / "eval"
    first = _Recording("harness-task-o__r:aaaa")
    _run(first, tasks, preds, out)
    assert len(first.calls) == 2
    report = json.loads((out / "o__r-1" / "report.json").read_text())["o__r-1"]["harness"]
    assert report["patch_sha256"] == patch_sha256("diff o__r-1\n")
    assert report["environment"] == "harness-task-o__r:aaaa" and report["network"] is False

    stamp = (out / "o__r-1" / "report.json").stat().st_mtime_ns
    same = _Recording("harness-task-o__r:aaaa")
    _run(same, tasks, preds, out)
    assert same.calls == []  # same patch, same environment: reused, not even rewritten
    assert (out / "o__r-1" / "report.json").stat().st_mtime_ns == stamp

    rebuilt = _Recording("harness-task-o__r:bbbb")  # the environment's recipe changed
    _run(rebuilt, tasks, preds, out)
    assert sorted(rebuilt.calls) == [
        ("o__r-1", "harness-task-o__r:bbbb"),
        ("o__r-2", "harness-task-o__r:bbbb"),
    ]
    assert read_report(out / "o__r-1" / "report.json").environment == "harness-task-o__r:bbbb"  # type: ignore[union-attr]

    other = [preds[0].model_copy(update={"model_patch": "diff other\n"}), preds[1]]
    with pytest.raises(Exception, match="reports of other patches"):
        _run(_Recording("harness-task-o__r:bbbb"), tasks, other, out)


def test_failure_lines_name_cause_and_log() -> None:
    reps = [
        InstanceReport(instance_id="a", outcome="resolved", resolved=True),
        InstanceReport(
            instance_id="b",
            outcome="patch_failed",
            error="patch --batch --fuzz=5 -p1 -i applied it in reverse (Assuming -R); not counted as applied",
            log="/out/b/apply.log",
        ),
        InstanceReport(
            instance_id="c", outcome="error", error="ImageError: building x failed\nlog: /l/x.log"
        ),
        InstanceReport(
            instance_id="d", outcome="unresolved", test_timed_out=True, log="/out/d/test_output.txt"
        ),
        InstanceReport(instance_id="e", outcome="empty_patch"),
    ]
    assert failures(reps) == [
        "b: patch_failed: patch --batch --fuzz=5 -p1 -i applied it in reverse (Assuming -R); not counted as "
        "applied (log: /out/b/apply.log)",
        "c: error: ImageError: building x failed",
        "d: timeout: the test command outlived --test-timeout (log: /out/d/test_output.txt)",
    ]


# --- the eval script itself, run on a real repository -------------------------------------------------


def _testbed(task: RepoTask, tmp: Path) -> Path:
    assert task.source is not None
    dest = tmp / "testbed"
    subprocess.run(["git", "clone", "-q", task.source.location, str(dest)], check=True)
    subprocess.run(["git", "checkout", "-q", task.base_commit], cwd=dest, check=True)
    return dest


def _evaluate_on_host(task: RepoTask, patch: str, tmp: Path) -> tuple[bool, list[str], list[str], str]:
    """Apply ``patch`` and run the eval script with bash, git and this interpreter's pytest; grade."""
    import os
    import sys

    from harness.evaluation._instance import _grade

    repo = _testbed(task, tmp)
    (tmp / "model.patch").write_text(patch)
    out = subprocess.run(
        ["sh", "-c", apply_script(str(tmp / "model.patch"))], cwd=repo, capture_output=True, text=True
    )
    assert applied_method(out.stdout, patch) == "git apply --verbose", out.stdout
    (tmp / "test.patch").write_text(task.test_patch)
    (tmp / "eval.sh").write_text(eval_script(task))
    env = {**os.environ, "HOME": str(tmp), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    res = subprocess.run(
        ["bash", str(tmp / "eval.sh"), str(tmp / "test.patch")],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tests, resolved = _grade(task, patch, res.stdout)
    left = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    return resolved, tests.FAIL_TO_PASS.failure, tests.PASS_TO_PASS.success, left


def test_eval_script_resets_the_tests_a_candidate_edited(tmp_path: Path) -> None:
    """A candidate that rewrites the hidden tests' file gets them back: the script resets the test
    files to base_commit, applies the test patch, runs them between swebench's markers, resets again."""
    from harness.tasks import load_suite

    task = load_suite(Path(__file__).resolve().parents[1] / "tasks" / "local")[0]
    assert task.source is not None
    test_file = patch_files(task.test_patch)[0]
    base = subprocess.run(
        ["git", "show", f"{task.base_commit}:{test_file}"],
        cwd=task.source.location,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # the candidate empties the test file (every line removed)
    hunk = "".join(f"-{line}\n" for line in base.splitlines())
    emptied = (
        f"diff --git a/{test_file} b/{test_file}\n--- a/{test_file}\n+++ b/{test_file}\n"
        f"@@ -1,{len(base.splitlines())} +0,0 @@\n{hunk}"
    )
    resolved, failing, passing, left = _evaluate_on_host(task, emptied, tmp_path / "tampered")
    # the real tests ran: PASS_TO_PASS passed (an empty file has none), FAIL_TO_PASS failed (no fix)
    assert passing == list(task.PASS_TO_PASS) and failing == list(task.FAIL_TO_PASS) and not resolved
    resolved, failing, passing, left = _evaluate_on_host(task, task.patch, tmp_path / "gold")
    assert resolved and failing == []
    assert test_file not in left  # the test files are back at base_commit after the run


def test_validation_rows_say_whether_the_instance_had_network() -> None:
    from harness.evaluation._validate import judge

    task = RepoTask(
        instance_id="o__r-1", repo="o/r", base_commit="0" * 40, problem_statement="p", FAIL_TO_PASS=("t",)
    )
    gold = InstanceReport(instance_id="o__r-1", outcome="resolved", resolved=True, network=True)
    empty = InstanceReport(instance_id="o__r-1", outcome="unresolved", network=True)
    assert judge(task, gold, empty).network is True
    assert (
        judge(
            task, gold.model_copy(update={"network": False}), empty.model_copy(update={"network": False})
        ).network
        is False
    )
