"""The executor seam: run one program on the *visible* tests and say what happened.

:class:`Executor` is what strategies see. Two implementations share one stdlib runner
(:mod:`harness.search._runner`, each test in its own forked process with a timeout):

- :class:`SandboxExecutor` runs it in any :class:`harness.sandbox.Sandbox` (the Docker sandbox in real
  runs): the program never touches the host.
- :class:`PoolExecutor` borrows a sandbox from a :class:`harness.sandbox.SandboxPool` per program (the
  pool resets it on return), so several searches run programs in parallel containers.
- :class:`LocalExecutor` runs it in a local ``python3 -I`` subprocess. It is for tests with scripted
  programs and for trusted code only: it is **not** a sandbox.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import SandboxError
from harness.sandbox._types import Sandbox
from harness.search._runner import RUNNER_SOURCE
from harness.selection._types import Cell

_STATUS = {"pass": Cell.PASS, "fail": Cell.FAIL, "error": Cell.ERROR, "timeout": Cell.TIMEOUT}


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


def _request(program: str, tests: Sequence[str], timeout: float) -> str:
    return json.dumps({"program": program, "tests": list(tests), "timeout": timeout})


def _parse(stdout: str, tests: Sequence[str], why: str) -> ExecutionReport:
    codes = list(tests)
    try:
        data = json.loads(stdout.strip().splitlines()[-1])
        outs = [
            TestOutcome(cell=_STATUS.get(r["status"], Cell.ERROR), ms=float(r["ms"]), detail=r["detail"])
            for r in data["results"]
        ]
    except (ValueError, IndexError, KeyError, TypeError):
        # The runner itself died (e.g. the whole process was OOM-killed): every test errored.
        outs = [TestOutcome(cell=Cell.ERROR, detail=why[:300]) for _ in tests]
    if len(outs) != len(codes):
        outs = [TestOutcome(cell=Cell.ERROR, detail="runner output was incomplete") for _ in tests]
    return ExecutionReport(outcomes=outs, tests=codes)


class LocalExecutor:
    """Runs programs in a local subprocess. Trusted code only: this is not a sandbox."""

    def __init__(self, *, timeout_s: float = 3.0, python: str | None = None, concurrency: int = 2) -> None:
        self.timeout_s = timeout_s
        self.python = python or sys.executable
        self._sem = asyncio.Semaphore(concurrency)

    async def run(self, program: str, tests: Sequence[VisibleTest]) -> ExecutionReport:
        return await self.run_codes(program, [t.code for t in tests])

    async def run_codes(
        self, program: str, tests: Sequence[str], timeout_s: float | None = None
    ) -> ExecutionReport:
        """Run ``program`` then each test statement in its own process (the evaluator also uses this)."""
        if not tests:
            return ExecutionReport()
        timeout = self.timeout_s if timeout_s is None else timeout_s
        async with self._sem:
            proc = await asyncio.create_subprocess_exec(
                self.python,
                "-I",
                "-c",
                RUNNER_SOURCE,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            budget = timeout * len(tests) + 30.0
            try:
                out, err = await asyncio.wait_for(
                    proc.communicate(_request(program, tests, timeout).encode()), budget
                )
            except TimeoutError:
                await _stop(proc)
                return _parse("", tests, "the runner exceeded its overall deadline")
            except BaseException:  # cancelled (a sibling unit failed, Ctrl-C): no runner left behind
                await asyncio.shield(_stop(proc))
                raise
        return _parse(out.decode(errors="replace"), tests, err.decode(errors="replace"))


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM first (the runner then kills the test it is running, in its own session), SIGKILL if
    it does not end within a second."""
    if proc.returncode is not None:
        return
    try:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 1.0)
    except TimeoutError:
        proc.kill()
        await proc.wait()
    except ProcessLookupError:
        pass


class SandboxExecutor:
    """Runs programs inside a :class:`harness.sandbox.Sandbox` (one command per program)."""

    def __init__(self, sandbox: Sandbox, *, timeout_s: float = 3.0, python: str = "python3") -> None:
        self.sandbox = sandbox
        self.timeout_s = timeout_s
        self.python = python
        self._lock = asyncio.Lock()

    async def run(self, program: str, tests: Sequence[VisibleTest]) -> ExecutionReport:
        return await self.run_codes(program, [t.code for t in tests])

    async def run_codes(
        self, program: str, tests: Sequence[str], timeout_s: float | None = None
    ) -> ExecutionReport:
        """Run ``program`` then each test statement in its own process (the evaluator also uses this)."""
        if not tests:
            return ExecutionReport()
        timeout = self.timeout_s if timeout_s is None else timeout_s
        async with self._lock:
            res = await self.sandbox.run(
                [self.python, "-I", "-c", RUNNER_SOURCE],
                stdin=_request(program, tests, timeout),
                timeout=timeout * len(tests) + 30.0,
            )
        if res.status == "error":
            raise SandboxError(f"the sandbox could not run the visible tests: {res.stderr[:500]}")
        return _parse(res.stdout, tests, res.stderr or res.status)


class _Lender(Protocol):
    def acquire(self) -> AbstractAsyncContextManager[Sandbox]: ...


class PoolExecutor:
    """Runs each program in a sandbox borrowed from a pool (e.g. :class:`harness.sandbox.SandboxPool`)."""

    def __init__(self, pool: _Lender, *, timeout_s: float = 3.0, python: str = "python3") -> None:
        self.pool = pool
        self.timeout_s = timeout_s
        self.python = python

    async def run(self, program: str, tests: Sequence[VisibleTest]) -> ExecutionReport:
        return await self.run_codes(program, [t.code for t in tests])

    async def run_codes(
        self, program: str, tests: Sequence[str], timeout_s: float | None = None
    ) -> ExecutionReport:
        """Run ``program`` then each test statement in its own process (the evaluator also uses this)."""
        if not tests:
            return ExecutionReport()
        async with self.pool.acquire() as sandbox:
            ex = SandboxExecutor(sandbox, timeout_s=self.timeout_s, python=self.python)
            return await ex.run_codes(program, tests, timeout_s)
