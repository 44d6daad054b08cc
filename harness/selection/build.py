"""From pools to :class:`~harness.selection.experiment.TaskData`: extraction, pass matrices, ground truth.

Two modes, always named in results:

* ``isolated`` (ours, the default): every test of every distinct program runs under its own timer; a
  test that does not compile, raises, hangs, exits or crashes the interpreter costs only its own cell.
  Each cell is ``pass | fail | error | timeout`` and ``assert LHS == RHS`` tests record a hash of the
  program's output, which behaviour-aware selectors use.
* ``faithful``: CodeT's released executor (one packed check program per candidate, killed after
  ``timeout x tests + 0.1`` s). One test that compiles alone but not inside the packed program wipes out
  the whole task (HumanEval/68, /106, /143 on the CodeGen-16B pools); a candidate whose check program
  dies loses its whole row (``ran`` false). Only pass/fail cells, no outputs.

Ground truth runs through :mod:`harness.selection.ground_truth` in both modes; selectors never see it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness._progress import Progress, SilentProgress
from harness.errors import DataError
from harness.selection._types import PassMatrix
from harness.selection.engine import Engine, EngineConfig, ProgramResult, Request
from harness.selection.experiment import TaskData
from harness.selection.extraction import ExtractionOptions, TaskInputs, prepare_task
from harness.selection.ground_truth import ground_truth_request, verdicts
from harness.tasks import FunctionTask, Pool

Mode = Literal["isolated", "faithful"]
log = logging.getLogger(__name__)


def task_inputs(
    tasks: Sequence[FunctionTask], solutions: Pool, tests: Pool, options: ExtractionOptions
) -> list[TaskInputs]:
    """Distinct programs and tests of each task, from the public view only (hidden tests stay out)."""
    out = []
    for task in tasks:
        if task.task_id not in solutions:
            raise DataError(f"the solutions pool has no record for {task.task_id}")
        test_samples = tests.samples(task.task_id) if task.task_id in tests else []
        out.append(prepare_task(task.public_view(), solutions.samples(task.task_id), test_samples, options))
    return out


def matrix_requests(inputs: Sequence[TaskInputs], mode: Mode) -> list[Request]:
    """What the engine runs for the generated tests: programs and tests, nothing else."""
    kind: Literal["tests", "faithful"] = "tests" if mode == "isolated" else "faithful"
    return [Request(kind, list(ti.programs), list(ti.tests)) for ti in inputs]


def assemble(
    ti: TaskInputs, rows: Sequence[ProgramResult], correct: np.ndarray[Any, Any], mode: Mode
) -> TaskData:
    n, m = len(ti.programs), len(ti.tests)
    cells = np.stack([r.cells for r in rows]) if n else np.zeros((0, m), np.int8)
    times = np.stack([r.ms for r in rows]).astype(np.float32) if n else np.zeros((0, m), np.float32)
    outputs = None
    if mode == "isolated" and n:
        outputs = np.stack([r.out for r in rows]).astype(np.int64)
    ran = np.array([r.ran for r in rows], dtype=np.bool_)
    if mode == "faithful" and m == 0:
        ran[:] = False  # CodeT runs nothing for a task without tests: no candidate ``passed``
    matrix = PassMatrix(
        ti.task_id,
        [f"{ti.task_id}#{i}" for i in range(n)],
        [f"{ti.task_id}~t{j}" for j in range(m)],
        cells.reshape(n, m),
        times.reshape(n, m),
        ti.candidate_counts,
        ti.test_counts,
        outputs.reshape(n, m) if outputs is not None else None,
    )
    return TaskData(
        matrix,
        correct,
        ti.n_samples,
        ran,
        readings=list(ti.readings),
        cut_programs=ti.cut_programs,
        main_blocks=ti.main_blocks,
    )


async def build_task_data(
    tasks: Sequence[FunctionTask],
    solutions: Pool,
    tests: Pool,
    *,
    options: ExtractionOptions | None = None,
    engine: EngineConfig | Engine | None = None,
    mode: Mode = "isolated",
    progress: Progress | None = None,
    cache: Path | None = None,
) -> dict[str, TaskData]:
    """Every task's pass matrix (generated tests) and ground truth (hidden tests), keyed by task id.

    ``engine``: a config (an engine is started and closed here, caching under ``cache``) or a running
    :class:`Engine` (its own cache applies). ``progress`` counts programs, generated and hidden tests'
    runs together (cache hits count at once).
    """
    inputs = task_inputs(tasks, solutions, tests, options or ExtractionOptions())
    own = not isinstance(engine, Engine)
    eng = Engine(engine if isinstance(engine, EngineConfig) else None, cache=cache) if own else engine
    assert isinstance(eng, Engine)
    total = 2 * sum(len(ti.programs) for ti in inputs)
    try:
        # One stream: the ground truth's hangs (timed on CPU) overlap the matrix's work.
        hidden = [ground_truth_request(t, ti.programs) for t, ti in zip(tasks, inputs, strict=True)]
        mixed = [r for pair in zip(matrix_requests(inputs, mode), hidden, strict=True) for r in pair]
        misses = _cache_misses(eng, mixed)
        log.info(
            "pass matrices (%s) of %d tasks: %d programs to run, %d answered by the engine's cache",
            mode, len(inputs), sum(misses), total - sum(misses),
        )  # fmt: skip
        bar = progress or SilentProgress()
        bar.start(total, f"pass matrices ({mode}) + ground truth: programs")
        both = await eng.run(mixed, progress=bar.advance)  # the engine counts in ints
        rows, correct = both[0::2], verdicts(both[1::2])
        stats = eng.stats
        log.log(
            logging.WARNING if stats["retries"] else logging.INFO,
            "engine: %d programs (%d cached) in %d batches, %d batches run again after their lane's "
            "sandbox was lost",
            stats["programs"], stats["cached"], stats["batches"], stats["retries"],
        )  # fmt: skip
    finally:
        if own:
            await eng.close()
    return {
        ti.task_id: replace(assemble(ti, r, c, mode), executed=misses[2 * i] + misses[2 * i + 1])
        for i, (ti, r, c) in enumerate(zip(inputs, rows, correct, strict=True))
    }


def _cache_misses(eng: Engine, requests: Sequence[Request]) -> list[int]:
    """Programs of each request the engine's cache cannot answer: what it will execute (so a warm run
    can say it built nothing). Uses the engine's own keys, so it cannot disagree with the engine."""
    keys = [eng._keys(r) for r in requests]
    hits = eng.cache.get_many(sorted({k for ks in keys for k in ks}))
    return [sum(k not in hits for k in ks) for ks in keys]
