"""Final evaluation: the only place in the search layer that touches a task's hidden tests.

Strategies never import this module; the comparison calls it after a search has returned, on the
programs of the finished tree. :class:`RunnerEvaluator` runs HumanEval-style ``check(entry_point)``
hidden tests through the executor that runs the visible tests (the selection engine's worker, in the
Docker sandbox for real runs). The engine's ground-truth path (kind ``whole``) could replace this behind
the :class:`HiddenEvaluator` seam.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from harness.search._executor import ExecutionReport
from harness.selection._types import Cell
from harness.selection.ground_truth import hidden_test_statement
from harness.tasks._function import FunctionTask


@runtime_checkable
class CodeRunner(Protocol):
    """An executor that can also run arbitrary test statements (both executors of this package)."""

    async def run_codes(
        self, program: str, tests: Sequence[str], timeout_s: float | None = None
    ) -> ExecutionReport: ...


@runtime_checkable
class HiddenEvaluator(Protocol):
    """Says which programs pass a task's hidden tests."""

    async def evaluate(self, task: FunctionTask, programs: Sequence[str]) -> list[bool]: ...


class RunnerEvaluator:
    """Runs the hidden tests with an executor (each test statement in a process of its own); distinct
    programs run once."""

    def __init__(self, runner: CodeRunner, *, timeout_s: float = 10.0) -> None:
        self.runner = runner
        self.timeout_s = timeout_s

    async def evaluate(self, task: FunctionTask, programs: Sequence[str]) -> list[bool]:
        stmt = hidden_test_statement(task)
        verdict: dict[str, bool] = {}
        for program in dict.fromkeys(programs):
            report = await self.runner.run_codes(program, [stmt], timeout_s=self.timeout_s)
            verdict[program] = report.cells == [Cell.PASS]
        return [verdict[p] for p in programs]
