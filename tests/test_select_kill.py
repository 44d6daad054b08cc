"""A SIGKILLed ``harness select`` leaves nothing that ``harness sandbox gc --run-id`` cannot find (issue 12):
the engine's sandboxes carry the run id (``harness.selection.run``). The ``docker`` tests kill a real
``harness select`` on CodeT's pools."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HARNESS = str(Path(sys.executable).parent / "harness")
POOLS = "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300"
WAIT_S = 30.0
"""Default bound of :func:`_wait_for`."""


# -- processes -------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` after the command name (state first); empty when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return bool(fields) and fields[0] not in ("Z", "X")  # a zombie computes nothing and holds no file


def _wait_for(check: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def _kill_left(pids: list[int]) -> None:
    """SIGKILL the processes this test started that are still there (by pid, only ours)."""
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):  # it ended since
                os.kill(pid, signal.SIGKILL)


# -- docker: a real `harness select` -----------------------------------------------------------------


def _select(shared_data: Path, tmp_path: Path, run_id: str, tasks: int, *extra: str) -> list[str]:
    base = shared_data / "codet" / POOLS
    return [
        HARNESS, "select", "--suite", "humaneval",
        "--pool-solutions", f"{base}_code_solution.jsonl", "--pool-tests", f"{base}_test_case.jsonl",
        "--limit-tasks", str(tasks), "--strategies", "all", "--run-id", run_id,
        "--results-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"), *extra,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    # Without $HARNESS_RUN_ID: the run id must reach the sandboxes from --run-id itself.
    return {k: v for k, v in os.environ.items() if k != "HARNESS_RUN_ID"}


def _docker() -> Any:
    from harness.sandbox._docker import shared_client

    return shared_client()


def _owned_by(pid: int, start: str) -> list[Any]:
    """Every container (running or not) that the process ``pid`` started at ``start`` created."""
    filters = {"label": [f"harness.pid={pid}", f"harness.pid_start={start}"]}
    return list(_docker().containers.list(all=True, filters=filters))


@pytest.fixture
def killed_select(shared_data: Path, tmp_path: Path) -> Iterator[tuple[str, int, str]]:
    """A ``harness select --run-id`` SIGKILLed while its engine's sandbox computes the pass matrices:
    ``(run id, pid, pid start time)``. Whatever it left is removed afterwards, whatever the test did."""
    run_id = f"pytest-select-kill-{os.getpid()}-{time.monotonic_ns() % 10**8}"
    proc = subprocess.Popen(
        _select(shared_data, tmp_path, run_id, 3),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    start = ""
    try:
        _wait_for(lambda: len(_stat(proc.pid)) > 19, "the run to start")
        start = _stat(proc.pid)[19]
        # 3 tasks are one batch, so the engine starts one lane: once its sandbox runs, no other is coming.
        _wait_for(
            lambda: any(c.status == "running" for c in _owned_by(proc.pid, start)),
            "the run's engine sandbox to run",
            timeout=600,
        )
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        yield run_id, proc.pid, start
    finally:
        _kill_left([proc.pid])
        proc.wait()
        for container in _owned_by(proc.pid, start) if start else []:
            container.remove(force=True)


@pytest.mark.docker
def test_select_sandboxes_carry_the_run_id_and_gc_removes_them(killed_select: tuple[str, int, str]) -> None:
    run_id, pid, start = killed_select
    left = _owned_by(pid, start)
    assert left, "the killed run left no sandbox: it was not killed mid-build"
    assert {c.labels.get("harness.run_id") for c in left} == {run_id}, [c.labels for c in left]

    gc = subprocess.run(
        [HARNESS, "sandbox", "gc", "--run-id", run_id], capture_output=True, text=True, timeout=300
    )
    assert gc.returncode == 0, gc.stderr
    assert sorted(gc.stdout.split()) == sorted(c.name for c in left)
    assert _owned_by(pid, start) == []
