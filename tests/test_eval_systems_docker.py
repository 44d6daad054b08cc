"""``harness eval A.jsonl B.jsonl C.jsonl`` on the local suite, in real containers: every (system,
instance) pair gets a report, a patch two systems share (modulo an ``index`` line and a leading newline)
is evaluated once, a rerun evaluates nothing, and ``harness report`` reads the folder."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "tasks" / "local"
TASK_DIRS = sorted(d for d in SUITE.iterdir() if (d / "task.json").is_file())


def _write(path: Path, rows: list[tuple[str, str | None]]) -> Path:
    lines = [json.dumps({"instance_id": i, "model_name_or_path": "m", "model_patch": p}) for i, p in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _report(out: Path, system: str, iid: str) -> dict[str, Any]:
    body = json.loads((out / system / iid / "report.json").read_text())[iid]  # system "": one file
    assert isinstance(body, dict)
    return body


def test_three_systems_share_an_evaluation_and_resume(base_image: str, tmp_path: Path) -> None:
    one, two = (json.loads((d / "task.json").read_text()) for d in TASK_DIRS[:2])
    a, b = one["instance_id"], two["instance_id"]
    gold_a, gold_b = one["patch"], two["patch"]
    # The same change as gold_a, as another tool writes it: a leading newline, another index line.
    same_a = "\n" + re.sub(r"^index \S+", "index 0000000..1111111", gold_a, count=1, flags=re.MULTILINE)
    assert same_a != gold_a and "index 0000000..1111111" in same_a
    preds = tmp_path / "preds"
    preds.mkdir()
    _write(preds / "alpha.all_preds.jsonl", [(a, gold_a), (b, gold_b)])
    _write(preds / "beta.all_preds.jsonl", [(a, same_a), (b, "")])
    _write(preds / "gamma.all_preds.jsonl", [(a, gold_b), (b, gold_b)])  # b's fix on a: does not apply
    out = tmp_path / "out"
    args = ["eval", str(preds), "--suite", str(SUITE), "--base-image", base_image, "--out", str(out)]
    args += ["-i", a, "-i", b, "-j", "2"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "6 predictions, 3 distinct patches (2 predictions share another system's evaluation)" in res.output

    # Each system's folder is a single-file eval folder: a report per instance, swebench's summary.
    for system, resolved in (("alpha", [a, b]), ("beta", [a]), ("gamma", [b])):
        summary = json.loads((out / system / "summary.json").read_text())
        assert summary["resolved_ids"] == sorted(resolved), system
        assert summary["total_instances"] == 2
    assert json.loads((out / "beta" / "summary.json").read_text())["empty_patch_ids"] == [b]
    assert json.loads((out / "gamma" / "summary.json").read_text())["patch_failed_ids"] == [a]
    # Evaluated once: the copies point at alpha's evaluation, and no container ran in their folders.
    assert _report(out, "beta", a)["harness"]["evaluated_as"] == f"alpha/{a}"
    assert _report(out, "gamma", b)["harness"]["evaluated_as"] == f"alpha/{b}"
    assert "evaluated_as" not in _report(out, "alpha", a)["harness"]
    assert not (out / "beta" / a / "test_output.txt").exists()
    assert not (out / "gamma" / b / "test_output.txt").exists()
    assert (out / "alpha" / a / "test_output.txt").exists()
    assert (out / "gamma" / a / "apply.log").exists()
    assert _report(out, "beta", a)["resolved"] is True
    # The copy keeps its own patch's hash (its resume key), not alpha's.
    assert (
        _report(out, "beta", a)["harness"]["patch_sha256"]
        != _report(out, "alpha", a)["harness"]["patch_sha256"]
    )
    systems = json.loads((out / "systems.json").read_text())
    assert (systems["pairs"], systems["evaluations"], systems["shared"]) == (6, 3, 2)
    assert systems["cells"]["beta"][a]["evaluated_as"] == f"alpha/{a}"

    # A kill after alpha's report but before the copy and the summaries: the rerun writes the copy
    # and evaluates nothing.
    stamp = (out / "alpha" / a / "report.json").stat().st_mtime_ns
    (out / "beta" / a / "report.json").unlink()
    (out / "systems.json").unlink()
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "evaluated in" not in res.output and res.output.count("reused in") == 3
    assert (out / "alpha" / a / "report.json").stat().st_mtime_ns == stamp
    assert _report(out, "beta", a)["harness"]["evaluated_as"] == f"alpha/{a}"

    # The copy's verdict is the one its own patch gets when evaluated alone, in its own container.
    alone = _write(tmp_path / "beta_alone.jsonl", [(a, same_a)])
    res = CliRunner().invoke(app, ["eval", str(alone), "--suite", str(SUITE), "--base-image", base_image,
                                   "--out", str(tmp_path / "alone"), "-i", a])  # fmt: skip
    assert res.exit_code == 0, res.output
    own = json.loads((tmp_path / "alone" / a / "report.json").read_text())[a]
    copied = _report(out, "beta", a)
    assert (own["resolved"], own["tests_status"]) == (copied["resolved"], copied["tests_status"])
    assert own["harness"]["apply_method"] == copied["harness"]["apply_method"] == "git apply --verbose"

    # The command's log sits beside the systems' folders; harness report reads past it.
    assert "eval of 3 systems (alpha, beta, gamma)" in (out / "harness.log").read_text()
    rep = CliRunner().invoke(app, ["report", str(out), "--json"])
    assert rep.exit_code == 0, rep.output
    data = json.loads(rep.stdout)
    assert data["table"] == {
        a: {"alpha": "resolved", "beta": "resolved", "gamma": "not applied"},
        b: {"alpha": "resolved", "beta": "empty", "gamma": "resolved"},
    }
    assert data["oracle"]["rate"] == 1.0
    # Random pick among the non-empty patches: a: 2 of 3, b: 2 of 2.
    assert data["random_pick"]["rate"] == pytest.approx((2 / 3 + 1) / 2)


def test_killed_many_systems_eval_continues(base_image: str, tmp_path: Path) -> None:
    records = [json.loads((d / "task.json").read_text()) for d in TASK_DIRS[:3]]
    preds = tmp_path / "preds"
    preds.mkdir()
    _write(preds / "alpha.jsonl", [(r["instance_id"], r["patch"]) for r in records])
    _write(preds / "beta.jsonl", [(r["instance_id"], "\n" + r["patch"]) for r in records])
    out = tmp_path / "out"
    exe = shutil.which("harness", path=str(Path(sys.executable).parent)) or "harness"
    cmd = [exe, "eval", str(preds), "--suite", str(SUITE), "--base-image", base_image, "--out", str(out)]
    cmd += ["-j", "1", *(x for r in records for x in ("-i", r["instance_id"]))]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        first = ""
        for line in proc.stdout:
            if line.startswith("[1/3] "):
                first = line
                break
        assert first, "the run ended before its first evaluation"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert not (out / "systems.json").exists()
    done = first.split()[1]
    stamp = (out / "alpha" / done / "report.json").stat().st_mtime_ns
    rerun = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout
    lines = [x for x in rerun.stdout.splitlines() if x.startswith("[")]
    assert len(lines) == 3 and any(x.split()[1] == done and "reused" in x for x in lines), lines
    assert (out / "alpha" / done / "report.json").stat().st_mtime_ns == stamp
    summary = json.loads((out / "beta" / "summary.json").read_text())
    assert summary["resolved_ids"] == sorted(r["instance_id"] for r in records)
    assert json.loads((out / "systems.json").read_text())["shared"] == 3


def test_one_file_keeps_its_layout_and_takes_instance_filters(base_image: str, tmp_path: Path) -> None:
    one, two = (json.loads((d / "task.json").read_text()) for d in TASK_DIRS[:2])
    preds = _write(
        tmp_path / "p.jsonl", [(one["instance_id"], one["patch"]), (two["instance_id"], two["patch"])]
    )
    out = tmp_path / "out"
    args = ["eval", str(preds), "--suite", str(SUITE), "--base-image", base_image, "--out", str(out)]
    res = CliRunner().invoke(app, [*args, "-i", one["instance_id"]])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resolved_ids"] == [one["instance_id"]] and summary["total_instances"] == 1
    # SWE-bench's layout, and the command's log beside it.
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted([one["instance_id"], "summary.json", "harness.log"])
    assert f"eval {preds} into {out}" in (out / "harness.log").read_text().splitlines()[0]
    assert "evaluated_as" not in _report(out, "", one["instance_id"])["harness"]
