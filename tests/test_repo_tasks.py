"""RepoTask and the SWE-bench record loader, on the real published records and on small bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import DataError
from harness.tasks import RepoTask, load_swebench

RECORD = {
    "instance_id": "acme__widgets-1",
    "repo": "acme/widgets",
    "base_commit": "a" * 40,
    "problem_statement": "widgets explode",
    "patch": "diff --git a/x b/x\n",
    "test_patch": "diff --git a/t b/t\n",
    "FAIL_TO_PASS": '["tests/test_x.py::test_a"]',
    "PASS_TO_PASS": ["tests/test_x.py::test_b[1 2]"],
    "image": "ignored",
}


@pytest.mark.parametrize(
    ("name", "count"),
    [("SWE-bench_Lite-dev", 23), ("SWE-bench_Lite-test", 300), ("SWE-bench_Verified-test", 500)],
)
def test_loads_published_parquet(shared_data: Path, name: str, count: int) -> None:
    tasks = load_swebench(shared_data / "swebench" / f"{name}.parquet", suite=name)
    assert len(tasks) == count
    assert len({t.instance_id for t in tasks}) == count
    assert all(t.FAIL_TO_PASS for t in tasks)
    assert all(isinstance(x, str) and x for t in tasks for x in t.FAIL_TO_PASS)
    assert all(len(t.base_commit) == 40 and t.patch.startswith("diff") for t in tasks)
    assert {t.suite for t in tasks} == {name}


def test_known_instance_fields(shared_data: Path) -> None:
    tasks = load_swebench(shared_data / "swebench" / "SWE-bench_Lite-dev.parquet")
    t = next(t for t in tasks if t.instance_id == "sqlfluff__sqlfluff-1625")
    assert t.FAIL_TO_PASS == ("test/cli/commands_test.py::test__cli__command_directed",)
    assert t.repo == "sqlfluff/sqlfluff"
    assert t.repo_source().location == "https://github.com/sqlfluff/sqlfluff.git"


def test_public_view_hides_ground_truth() -> None:
    from harness.tasks._swebench import record_to_task

    task = record_to_task(RECORD)
    public = task.public_view().model_dump()
    for hidden in ("patch", "test_patch", "FAIL_TO_PASS", "PASS_TO_PASS"):
        assert hidden not in public
    assert public["problem_statement"] == "widgets explode"


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_json_and_jsonl(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"r{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps([RECORD, {**RECORD, "instance_id": "acme__widgets-2"}]))
    else:
        path.write_text(json.dumps(RECORD) + "\n\n" + json.dumps({**RECORD, "instance_id": "b"}) + "\n")
    tasks = load_swebench(path)
    assert [t.FAIL_TO_PASS for t in tasks] == [("tests/test_x.py::test_a",)] * 2
    assert tasks[0].PASS_TO_PASS == ("tests/test_x.py::test_b[1 2]",)
    assert isinstance(tasks[0], RepoTask)


def test_errors_name_file_and_record(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(RECORD) + "\n" + json.dumps({**RECORD, "FAIL_TO_PASS": "[oops"}) + "\n")
    with pytest.raises(DataError, match=r"bad\.jsonl record 1 \(acme__widgets-1\): FAIL_TO_PASS"):
        load_swebench(bad)
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"instance_id": "x"}))
    with pytest.raises(DataError, match=r"missing\.json record 0 \(x\).*repo"):
        load_swebench(missing)
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"instance_id": \n')
    with pytest.raises(DataError, match=r"torn\.jsonl line 1"):
        load_swebench(torn)
    with pytest.raises(DataError, match="not found"):
        load_swebench(tmp_path / "nope.parquet")
