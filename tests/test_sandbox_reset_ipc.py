"""``reset()`` removes the IPC objects a command left: System V shared memory, message queues and semaphore
sets, and POSIX message queues. They live in the container's IPC namespace, not in a process or a file
system that reset empties, so before they passed data to the next user of a pooled sandbox, and planted
shared memory counted against its memory limit (the next user's allocation died as ``oom``)."""

from __future__ import annotations

import pytest

from harness.sandbox import DockerSandbox, SandboxProfile
from harness.sandbox._config import to_bytes

pytestmark = [pytest.mark.docker, pytest.mark.asyncio]

RUN_ID = "pytest-sandbox-reset-ipc"

_LIBC = """
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
IPC_CREAT = 0o1000

def check(ok, what):
    if not ok:
        sys.exit(what + ': ' + os.strerror(ctypes.get_errno()))

class Msg(ctypes.Structure):
    _fields_ = [('mtype', ctypes.c_long), ('mtext', ctypes.c_char * 32)]
"""

# One of each kind, with data in them, as a command of the first user leaves them.
PLANT = (
    _LIBC
    + """
size = int(sys.argv[1])
shm = libc.shmget(0x4841, ctypes.c_size_t(size), IPC_CREAT | 0o600)
check(shm >= 0, 'shmget')
addr = libc.shmat(shm, None, 0)
check(addr not in (None, ctypes.c_void_p(-1).value), 'shmat')
ctypes.memset(addr, 0x41, size)  # every page touched: the segment's memory counts against the limit
check(libc.shmdt(ctypes.c_void_p(addr)) == 0, 'shmdt')
msq = libc.msgget(0x4842, IPC_CREAT | 0o600)
check(msq >= 0, 'msgget')
check(libc.msgsnd(msq, ctypes.byref(Msg(1, b'secret-of-the-first-user')), 32, 0) == 0, 'msgsnd')
check(libc.semget(0x4843, 3, IPC_CREAT | 0o600) >= 0, 'semget')
check(libc.shmget(0, ctypes.c_size_t(4096), IPC_CREAT | 0o600) >= 0, 'shmget private')
check(libc.msgget(0, IPC_CREAT | 0o600) >= 0, 'msgget private')
mq = libc.mq_open(b'/harness-left', os.O_CREAT | os.O_RDWR, 0o600, None)
check(mq >= 0, 'mq_open')
check(libc.mq_send(mq, b'secret-of-the-first-user', 24, 0) == 0, 'mq_send')
print('planted')
"""
)

# A daemon that keeps the segment attached: a segment marked for removal lives on while attached, so
# reset must kill the processes before it removes the objects.
HOLD = (
    _LIBC
    + """
shm = libc.shmget(0x4841, ctypes.c_size_t(0), 0)
check(shm >= 0, 'shmget')
check(libc.shmat(shm, None, 0) not in (None, ctypes.c_void_p(-1).value), 'shmat')
print('attached', flush=True)
time.sleep(3600)
"""
)

# What the next user can find: the planted keys and the message queue's contents.
PROBE = (
    _LIBC
    + """
print('shm', libc.shmget(0x4841, ctypes.c_size_t(0), 0))
msq = libc.msgget(0x4842, 0)
print('msq', msq)
if msq >= 0:
    m = Msg()
    print('msg', libc.msgrcv(msq, ctypes.byref(m), 32, 0, 0o4000), m.mtext)  # IPC_NOWAIT
print('sem', libc.semget(0x4843, 0, 0))
print('mq', libc.mq_open(b'/harness-left', os.O_RDONLY, 0, None))
"""
)

LIST = "tail -n +2 /proc/sysvipc/shm /proc/sysvipc/msg /proc/sysvipc/sem; ls -A /dev/mqueue"


async def test_reset_removes_sysv_ipc_and_posix_message_queues() -> None:
    async with DockerSandbox(run_id=RUN_ID) as sb:
        r = await sb.run(["python3", "-c", PLANT, str(1 << 20)])
        assert r.status == "ok" and r.stdout == "planted\n", r
        r = await sb.run(["python3", "-c", PROBE])
        # Before the reset, a probe of the same user finds them all (and reads the message).
        assert "shm -1" not in r.stdout and "secret-of-the-first-user" in r.stdout, r
        assert "harness-left" in (await sb.run(LIST)).stdout
        await sb.reset()  # the next user of the pooled sandbox starts here
        r = await sb.run(LIST)
        assert r.status == "ok", r
        lines = [ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith("==>")]
        assert lines == [], f"IPC objects survived the reset:\n{r.stdout}"
        r = await sb.run(["python3", "-c", PROBE])
        assert r.status == "ok", r
        assert r.stdout.split("\n")[:4] == ["shm -1", "msq -1", "sem -1", "mq -1"], r.stdout
        assert "secret" not in r.stdout


async def test_planted_shared_memory_no_longer_starves_the_next_user() -> None:
    # The case (700 MiB planted in a 1 GiB sandbox, then a 500 MiB allocation died as `oom`),
    # scaled to a 512 MiB sandbox: 70% of the limit planted, held by a setsid daemon, then 50% allocated.
    profile = SandboxProfile.strict(memory="512m")
    limit = to_bytes(profile.memory)
    async with DockerSandbox(profile=profile, run_id=RUN_ID) as sb:
        r = await sb.run(["python3", "-c", PLANT, str(limit * 7 // 10)], timeout=60)
        assert r.status == "ok", r
        hold = (
            f"setsid python3 -c {_quote(HOLD)} > /tmp/hold.log 2>&1 &\n"
            "for i in $(seq 600); do [ -s /tmp/hold.log ] && break; sleep 0.1; done; cat /tmp/hold.log"
        )
        r = await sb.run(hold, timeout=60)
        assert r.stdout == "attached\n", r
        await sb.reset()
        r = await sb.run(["python3", "-c", f"x = b'x' * {limit // 2}; print(len(x))"], timeout=60)
        assert r.status == "ok", f"the next user's allocation failed after the reset: {r}"
        r = await sb.run("tail -n +2 /proc/sysvipc/shm")
        assert r.stdout.strip() == "", r.stdout


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


@pytest.mark.parametrize(
    "profile", [SandboxProfile.compat(), SandboxProfile.supervisor()], ids=["compat", "supervisor"]
)
async def test_reset_removes_objects_a_root_command_made_under_another_uid(profile: SandboxProfile) -> None:
    # Compat and supervisor commands are root with CAP_SETUID (the pass-matrix worker runs each program
    # under a uid of its own): objects made as another uid can only be removed by that uid, as the root
    # server has no CAP_SYS_ADMIN.
    async with DockerSandbox(profile=profile, run_id=RUN_ID) as sb:
        as_other = "import os\nos.setgid(4321)\nos.setuid(4321)\n" + PLANT
        r = await sb.run(["python3", "-c", as_other, str(1 << 20)])
        assert r.status == "ok" and r.stdout == "planted\n", r
        r = await sb.run("grep -c ' 4321 ' /proc/sysvipc/shm /proc/sysvipc/msg /proc/sysvipc/sem")
        assert r.stdout.split() == ["/proc/sysvipc/shm:2", "/proc/sysvipc/msg:2", "/proc/sysvipc/sem:1"], r
        await sb.reset()
        r = await sb.run(LIST)
        lines = [ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith("==>")]
        assert lines == [], f"IPC objects survived the reset:\n{r.stdout}"
