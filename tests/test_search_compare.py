"""The comparison end to end on toy tasks with a scripted model and the local executor: hidden tests
stay out of every prompt, units resume, adaptive allocation spends the same total."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_search_fakes import LADDER, ScriptedModel, fence, ladder_policy, make_task

from harness.search import BudgetLimits, LocalExecutor
from harness.search._adaptive import AdaptiveConfig, Difficulty, allocate, expected_solved
from harness.search._compare import CompareConfig, Comparison, unit_id
from harness.search._evaluate import RunnerEvaluator
from harness.search._report import budget_grid, choice_at, curves, plot, report_json, summarise
from harness.store import Run, read_outcomes
from harness.tasks._function import FunctionTask

POISON = "POISON_d41d8cd98f"


def _poisoned(task_id: str) -> FunctionTask:
    hidden = f"# {POISON}\ndef check(candidate):\n    assert candidate(-7, -8) == 15  # {POISON}\n"
    return make_task(hidden).model_copy(update={"task_id": task_id})


def _cfg(strategies: list[str], budget: str = "programs=6", **kw: object) -> CompareConfig:
    return CompareConfig.model_validate(
        {
            "suite": "toy",
            "model": "scripted",
            "strategies": strategies,
            "budget": BudgetLimits.parse(budget),
            **kw,
        }
    )


async def _compare(tmp: Path, cfg: CompareConfig, model: ScriptedModel, tasks: list[FunctionTask]) -> list:  # type: ignore[type-arg]
    run = Run(tmp, "r1", "search", cfg.model_dump(mode="json"), seeds=list(range(cfg.seeds)))
    ex = LocalExecutor()
    comp = Comparison(run, cfg, model, ex, RunnerEvaluator(ex))
    try:
        return await comp.run_all(tasks)
    finally:
        run.close()


async def test_hidden_tests_never_reach_a_prompt_or_a_tree(tmp_path: Path) -> None:
    model = ScriptedModel(ladder_policy(p=0.5))
    cfg = _cfg(["best_of_n", "line", "mcts", "best_first", "sfs"])
    records = await _compare(tmp_path, cfg, model, [_poisoned("Toy/1")])
    assert len(records) == 5
    for messages in model.seen:
        assert all(POISON not in m.content for m in messages)
    trees = list((tmp_path / "r1" / "search" / "trees").glob("*.json"))
    assert len(trees) == 5 and all(POISON not in p.read_text() for p in trees)
    # ... yet the hidden tests were used to grade: only the rung-2 program is correct.
    for r in records:
        assert r.oracle == any(n.score == 1.0 for n in r.nodes)


async def test_records_resume_and_report(tmp_path: Path) -> None:
    tasks = [make_task().model_copy(update={"task_id": f"Toy/{i}"}) for i in range(2)]
    cfg = _cfg(["best_of_n", "line"], seeds=2)
    first = await _compare(tmp_path, cfg, ScriptedModel(ladder_policy()), tasks)
    assert len(first) == 8
    line = [r for r in first if r.system == "line"]
    assert all(r.resolved and r.oracle for r in line)
    bon = [r for r in first if r.system == "best_of_n"]
    assert not any(r.oracle for r in bon)
    fc = line[0].first_correct()
    assert fc is not None and fc.cost.programs == 3 and fc.cost.calls == 5

    # Resume: nothing is run again (a model that fails on any call proves it).
    def boom(*_: object) -> str:
        raise AssertionError("a done unit was re-run")

    again = await _compare(tmp_path, cfg, ScriptedModel(boom), tasks)
    assert [r.model_dump() for r in again] == [r.model_dump() for r in first]
    outcomes = read_outcomes(tmp_path / "r1")
    assert {(o.task_id, o.system, o.seed) for o in outcomes} == {
        (t.task_id, s, k) for t in tasks for s in ("best_of_n", "line") for k in (0, 1)
    }
    summary = {s.system: s for s in summarise(first)}
    assert summary["line"].pass_at_1 == 1.0 and summary["best_of_n"].oracle == 0.0
    assert summary["line"].calls_to_first_correct == 5.0
    grid = budget_grid(6, "programs")
    cv = curves(first, "programs", grid)
    assert [p.pass_at_1 for p in cv["line"]] == [0, 0, 1, 1, 1, 1]
    assert choice_at(line[0], 2, "calls") == (False, False)
    assert choice_at(line[0], 5, "calls") == (True, True)
    data = report_json(first, "programs", 6)
    assert {s["system"] for s in data["systems"]} == {"line", "best_of_n"}
    png = plot(tmp_path / "curves.png", cv, first, "programs", "toy")
    assert png.stat().st_size > 1000


def test_adaptive_allocation_is_greedy_by_marginal_gain() -> None:
    cfg = AdaptiveConfig(gain_scale=0.5, floor=0.05)
    diffs = [
        Difficulty(task_id="solved", solved_visible=True, mean_score=1.0, n_programs=2),
        Difficulty(task_id="close", solved_visible=False, mean_score=0.8, n_programs=2),  # q = 0.4
        Difficulty(task_id="far", solved_visible=False, mean_score=0.0, n_programs=2),  # q = 0.05
    ]
    extra = allocate(diffs, 4, cfg)
    # Gains for "close": 0.4, 0.24, 0.144, 0.0864, ...; for "far": 0.05, ... -> all four go to "close".
    assert extra == [0, 4, 0]
    assert allocate(diffs, 0, cfg) == [0, 0, 0]
    # The greedy split beats the uniform one under the model.
    assert expected_solved(diffs, extra, cfg) >= expected_solved(diffs, [1, 2, 1], cfg)
    assert sum(allocate(diffs, 9, cfg)) == 9


async def test_adaptive_comparison_spends_the_same_total(tmp_path: Path) -> None:
    # Task 0's seeds pass every visible test (a correct program); task 1 needs feedback to climb.
    easy = make_task().model_copy(update={"task_id": "Toy/easy", "prompt": make_task().prompt + "# easy\n"})
    hard = make_task().model_copy(update={"task_id": "Toy/hard"})

    def policy(messages, rng):  # type: ignore[no-untyped-def]
        if "# easy" in messages[-1].content and "Tests failed" not in messages[-1].content:
            return fence(LADDER[2])
        return ladder_policy(p=0.5)(messages, rng)

    cfg = _cfg(["line"], "programs=6", allocation="adaptive", adaptive={"probe_fraction": 0.34})
    records = await _compare(tmp_path, cfg, ScriptedModel(policy), [easy, hard])
    adaptive = {r.task_id: r for r in records if r.system == "line+adaptive"}
    uniform = {r.task_id: r for r in records if r.system == "line"}
    assert set(adaptive) == {"Toy/easy", "Toy/hard"}
    total = sum(r.spent.programs for r in adaptive.values())
    assert total <= sum(r.limits.programs or 0 for r in uniform.values()) == 12
    # The easy task is solved by its probe; the hard one receives the rest.
    assert adaptive["Toy/easy"].spent.programs == 1
    probe = 2  # 6 * 0.34, rounded down
    assert adaptive["Toy/hard"].spent.programs > probe
    assert (tmp_path / "r1" / "search" / "units").is_dir() and unit_id("Toy/hard", "line+adaptive", 0)


@pytest.mark.parametrize("axis,limit", [("programs", 4), ("tokens", 1000.0)])
def test_budget_grid(axis: str, limit: float) -> None:
    grid = budget_grid(limit, axis)
    assert grid[-1] == pytest.approx(limit) and grid == sorted(grid)


async def test_a_failed_unit_is_recorded_and_retried_on_resume(tmp_path: Path) -> None:
    from harness.errors import ModelRequestError

    tasks = [make_task().model_copy(update={"task_id": f"Toy/{i}"}) for i in range(2)]
    cfg = _cfg(["best_of_n"])
    calls = {"n": 0}

    def flaky(messages, rng):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise ModelRequestError("the provider refused this request")
        return fence(LADDER[2])

    run = Run(tmp_path, "r1", "search", cfg.model_dump(mode="json"))
    ex = LocalExecutor()
    comp = Comparison(run, cfg, ScriptedModel(flaky), ex, RunnerEvaluator(ex))
    records = await comp.run_all(tasks)
    assert len(records) == 1 and list(comp.failures) == ["Toy/0|best_of_n|s0"]
    assert run.index.unit_status("r1", "search", "Toy/0|best_of_n|s0") == "failed"
    comp2 = Comparison(run, cfg, ScriptedModel(flaky), ex, RunnerEvaluator(ex))
    assert len(await comp2.run_all(tasks)) == 2 and not comp2.failures
    run.close()
