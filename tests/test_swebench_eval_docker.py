"""``harness eval`` with an engine: one line per failed instance with its cause and log, reports that
say whether the instance had network, and resume across a changed patch (docker tier)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from harness.evaluation import Evaluator, patch_files
from harness.tasks import load_suite
from harness.tasks.images import TaskImages

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "tasks" / "local"

pytestmark = pytest.mark.docker


def test_eval_prints_one_line_per_failed_instance_with_cause_and_log(base_image: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    tasks = load_suite(SUITE)[:3]
    broken, gold, empty = tasks
    # every file of the patch renamed to one that does not exist: every method of the chain refuses it
    bad = broken.patch
    for f in patch_files(broken.patch):
        bad = bad.replace(f, f"nosuch/{f}")
    rows = [
        (broken, bad),
        (gold, gold.patch),
        (empty, ""),
    ]
    preds = tmp_path / "preds.jsonl"
    preds.write_text(
        "".join(
            json.dumps({"instance_id": t.instance_id, "model_name_or_path": "m", "model_patch": p}) + "\n"
            for t, p in rows
        )
    )
    out = tmp_path / "eval"
    args = ["eval", str(preds), "--suite", str(SUITE), "--out", str(out), "--base-image", base_image]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output  # a patch that does not apply is the model's failure
    lines = [ln for ln in res.output.splitlines() if ln.startswith(broken.instance_id + ":")]
    log = out / broken.instance_id / "apply.log"
    assert lines == [
        f"{broken.instance_id}: patch_failed: no method of the chain applied it (git apply --verbose, "
        f"git apply --verbose --reject, patch --batch --fuzz=5 -p1 -i) (log: {log})"
    ]
    assert "git apply --verbose" in log.read_text()
    assert not any(ln.startswith((gold.instance_id, empty.instance_id)) for ln in res.output.splitlines())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["error_ids"] == [broken.instance_id] and summary["patch_failed_ids"] == [
        broken.instance_id
    ]
    assert summary["resolved_ids"] == [gold.instance_id] and summary["empty_patch_ids"] == [empty.instance_id]
    assert summary["infra_error_ids"] == [] and summary["network_ids"] == []
    report = json.loads((out / gold.instance_id / "report.json").read_text())[gold.instance_id]
    assert report["harness"]["network"] is False and report["harness"]["environment"].startswith(
        "harness-task-"
    )
    assert set(report["tests_status"]) == {"FAIL_TO_PASS", "PASS_TO_PASS", "FAIL_TO_FAIL", "PASS_TO_FAIL"}
    assert ">>>>> Start Test Output" in (out / gold.instance_id / "test_output.txt").read_text()


def test_a_report_says_the_instance_had_network(base_image: str, tmp_path: Path) -> None:
    task = load_suite(SUITE)[0]
    with_net = Evaluator(TaskImages(base_image=base_image), eval_network=True)
    rep = asyncio.run(with_net.evaluate(task, task.patch, log_dir=tmp_path / "net"))
    assert rep.outcome == "resolved" and rep.network is True
    assert json.loads(json.dumps(rep.to_swebench()))[task.instance_id]["harness"]["network"] is True
    without = Evaluator(TaskImages(base_image=base_image))
    rep = asyncio.run(without.evaluate(task, task.patch, log_dir=tmp_path / "none"))
    assert rep.outcome == "resolved" and rep.network is False
