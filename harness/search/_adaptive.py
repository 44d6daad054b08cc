"""Adaptive compute across problems: probe every task cheaply, then spend the rest where it pays.

In the spirit of "Learning How Hard to Think" (Damani et al., 2024), which predicts per-query marginal
reward and allocates compute greedily, but with the difficulty *estimated from the first samples*
instead of a learned predictor: each task's probe search gives the mean visible-test pass fraction of
its programs, ``m``, and whether one already passes every visible test.

- A task whose probe already has a program passing every visible test gains nothing from more compute
  (the choice is made on visible tests), so it gets none.
- Otherwise one more step of compute (a fresh search of ``step`` budget) is modelled as a Bernoulli
  trial that finds a visible-passing program with probability ``q = max(floor, gain_scale * m)``: partial
  passes mean the model is close. The ``j``-th extra step has expected gain ``q (1 - q)**(j-1)``, which
  decreases in ``j``, so handing out steps greedily by largest marginal gain maximises the expected
  number of tasks solved under this model.

The uniform split gives every task the same budget; both see the same total.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field


class AdaptiveConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    probe_fraction: float = Field(default=0.3, gt=0.0, lt=1.0)
    """Share of each task's uniform budget spent on the probe search."""
    gain_scale: float = Field(default=0.5, gt=0.0, le=1.0)
    """``q = gain_scale * m``: how strongly a partial visible pass rate predicts success."""
    floor: float = Field(default=0.02, ge=0.0, le=1.0)
    """Smallest per-step success probability of an unsolved task (nothing is hopeless)."""


class Difficulty(BaseModel):
    """What a task's probe revealed."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    solved_visible: bool
    mean_score: float
    n_programs: int


def step_success(d: Difficulty, cfg: AdaptiveConfig) -> float:
    """The modelled probability that one more step finds a visible-passing program (0 when solved)."""
    if d.solved_visible:
        return 0.0
    return min(1.0, max(cfg.floor, cfg.gain_scale * d.mean_score))


def allocate(difficulties: Sequence[Difficulty], steps: int, cfg: AdaptiveConfig) -> list[int]:
    """Extra steps per task (same order), ``steps`` in total unless every task is solved.

    Greedy by marginal gain ``q (1-q)**j`` for a task's ``(j+1)``-th step; ties go to the earlier task.
    """
    out = [0] * len(difficulties)
    qs = [step_success(d, cfg) for d in difficulties]
    heap = [(-q, i) for i, q in enumerate(qs) if q > 0.0]
    heapq.heapify(heap)
    for _ in range(steps):
        if not heap:
            break
        neg_gain, i = heapq.heappop(heap)
        out[i] += 1
        q = qs[i]
        heapq.heappush(heap, (-(q * (1.0 - q) ** out[i]), i))
        del neg_gain
    return out


def expected_solved(difficulties: Sequence[Difficulty], extra: Sequence[int], cfg: AdaptiveConfig) -> float:
    """The model's expected number of tasks with a visible-passing program after the extra steps."""
    total = 0.0
    for d, k in zip(difficulties, extra, strict=True):
        if d.solved_visible:
            total += 1.0
        else:
            total += 1.0 - (1.0 - step_success(d, cfg)) ** k
    return total
