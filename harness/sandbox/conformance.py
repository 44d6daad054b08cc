"""What every :class:`harness.sandbox.Sandbox` backend must do, as checks any backend can run.

Each check is ``async def check_x(factory) -> None``: it makes its own sandbox with ``factory`` (an
async callable returning a started sandbox whose workspace is seeded from its base), closes it, and
raises :class:`ConformanceError` when the backend misbehaves. :data:`CHECKS` names them all;
:func:`run_all` runs them in order. ``tests/test_sandbox_conformance.py`` runs them against
``DockerSandbox``; a new backend adds one line there. The checks assume a POSIX shell, ``python3`` and
``git`` in the image, and a per-command timeout of a few seconds being honoured.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from harness.errors import SandboxError
from harness.sandbox._types import ExecResult, Sandbox

SandboxFactory = Callable[[], Awaitable[Sandbox]]
Check = Callable[[SandboxFactory], Awaitable[None]]

_LIST_FILES = (
    "import os\n"
    "for d, ds, fs in sorted(os.walk('.')):\n"
    "    ds[:] = sorted(x for x in ds if x != '.git')\n"
    "    for f in sorted(fs):\n"
    "        p = os.path.join(d, f); print(p, os.stat(p).st_mode & 0o777, open(p, 'rb').read().hex())\n"
)


class ConformanceError(AssertionError):
    """A backend broke a promise of the ``Sandbox`` seam."""


def expect(cond: bool, what: str, result: ExecResult | None = None) -> None:
    if not cond:
        detail = (
            f" (got {result.status}, exit {result.exit_code}, stderr {result.stderr[-300:]!r})"
            if result
            else ""
        )
        raise ConformanceError(what + detail)


@asynccontextmanager
async def _open(factory: SandboxFactory) -> AsyncIterator[Sandbox]:
    sb = await factory()
    try:
        yield sb
    finally:
        await sb.close()


async def check_run_basics(factory: SandboxFactory) -> None:
    async with _open(factory) as sb:
        r = await sb.run("echo out; echo err >&2")
        expect(r.status == "ok" and r.exit_code == 0, "`echo` succeeds", r)
        expect(r.stdout == "out\n" and r.stderr == "err\n", "stdout and stderr are kept apart", r)
        r = await sb.run("exit 3")
        expect(r.status == "nonzero" and r.exit_code == 3, "exit 3 is `nonzero` with code 3", r)
        r = await sb.run(["python3", "-c", "import sys; print(sys.argv[1:])", "a b", "$HOME", "'q'"])
        expect(r.stdout.strip() == "['a b', '$HOME', \"'q'\"]", "argv is passed verbatim, unexpanded", r)
        r = await sb.run(["no-such-command-xyz"])
        expect(r.status == "nonzero" and r.exit_code == 127, "a missing program exits 127", r)
        r = await sb.run("kill -9 $$")
        expect(r.status == "killed", "a command killed by a signal is `killed`", r)


async def check_stdin_env_cwd(factory: SandboxFactory) -> None:
    async with _open(factory) as sb:
        payload = bytes(range(256)) * (3 * 4096)  # 3 MiB, every byte value
        code = "import sys, hashlib; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"
        r = await sb.run(["python3", "-c", code], stdin=payload)
        expect(r.stdout.strip() == hashlib.sha256(payload).hexdigest(), "3 MiB of stdin arrive intact", r)
        r = await sb.run("cat", stdin="text stdin")
        expect(r.stdout == "text stdin", "str stdin is sent as UTF-8", r)
        r = await sb.run("echo $HARNESS_CONF_X", env={"HARNESS_CONF_X": "42"})
        expect(r.stdout == "42\n", "env= reaches the command", r)
        r = await sb.run("echo ${HARNESS_CONF_X:-unset}")
        expect(r.stdout == "unset\n", "env= of one command does not leak into the next", r)
        await sb.write_file("sub/dir/f.txt", "x")
        r = await sb.run("pwd; ls", cwd="sub/dir")
        expect(r.stdout.splitlines()[-1] == "f.txt", "cwd= is relative to the workspace", r)


async def check_timeout(factory: SandboxFactory) -> None:
    async with _open(factory) as sb:
        r = await sb.run("echo before; sleep 60", timeout=1)
        expect(r.status == "timeout", "a command past its timeout is `timeout`", r)
        expect("before" in r.stdout, "output written before the timeout is kept", r)
        r = await sb.run("(setsid sleep 300 &) ; sleep 60", timeout=1)
        expect(r.status == "timeout", "timeout with a setsid child", r)
        expect(not await _sleepers(sb), "a timeout kills processes that left the session")
        r = await sb.run("setsid sleep 300 > /dev/null 2>&1 & echo started")
        expect(r.status == "ok" and r.stdout == "started\n", "a daemon holding no pipe does not block", r)
        r = await sb.run("setsid sleep 300 & echo started")
        expect(r.status == "ok", "a daemon holding the output pipe does not block the command", r)


async def _sleepers(sb: Sandbox) -> list[str]:
    code = (
        "import os\n"
        "for p in os.listdir('/proc'):\n"
        "    try: c = open(f'/proc/{p}/cmdline','rb').read().split(b'\\0')\n"
        "    except OSError: continue\n"
        "    if c[0] == b'sleep' and c[1:2] == [b'300']: print(p)\n"
    )
    r = await sb.run(["python3", "-c", code])
    return r.stdout.split()


async def check_output_cap(factory: SandboxFactory) -> None:
    async with _open(factory) as sb:
        r = await sb.run("echo FIRST; head -c 20000000 /dev/zero | tr '\\0' x; echo; echo LAST")
        expect(r.status == "ok" and r.truncated, "20 MB of output is cut and `truncated` set", r)
        expect(r.stdout.startswith("FIRST\n"), "the head of the output is kept", r)
        expect(r.stdout.endswith("LAST\n"), "the tail of the output is kept", r)
        expect(len(r.stdout) < 5_000_000, "the output is capped")
        r = await sb.run("echo small")
        expect(not r.truncated, "small output is not `truncated`", r)


async def check_files(factory: SandboxFactory) -> None:
    async with _open(factory) as sb:
        blob = bytes(range(256)) * 8192  # 2 MiB binary
        await sb.write_file("deep/er/blob.bin", blob)
        expect(await sb.read_file("deep/er/blob.bin") == blob, "binary files round-trip")
        await sb.write_file("run.sh", "#!/bin/sh\necho ran\n", mode=0o755)
        r = await sb.run("./run.sh")
        expect(r.stdout == "ran\n", "mode= makes a file executable", r)
        await sb.run("echo made > made.txt")
        expect(await sb.read_file("made.txt") == b"made\n", "files made by commands can be read")
        try:
            await sb.read_file("does/not/exist")
        except SandboxError:
            pass
        else:
            raise ConformanceError("reading a missing file raises SandboxError")


async def check_diff_and_reset(factory: SandboxFactory) -> None:
    """Change the workspace (add, modify, delete, binary), diff, reset, apply the diff: same tree."""
    async with _open(factory) as sb:
        base = (await sb.run(["python3", "-c", _LIST_FILES])).stdout
        expect(await sb.diff() == "", "a fresh workspace has an empty diff")
        files = [ln.split()[0] for ln in base.splitlines()]
        if files:
            await sb.run(["sh", "-c", 'echo changed >> "$0"', files[0]])
        if len(files) > 1:
            await sb.run(["rm", files[1]])
        await sb.write_file("added/new.txt", "new\nlines\n")
        await sb.write_file("added/no-newline.txt", "no newline")
        await sb.write_file("added/bin.dat", bytes(range(256)))
        await sb.write_file("added/tool.sh", "#!/bin/sh\n", mode=0o755)
        changed = (await sb.run(["python3", "-c", _LIST_FILES])).stdout
        patch = await sb.diff()
        expect(
            "added/new.txt" in patch and "GIT binary patch" in patch, "the diff has added and binary files"
        )
        await sb.reset()
        after = (await sb.run(["python3", "-c", _LIST_FILES])).stdout
        expect(after == base, "reset() restores the base")
        await sb.write_file("/tmp/change.diff", patch)
        r = await sb.run("git apply /tmp/change.diff")
        expect(r.status == "ok", "the diff applies with `git apply` on the base", r)
        applied = (await sb.run(["python3", "-c", _LIST_FILES])).stdout
        expect(applied == changed, "applying the diff reproduces the changed workspace")


async def _await_sleepers(sb: Sandbox, tries: int = 50) -> list[str]:
    """The sleepers, once a detached `sleep 300` has had time to exec (fork+exec races the check)."""
    for _ in range(tries):
        found = await _sleepers(sb)
        if found:
            return found
        await asyncio.sleep(0.1)
    return []


async def check_reset_kills(factory: SandboxFactory) -> None:
    async with _open(factory) as sb:
        # The command returns only once the daemon is in its own session: when the command ends its
        # process group is killed, and a daemon that had not yet called setsid() would go with it.
        await sb.run(
            "setsid sh -c 'echo $$ > /tmp/daemon.pid; exec sleep 300' > /dev/null 2>&1 < /dev/null & "
            "while [ ! -s /tmp/daemon.pid ]; do sleep 0.01; done"
        )
        expect(bool(await _await_sleepers(sb)), "a setsid daemon survives the command that started it")
        await sb.run("echo junk > /tmp/junk")
        await sb.reset()
        expect(not await _sleepers(sb), "reset() kills the commands' processes")
        r = await sb.run("ls /tmp/junk")
        expect(r.status == "nonzero", "reset() empties /tmp", r)


async def check_survives_kill_all(factory: SandboxFactory) -> None:
    async with _open(factory) as sb:
        await sb.write_file("keep.txt", "kept")
        r = await sb.run("kill -9 -1; sleep 5")
        expect(r.status in ("killed", "error"), "killing every process is `killed` or `error`", r)
        r = await sb.run("cat keep.txt")
        expect(r.status == "ok" and r.stdout == "kept", "the sandbox keeps working, workspace intact", r)


async def check_serialised_concurrency(factory: SandboxFactory) -> None:
    async with _open(factory) as sb:
        results = await asyncio.gather(*(sb.run(f"echo {i}") for i in range(20)))
        expect([r.stdout for r in results] == [f"{i}\n" for i in range(20)], "concurrent calls all answer")


async def check_cancelled_run(factory: SandboxFactory) -> None:
    async with _open(factory) as sb:
        try:
            await asyncio.wait_for(sb.run("sleep 300"), 0.5)
        except TimeoutError:
            pass
        else:
            raise ConformanceError("`sleep 300` finished within 0.5 s")
        r = await sb.run("echo after")
        expect(r.status == "ok" and r.stdout == "after\n", "a cancelled run leaves the sandbox usable", r)
        expect(not await _sleepers(sb), "a cancelled run's process is killed before the next request")


async def check_close(factory: SandboxFactory) -> None:
    sb = await factory()
    await sb.close()
    await sb.close()
    try:
        await sb.run("true")
    except SandboxError:
        return
    raise ConformanceError("run() on a closed sandbox raises SandboxError")


CHECKS: dict[str, Check] = {
    "run_basics": check_run_basics,
    "stdin_env_cwd": check_stdin_env_cwd,
    "timeout": check_timeout,
    "output_cap": check_output_cap,
    "files": check_files,
    "diff_and_reset": check_diff_and_reset,
    "reset_kills": check_reset_kills,
    "survives_kill_all": check_survives_kill_all,
    "serialised_concurrency": check_serialised_concurrency,
    "cancelled_run": check_cancelled_run,
    "close": check_close,
}


async def run_all(factory: SandboxFactory) -> None:
    """Run every check in order; the first failure raises :class:`ConformanceError`."""
    for check in CHECKS.values():
        await check(factory)
