"""Function suites, CodeT pools and our pool format."""

from __future__ import annotations

import gzip
import json
import socket
from pathlib import Path

import pytest

from harness.errors import DataError
from harness.tasks import (
    Pool,
    PoolRecord,
    _loaders,
    codet_test_prompt,
    default_data_dir,
    download_codet_data,
    is_codet_pool,
    load_codet_pool,
    load_function_suite,
    read_pool,
    write_pool,
)

SOLUTIONS = "codet/HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_code_solution.jsonl"
TESTS = "codet/HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_test_case.jsonl"


def test_humaneval_codet_and_pypi_agree_on_ids_and_hidden_tests(shared_data: Path) -> None:
    codet = load_function_suite("humaneval", shared_data)
    pypi = load_function_suite("humaneval-pypi")
    assert len(codet) == len(pypi) == 164
    assert [t.task_id for t in codet] == [t.task_id for t in pypi]
    assert all(a.hidden == b.hidden for a, b in zip(codet, pypi, strict=True))
    assert all("def check(candidate)" in t.hidden.code for t in codet)
    assert "hidden" not in codet[0].public_view().model_dump()


def test_mbpp_loads(shared_data: Path) -> None:
    tasks = load_function_suite("mbpp", shared_data)
    assert len(tasks) == 427
    assert tasks[0].task_id == "MbppEval/2" and tasks[0].entry_point == "similar_elements"


def test_codet_pools_match_by_prompt(shared_data: Path) -> None:
    tasks = load_function_suite("humaneval", shared_data)
    sols = load_codet_pool(shared_data / SOLUTIONS, tasks, "solutions")
    tests = load_codet_pool(shared_data / TESTS, tasks, "tests")
    assert len(sols) == len(tests) == 164
    assert all(len(r.samples) == 100 for r in sols)
    assert {r.task_id for r in tests} == {t.task_id for t in tasks}
    assert is_codet_pool(shared_data / SOLUTIONS)


def test_test_prompt_is_codets(shared_data: Path) -> None:
    tasks = load_function_suite("humaneval", shared_data)
    first = json.loads((shared_data / "codet/HumanEval_for_test_case_generation.jsonl").open().readline())
    assert codet_test_prompt(tasks[0]) == first["prompt"]


def test_unmatched_record_is_a_clear_error(shared_data: Path, tmp_path: Path) -> None:
    tasks = load_function_suite("humaneval", shared_data)
    bad = tmp_path / "pool.jsonl"
    bad.write_text(json.dumps({"prompt": "def nope():\n", "samples": ["  pass"]}) + "\n")
    with pytest.raises(DataError, match=r"record 0: its prompt matches no task"):
        load_codet_pool(bad, tasks, "solutions")


def test_pool_for_other_prompt_format_is_rejected(shared_data: Path) -> None:
    pypi = load_function_suite("humaneval-pypi")
    with pytest.raises(DataError, match="matches no task"):
        load_codet_pool(shared_data / SOLUTIONS, pypi, "solutions")


def test_pool_round_trip(tmp_path: Path) -> None:
    pool = Pool("tests", [PoolRecord(task_id="T/1", kind="tests", samples=["f(1) == 2\n"])])
    path = tmp_path / "p.jsonl"
    write_pool(path, pool)
    back = read_pool(path)
    assert back.kind == "tests" and back.samples("T/1") == ["f(1) == 2\n"]
    assert not is_codet_pool(path)
    with pytest.raises(DataError, match="no record for task T/2"):
        back.samples("T/2")


def test_newer_pool_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"version": 99, "task_id": "a", "kind": "tests", "samples": []}) + "\n")
    with pytest.raises(DataError, match="newer"):
        read_pool(path)


def test_mixed_kinds_are_refused() -> None:
    recs = [
        PoolRecord(task_id="a", kind="tests", samples=[]),
        PoolRecord(task_id="b", kind="solutions", samples=[]),
    ]
    with pytest.raises(DataError, match="holds a solutions record"):
        Pool("tests", recs)


def test_data_dir_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARNESS_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path
    with pytest.raises(DataError, match="download_codet_data"):
        load_function_suite("humaneval")


def test_download_offline_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on: connection refused, like being offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(_loaders, "CODET_RAW_URL", f"http://127.0.0.1:{port}/CodeT/data")
    with pytest.raises(DataError, match=r"could not download http://127\.0\.0\.1.*copy CodeT's data files"):
        download_codet_data(tmp_path, timeout=2)
    assert not any(p.name.endswith(".part") for p in (tmp_path / "codet").iterdir())


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("pool.jsonl", '{"task_id": "caf\xe9"}\n'.encode("latin-1"), r"pool\.jsonl line 1: not UTF-8"),
        ("pool.jsonl.gz", b'{"task_id": 1}\n', r"cannot read .*pool\.jsonl\.gz"),  # not gzip at all
        ("pool.jsonl.gz", gzip.compress(b'{"task_id": 1}\n' * 500)[:60], "cannot read"),
    ],
)
def test_unreadable_jsonl_is_a_clear_error(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    # A file saved in another encoding, a .gz that is not gzip, a download cut short.
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DataError, match=message):
        _loaders.read_jsonl(path)


def test_swebench_file_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    from harness.tasks import load_swebench

    path = tmp_path / "tasks.jsonl"
    path.write_bytes('{"instance_id": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(DataError, match=r"tasks\.jsonl.*UTF-8"):
        load_swebench(path)
