"""The selection loop with a scripted model: choice, off-format answers, giving up, the turn limit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.models import Message, load
from harness.pipeline.selection_agent import SelectionResult, select_patch
from harness.pipeline.voting import PatchMatrix
from harness.selection import Cell, PassMatrix
from harness.tasks import PublicRepoTask, RepoTask
from harness.trajectory import TrajectoryLog, iter_events

TASK = RepoTask(
    instance_id="demo-1",
    repo="demo/demo",
    base_commit="0" * 40,
    problem_statement="f(1) should be 2",
    patch="SECRET GOLD PATCH",
    test_patch="SECRET TEST PATCH",
    FAIL_TO_PASS=("tests/test_secret.py::test_hidden",),
)
CANDS = [
    "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n",
    "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 3\n",
    "",
    "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 4\n",
]


def _matrix() -> PatchMatrix:
    # Votes: c1 (2 tests) > c0 (1) > c3 (0); c2 is empty.
    P, F = Cell.PASS, Cell.FAIL
    cells = np.array([[P, F], [P, P], [F, F], [F, F]], dtype=np.int8)
    return PatchMatrix(
        PassMatrix("demo-1", ["c0", "c1", "c2", "c3"], ["t0", "t1"], cells),
        np.array([F, F], dtype=np.int8),
        [True] * 4,
    )


def _run(replies: list[str], tmp_path: Path, **kw: Any) -> tuple[SelectionResult, list[list[Message]]]:
    seen: list[list[Message]] = []

    def policy(messages: list[Message], index: int) -> str:
        seen.append(list(messages))
        return replies[min(index, len(replies) - 1)]

    model = load(policy)
    with TrajectoryLog(tmp_path / "sel.jsonl") as log:
        result = asyncio.run(select_patch(TASK.public_view(), model, CANDS, _matrix(), log=log, **kw))
    return result, seen


def test_model_sees_the_issue_and_top_diffs_in_vote_order_and_chooses(tmp_path: Path) -> None:
    result, seen = _run(
        ["Candidate 2 looks right.\n<choice>2</choice>\n<reason>it sets x to 2</reason>"], tmp_path
    )
    assert result.index == 0 and not result.fell_back and result.turns == 1
    assert result.shown == [1, 0, 3]  # empty candidate left out
    assert result.reason == "it sets x to 2"
    assert result.usage.input_tokens > 0
    intro = seen[0][1].content
    assert "f(1) should be 2" in intro and "+x = 3" in intro.split("## Candidate 2")[0]
    assert "passes 2 of 2" in intro
    everything = "".join(m.content for chat in seen for m in chat)
    assert "SECRET" not in everything and "test_hidden" not in everything
    events = list(iter_events(tmp_path / "sel.jsonl"))
    assert events[0].type == "start" and events[-1].type == "end"
    assert events[-1].data["outcome"] == "chosen"


def test_off_format_answers_get_corrected_then_choice(tmp_path: Path) -> None:
    replies = [
        "I think the second one.",  # no action
        "<choice>7</choice>",  # out of range
        "<choice>1</choice><give_up/>",  # two actions
        "<choice>3</choice>",
    ]
    result, seen = _run(replies, tmp_path)
    assert result.index == 3 and not result.fell_back and result.turns == 4
    corrections = [chat[-1].content for chat in seen[1:]]
    assert "holds no action" in corrections[0]
    assert "from 1 to 3" in corrections[1]
    assert "exactly one per answer" in corrections[2]


def test_give_up_and_turn_limit_fall_back_to_the_vote_winner(tmp_path: Path) -> None:
    result, _ = _run(["hmm <give_up/>"], tmp_path)
    assert result.index == 1 and result.fell_back and "gave up" in result.reason
    result, seen = _run(["no idea"], tmp_path, max_turns=3)
    assert result.index == 1 and result.fell_back and result.turns == 3
    assert len(seen) == 3 and "no choice after 3 turns" in result.reason


def test_commands_without_an_image_are_answered_not_run(tmp_path: Path) -> None:
    result, seen = _run(
        ['<command candidate="1">ls</command>', "<test>\nprint(1)\n</test>", "<choice>1</choice>"], tmp_path
    )
    assert result.index == 1 and not result.fell_back
    assert "not available" in seen[1][-1].content and "not available" in seen[2][-1].content


def test_single_candidate_needs_no_model_and_full_task_is_refused(tmp_path: Path) -> None:
    def never(messages: list[Message], index: int) -> str:
        raise AssertionError("the model must not be called")

    res = asyncio.run(select_patch(TASK.public_view(), load(never), [CANDS[0], ""], None))
    assert res.index == 0 and not res.fell_back and res.turns == 0
    with pytest.raises(ConfigError):
        asyncio.run(select_patch(TASK, load(never), CANDS, None))  # type: ignore[arg-type]
    assert isinstance(TASK.public_view(), PublicRepoTask)


def test_budget_exhausted_mid_loop_falls_back_with_the_spend_counted(tmp_path: Path) -> None:
    from harness.models import Budget, BudgetLimits, CostMeter

    meter = CostMeter()
    model = load(
        lambda m, i: "still thinking", meter=meter, budget=Budget(BudgetLimits(calls=2), meter=meter)
    )
    res = asyncio.run(select_patch(TASK.public_view(), model, CANDS, _matrix(), max_turns=5))
    assert res.fell_back and res.index == 1 and "BudgetExceeded" in res.reason
    assert res.turns == 3 and res.usage.input_tokens > 0
    assert res.calls == 2  # the third turn's call was refused: it is not a call the run paid for


def test_a_given_ranking_decides_what_is_shown_and_the_fallback(tmp_path: Path) -> None:
    from harness.selection import Ranking

    ranking = Ranking(selector="b4", task_id="demo-1", scores=[0, 0, 0, 1], groups=[[3], [0], [1, 2]])
    result, seen = _run(["<give_up/>"], tmp_path, ranking=ranking, top_k=2)
    assert result.shown == [3, 0] and result.index == 3 and result.fell_back
    assert "+x = 4" in seen[0][1].content.split("## Candidate 2")[0]
