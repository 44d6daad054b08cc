"""The search layer on real parts: programs run in Docker sandboxes; best-of-N replays CodeT's pools."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from test_search_cli import STRATEGIES, _policy
from test_search_fakes import ScriptedModel
from typer.testing import CliRunner

import harness.cli.search as cli_search
from harness.cli import app
from harness.models import load
from harness.sandbox import SandboxPool
from harness.search import (
    BudgetLimits,
    BudgetMeter,
    PoolExecutor,
    VisibleTest,
    docstring_tests,
    make_strategy,
)
from harness.search._compare import CompareConfig, Comparison
from harness.search._evaluate import RunnerEvaluator
from harness.selection._types import Cell
from harness.store import Run
from harness.tasks import load_function_suite

pytestmark = pytest.mark.docker

HARNESS = str(Path(sys.executable).parent / "harness")
POOL = "codet/HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_code_solution.jsonl"


async def test_pool_executor_isolates_tests_in_the_sandbox() -> None:
    program = (
        "import os\nstate = []\ndef f(x):\n    state.append(x)\n    if x == 3:\n        while True: pass\n"
        "    if x == 4:\n        os.kill(os.getpid(), 9)\n    if x == 5:\n        open('/etc/owned', 'w')\n"
        "    return len(state)\n"
    )
    tests = [VisibleTest(code=f"assert f({x}) == 1") for x in (1, 2, 3, 4, 5)]
    tests.append(VisibleTest(code="assert f(0) == 2"))
    async with SandboxPool(max_size=1) as pool:
        report = await PoolExecutor(pool, timeout_s=1.0).run(program, tests)
    assert report.cells == [Cell.PASS, Cell.PASS, Cell.TIMEOUT, Cell.ERROR, Cell.ERROR, Cell.FAIL]
    assert report.outcomes[5].detail == "1"
    assert "Read-only file system" in report.outcomes[4].detail


async def test_hidden_evaluation_in_the_sandbox_agrees_with_the_canonical_solutions() -> None:
    tasks = load_function_suite("humaneval-pypi")[:4]
    async with SandboxPool(max_size=1) as pool:
        ev = RunnerEvaluator(PoolExecutor(pool))
        for t in tasks:
            right = t.prompt + t.canonical_solution
            wrong = t.prompt + "    return None\n"
            assert await ev.evaluate(t, [right, wrong, right]) == [True, False, True]


async def test_best_of_n_replays_codet_pools_end_to_end(shared_data: Path, tmp_path: Path) -> None:
    """Best-of-N over CodeT's recorded CodeGen-16B samples (served by the replay backend as if sampled),
    on the first HumanEval tasks, with the original prompts' examples as visible tests."""
    tasks = load_function_suite("humaneval")[:4]
    examples = {t.task_id: t for t in load_function_suite("humaneval-pypi")}
    visible = {t.task_id: docstring_tests(examples[t.task_id].prompt, t.entry_point) for t in tasks}
    model = load(f"replay:{shared_data / POOL}", stage="search")
    cfg = CompareConfig(
        suite="humaneval",
        model="replay",
        strategies=["best_of_n"],
        budget=BudgetLimits(programs=5),
        seeds=2,
        overrides={"best_of_n": {"seed_prompt": "raw", "call_seeds": "per_search", "stop_on_pass": False}},
    )
    run = Run(tmp_path, "replay", "search", cfg.model_dump(mode="json"))
    try:
        async with SandboxPool(max_size=2) as pool:
            ex = PoolExecutor(pool)
            records = await Comparison(
                run, cfg, model, ex, RunnerEvaluator(ex), visible=visible, concurrency=2
            ).run_all(tasks)
    finally:
        run.close()
    assert len(records) == 8
    for r in records:
        assert len(r.nodes) == 5 and r.spent.calls == 5 and r.spent.programs == 5
        assert r.oracle >= r.resolved
        chosen = next(n for n in r.nodes if n.id == r.chosen)
        assert chosen.score == max(n.score for n in r.nodes)
    # Paired seeds differ: the two seeds drew different samples for some task.
    by_seed = {s: [n.correct for r in records if r.seed == s for n in r.nodes] for s in (0, 1)}
    assert by_seed[0] != by_seed[1]
    # Replayed samples are the recorded ones: HumanEval/0 is easy for CodeGen-16B.
    assert any(r.resolved for r in records if r.task_id == "HumanEval/0")


async def test_sfs_in_the_sandbox_with_a_scripted_model(tmp_path: Path) -> None:
    """SFS repairs HumanEval/1 from failing-test feedback, with programs run in the sandbox."""
    task = load_function_suite("humaneval-pypi")[1]

    def policy(messages, rng):  # type: ignore[no-untyped-def]
        user = messages[-1].content
        if "Idea 1:" in messages[0].content:
            return "Idea 1: group the parentheses\nIdea 2: ignore spaces"
        if "Updated insights:" in messages[0].content:
            return "Updated insights:\n- spaces matter"
        if "Tests failed:\nassert" in user:
            return f"```python\n{task.prompt}{task.canonical_solution}```"
        return f"```python\n{task.prompt}    return []\n```"

    async with SandboxPool(max_size=1) as pool:
        ex = PoolExecutor(pool)
        meter = BudgetMeter(BudgetLimits(programs=6))
        result = await make_strategy("sfs", seeds=2).search(
            task.public_view(), ScriptedModel(policy), ex, meter
        )
        assert result.stopped == "solved_visible" and result.chosen is not None
        assert result.chosen.origin.kind == "direction"
        assert await RunnerEvaluator(ex).evaluate(task, [result.chosen.program]) == [True]


def test_every_strategy_end_to_end_in_sandboxes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``harness search --executor docker``: all five strategies on three HumanEval tasks, every visible
    and hidden test run in strict Docker sandboxes; the same outcomes as the local executor's run in
    ``test_search_cli`` (feedback repairs HumanEval/1 for every strategy but best-of-N)."""
    model = ScriptedModel(_policy)
    monkeypatch.setattr(cli_search, "_make_model", lambda spec, base_url, max_dollars: model)
    args = [
        "search", "--model", "scripted", "--suite", "humaneval-pypi", "--limit-tasks", "3",
        "--strategies", ",".join(STRATEGIES), "--budget", "programs=7", "--executor", "docker",
        "--concurrency", "2", "--results-dir", str(tmp_path), "--run-id", "dock", "--json", "--no-plot",
    ]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["failed_units"] == {}
    systems = {s["system"]: s for s in summary["systems"]}
    assert list(systems) == STRATEGIES and all(s["units"] == 3 for s in systems.values())
    assert systems["best_of_n"]["pass_at_1"] == pytest.approx(2 / 3)
    for name in STRATEGIES[1:]:
        assert systems[name]["pass_at_1"] == 1.0, name
    units = [json.loads(p.read_text()) for p in (tmp_path / "dock" / "search" / "units").glob("*.json")]
    assert sum(u["spent"]["calls"] for u in units) == len(model.seen)
    assert all(u["spent"]["programs"] == len(u["nodes"]) <= 7 for u in units)


GC_DRIVER = """
import os, sys, threading
sys.path.insert(0, {tests!r})
import harness.cli.search as cli_search
from harness.cli import app
from test_search_cli import _policy
from test_search_fakes import ScriptedModel


class HeldAtSecondTask(ScriptedModel):
    async def sample(self, messages, **kw):
        if "def separate_paren_groups(" in messages[-1].content:  # HumanEval/1, after HumanEval/0's unit
            with open(os.environ["SEARCH_HELD"], "w") as fh:
                fh.write("held")
            threading.Event().wait()  # a model that never answers; the test kills the process here
        return await super().sample(messages, **kw)


cli_search._make_model = lambda spec, base_url, max_dollars: HeldAtSecondTask(_policy)
app()
"""


def _labelled(**labels: str) -> list[Any]:
    from harness.sandbox._docker import shared_client

    filters = {"label": ["harness.managed=1"] + [f"{k}={v}" for k, v in labels.items()]}
    return list(shared_client().containers.list(all=True, filters=filters, ignore_removed=True))


def test_a_killed_search_leaves_sandboxes_that_gc_collects_by_its_run_id(tmp_path: Path) -> None:
    """``harness search --executor docker --run-id X`` labels its sandboxes with X (as ``harness run``
    does: the run's id wins over ``$HARNESS_RUN_ID``), so after a SIGKILL ``harness sandbox gc --run-id X``
    removes exactly what it left."""
    run_id, decoy = f"pytest-search-gc-{uuid.uuid4().hex[:8]}", f"pytest-decoy-{uuid.uuid4().hex[:8]}"
    driver, held = tmp_path / "driver.py", tmp_path / "held"
    driver.write_text(GC_DRIVER.format(tests=str(Path(__file__).parent)))
    cmd = [
        sys.executable, str(driver), "search", "--model", "scripted", "--suite", "humaneval-pypi",
        "--tasks", "HumanEval/0,HumanEval/1", "--strategies", "best_of_n", "--budget", "programs=2",
        "--executor", "docker", "--concurrency", "1", "--results-dir", str(tmp_path / "results"),
        "--run-id", run_id, "--json", "--no-plot",
    ]  # fmt: skip
    env = {**os.environ, "SEARCH_HELD": str(held), "HARNESS_RUN_ID": decoy}
    victim = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300  # a give-up guard, not a measurement
        while not held.exists():
            assert victim.poll() is None, victim.stderr.read().decode() if victim.stderr else ""
            assert time.monotonic() < deadline, "the search never reached HumanEval/1"
            time.sleep(0.05)
        # HumanEval/0's unit ran its programs in the pool's sandbox, which stays open for the next unit.
        owned = _labelled(**{"harness.pid": str(victim.pid)})
        assert owned, "the search runs programs in Docker sandboxes"
        assert {c.labels["harness.run_id"] for c in owned} == {run_id}
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        assert victim.returncode == -signal.SIGKILL
        left = _labelled(**{"harness.run_id": run_id})
        assert {c.id for c in left} == {c.id for c in owned}, "SIGKILL leaves the sandboxes behind"
        gc = subprocess.run([HARNESS, "sandbox", "gc", "--run-id", run_id], capture_output=True, text=True)
        assert gc.returncode == 0, gc.stderr
        assert _labelled(**{"harness.run_id": run_id}) == []
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
        if victim.stderr is not None:
            victim.stderr.close()
        subprocess.run([HARNESS, "sandbox", "gc", "--run-id", run_id], capture_output=True, check=False)
        for c in _labelled(**{"harness.pid": str(victim.pid), "harness.host": socket.gethostname()}):
            c.remove(force=True)  # labelled with another run id, if labelling regressed
