"""A command that kills the sandbox's command server (its parent, ``kill -9 $PPID``): the result is
``killed`` with no exit code and a stderr line saying the server died, keeps the output the server had
relayed before it died and the real duration (not the timeout), and ``harness exec`` exits 125 (a
sandbox failure), not 137 (what it uses for ``oom``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.sandbox import DockerSandbox, SandboxProfile, _docker

pytestmark = pytest.mark.docker

RUN_ID = "pytest-sandbox-server-death"
HARNESS = str(Path(sys.executable).parent / "harness")

# Prints on both streams, waits until the server has read them (the pipes are empty), then kills it.
KILLER = """
import fcntl, os, signal, struct, sys, termios, time
print('printed before', flush=True)
print('err before', file=sys.stderr, flush=True)
for fd in (1, 2):
    while struct.unpack('i', fcntl.ioctl(fd, termios.FIONREAD, b'0000'))[0]:
        time.sleep(0.01)
time.sleep(0.3)
os.kill(os.getppid(), signal.SIGKILL)
time.sleep(50)
"""


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HARNESS, *args], capture_output=True, text=True, env=dict(os.environ), timeout=300)


@pytest.mark.asyncio
async def test_a_killed_server_keeps_the_output_and_the_real_duration() -> None:
    async with DockerSandbox(run_id=RUN_ID) as sb:
        r = await sb.run(["python3", "-c", KILLER], timeout=60)
        assert (r.status, r.exit_code) == ("killed", None), r
        assert r.stdout == "printed before\n", r
        assert r.stderr.startswith("err before\n") and "command server died" in r.stderr, r
        assert r.duration_ms < 40_000, "the duration is the time it ran, not the 60 s timeout"
        r = await sb.run("echo still usable")
        assert r.status == "ok" and r.stdout == "still usable\n", r


def test_exec_reports_a_killed_server_with_its_own_exit_code() -> None:
    out = _harness("exec", "--json", "--timeout", "60", "--", "python3", "-c", KILLER)
    assert out.returncode == 125, (out.returncode, out.stdout, out.stderr)
    result = json.loads(out.stdout)
    assert (result["status"], result["exit_code"]) == ("killed", None)
    assert result["stdout"] == "printed before\n"
    assert "command server died" in result["stderr"] and result["duration_ms"] < 40_000, result
    out = _harness("exec", "--timeout", "60", "--", "python3", "-c", KILLER)
    assert out.returncode == 125 and out.stdout == "printed before\n", (out.stdout, out.stderr)
    assert "err before" in out.stderr and "command server died" in out.stderr, out.stderr
    # The one-liner: however the output race goes, the status and exit code say what happened.
    out = _harness("exec", "--json", "--timeout", "60", "--", "sh", "-c", "echo before; kill -9 $PPID")
    assert out.returncode == 125, (out.returncode, out.stdout, out.stderr)
    result = json.loads(out.stdout)
    assert result["status"] == "killed" and result["duration_ms"] < 40_000, result


CHATTY = """
import sys, time
for i in range(3000):
    print(f'out {i:05d}', flush=True)
    print(f'err {i:05d}', file=sys.stderr, flush=True)
    if i % 100 == 0:
        time.sleep(0.01)
"""


def _capped(data: bytes, cap: int) -> bytes:
    """What the server keeps of a stream: the first and last halves of ``cap`` around a marker."""
    head, tail = cap // 2, cap - cap // 2
    if len(data) <= cap:
        return data
    return data[:head] + b"\n[... %d bytes truncated ...]\n" % (len(data) - cap) + data[-tail:]


@pytest.mark.asyncio
async def test_relayed_output_is_the_same_output(monkeypatch: pytest.MonkeyPatch) -> None:
    # The head travels in partial frames while the command runs, the rest in the reply: together they are
    # exactly what one reply carried before, below the cap and across it.
    frames: list[int] = []
    add = _docker._Relayed.add

    def counting(self: _docker._Relayed, reply: dict[str, Any], blobs: list[bytes]) -> None:
        frames.append(len(blobs[0]))
        add(self, reply, blobs)

    monkeypatch.setattr(_docker._Relayed, "add", counting)
    for cap in (1_000_000, 20_000):
        async with DockerSandbox(profile=SandboxProfile.strict(output_cap_bytes=cap), run_id=RUN_ID) as sb:
            r = await sb.run(["python3", "-c", CHATTY], timeout=60)
            assert r.status == "ok", r
            for name, got in (("out", r.stdout), ("err", r.stderr)):
                full = "".join(f"{name} {i:05d}\n" for i in range(3000)).encode()
                assert got.encode() == _capped(full, cap), (name, cap)
            assert r.truncated == (cap < 3000 * 10)
    assert len(frames) >= 4, "the output was not relayed while the command ran"
