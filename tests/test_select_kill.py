"""A SIGKILLed ``harness select`` leaves nothing running and nothing locked (issue 12).

- Forked processes never hold a run's lock (``harness.store``): a killed run can be rerun at once, even
  while something it forked is still alive.
- The pool-size curves' workers die with their parent (``harness.selection.curves``): nothing keeps
  computing after a SIGKILL.
- The engine's sandboxes carry the run id (``harness.selection.run``), so
  ``harness sandbox gc --run-id RUN`` removes what a killed run left.

The ``unit`` tests drive the store and the curves' worker pool in a small killable script; the
``docker`` tests kill a real ``harness select`` on CodeT's pools.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import StoreError
from harness.store import Run

HARNESS = str(Path(sys.executable).parent / "harness")
POOLS = "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300"
WAIT_S = 30.0
"""Bound on how long a dead parent's workers may take to go (the kernel's death signal is immediate)."""


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


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if len(fields) > 1 and fields[1] == str(pid) and fields[0] not in ("Z", "X"):
                out.append(int(entry.name))
    return out


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


class _Lines:
    """A child's stderr read line by line on a thread, so waiting for a line has a deadline."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        self.seen: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        stream = proc.stderr

        def pump() -> None:
            for line in stream:
                self._q.put(line)
            self._q.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, start: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._q.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(
                    f"no line starting {start!r} in {timeout:.0f} s; stderr so far:\n{''.join(self.seen)}"
                )
            if line is None:
                pytest.fail(f"the process ended before printing {start!r}; stderr:\n{''.join(self.seen)}")
            self.seen.append(line)
            if line.startswith(start):
                return line


# -- unit: the store and the curves' pool in a killable script ----------------------------------------

_FORKS = """
import os, sys, time
from harness.store import Run

run = Run(sys.argv[1], "r1", "select", {"a": 1})
quick = os.fork()  # a child that ends at once: its end must not unlock the parent's run
if quick == 0:
    os._exit(0)
os.waitpid(quick, 0)
child = os.fork()
if child == 0:
    time.sleep(120)
    os._exit(0)
print(child, flush=True)
time.sleep(120)
"""


def test_a_forked_child_never_holds_the_run_lock(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _FORKS, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    child = 0
    try:
        assert proc.stdout is not None
        child = int(proc.stdout.readline())
        # The parent still holds it (a child letting go of its copy did not unlock it) ...
        with pytest.raises(StoreError, match=f"in use by another harness process \\(pid {proc.pid}\\)"):
            Run(tmp_path, "r1", "select", {"a": 1})
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _alive(child)
        # ... and once it is killed, the run is free although its forked child still lives.
        again = Run(tmp_path, "r1", "select", {"a": 1})
        assert again.resumed
        again.close()
    finally:
        _kill_left([proc.pid, child] if child else [proc.pid])
        proc.wait()


_DRAWS = """
import os, sys, time
from harness.selection import curves

def forever(job, k, seed):
    time.sleep(120)
    return []

curves._draw = forever  # the workers are forked after this: they inherit it
job = curves._Draws({}, ("random",), {})
curves._run_draws(job, [(2, 0), (5, 0)], 2, lambda draws, procs: print(procs, flush=True))
"""


def test_curve_workers_die_with_their_parent() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _DRAWS], stdout=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        assert proc.stdout is not None
        assert int(proc.stdout.readline()) == 2  # forked, each in its endless draw
        workers = _children(proc.pid)
        assert len(workers) == 2
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _wait_for(lambda: not any(map(_alive, workers)), "the curve workers to die with their parent")
    finally:
        _kill_left([proc.pid, *workers])
        proc.wait()


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


@pytest.mark.docker
def test_select_killed_in_its_curve_phase_leaves_no_worker_and_reruns(
    shared_data: Path, tmp_path: Path
) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one usable CPU: the curves run in-process, there is no worker to leave behind")
    # 12 tasks x 8 selectors x 25 draws = 2,400 selector calls: enough for the curves to fork workers.
    cmd = _select(shared_data, tmp_path, "curves-kill", 12)
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        # Printed once the workers are forked: the run is in its curve phase, whatever the machine's speed.
        line = _Lines(proc).wait_for("pool-size curves:", timeout=600)
        assert "worker processes" in line, line
        workers = _children(proc.pid)
        assert workers, "the curve workers were forked before the line, yet none is there"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _wait_for(lambda: not any(map(_alive, workers)), "the killed run's curve workers to end")
    finally:
        _kill_left([proc.pid, *workers])
        proc.wait()

    rerun = subprocess.run([*cmd, "--json"], env=_env(), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["resumed"] and summary["matrices_built"] == 0 and summary["matrices_reused"] == 12
    assert "candidates" in summary  # the curves were computed this time


def _docker() -> Any:
    from harness.sandbox._docker import shared_client

    return shared_client()


def _owned_by(pid: int, start: str) -> list[Any]:
    """Every container (running or not) that the process ``pid`` started at ``start`` created."""
    filters = {"label": [f"harness.pid={pid}", f"harness.pid_start={start}"]}
    return list(_docker().containers.list(all=True, filters=filters, ignore_removed=True))


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
