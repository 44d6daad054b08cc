"""Knockout tournament: the top-N candidates meet in pairs; a judge decides each pair in K comparisons.

The judge is either an execution comparator (more generated tests passed wins; pure and synchronous,
registered as ``tournament``) or an LLM through the :class:`harness.models.Model` seam
(:func:`tournament_llm`, async). Ranking: the champion first, then the finalist, then the losers of
each earlier round as tied groups, then the candidates left out of the bracket in their seeding order.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.models._types import Message, Model
from harness.selection._types import PassMatrix, Ranking
from harness.selection.selectors._common import all_tied, ranking_from_scores

Verdict = float | None
"""1.0: the first candidate is better; 0.0: the second; 0.5: a draw; None: no usable answer."""


class TournamentParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_candidates: int = Field(default=8, ge=1)
    """Bracket size: the best ``n_candidates`` by the seeding selector enter the knockout."""
    seed_by: Literal["codet", "maxpass", "random"] = "codet"
    """Selector that picks and seeds the bracket (best seed meets worst seed in round one)."""
    comparisons: int = Field(default=3, ge=1)
    """K comparisons per pair; the LLM judge sees the pair in alternating order to cancel position bias."""
    seed: int = 0
    """Breaks ties in the seeding order."""
    comparator: Literal["tests"] = "tests"
    """The synchronous comparator: generated tests passed (weighted by test multiplicity)."""


def _seed_order(matrix: PassMatrix, params: TournamentParams) -> list[int]:
    """All candidates, best seed first; ties inside a seeding group shuffled by ``params.seed``."""
    from harness.selection.selectors import select

    ranking = select(params.seed_by, matrix)
    rng = np.random.default_rng(params.seed)
    order: list[int] = []
    for group in ranking.groups:
        order.extend(int(i) for i in rng.permutation(group))
    return order


def _pairs(alive: list[int]) -> tuple[list[tuple[int, int]], list[int]]:
    """Best-vs-worst pairing of the still-alive seeds; with an odd count the best seed gets a bye."""
    byes = alive[:1] if len(alive) % 2 else []
    rest = alive[len(byes) :]
    half = len(rest) // 2
    return [(rest[i], rest[-1 - i]) for i in range(half)], byes


def _winner(a: int, b: int, verdicts: Sequence[Verdict]) -> int:
    """Majority over usable verdicts; a draw or no usable verdict goes to the better seed ``a``."""
    usable = [v for v in verdicts if v is not None]
    score = sum(usable) - 0.5 * len(usable)
    return b if score < 0 else a


def _ranking(matrix: PassMatrix, order: list[int], bracket: int, out_round: dict[int, int]) -> Ranking:
    n = matrix.shape[0]
    scores = np.zeros(n, dtype=np.float64)
    for i, r in out_round.items():
        scores[i] = float(r)
    for pos, i in enumerate(order[bracket:]):
        scores[i] = -1.0 - pos
    return ranking_from_scores("tournament", matrix, scores)


def tournament(matrix: PassMatrix, params: TournamentParams) -> Ranking:
    """Knockout decided by execution: the candidate passing more (multiplicity-weighted) tests wins."""
    n, m = matrix.shape
    if n == 0 or m == 0:
        return all_tied("tournament", matrix, ranked=False)
    passes = matrix.passed.astype(np.float64) @ matrix.test_counts.astype(np.float64)

    def decide(a: int, b: int) -> int:
        verdict = 0.5 if passes[a] == passes[b] else float(passes[a] > passes[b])
        return _winner(a, b, [verdict] * params.comparisons)

    order = _seed_order(matrix, params)
    bracket = min(params.n_candidates, n)
    alive, out_round, rnd = order[:bracket], {}, 0
    while len(alive) > 1:
        rnd += 1
        pairs, byes = _pairs(alive)
        winners = [decide(a, b) for a, b in pairs]
        for (a, b), w in zip(pairs, winners, strict=True):
            out_round[b if w == a else a] = rnd
        alive = [i for i in alive if i in set(byes) | set(winners)]
    out_round[alive[0]] = rnd + 1
    return _ranking(matrix, order, bracket, out_round)


JUDGE_SYSTEM = (
    "You compare two candidate solutions to a programming task. Decide which one is more likely to be "
    "correct. Reply with a single letter: A or B."
)

_ANSWER = re.compile(r"^\W*(?:answer|winner|solution|verdict)?\W*([AB])\W*$", re.IGNORECASE)


def parse_verdict(text: str) -> Verdict:
    """``1.0`` for A, ``0.0`` for B, ``None`` when the answer is off-format (anything but one letter,
    optionally prefixed by "Answer:"/"Winner:" and wrapped in punctuation such as ``**B**``)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    match = _ANSWER.match(lines[-1].strip())
    if match is None:
        return None
    return 1.0 if match.group(1).upper() == "A" else 0.0


class LLMJudge:
    """Pairwise judge through the ``Model`` seam. Comparison ``k`` of a pair shows (a, b) when ``k`` is
    even and (b, a) when odd; the verdict is mapped back to the pair's order."""

    def __init__(self, model: Model, prompt: str, codes: Sequence[str], *, temperature: float = 0.0) -> None:
        self.model = model
        self.prompt = prompt
        self.codes = list(codes)
        self.temperature = temperature
        self.calls = 0
        self.off_format = 0

    def messages(self, first: int, second: int) -> list[Message]:
        user = (
            f"Task:\n{self.prompt}\n\nSolution A:\n```python\n{self.codes[first]}\n```\n\n"
            f"Solution B:\n```python\n{self.codes[second]}\n```\n\nWhich solution is correct? Reply A or B."
        )
        return [Message(role="system", content=JUDGE_SYSTEM), Message(role="user", content=user)]

    async def __call__(self, a: int, b: int, k: int) -> Verdict:
        first, second = (a, b) if k % 2 == 0 else (b, a)
        completions = await self.model.sample(
            self.messages(first, second), n=1, temperature=self.temperature, max_tokens=8, seed=k
        )
        self.calls += 1
        verdict = parse_verdict(completions[0].text) if completions else None
        if verdict is None:
            self.off_format += 1
            return None
        return verdict if k % 2 == 0 else 1.0 - verdict


async def tournament_llm(
    matrix: PassMatrix,
    judge: Callable[[int, int, int], Awaitable[Verdict]],
    params: TournamentParams | None = None,
) -> Ranking:
    """Knockout decided by an async ``judge(a, b, k)`` (e.g. :class:`LLMJudge`); the matches of a round
    run concurrently. Off-format answers abstain; a pair with no usable verdict goes to the better seed."""
    params = params or TournamentParams()
    n = matrix.shape[0]
    if n == 0:
        return all_tied("tournament", matrix, ranked=False)
    order = _seed_order(matrix, params)
    bracket = min(params.n_candidates, n)
    alive, out_round, rnd = order[:bracket], {}, 0

    async def play(a: int, b: int) -> int:
        verdicts = await asyncio.gather(*(judge(a, b, k) for k in range(params.comparisons)))
        return _winner(a, b, verdicts)

    while len(alive) > 1:
        rnd += 1
        pairs, byes = _pairs(alive)
        winners = await asyncio.gather(*(play(a, b) for a, b in pairs))
        for (a, b), w in zip(pairs, winners, strict=True):
            out_round[b if w == a else a] = rnd
        alive = [i for i in alive if i in set(byes) | set(winners)]
    out_round[alive[0]] = rnd + 1
    return _ranking(matrix, order, bracket, out_round)
