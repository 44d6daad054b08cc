"""Fakes for the search tests: a scripted model whose answers depend on the prompt it is shown.

The policy walks a *ladder* of programs toward a correct one, and moves one rung up only when the prompt
shows failing-test feedback for the current rung (with probability ``p``, drawn from the call's seed):
a strategy that does not pass feedback to the model never gets past the first rung.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

import pytest

from harness.models._types import Completion, Message, Usage
from harness.tasks._function import FunctionTask, HiddenTests

PROMPT = '''def add_abs(a: int, b: int) -> int:
    """Return the sum of the absolute values of a and b.
    >>> add_abs(1, 2)
    3
    >>> add_abs(-1, 2)
    3
    >>> add_abs(2, -5)
    7
    """
'''

LADDER = [
    "def add_abs(a: int, b: int) -> int:\n    return a + b  # rung0\n",
    "def add_abs(a: int, b: int) -> int:\n    return abs(a) + b  # rung1\n",
    "def add_abs(a: int, b: int) -> int:\n    return abs(a) + abs(b)  # rung2\n",
]
"""Visible scores 1/3, 2/3, 3/3; only rung 2 is correct on the hidden tests."""

HIDDEN = "def check(candidate):\n    assert candidate(-7, -8) == 15\n    assert candidate(0, -1) == 1\n"


def make_task(hidden: str = HIDDEN) -> FunctionTask:
    return FunctionTask(
        task_id="Toy/0",
        prompt=PROMPT,
        entry_point="add_abs",
        canonical_solution="    return abs(a) + abs(b)\n",
        hidden=HiddenTests(code=hidden, entry_point="add_abs"),
        suite="toy",
    )


def fence(code: str) -> str:
    return f"Here you go:\n```python\n{code}```\n"


def rung_of(text: str) -> int | None:
    found = re.findall(r"# rung(\d)", text)
    return int(found[-1]) if found else None


Policy = Callable[[Sequence[Message], random.Random], str]


class ScriptedModel:
    """A ``Model`` whose answer is ``policy(messages, rng)``; usage counts whitespace tokens."""

    def __init__(self, policy: Policy, *, name: str = "scripted", logprobs: float | None = None) -> None:
        self.name = name
        self.policy = policy
        self.seen: list[list[Message]] = []
        self._logprob = logprobs

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
        self.seen.append(list(messages))
        rng = random.Random(seed)
        n_in = sum(len(m.content.split()) for m in messages)
        out = []
        for i in range(n):
            text = self.policy(messages, rng)
            n_out = len(text.split())
            lp = [self._logprob] * n_out if (logprobs and self._logprob is not None) else None
            out.append(
                Completion(
                    text=text,
                    usage=Usage(input_tokens=n_in // n + (n_in % n if i == 0 else 0), output_tokens=n_out),
                    cost_usd=0.001,
                    logprobs=lp,
                    model=self.name,
                )
            )
        return out


def ladder_policy(p: float = 1.0) -> Policy:
    """Seeds are rung 0. A refinement/implementation prompt showing failing tests for rung k answers
    rung k+1 with probability p (else rung k again). Also answers reflections, directions, insights
    and test-writing prompts in their expected formats."""

    def policy(messages: Sequence[Message], rng: random.Random) -> str:
        system, user = messages[0].content, messages[-1].content
        if "Your reflection:" in user:
            return "REFLECTION: the sign of b is ignored."
        if "Idea 1:" in system:
            k = rung_of(user) or 0
            return (
                f"Reflection.\nIdea 1: DIRECTION-{k}-A use abs on both\nIdea 2: DIRECTION-{k}-B check signs"
            )
        if "Updated insights:" in system:
            return "Updated insights:\n- INSIGHT: abs on both arguments helps"
        if "unit tests" in user and "Write" in user and "diverse" in user:
            return "assert add_abs(3, 4) == 7\nassert add_abs(-3, 4) == 7\n"
        k = rung_of(user)
        if k is None:
            return fence(LADDER[0])
        failing = re.search(r"Tests failed:\n\s*assert", user) is not None
        if failing and rng.random() < p:
            k = min(k + 1, len(LADDER) - 1)
        return fence(LADDER[k])

    return policy


def test_ladder_policy_moves_up_only_on_failing_feedback() -> None:
    pol = ladder_policy()
    rng = random.Random(0)
    seed = pol([Message(role="system", content="x"), Message(role="user", content="write it")], rng)
    assert rung_of(seed) == 0
    shown = (
        f"```python\n{LADDER[0]}```\nTests passed:\n\nTests failed:\nassert add_abs(-1, 2) == 3 # output: 1"
    )
    assert rung_of(pol([Message(role="user", content=shown)], rng)) == 1
    no_feedback = f"```python\n{LADDER[0]}```\n"
    assert rung_of(pol([Message(role="user", content=no_feedback)], rng)) == 0


@pytest.fixture
def toy_task() -> FunctionTask:
    return make_task()
