"""Ground truth: which candidates pass a task's hidden tests. The only reader of ``task.hidden``.

Hidden tests travel to the engine as ``whole`` scripts (program, hidden tests, ``check(entry_point)``,
run under one timer as CodeT's ``check_correctness`` does) and come back as one boolean per program.
Nothing here is handed to selectors: :mod:`harness.selection.build` puts the booleans in
``TaskData.correct``, which only the metrics read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from harness.selection._types import Cell
from harness.selection.engine import ProgramResult, Request
from harness.tasks import FunctionTask


def hidden_test_statement(task: FunctionTask) -> str:
    """HumanEval's protocol: define ``check`` and call it on the entry point; plain asserts (MBPP) run
    as they are."""
    code = task.hidden.code
    if "def check(" in code:
        return f"{code}\n\ncheck({task.hidden.entry_point})\n"
    return code


def ground_truth_request(task: FunctionTask, programs: Sequence[str]) -> Request:
    """CodeT's ``check_correctness`` program for each candidate: ``program + "\\n" + hidden tests``."""
    stmt = hidden_test_statement(task)
    return Request("whole", [f"{p}\n{stmt}" for p in programs], [])


def verdicts(results: Sequence[Sequence[ProgramResult]]) -> list[npt.NDArray[np.bool_]]:
    """The booleans of :func:`ground_truth_request` results, one array per task."""
    return [np.array([r.cells[0] == Cell.PASS for r in rows], dtype=np.bool_) for rows in results]
