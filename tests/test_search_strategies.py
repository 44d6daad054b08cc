"""Each strategy, driven by a scripted model through a real local executor, uses feedback, reflections,
directions and insights as specified, and spends its budget through the meter."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from test_search_fakes import LADDER, ScriptedModel, fence, ladder_policy, make_task, rung_of

from harness.models._types import Message
from harness.search import (
    STRATEGY_NAMES,
    BudgetLimits,
    BudgetMeter,
    LocalExecutor,
    Node,
    SearchResult,
    make_strategy,
)

TASK = make_task().public_view()


async def _run(
    name: str, model: ScriptedModel, limits: str = "programs=10", seed: int = 0, **cfg: object
) -> tuple[SearchResult, BudgetMeter]:
    meter = BudgetMeter(BudgetLimits.parse(limits))
    strategy = make_strategy(name, **cfg)
    result = await strategy.search(TASK, model, LocalExecutor(), meter, seed=seed)
    return result, meter


def _users(model: ScriptedModel) -> list[str]:
    return [m[-1].content for m in model.seen]


async def test_visible_tests_come_from_the_docstring() -> None:
    result, _ = await _run("best_of_n", ScriptedModel(ladder_policy()), "programs=1")
    assert [t.code for t in result.tests] == [
        "assert add_abs(1, 2) == 3",
        "assert add_abs(-1, 2) == 3",
        "assert add_abs(2, -5) == 7",
    ]
    node = result.tree.nodes[0]
    assert node.score == pytest.approx(1 / 3)
    assert "assert add_abs(-1, 2) == 3 # output: 1" in node.feedback


async def test_best_of_n_never_shows_feedback_so_never_climbs() -> None:
    model = ScriptedModel(ladder_policy())
    result, meter = await _run("best_of_n", model)
    assert len(result.tree) == 10 and result.stopped == "budget"
    assert {rung_of(n.program) for n in result.tree} == {0}
    assert all("Tests failed" not in u for u in _users(model))
    assert meter.spent.calls == 10 and meter.spent.programs == 10


async def test_best_of_n_keeps_the_whole_batch_that_solved() -> None:
    """A batched request that solves the task still puts every program it paid for in the tree."""
    model = ScriptedModel(lambda messages, rng: fence(LADDER[2]))
    result, meter = await _run("best_of_n", model, "programs=10", batch=3)
    assert result.stopped == "solved_visible" and meter.spent.calls == 1
    assert len(result.tree) == meter.spent.programs == 3
    assert result.chosen is result.tree.nodes[0]


async def test_line_search_reflects_then_refines_on_feedback() -> None:
    model = ScriptedModel(ladder_policy())
    result, meter = await _run("line", model)
    assert result.stopped == "solved_visible"
    assert [rung_of(n.program) for n in result.tree] == [0, 1, 2]
    assert [n.depth for n in result.tree] == [1, 2, 3]
    assert meter.calls_by_purpose() == {"program": 3, "reflection": 2}
    users = _users(model)
    # Call order: seed, reflect, refine, reflect, refine; each refine sees the reflection and feedback.
    assert "Your reflection:" in users[1] and "Tests failed:\nassert add_abs(-1, 2) == 3" in users[1]
    assert "REFLECTION: the sign of b is ignored." in users[2]
    assert result.tree.nodes[1].origin.reflection == "REFLECTION: the sign of b is ignored."
    assert result.chosen is result.tree.nodes[2]


async def test_line_search_without_reflection_is_one_call_per_program() -> None:
    model = ScriptedModel(ladder_policy())
    result, meter = await _run("line", model, reflect=False)
    assert result.stopped == "solved_visible"
    assert meter.calls_by_purpose() == {"program": 3}


async def test_mcts_expands_by_uct_and_refines_with_feedback() -> None:
    model = ScriptedModel(ladder_policy(p=0.5))
    result, _ = await _run("mcts", model, "programs=12", seed=3)
    tree = result.tree
    assert len(tree.root.children) == 1  # one seed
    assert all(len(n.children) <= 2 for n in tree)
    for node in tree.nodes[1:]:
        assert node.origin.kind == "refine" and node.parent is not None
    # Every refinement prompt showed its parent's feedback.
    assert all("Tests failed:" in u for u in _users(model)[1:])
    # Visits: every node's visits = 1 + number of descendants (counted on backup).
    for node in tree:
        descendants = _count_descendants(node)
        assert node.visits == 1 + descendants
    assert result.stopped in {"solved_visible", "budget"}


def _count_descendants(node: Node) -> int:
    return sum(1 + _count_descendants(k) for k in node.children)


async def test_best_first_expands_the_best_open_node_with_width_w() -> None:
    model = ScriptedModel(ladder_policy(p=0.0), logprobs=-0.5)
    result, meter = await _run("best_first", model, "programs=6", width=2)
    tree = result.tree
    # Two seeds (one request, n=2); every program scores 1/3 with the same normalised log-probability,
    # so the oldest open node is expanded next: seed 1, then seed 2.
    assert [n.parent.id if n.parent else 0 for n in tree] == [0, 0, 1, 1, 2, 2]
    assert meter.spent.calls == 3 and meter.spent.programs == 6
    assert all(n.logprob is not None for n in tree)


async def test_best_first_prefers_higher_visible_score() -> None:
    model = ScriptedModel(ladder_policy(p=1.0))
    result, meter = await _run("best_first", model, "programs=10", width=2)
    assert result.stopped == "solved_visible"
    assert result.chosen is not None and result.chosen.passed_all
    # Both refinements of the last request join the tree (both were paid for); the first is chosen.
    assert [rung_of(n.program) for n in result.tree] == [0, 0, 1, 1, 2, 2]
    assert result.chosen is result.tree.nodes[4] and meter.spent.programs == len(result.tree)


async def test_sfs_scatters_directions_shares_insights_and_varies_seeds() -> None:
    model = ScriptedModel(ladder_policy())
    result, meter = await _run("sfs", model, "programs=12", seeds=3, directions=2)
    tree = result.tree
    seeds = tree.root.children
    assert len(seeds) == 3
    assert len({s.origin.style for s in seeds}) == 3  # each seed under its own style
    system_prompts = [m[0].content for m in model.seen[:3]]
    assert all(s.origin.style in p for s, p in zip(seeds, system_prompts, strict=True))
    children = [n for n in tree if n.origin.kind == "direction"]
    assert children, "SFS expanded nothing"
    for child in children:
        assert child.parent is not None and child.origin.direction in child.parent.directions
    users = _users(model)
    # Every implementation prompt carries the direction it implements.
    impl = [u for u in users if "Improvement direction:" in u]
    assert all("DIRECTION-" in u for u in impl)
    # Insights: the first proposal sees "None"; every later proposal sees the scouted insights.
    proposals = [u for u in users if "General insights so far:" in u]
    assert "General insights so far:\nNone" in proposals[0]
    assert all("INSIGHT: abs on both arguments helps" in u for u in proposals[1:])
    assert len(tree.insights) == meter.calls_by_purpose().get("insights", 0)
    assert result.stopped == "solved_visible" and result.chosen is not None and result.chosen.passed_all


async def test_sfs_selection_uses_max_backup_values() -> None:
    model = ScriptedModel(ladder_policy())
    result, _ = await _run("sfs", model, "programs=12", seeds=3, directions=2)
    for node in result.tree:
        best_below = max([node.score, *(d.value for d in node.children)])
        assert node.value == pytest.approx(best_below)


@pytest.mark.parametrize("name", STRATEGY_NAMES)
async def test_every_call_is_counted_identically(name: str) -> None:
    """Whatever the strategy, the meter saw every request the model got, with its tokens."""
    model = ScriptedModel(
        lambda m, r: fence(LADDER[0]) if "Idea 1:" not in m[0].content else "Idea 1: x\nIdea 2: y"
    )
    result, meter = await _run(name, model, "programs=6", tests="generated", n_generated_tests=2)
    assert meter.spent.calls == len(model.seen)
    assert meter.spent.programs == len(result.tree) == 6
    assert sum(meter.calls_by_purpose().values()) == meter.spent.calls
    assert meter.calls_by_purpose()["tests"] == 1  # generating visible tests is paid for too
    assert meter.spent.input_tokens == sum(r.input_tokens for r in meter.records)
    assert meter.spent.input_tokens == sum(sum(len(m.content.split()) for m in msgs) for msgs in model.seen)
    assert result.budget.spent == meter.spent


@pytest.mark.parametrize("name", STRATEGY_NAMES)
async def test_strategies_are_anytime(name: str) -> None:
    """The first programs of a run at a larger budget are exactly a run at the smaller budget."""
    small, _ = await _run(name, ScriptedModel(ladder_policy(p=0.3)), "programs=4", seed=7)
    large, _ = await _run(name, ScriptedModel(ladder_policy(p=0.3)), "programs=9", seed=7)
    assert [n.program for n in small.tree] == [n.program for n in large.tree][: len(small.tree)]


@pytest.mark.parametrize("name", STRATEGY_NAMES)
async def test_calls_budget_is_never_exceeded(name: str) -> None:
    result, meter = await _run(name, ScriptedModel(ladder_policy(p=0.0)), "calls=7")
    assert meter.spent.calls <= 7 and result.stopped == "budget"


def _seeded_random_policy(messages: Sequence[Message], rng: random.Random) -> str:
    return fence(LADDER[rng.randrange(3)])


async def test_paired_seeds_reproduce_a_search() -> None:
    a, _ = await _run(
        "best_of_n", ScriptedModel(_seeded_random_policy), "programs=5", seed=11, stop_on_pass=False
    )
    b, _ = await _run(
        "best_of_n", ScriptedModel(_seeded_random_policy), "programs=5", seed=11, stop_on_pass=False
    )
    c, _ = await _run(
        "best_of_n", ScriptedModel(_seeded_random_policy), "programs=5", seed=12, stop_on_pass=False
    )
    assert [n.program for n in a.tree] == [n.program for n in b.tree]
    assert [n.program for n in a.tree] != [n.program for n in c.tree]


async def test_sfs_without_early_stop_stops_where_the_released_solver_does() -> None:
    """``stop_on_pass=False`` is the released solver's timing: seeding still ends at a seed passing
    every visible test, and the loop ends when selection reaches a program passing every visible test
    (possibly after expanding elsewhere). A passing program is never expanded further."""
    solved = ScriptedModel(lambda messages, rng: fence(LADDER[2]))
    result, meter = await _run("sfs", solved, "programs=10", seeds=3, stop_on_pass=False)
    assert meter.spent.calls == meter.spent.programs == len(result.tree) == 1
    assert result.stopped == "solved_visible"

    model = ScriptedModel(ladder_policy())
    result, meter = await _run("sfs", model, "programs=30", seeds=2, directions=2, stop_on_pass=False)
    assert result.stopped == "solved_visible" and meter.spent.programs < 30
    passing = [n for n in result.tree if n.passed_all]
    assert passing and all(not n.children and not n.directions for n in passing)
    # The released loop updates the insights after every expansion, the solving one included.
    assert meter.calls_by_purpose()["insights"] == len(result.tree) - 2
