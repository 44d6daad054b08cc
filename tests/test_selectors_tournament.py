"""Knockout tournament: execution comparator and an LLM judge (a scripted model speaking the seam)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from harness.models._types import Completion, Message
from harness.selection import PassMatrix, select
from harness.selection.selectors import LLMJudge, TournamentParams, parse_verdict, tournament_llm


class ScriptedJudge:
    """A ``Model`` whose answer is a function of the prompt: it prefers the solution containing 'good',
    and answers off-format every ``garble``-th call."""

    name = "scripted-judge"

    def __init__(self, garble: int = 0, style: str = "{}") -> None:
        self.garble = garble
        self.style = style
        self.calls = 0
        self.prompts: list[str] = []

    async def sample(
        self,
        messages: Sequence[Message],
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int = 1024,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        logprobs: bool = False,
    ) -> list[Completion]:
        self.calls += 1
        user = messages[-1].content
        self.prompts.append(user)
        if self.garble and self.calls % self.garble == 0:
            return [Completion(text="Both look plausible; hard to say.")]
        a_part, b_part = user.split("Solution B:")
        letter = "A" if "good" in a_part else "B" if "good" in b_part else "A"
        return [Completion(text=self.style.format(letter))]


def _matrix(n: int, passes: list[int]) -> PassMatrix:
    m = max(passes) + 1
    cells = np.array([[1] * p + [0] * (m - p) for p in passes], dtype=np.int8)
    return PassMatrix("t", [f"c{i}" for i in range(n)], [f"x{j}" for j in range(m)], cells)


def test_execution_tournament_crowns_the_candidate_passing_most_tests() -> None:
    m = _matrix(6, [1, 4, 2, 3, 0, 2])
    r = select("tournament", m, n_candidates=6, seed_by="random", comparisons=1)
    assert r.top == [1]
    assert len(r.groups[1]) == 1  # the finalist
    assert sorted(i for g in r.groups for i in g) == list(range(6))


@pytest.mark.parametrize(
    "text, verdict",
    [
        ("A", 1.0),
        ("B", 0.0),
        ("**B**", 0.0),
        ("Answer: A", 1.0),
        ("I think\nB.", 0.0),
        ("AB", None),
        ("Solution A is better because", None),
        ("", None),
    ],
)
def test_parse_verdict(text: str, verdict: float | None) -> None:
    assert parse_verdict(text) == verdict


async def test_llm_tournament_picks_what_the_judge_prefers_in_both_positions() -> None:
    codes = ["return 0", "return 1", "return good", "return 3", "return 4"]
    model = ScriptedJudge(style="Answer: **{}**")
    judge = LLMJudge(model, "Write f.", codes)
    m = _matrix(5, [0, 0, 0, 0, 0])  # execution says nothing: seeding is random
    r = await tournament_llm(m, judge, TournamentParams(n_candidates=5, seed_by="random", comparisons=2))
    assert r.top == [2]
    assert judge.off_format == 0
    # 5 seeds: 2 matches + a bye, then 1 match, then the final: 4 matches x 2 comparisons.
    assert model.calls == 8
    shown_first = [p.split("Solution A:")[1].split("Solution B:")[0] for p in model.prompts]
    assert any("good" in s for s in shown_first) and not all("good" in s for s in shown_first)


async def test_off_format_answers_abstain_and_silence_goes_to_the_better_seed() -> None:
    codes = ["return x", "return good"]
    m = _matrix(2, [3, 1])  # codet seeds c0 first
    model = ScriptedJudge(garble=1)  # every answer is off-format
    judge = LLMJudge(model, "Write f.", codes)
    r = await tournament_llm(m, judge, TournamentParams(n_candidates=2, comparisons=3))
    assert r.top == [0] and judge.off_format == 3
    model = ScriptedJudge(garble=2)  # one usable answer in three still decides
    judge = LLMJudge(model, "Write f.", codes)
    r = await tournament_llm(m, judge, TournamentParams(n_candidates=2, comparisons=3))
    assert r.top == [1] and judge.off_format == 1


def test_candidates_outside_the_bracket_follow_in_seeding_order() -> None:
    m = _matrix(6, [1, 4, 2, 3, 0, 2])
    r = select("tournament", m, n_candidates=2, seed_by="maxpass")
    assert r.groups[:2] == [[1], [3]]
    assert sorted(r.groups[2] + r.groups[3]) == [2, 5]
    assert r.groups[4:] == [[0], [4]]
