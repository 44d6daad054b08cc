"""Issue 13: an unsupported environment is an outcome of its own in ``harness eval`` (not an
infrastructure error, not retried), and ``tasks validate`` rows carry each instance's build times.

No engine: the unsupported instance is refused before any build (DOCKER_HOST points nowhere, so a use
would turn into an infrastructure error), and the build times come from stand-in images.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.evaluation import Evaluator, InstanceReport, validate_tasks
from harness.evaluation._validate import judge
from harness.tasks import load_suite

ROOT = Path(__file__).resolve().parents[1]
PATCH = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"
WHY = "unsupported: needs Python 3.6"


def _django(tmp_path: Path) -> tuple[Path, Path]:
    rec = {
        "instance_id": "django__django-1",
        "repo": "django/django",
        "version": "3.0",  # swebench's spec asks for Python 3.6: no Debian suite here has it
        "base_commit": "a" * 40,
        "problem_statement": "p",
        "FAIL_TO_PASS": ["t"],
    }
    suite = tmp_path / "suite.jsonl"
    suite.write_text(json.dumps(rec) + "\n")
    preds = tmp_path / "preds.jsonl"
    row = {"instance_id": "django__django-1", "model_name_or_path": "m", "model_patch": PATCH}
    preds.write_text(json.dumps(row) + "\n")
    return suite, preds


def test_eval_reports_unsupported_once_not_as_an_infra_error_and_does_not_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("swebench", reason="the swebench extra is not installed (scripts/setup.sh adds it)")
    from typer.testing import CliRunner

    from harness.cli import app

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")  # any engine use would fail
    suite, preds = _django(tmp_path)
    out = tmp_path / "eval"
    args = ["eval", str(preds), "--suite", str(suite), "--out", str(out)]

    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output  # not an infrastructure error (those exit 3)
    assert res.output.count("django__django-1: unsupported: needs Python 3.6") == 1, res.output
    assert "Error" not in res.output and "errors 0, unsupported 1" in res.output
    report = out / "django__django-1" / "report.json"
    body = json.loads(report.read_text())["django__django-1"]
    assert body["resolved"] is False and "tests_status" not in body
    assert body["harness"]["outcome"] == "unsupported" and body["harness"]["error"] == WHY
    summary = json.loads((out / "summary.json").read_text())
    assert summary["infra_error_instances"] == 0 and summary["infra_error_ids"] == []
    assert summary["unsupported_instances"] == 1 and summary["unsupported_ids"] == ["django__django-1"]
    assert summary["error_ids"] == ["django__django-1"]  # swebench writes no report for it either
    assert summary["completed_instances"] == 0

    # Resumed: the report stands (not written again, not retried), the line is printed again.
    first = report.stat().st_mtime_ns
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert res.output.count("django__django-1: unsupported: needs Python 3.6") == 1, res.output
    assert report.stat().st_mtime_ns == first


def test_unsupported_report_round_trips_and_never_blocks_another_patch() -> None:
    rep = InstanceReport(
        instance_id="i", patch_exists=True, patch_sha256="h", outcome="unsupported", error=WHY
    )
    back = InstanceReport.from_swebench(rep.to_swebench())
    assert back.outcome == "unsupported" and back.error == WHY and not back.is_infra_error


class _Image:
    def __init__(self, created: float) -> None:
        stamp = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        self.attrs = {"Created": stamp + "123Z"}  # nanoseconds, as Docker writes them


class _Images:
    """Stand-in TaskImages: the environment is built once (0.3 s), instance ``*-0`` is built (0.2 s),
    the others are old images found cached."""

    def __init__(self) -> None:
        self.created: dict[str, float] = {}
        self.client = self
        self.images = self

    def official_image(self, task: Any) -> None:
        return None  # --images local

    def get(self, tag: str) -> _Image:
        return _Image(self.created[tag])

    def env_image(self, spec: Any) -> str:
        if "env" not in self.created:
            time.sleep(0.3)
            self.created["env"] = time.time()
        return "env"

    def instance_image(self, task: Any, env_tag: str) -> str:
        tag = f"inst-{task.instance_id}"
        if task.instance_id.endswith("-0"):
            time.sleep(0.2)
            self.created[tag] = time.time()
        else:
            self.created[tag] = time.time() - 86400.0  # built yesterday
        return tag


class _Evaluator(Evaluator):
    async def evaluate(self, task: Any, patch: str | None, **kw: Any) -> InstanceReport:
        assert kw["image"] == f"inst-{task.instance_id}"  # built before the runs, not by each
        await asyncio.sleep(0.1)
        outcome = "resolved" if patch else "unresolved"
        return InstanceReport(instance_id=task.instance_id, outcome=outcome, resolved=bool(patch))


def test_validation_rows_carry_build_times_cold_or_cached() -> None:
    base = load_suite(ROOT / "tasks" / "local")[0]
    tasks = [base.model_copy(update={"instance_id": f"local__t-{i}"}) for i in range(2)]
    evaluator = _Evaluator(_Images(), concurrency=2)  # type: ignore[arg-type]
    rows = asyncio.run(validate_tasks(tasks, evaluator))

    cold, warm = rows
    assert cold.ok and warm.ok
    assert not cold.env_cached and cold.env_s >= 0.3
    assert not cold.instance_cached and cold.instance_s >= 0.2
    assert warm.env_cached and warm.env_s == 0.0  # the same environment, asked for once
    assert warm.instance_cached and warm.instance_s < 0.2
    assert cold.eval_s >= 0.1 and warm.eval_s >= 0.1
    assert cold.build.startswith("env 0s built, instance 0s built")
    assert warm.build == "env 0s cached, instance 0s cached"
    dumped = cold.model_dump()  # what --json prints
    assert {"env_s", "env_cached", "instance_s", "instance_cached", "eval_s"} <= dumped.keys()


def test_judge_without_build_information_claims_nothing_was_built() -> None:
    base = load_suite(ROOT / "tasks" / "local")[0]
    gold = InstanceReport(instance_id=base.instance_id, outcome="resolved", resolved=True)
    empty = InstanceReport(instance_id=base.instance_id, outcome="unresolved")
    row = judge(base, gold, empty)
    assert row.env_cached and row.instance_cached and row.env_s == 0.0
