"""The pass-matrix engine in the real Docker sandbox, on CodeGen-16B's real HumanEval samples.

- It agrees with the naive reference executor (a fresh interpreter per cell) on a sample of >= 1000
  cells: >= 99.9%, and every disagreement is a timing-borderline cell.
- A rerun reads everything from the content cache and starts no sandbox.
- Hidden tests reach the engine only as ground-truth scripts, never with the generated tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.sandbox import DockerSandbox, SandboxProfile
from harness.selection._types import Cell
from harness.selection.build import build_task_data, task_inputs
from harness.selection.engine import TIMES, Engine, EngineConfig, Request
from harness.selection.experiment import TaskData
from harness.selection.extraction import ExtractionOptions
from harness.selection.reference import reference_cells
from harness.tasks import FunctionTask, Pool, load_codet_pool, load_function_suite

pytestmark = pytest.mark.docker

POOLS = "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300"
AGREEMENT_TASKS = tuple(f"HumanEval/{k}" for k in range(12))  # /1 holds many of the pools' hangs


def _inputs(shared_data: Path, ids: tuple[str, ...]) -> tuple[list[FunctionTask], Pool, Pool]:
    suite = load_function_suite("humaneval")
    base = shared_data / "codet" / POOLS
    solutions = load_codet_pool(Path(f"{base}_code_solution.jsonl"), suite, "solutions")
    tests = load_codet_pool(Path(f"{base}_test_case.jsonl"), suite, "tests")
    return [t for t in suite if t.task_id in ids], solutions, tests


def _sample(data: dict[str, TaskData], rng: np.random.Generator) -> list[tuple[str, int, int]]:
    """1000 cells uniformly over every cell of the tasks, plus up to 100 errors and 100 timeouts."""
    every = [(t, i, j) for t, td in data.items() for i, j in np.ndindex(*td.matrix.shape)]
    picks = [every[k] for k in rng.choice(len(every), size=1000, replace=False)]
    for code in (Cell.ERROR, Cell.TIMEOUT):
        these = [(t, i, j) for t, i, j in every if data[t].matrix.cells[i, j] == code]
        picks += [these[k] for k in rng.choice(len(these), size=min(100, len(these)), replace=False)]
    return picks


async def test_engine_agrees_with_the_reference_executor(shared_data: Path, tmp_path: Path) -> None:
    tasks, solutions, tests = _inputs(shared_data, AGREEMENT_TASKS)
    data = await build_task_data(tasks, solutions, tests, engine=EngineConfig(), cache=tmp_path)
    inputs = {ti.task_id: ti for ti in task_inputs(tasks, solutions, tests, ExtractionOptions())}
    picks = _sample(data, np.random.default_rng(0))
    pairs = [(inputs[t].programs[i], inputs[t].tests[j]) for t, i, j in picks]
    async with DockerSandbox() as sb:
        ref = await reference_cells(sb, pairs)
    disagree = []
    for k, ((t, i, j), r) in enumerate(zip(picks, ref, strict=True)):
        engine_cell = Cell(int(data[t].matrix.cells[i, j]))
        if engine_cell != r.cell:
            engine_ms = float(data[t].matrix.times_ms[i, j])
            near = Cell.TIMEOUT in (engine_cell, r.cell) or max(engine_ms, r.ms) >= 50.0
            disagree.append(
                (k, t, i, j, engine_cell.name, r.cell.name, round(engine_ms, 1), round(r.ms, 1), near)
            )
    uniform = [d for d in disagree if d[0] < 1000]
    assert len(uniform) <= 1, disagree  # >= 99.9% of a uniform sample of 1000 cells
    assert all(d[-1] for d in disagree), disagree  # only timing-borderline cells, errors and hangs included
    kinds = {Cell(int(data[t].matrix.cells[i, j])) for t, i, j in picks}
    assert kinds == {Cell.PASS, Cell.FAIL, Cell.ERROR, Cell.TIMEOUT}


async def test_rerun_is_served_by_the_cache(shared_data: Path, tmp_path: Path) -> None:
    tasks, solutions, tests = _inputs(shared_data, ("HumanEval/0", "HumanEval/2"))
    async with Engine(EngineConfig(), cache=tmp_path) as first:
        built = await build_task_data(tasks, solutions, tests, engine=first)
        assert first.stats["batches"] > 0 and first.stats["cached"] == 0
        cold = first.account()
    # One child per program (chunk 1; the matrix and the ground truth), plus one for each hang that was
    # killed; the cells' time within the workers' slot time, spent by children alive in the sandbox.
    assert (
        cold["children"]
        >= first.stats["programs"]
        == sum(2 * len(d.matrix.candidate_ids) for d in built.values())
    )
    assert 0 < cold["test_s"] + cold["timeout_s"] <= cold["alive_s"] <= cold["slot_s"]
    assert 0 < cold["spawn_s"] < cold["batch_s"] and cold["children_cpu_s"] > cold["worker_cpu_s"] > 0
    assert 0 < cold["ended_cpu_s"] + cold["timeout_cpu_s"] < cold["children_cpu_s"]
    async with Engine(EngineConfig(), cache=tmp_path) as second:
        again = await build_task_data(tasks, solutions, tests, engine=second)
        assert second.stats["batches"] == 0 and second.stats["cached"] == second.stats["programs"] > 0
        assert {second.account()[k] for k in (*TIMES, "children")} == {0}  # cached cells cost nothing
        assert not second.started and not second._owned  # no sandbox was ever started
    for task_id, td in built.items():
        assert np.array_equal(td.matrix.cells, again[task_id].matrix.cells)
        assert np.array_equal(td.correct, again[task_id].correct)
    # A different per-test timeout changes every generated-test row; the ground truth (its own timeout)
    # is reused.
    async with Engine(EngineConfig(timeout_s=0.2), cache=tmp_path) as third:
        await build_task_data(tasks[:1], solutions, tests, engine=third)
        assert third.stats["batches"] > 0 and third.stats["cached"] == third.stats["programs"] // 2


class RecordingEngine(Engine):
    """The real engine, keeping every request it was given."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.requests: list[Request] = []

    async def run(self, requests, *, progress=None):  # type: ignore[no-untyped-def,override]
        self.requests.extend(requests)
        return await super().run(requests, progress=progress)


@pytest.mark.parametrize("mode", ["isolated", "faithful"])
async def test_hidden_tests_only_reach_the_ground_truth_path(
    shared_data: Path, tmp_path: Path, mode: str
) -> None:
    tasks, solutions, tests = _inputs(shared_data, ("HumanEval/0", "HumanEval/3"))
    async with RecordingEngine(EngineConfig(), cache=tmp_path) as engine:
        data = await build_task_data(tasks, solutions, tests, engine=engine, mode=mode)  # type: ignore[arg-type]
    secrets = [t.hidden.code.strip() for t in tasks]
    for req in engine.requests:
        text = "\n".join([*req.programs, *req.tests])
        holds = [s in text for s in secrets]
        if req.kind == "whole":
            assert any(holds)
        else:
            assert not any(holds), f"a hidden test reached a {req.kind} request"
    # What selectors receive is the pass matrix: ids and cells, no source text at all.
    for td in data.values():
        assert all(s not in " ".join(td.matrix.candidate_ids + td.matrix.test_ids) for s in secrets)
        assert td.correct.any()  # CodeGen-16B solves /0 and /3 at least once: the ground truth ran


async def test_a_program_killing_the_worker_costs_only_its_own_cells(tmp_path: Path) -> None:
    # ``os.kill(os.getppid(), 9)``: in the engine's own (supervisor) sandbox the program runs under a uid
    # of its own and the kill is refused (PermissionError: an ordinary error of its own cells). In a
    # sandbox given by the caller, programs share the worker's uid: the worker is their parent and
    # dies, every run of the batch would die the same way, and the engine isolates the killer instead.
    f = "def f(x):\n    return x * 2\n"
    kill = "import os; os.kill(os.getppid(), 9)"
    tests = ["assert f(1) == 2", kill, "assert f(2) == 5", "assert f(2) == 4"]
    programs = [f, f + "# another\n", kill + "\n" + f, f + "# a third\n"]
    requests = [
        Request("tests", programs, tests),
        Request("whole", [f + "assert f(1) == 2\n", kill, f + "assert f(1) == 3\n"], []),
    ]
    async with Engine(EngineConfig(), cache=tmp_path / "own") as engine:
        rows, whole = await engine.run(requests)
        assert engine.stats["batches"] == 1  # nothing to isolate: the worker was never hit
    assert ["".join(map(str, r.cells)) for r in rows] == ["1201", "1201", "2222", "1201"]
    assert [r.ran for r in rows] == [True, True, False, True]
    assert ["".join(map(str, r.cells)) for r in whole] == ["1", "2", "0"]
    assert [r.ran for r in whole] == [True, True, True]

    profile = SandboxProfile.strict(memory="2g", cpus=2.0, pids=512)
    async with (
        DockerSandbox(profile=profile) as sandbox,
        Engine(EngineConfig(), sandbox=sandbox, cache=tmp_path / "shared") as engine,
    ):
        rows, whole = await engine.run(requests)
        assert engine.stats["batches"] > 1  # the killer was isolated
    assert ["".join(map(str, r.cells)) for r in rows] == ["1201", "1201", "2222", "1201"]
    assert [r.ran for r in rows] == [True, True, False, True]
    assert ["".join(map(str, r.cells)) for r in whole] == ["1", "2", "0"]
    assert [r.ran for r in whole] == [True, False, True]


async def test_the_worker_outranks_its_programs_which_run_at_its_starting_priority(tmp_path: Path) -> None:
    """In the supervisor sandbox (CAP_SYS_NICE) the worker runs at niceness -10, so that starting children
    never waits behind them; every program runs at the niceness the worker started with (0), with no
    capability to raise its own (refused) or to lower its parent's."""
    f = (
        "import os\n"
        "def nice(pid):\n"
        "    with open(f'/proc/{pid}/stat') as fh:\n"
        "        return int(fh.read().rsplit(')', 1)[1].split()[16])\n"
    )
    tests = [
        "assert nice(os.getpid()) == 0",
        "assert nice(os.getppid()) == -10",
        "os.setpriority(os.PRIO_PROCESS, 0, -5)",  # raising its own priority: refused
        "os.setpriority(os.PRIO_PROCESS, os.getppid(), 19)",  # another uid's process: refused
    ]
    async with Engine(EngineConfig(), cache=tmp_path) as engine:
        (row,) = (await engine.run([Request("tests", [f], tests)]))[0]
    assert "".join(map(str, row.cells)) == "1122"
