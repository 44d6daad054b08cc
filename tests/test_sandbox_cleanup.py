"""Containers never outlive their harness: close, exit, SIGTERM, and ``harness sandbox gc`` after SIGKILL.

Each scenario runs a real harness process (a subprocess that creates sandboxes) and looks at the engine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.sandbox import DockerSandbox, python_image
from harness.sandbox._docker import shared_client

pytestmark = pytest.mark.docker

HARNESS = str(Path(sys.executable).parent / "harness")

_OWNER = """
import asyncio, os, sys
from harness.sandbox import DockerSandbox

async def main() -> None:
    run_id = sys.argv[1] or None  # empty: from $HARNESS_RUN_ID
    sbs = [await DockerSandbox.create(run_id=run_id) for _ in range(int(sys.argv[2]))]
    print("ready", flush=True)
    if sys.argv[3] == "wait":
        await asyncio.sleep(600)

asyncio.run(main())
"""


def _owner(run_id: str, n: int, mode: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A harness process that starts ``n`` sandboxes, says ``ready``, then waits (or exits)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _OWNER, run_id, str(n), mode],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _containers(**labels: str) -> list[Any]:
    filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
    return list(shared_client().containers.list(all=True, filters=filters, ignore_removed=True))


def _run_ids() -> Iterator[str]:
    while True:
        yield f"pytest-cleanup-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def ids() -> Iterator[str]:
    return _run_ids()


def test_gc_after_sigkill_removes_exactly_that_run(ids: Iterator[str]) -> None:
    killed_run, other_run, orphan_run = next(ids), next(ids), next(ids)
    client = shared_client()
    plain = client.containers.run(
        python_image(client), ["sleep", "300"], detach=True, network_mode="none", labels={"test": "plain"}
    )
    survivor_proc = _owner(other_run, 1, "wait")  # another run, its owner alive
    try:
        for run_id in (killed_run, orphan_run):
            proc = _owner(run_id, 2, "wait")
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert len(_containers(**{"harness.run_id": run_id})) == 2, "SIGKILL leaves them behind"

        out = subprocess.run(
            [HARNESS, "sandbox", "gc", "--run-id", killed_run], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert len(out.stdout.split()) == 2
        assert _containers(**{"harness.run_id": killed_run}) == []
        assert len(_containers(**{"harness.run_id": orphan_run})) == 2, "--run-id touches no other run"

        out = subprocess.run([HARNESS, "sandbox", "gc"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert _containers(**{"harness.run_id": orphan_run}) == [], "default gc: dead owners on this host"
        assert len(_containers(**{"harness.run_id": other_run})) == 1, "a live owner's sandbox survives"
        plain.reload()
        assert plain.status == "running", "a container harness did not start is never touched"
    finally:
        survivor_proc.kill()
        survivor_proc.wait()
        plain.remove(force=True)
        subprocess.run([HARNESS, "sandbox", "gc", "--run-id", other_run], capture_output=True)
    assert _containers(**{"harness.run_id": other_run}) == []


def test_exit_and_sigterm_remove_the_containers(ids: Iterator[str]) -> None:
    exiting, terminated = next(ids), next(ids)
    proc = _owner(exiting, 2, "exit")  # never closes them: atexit does
    assert proc.wait() == 0
    assert _containers(**{"harness.run_id": exiting}) == []

    proc = _owner("", 2, "wait", env={"HARNESS_RUN_ID": terminated})  # run id from the environment
    assert len(_containers(**{"harness.run_id": terminated})) == 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait() == -signal.SIGTERM, "the previous (default) SIGTERM handler still runs"
    assert _containers(**{"harness.run_id": terminated}) == []


async def test_close_removes_and_labels_say_who_owns(ids: Iterator[str]) -> None:
    run_id = next(ids)
    async with DockerSandbox(run_id=run_id) as sb:
        (c,) = _containers(**{"harness.run_id": run_id})
        labels = c.labels
        assert labels["harness.managed"] == "1" and labels["harness.pid"] == str(os.getpid())
        assert labels["harness.host"] and labels["harness.pid_start"]
        attrs = c.attrs["HostConfig"]
        assert attrs["NetworkMode"] == "none" and attrs["ReadonlyRootfs"] and attrs["CapDrop"] == ["ALL"]
        assert attrs["Memory"] == attrs["MemorySwap"] and attrs["PidsLimit"] and attrs["Init"]
        assert not any("docker.sock" in b for b in attrs.get("Binds") or [])
        assert sb.run_id == run_id
    assert _containers(**{"harness.run_id": run_id}) == []
