from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from harness.errors import StoreError
from harness.store import Index, Run, atomic_write_json


def test_run_manifest_and_resume(tmp_path: Path) -> None:
    run = Run(tmp_path, "r1", "select", {"a": 1}, seeds=[7])
    manifest = json.loads((tmp_path / "r1" / "manifest.json").read_text())
    assert manifest["config"] == {"a": 1}
    assert manifest["seeds"] == [7]
    assert manifest["version"] == 1
    assert not run.resumed
    run.mark("matrix", "HumanEval/0", "done", artefact="04_matrix/0.npz")
    run.mark("matrix", "HumanEval/1", "running")
    run.close()

    again = Run(tmp_path, "r1", "select", {"a": 1})
    assert again.resumed
    assert again.unit_done("matrix", "HumanEval/0")
    assert not again.unit_done("matrix", "HumanEval/1")
    assert again.index.units("r1", "matrix") == [
        ("matrix", "HumanEval/0", "done"),
        ("matrix", "HumanEval/1", "running"),
    ]
    again.close()


def test_resume_with_other_config_is_refused(tmp_path: Path) -> None:
    Run(tmp_path, "r1", "select", {"a": 1}).close()
    with pytest.raises(StoreError, match="different config"):
        Run(tmp_path, "r1", "select", {"a": 2})


def _write_forever(path: str) -> None:
    i = 0
    while True:
        atomic_write_json(path, {"i": i, "pad": "x" * 100_000})
        i += 1


def test_atomic_write_survives_sigkill(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic_write_json(target, {"i": -1})
    for _ in range(5):
        proc = multiprocessing.get_context("fork").Process(target=_write_forever, args=(str(target),))
        proc.start()
        proc.join(0.2)
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        data = json.loads(target.read_text())  # never half-written
        assert isinstance(data["i"], int)


def test_index_is_shared_between_connections(tmp_path: Path) -> None:
    a = Index(tmp_path / "index.sqlite")
    b = Index(tmp_path / "index.sqlite")
    a.upsert_run("r", "x", "{}")
    a.set_unit("r", "s", "u", "done")
    assert b.unit_status("r", "s", "u") == "done"
    assert b.runs()[0][:3] == ("r", "x", "running")
    a.close()
    b.close()


def test_outcomes_last_record_wins_and_torn_line_ignored(tmp_path: Path) -> None:
    from harness.store import (
        StageTotals,
        TaskOutcome,
        append_outcomes,
        read_outcomes,
        read_stages,
        write_stages,
    )

    append_outcomes(tmp_path, [TaskOutcome(task_id="a", system="b4", resolved=0.0)])
    append_outcomes(tmp_path, [TaskOutcome(task_id="a", system="b4", resolved=1.0, oracle=True)])
    append_outcomes(tmp_path, [TaskOutcome(task_id="b", system="b4", resolved=0.5)])
    with open(tmp_path / "outcomes.jsonl", "a") as fh:
        fh.write('{"task_id": "c", "sys')
    got = {o.task_id: o for o in read_outcomes(tmp_path)}
    assert set(got) == {"a", "b"}
    assert got["a"].resolved == 1.0 and got["a"].oracle is True
    write_stages(tmp_path, [StageTotals(stage="matrix", time_s=2.5)])
    assert read_stages(tmp_path)[0].time_s == 2.5
