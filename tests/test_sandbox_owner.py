"""Whether a container's owner process is alive, as ``harness sandbox gc`` decides it (no engine needed)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from harness.sandbox._cleanup import _owner_alive, owner_labels


def _labels_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/stat") as fh:
        start = fh.read().rsplit(")", 1)[1].split()[19]
    return {**owner_labels("r"), "harness.pid": str(pid), "harness.pid_start": start}


def test_a_killed_owner_not_yet_reaped_is_not_alive() -> None:
    # ``timeout -s KILL harness ...``: between the kill and its parent's wait, the owner is a zombie.
    # It holds its pid, so ``kill(pid, 0)`` succeeds, but it owns nothing any more.
    proc = subprocess.Popen(["sleep", "60"])
    try:
        labels = _labels_of(proc.pid)
        assert _owner_alive(labels)
        os.kill(proc.pid, signal.SIGKILL)
        for _ in range(500):  # the kernel marks it a zombie at once; wait until it shows (not reaped)
            with open(f"/proc/{proc.pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        assert not _owner_alive(labels)
    finally:
        proc.kill()
        proc.wait()
    assert not _owner_alive(labels)  # reaped: gone


def test_this_process_is_alive_and_a_reused_pid_is_not() -> None:
    labels = owner_labels("r")
    assert _owner_alive(labels)
    assert not _owner_alive({**labels, "harness.pid_start": "1"})  # same pid, another start time
    assert not _owner_alive({**labels, "harness.pid": "not a pid"})
