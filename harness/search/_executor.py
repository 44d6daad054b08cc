"""The executor seam: run one program on the *visible* tests and say what happened.

:class:`Executor` is what strategies see. Every implementation runs programs through the selection
engine's worker (:mod:`harness.selection.engine`, a request of kind ``tests``) with search's settings
(:func:`engine_config`): each test in a fresh forked process of its own under ``timeout_s``, the text of
each failing cell (``detail``: ``repr`` of the left side of a failing ``assert f(x) == y``) and the
program's ``__name__`` set to ``"__candidate__"``.

- :class:`SandboxExecutor` runs it in any :class:`harness.sandbox.Sandbox` (the Docker sandbox in real
  runs): the program never touches the host.
- :class:`PoolExecutor` borrows a sandbox from a :class:`harness.sandbox.SandboxPool` per program (the
  pool resets it on return), so several searches run programs in parallel containers.
- :class:`LocalExecutor` runs the worker as a local subprocess. It is for tests with scripted
  programs and for trusted code only: it is **not** a sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Literal, Protocol, cast, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from harness.sandbox._types import ExecResult, ExecStatus, Sandbox
from harness.selection._types import Cell
from harness.selection.engine import Engine, EngineConfig, EngineError, ProgramResult, Request


class VisibleTest(BaseModel):
    """A test the search may see and run: one ``assert`` statement. Never a hidden test."""

    model_config = ConfigDict(frozen=True)

    code: str
    source: Literal["docstring", "generated", "given"] = "given"


class TestOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    cell: Cell
    ms: float = 0.0
    detail: str = ""
    """For a failed ``assert f(x) == y``: ``repr(f(x))``; for an error: the exception."""


class ExecutionReport(BaseModel):
    """What one program did on the visible tests, in test order."""

    model_config = ConfigDict(frozen=True)

    outcomes: list[TestOutcome] = Field(default_factory=list)
    tests: list[str] = Field(default_factory=list)

    @property
    def cells(self) -> list[Cell]:
        return [o.cell for o in self.outcomes]

    @property
    def times_ms(self) -> list[float]:
        return [o.ms for o in self.outcomes]

    @property
    def score(self) -> float:
        """Fraction of tests passed (0.0 with no tests)."""
        if not self.outcomes:
            return 0.0
        return sum(1 for o in self.outcomes if o.cell == Cell.PASS) / len(self.outcomes)

    def feedback(self) -> str:
        """The test results as shown to the model (the Reflexion / SFS layout)."""
        passed = [t for t, o in zip(self.tests, self.outcomes, strict=True) if o.cell == Cell.PASS]
        failed: list[str] = []
        for t, o in zip(self.tests, self.outcomes, strict=True):
            if o.cell == Cell.PASS:
                continue
            if o.cell == Cell.FAIL:
                note = f"output: {o.detail}" if o.detail else "assertion failed"
            elif o.cell == Cell.TIMEOUT:
                note = "timed out"
            else:
                note = f"error: {o.detail}" if o.detail else "error"
            failed.append(f"{t} # {note}")
        return "Tests passed:\n" + "\n".join(passed) + "\n\nTests failed:\n" + "\n".join(failed)


@runtime_checkable
class Executor(Protocol):
    """Runs a program against visible tests. Never raises for what the program does."""

    async def run(self, program: str, tests: Sequence[VisibleTest]) -> ExecutionReport: ...


PARALLEL = 4
"""Tests of one program running at once (each in its own process): a hung test costs its timeout
alongside the others instead of before them."""


def engine_config(timeout_s: float) -> EngineConfig:
    """The engine's settings for search: a fresh process per test (``shard`` 1, nothing shared between
    tests but a repeated left side), the program defined under the same timeout as a test, each failing
    cell's text, and ``__name__ == "__candidate__"`` (a program's ``if __name__ == "__main__":`` block
    does not run). 2 GiB of address space per test process."""
    return EngineConfig(
        timeout_s=timeout_s,
        load_timeout_s=timeout_s,
        shard=1,
        reuse_lhs=False,
        detail=True,
        program_name="__candidate__",
        memory_mb=2048,
        parallel=PARALLEL,
        lanes=1,
    )


async def run_in(sandbox: Sandbox, program: str, tests: Sequence[str], timeout_s: float) -> ExecutionReport:
    """Run ``program`` then each test statement in its own process, in ``sandbox`` (the engine's worker
    comes on stdin). A worker that fails as a whole (a program exhausted the sandbox's processes, say)
    makes every test an error; a sandbox that fails raises :class:`~harness.errors.SandboxError`."""
    codes = list(tests)
    if not codes:
        return ExecutionReport()
    async with Engine(engine_config(timeout_s), sandbox=sandbox) as engine:
        try:
            [[row]] = await engine.run([Request("tests", [program], codes)])
        except EngineError as exc:
            why = str(exc)[:300]
            return ExecutionReport(
                outcomes=[TestOutcome(cell=Cell.ERROR, detail=why) for _ in codes], tests=codes
            )
    return _report(row, codes, timeout_s)


def _report(row: ProgramResult, tests: list[str], timeout_s: float) -> ExecutionReport:
    """Engine cell codes are :class:`Cell` values. Where the worker's parent filled a cell (the test's
    process died, or hung past the worker's watchdog) it has no text: say what happened."""
    texts = row.detail or [""] * len(tests)
    outcomes = []
    for code, ms, text in zip(row.cells.tolist(), row.ms.tolist(), texts, strict=True):
        cell = Cell(code)
        if not text and cell == Cell.ERROR:
            text = "the test process died"
        elif not text and cell == Cell.TIMEOUT:
            text = f"timed out after {timeout_s:.1f}s"
        outcomes.append(TestOutcome(cell=cell, ms=float(ms), detail=text))
    return ExecutionReport(outcomes=outcomes, tests=tests)


class _LocalProcess:
    """The worker's command as a local subprocess, for :class:`LocalExecutor` (trusted code only). The
    engine calls only ``run`` on a sandbox it is given, so this is all of one it needs."""

    id = "local"

    def __init__(self, python: str) -> None:
        self.python = python

    async def run(
        self,
        cmd: str | Sequence[str],
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | bytes | None = None,
    ) -> ExecResult:
        argv = [cmd] if isinstance(cmd, str) else list(cmd)
        if argv[0] == "python3":
            argv[0] = self.python
        data = stdin.encode() if isinstance(stdin, str) else stdin
        t0 = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env={"PATH": os.environ.get("PATH", ""), **(env or {})},
            start_new_session=True,
        )
        timed_out = False
        try:
            out, err = await asyncio.wait_for(proc.communicate(data), timeout)
        except TimeoutError:
            timed_out, out, err = True, b"", b""
            await asyncio.shield(_stop(proc))
        except BaseException:  # cancelled (a sibling unit failed, Ctrl-C): no process left behind
            await asyncio.shield(_stop(proc))
            raise
        code = None if timed_out else proc.returncode
        status: ExecStatus = "timeout" if timed_out else "ok" if code == 0 else "nonzero"
        if code is not None and code < 0:
            status = "killed"
        return ExecResult(
            status=status,
            exit_code=code,
            stdout=out.decode(errors="replace"),
            stderr=err.decode(errors="replace"),
            duration_ms=(time.monotonic() - t0) * 1e3,
        )


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Kill the worker, then every process of its session: its test processes are in groups of their
    own, but in the worker's session (a program's own ``setsid`` escapes: trusted code only)."""
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()
    for _ in range(100):
        left = _session(proc.pid)
        if not left:
            return
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.01)


def _session(sid: int) -> list[int]:
    """Live processes of session ``sid`` (from ``/proc/<pid>/stat``; zombies are already dead)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] not in (b"Z", b"X"):
            pids.append(int(name))
    return pids


class LocalExecutor:
    """Runs programs through the engine's worker in a local subprocess. Trusted code only: this is not a
    sandbox."""

    def __init__(self, *, timeout_s: float = 3.0, python: str | None = None, concurrency: int = 2) -> None:
        self.timeout_s = timeout_s
        self._process = _LocalProcess(python or sys.executable)
        self._sem = asyncio.Semaphore(concurrency)

    async def run(self, program: str, tests: Sequence[VisibleTest]) -> ExecutionReport:
        return await self.run_codes(program, [t.code for t in tests])

    async def run_codes(
        self, program: str, tests: Sequence[str], timeout_s: float | None = None
    ) -> ExecutionReport:
        """Run ``program`` then each test statement in its own process (the evaluator also uses this)."""
        async with self._sem:
            sandbox = cast(Sandbox, self._process)
            return await run_in(sandbox, program, tests, self.timeout_s if timeout_s is None else timeout_s)


class SandboxExecutor:
    """Runs programs inside a :class:`harness.sandbox.Sandbox`, one worker command per program."""

    def __init__(self, sandbox: Sandbox, *, timeout_s: float = 3.0) -> None:
        self.sandbox = sandbox
        self.timeout_s = timeout_s
        self._lock = asyncio.Lock()

    async def run(self, program: str, tests: Sequence[VisibleTest]) -> ExecutionReport:
        return await self.run_codes(program, [t.code for t in tests])

    async def run_codes(
        self, program: str, tests: Sequence[str], timeout_s: float | None = None
    ) -> ExecutionReport:
        """Run ``program`` then each test statement in its own process (the evaluator also uses this)."""
        async with self._lock:
            return await run_in(
                self.sandbox, program, tests, self.timeout_s if timeout_s is None else timeout_s
            )


class _Lender(Protocol):
    def acquire(self) -> AbstractAsyncContextManager[Sandbox]: ...


class PoolExecutor:
    """Runs each program in a sandbox borrowed from a pool (e.g. :class:`harness.sandbox.SandboxPool`)."""

    def __init__(self, pool: _Lender, *, timeout_s: float = 3.0) -> None:
        self.pool = pool
        self.timeout_s = timeout_s

    async def run(self, program: str, tests: Sequence[VisibleTest]) -> ExecutionReport:
        return await self.run_codes(program, [t.code for t in tests])

    async def run_codes(
        self, program: str, tests: Sequence[str], timeout_s: float | None = None
    ) -> ExecutionReport:
        """Run ``program`` then each test statement in its own process (the evaluator also uses this)."""
        if not tests:
            return ExecutionReport()
        async with self.pool.acquire() as sandbox:
            return await run_in(sandbox, program, tests, self.timeout_s if timeout_s is None else timeout_s)
