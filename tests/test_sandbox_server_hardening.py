"""The command server inside a sandbox runs as the commands' uid (strict) or as root like them (compat), so
it is not dumpable: a command cannot write its memory (``/proc/<server>/mem``, ptrace) or open its file
descriptors (``/proc/<server>/fd/1`` is the pipe its replies travel on: output injected there would be
read by the host as a result). What the server starts is dumpable as usual (execve resets the flag)."""

from __future__ import annotations

import pytest

from harness.sandbox import DockerSandbox, SandboxProfile

pytestmark = [pytest.mark.docker, pytest.mark.asyncio]

RUN_ID = "pytest-sandbox-server-hardening"

ATTACK = """
import ctypes, os, sys
pid = int(sys.argv[1])
def attempt(what, fn):
    try:
        fn()
        print(what, 'opened')
    except OSError as exc:
        print(what, type(exc).__name__)
attempt('mem', lambda: open(f'/proc/{pid}/mem', 'r+b'))
attempt('fd1', lambda: open(f'/proc/{pid}/fd/1', 'wb'))
attempt('fd0', lambda: open(f'/proc/{pid}/fd/0', 'rb'))
attempt('environ', lambda: open(f'/proc/{pid}/environ', 'rb').read())
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_SEIZE = 0x4206  # unlike PTRACE_ATTACH it does not stop the server on the old code
if libc.ptrace(PTRACE_SEIZE, pid, None, None) == 0:
    print('ptrace seized')
else:
    print('ptrace', os.strerror(ctypes.get_errno()))
"""

# The command itself (the server's child, after execve) is dumpable: its /proc files are its own.
SELF = """
import os
print(os.stat('/proc/self').st_uid == os.getuid(), open('/proc/self/oom_score_adj').read().strip())
open('/proc/self/mem', 'rb').close()
print('self ok')
"""


@pytest.mark.parametrize(
    "profile", [SandboxProfile.strict(), SandboxProfile.compat()], ids=["strict", "compat"]
)
async def test_a_command_cannot_open_the_servers_memory_or_descriptors(profile: SandboxProfile) -> None:
    async with DockerSandbox(profile=profile, run_id=RUN_ID) as sb:
        server = int(sb.server_info["pid"])
        r = await sb.run(["python3", "-c", ATTACK, str(server)])
        assert r.status == "ok", r
        assert r.stdout.splitlines() == [
            "mem PermissionError",
            "fd1 PermissionError",
            "fd0 PermissionError",
            "environ PermissionError",
            "ptrace Operation not permitted",
        ], r.stdout
        r = await sb.run(["python3", "-c", SELF])
        assert r.status == "ok" and r.stdout == "True 1000\nself ok\n", r
        # Everything else still works: files, diff, reset, a server restart after a command killed it.
        await sb.write_file("a.py", "x = 1\n")
        assert "a.py" in await sb.diff()
        r = await sb.run("kill -9 $PPID")
        assert r.status == "killed", r
        r = await sb.run(["python3", "-c", ATTACK, str(int(sb.server_info["pid"]))])
        assert r.stdout.startswith("mem PermissionError\nfd1 PermissionError\n"), r.stdout
        await sb.reset()
        r = await sb.run("ls /workspace; echo ok")
        assert r.status == "ok" and "a.py" not in r.stdout, r
