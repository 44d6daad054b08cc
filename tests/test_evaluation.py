"""Evaluation pieces without an engine: pytest output parsing, grading, reports, predictions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ConfigError, DataError
from harness.evaluation import (
    InstanceReport,
    applied_method,
    apply_script,
    get_parser,
    grade,
    load_predictions,
    parse_pytest,
    patch_files,
    read_report,
    summarize,
)

PYTEST_OUTPUT = """\
============================= test session starts ==============================
tests/test_a.py ..F.E                                                    [100%]
=========================== short test summary info ============================
PASSED tests/test_a.py::test_plain
PASSED tests/test_a.py::test_param[a b]
PASSED tests/test_a.py::test_param[x - y]
PASSED tests/test_a.py::TestK::test_m[[nested]-1]
FAILED tests/test_a.py::test_fail - AssertionError: assert 1 == 2
FAILED tests/test_a.py::test_param[${Server:Port}] - KeyError: 'x - y'
ERROR tests/test_a.py::test_err - fixture 'nope' not found
PASSED tests/test_a.py::test_teardown
ERROR tests/test_a.py::test_teardown - RuntimeError: boom
XFAIL tests/test_a.py::test_xfail - reason: known
SKIPPED [1] tests/test_a.py:40: no network
\x1b[31mFAILED\x1b[0m tests/test_b.py::test_colour
ERROR tests/test_c.py - ImportError: cannot import name 'x'
==================== 2 failed, 4 passed, 1 error in 0.12s =====================
"""


def test_parse_pytest_statuses_and_ids() -> None:
    status = parse_pytest(PYTEST_OUTPUT)
    assert status == {
        "tests/test_a.py::test_plain": "PASSED",
        "tests/test_a.py::test_param[a b]": "PASSED",
        "tests/test_a.py::test_param[x - y]": "PASSED",
        "tests/test_a.py::TestK::test_m[[nested]-1]": "PASSED",
        "tests/test_a.py::test_fail": "FAILED",
        "tests/test_a.py::test_param[${Server:Port}]": "FAILED",
        "tests/test_a.py::test_err": "ERROR",
        "tests/test_a.py::test_teardown": "ERROR",
        "tests/test_a.py::test_xfail": "XFAIL",
        "tests/test_b.py::test_colour": "FAILED",
        "tests/test_c.py": "ERROR",
    }


def test_parser_registry() -> None:
    assert get_parser("pytest") is parse_pytest
    with pytest.raises(ConfigError, match="known parsers: pytest"):
        get_parser("nose")


def test_grade_counts_missing_tests_as_failures() -> None:
    status = parse_pytest(PYTEST_OUTPUT)
    tests, resolved = grade(
        ["tests/test_a.py::test_param[a b]", "tests/test_a.py::test_xfail"],
        ["tests/test_a.py::test_plain", "tests/test_a.py::never_ran"],
        status,
    )
    assert tests.FAIL_TO_PASS.failure == [] and len(tests.FAIL_TO_PASS.success) == 2
    assert tests.PASS_TO_PASS.failure == ["tests/test_a.py::never_ran"]
    assert resolved is False
    assert grade(["tests/test_a.py::test_plain"], [], status)[1] is True


def test_report_round_trip_in_swebench_shape(tmp_path: Path) -> None:
    tests, resolved = grade(["t::a"], ["t::b"], {"t::a": "PASSED", "t::b": "PASSED"})
    rep = InstanceReport(
        instance_id="x__y-1",
        patch_exists=True,
        patch_successfully_applied=True,
        resolved=resolved,
        tests_status=tests,
        outcome="resolved",
    )
    data = rep.to_swebench()
    body = data["x__y-1"]
    assert set(body) >= {"patch_is_None", "patch_exists", "patch_successfully_applied", "resolved"}
    assert body["tests_status"]["FAIL_TO_PASS"] == {"success": ["t::a"], "failure": []}
    (tmp_path / "report.json").write_text(json.dumps(data))
    assert read_report(tmp_path / "report.json") == rep
    (tmp_path / "torn.json").write_text('{"x": ')
    assert read_report(tmp_path / "torn.json") is None
    assert read_report(tmp_path / "absent.json") is None


def test_summary_separates_model_and_infra_failures() -> None:
    reps = [
        InstanceReport(instance_id="a", outcome="resolved", resolved=True),
        InstanceReport(instance_id="b", outcome="patch_failed"),
        InstanceReport(instance_id="c", outcome="error", error="ImageError: boom"),
        InstanceReport(instance_id="d", outcome="empty_patch"),
        InstanceReport(instance_id="e", outcome="unresolved"),
    ]
    s = summarize(6, reps)
    assert (s["total_instances"], s["submitted_instances"], s["completed_instances"]) == (6, 5, 2)
    assert s["resolved_ids"] == ["a"] and s["patch_failed_ids"] == ["b"] and s["infra_error_ids"] == ["c"]
    # swebench's error_ids are the instances it writes no report for: a patch that does not apply too
    assert s["error_ids"] == ["b", "c"] and s["empty_patch_ids"] == ["d"] and s["unresolved_ids"] == ["e"]


def test_apply_script_and_marks() -> None:
    script = apply_script("/tmp/p q.patch")
    assert "git apply --verbose '/tmp/p q.patch'" in script
    assert "patch --batch --fuzz=5 -p1 -i '/tmp/p q.patch'" in script
    assert (
        applied_method("noise\nHARNESS_APPLY=patch --batch --fuzz=5 -p1 -i\n")
        == "patch --batch --fuzz=5 -p1 -i"
    )
    assert applied_method("HARNESS_APPLY=FAILED\n") is None
    assert applied_method("") is None


def test_patch_files_skips_deleted() -> None:
    diff = (
        "diff --git a/tests/new.py b/tests/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/tests/new.py\n"
        "diff --git a/tests/old.py b/tests/old.py\ndeleted file mode 100644\n--- a/tests/old.py\n+++ /dev/null\n"
        "diff --git a/tests/x.py b/tests/x.py\n--- a/tests/x.py\n+++ b/tests/x.py\n"
    )
    assert patch_files(diff) == ["tests/new.py", "tests/x.py"]


def test_load_predictions(tmp_path: Path) -> None:
    p = tmp_path / "preds.jsonl"
    rows = [
        {"instance_id": "a", "model_name_or_path": "m", "model_patch": "diff"},
        {"instance_id": "b", "model_name_or_path": "m", "model_patch": None, "extra": 1},
    ]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    preds = load_predictions(p)
    assert [(x.instance_id, x.model_patch) for x in preds] == [("a", "diff"), ("b", None)]
    p.write_text(json.dumps(rows[0]) + "\n" + json.dumps(rows[0]) + "\n")
    with pytest.raises(DataError, match="appears twice"):
        load_predictions(p)
    p.write_text("{not json\n")
    with pytest.raises(DataError, match=r"preds\.jsonl"):
        load_predictions(p)


def test_eval_into_a_folder_of_other_patches_is_refused_not_reused(tmp_path: Path) -> None:
    """``--out`` defaults to ``eval`` for every predictions file: a report made for another patch must
    not be counted as this prediction's result (model B's empty patch scored as model A's fix)."""
    from typer.testing import CliRunner

    from harness.cli import app
    from harness.tasks import load_suite

    suite = Path(__file__).resolve().parents[1] / "tasks" / "local"
    task = load_suite(suite)[0]
    out = tmp_path / "eval"

    def evaluate(name: str, patch: str | None) -> tuple[int, str]:
        preds = tmp_path / f"{name}.jsonl"
        row = {"instance_id": task.instance_id, "model_name_or_path": name, "model_patch": patch}
        preds.write_text(json.dumps(row) + "\n")
        res = CliRunner().invoke(app, ["eval", str(preds), "--suite", str(suite), "--out", str(out)])
        return res.exit_code, res.output

    code, output = evaluate("a", None)  # an empty patch is graded without an engine
    assert code == 0, output
    report = out / task.instance_id / "report.json"
    first = report.read_text()
    assert json.loads(first)[task.instance_id]["harness"]["outcome"] == "empty_patch"

    code, output = evaluate("a", None)  # the same prediction again: resumed, still fine
    assert code == 0, output

    code, output = evaluate("b", task.patch)
    assert code == 2, output
    assert "error:" in output and task.instance_id in output and "--out" in output
    assert "Traceback" not in output
    assert report.read_text() == first  # model a's result is kept


def test_unreadable_predictions_and_an_out_that_is_a_file_are_clear_errors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    suite = Path(__file__).resolve().parents[1] / "tasks" / "local"
    binary = tmp_path / "preds.jsonl"
    binary.write_bytes(b'\xff\xfe{"instance_id": 1}\n')  # UTF-16 from a Windows editor, say
    with pytest.raises(DataError, match=r"preds\.jsonl.*UTF-8"):
        load_predictions(binary)
    res = CliRunner().invoke(app, ["eval", str(binary), "--suite", str(suite)])
    assert res.exit_code == 2 and "UTF-8" in res.output and "Traceback" not in res.output

    preds = tmp_path / "ok.jsonl"
    row = {"instance_id": "local__csvreport-1", "model_name_or_path": "m", "model_patch": None}
    preds.write_text(json.dumps(row) + "\n")
    a_file = tmp_path / "afile"
    a_file.write_text("keep me\n")
    res = CliRunner().invoke(app, ["eval", str(preds), "--suite", str(suite), "--out", str(a_file)])
    assert res.exit_code == 2, res.output
    assert "is a file" in res.output and "Traceback" not in res.output
    assert a_file.read_text() == "keep me\n"
