"""Counting what model calls cost (:class:`CostMeter`) and stopping at a limit (:class:`Budget`).

A :class:`CostMeter` is a ledger keyed by stage (``tests``, ``edits``, ``search``, ...): calls,
requests, completions, usage and dollars, plus free-form counters such as ``programs`` that a higher
layer counts itself. Every model wrapper records into a meter after each call; several wrappers and
several strategies may share one meter, so every call is counted once, wherever it came from.

A :class:`Budget` holds :class:`BudgetLimits` and reads a meter (one stage, or all of them). It is
checked *before* each call, and refuses the call with :class:`harness.errors.BudgetExceeded` once a
limit is reached, so a token or dollar limit may be overshot by at most the one call that crossed it;
``calls`` and counters checked with ``check(programs=k)`` are exact.

Calls in flight count too (:meth:`Budget.admit`): a model call reserves its worst case in the meter
(one call; its estimated prompt and ``max_tokens`` of output per sample, priced) until it is recorded
or fails. A call is let through when the limits still hold with every reserved call counted at its
worst case; while they would not, it waits for calls in flight to end, then the spent amounts decide.
So N concurrent calls never pass a limit that only one of them fits under.

Completions served from the response cache count like fresh ones (``dollars`` is the cost of the
work, ``paid_dollars`` what this process actually paid), so a resumed run stops where the first run
would have stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import BudgetExceeded
from harness.models._types import Completion, Usage

ALL_STAGES = "*"


class Spend(BaseModel):
    """What one stage (or a whole run) spent."""

    model_config = ConfigDict(extra="forbid")

    calls: int = 0
    """``Model.sample`` calls (one call may ask for ``n`` completions)."""
    requests: int = 0
    """Provider requests actually sent, retries excluded (cached completions need none)."""
    completions: int = 0
    cached_completions: int = 0
    usage: Usage = Field(default_factory=Usage)
    dollars: float = 0.0
    """Cost of every completion, including those served from the response cache."""
    paid_dollars: float = 0.0
    """Cost of the completions this process paid for (not served from the cache)."""
    counters: dict[str, int] = Field(default_factory=dict)
    """Counts kept by higher layers, e.g. ``programs`` for search."""

    @property
    def tokens(self) -> int:
        return self.usage.total_tokens

    def flat(self) -> dict[str, float]:
        """A flat mapping for :class:`BudgetExceeded` and reports."""
        out: dict[str, float] = {
            "calls": self.calls,
            "requests": self.requests,
            "completions": self.completions,
            "cached_completions": self.cached_completions,
            "input_tokens": self.usage.input_tokens
            + self.usage.cache_read_tokens
            + self.usage.cache_write_tokens,
            "output_tokens": self.usage.output_tokens,
            "tokens": self.tokens,
            "dollars": round(self.dollars, 6),
            "paid_dollars": round(self.paid_dollars, 6),
        }
        out.update(self.counters)
        return out

    def add(self, other: Spend) -> None:
        self.calls += other.calls
        self.requests += other.requests
        self.completions += other.completions
        self.cached_completions += other.cached_completions
        self.usage = self.usage + other.usage
        self.dollars += other.dollars
        self.paid_dollars += other.paid_dollars
        for k, v in other.counters.items():
            self.counters[k] = self.counters.get(k, 0) + v


class CostMeter:
    """A ledger of spend by stage. Not thread-safe: record from one event loop."""

    def __init__(self) -> None:
        self.stages: dict[str, Spend] = {}
        self.pending: list[tuple[str, Spend]] = []
        """(stage, worst case) of each call in flight (:meth:`Budget.admit`)."""
        self._waiters: list[asyncio.Future[None]] = []

    def stage(self, name: str) -> Spend:
        """The running totals of ``name`` (``"*"`` for the sum over every stage)."""
        if name == ALL_STAGES:
            return self.total
        return self.stages.setdefault(name, Spend())

    @property
    def total(self) -> Spend:
        out = Spend()
        for s in self.stages.values():
            out.add(s)
        return out

    def record(
        self, stage: str, completions: Sequence[Completion], *, requests: int, call: bool = True
    ) -> None:
        """Count one ``sample`` call that returned ``completions`` after ``requests`` provider requests.

        ``call=False``: the answered requests of a call that failed (paid for, but no call answered)."""
        s = self.stage(stage)
        s.calls += 1 if call else 0
        s.requests += requests
        for c in completions:
            s.completions += 1
            s.usage = s.usage + c.usage
            s.dollars += c.cost_usd
            if c.cached:
                s.cached_completions += 1
            else:
                s.paid_dollars += c.cost_usd

    def pending_of(self, name: str) -> Spend:
        """What calls in flight of ``name`` (``"*"``: of every stage) reserved."""
        out = Spend()
        for stage, spend in self.pending:
            if name in (ALL_STAGES, stage):
                out.add(spend)
        return out

    def reserve(self, stage: str, worst: Spend) -> None:
        """Hold ``worst`` for a call in flight of ``stage`` until :meth:`unreserve`."""
        self.pending.append((stage, worst))

    def unreserve(self, stage: str, worst: Spend) -> None:
        """Drop a reservation (the call was recorded, or failed) and wake calls waiting on a budget."""
        for k, (held_stage, held) in enumerate(self.pending):
            if held_stage == stage and held is worst:
                del self.pending[k]
                break
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def changed(self) -> None:
        """Return once a reservation is dropped."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        await fut

    def count(self, name: str, k: int = 1, *, stage: str = "default") -> None:
        """Add ``k`` to a free-form counter such as ``programs``."""
        s = self.stage(stage)
        s.counters[name] = s.counters.get(name, 0) + k

    def summary(self) -> dict[str, dict[str, float]]:
        """Per-stage flat totals plus ``"total"``, for reports and ``stages.json``."""
        out = {name: s.flat() for name, s in sorted(self.stages.items())}
        out["total"] = self.total.flat()
        return out


class BudgetLimits(BaseModel):
    """Upper limits; ``None`` means unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    calls: int | None = None
    """``Model.sample`` calls."""
    input_tokens: int | None = None
    """Prompt tokens, cached or not."""
    output_tokens: int | None = None
    tokens: int | None = None
    """Input plus output tokens."""
    dollars: float | None = None
    counters: dict[str, int] = Field(default_factory=dict)
    """Limits on free-form counters, e.g. ``{"programs": 50}`` for search."""


class Budget:
    """Limits over a :class:`CostMeter`'s stage (or all stages with ``stage="*"``)."""

    def __init__(
        self, limits: BudgetLimits | None = None, *, meter: CostMeter | None = None, stage: str = ALL_STAGES
    ) -> None:
        self.limits = limits or BudgetLimits()
        self.meter = meter if meter is not None else CostMeter()
        self.stage = stage

    @property
    def spent(self) -> Spend:
        return self.meter.stage(self.stage)

    def exhausted_by(self, **needed: int) -> str | None:
        """The first limit that one more call (adding ``needed`` to counters) would break, else None."""
        lim, flat = self.limits, self.spent.flat()
        if lim.calls is not None and flat["calls"] + 1 > lim.calls:
            return "calls"
        for key in ("input_tokens", "output_tokens", "tokens", "dollars"):
            cap = getattr(lim, key)
            if cap is not None and flat[key] >= cap:
                return key
        for key, cap in lim.counters.items():
            if flat.get(key, 0) + needed.get(key, 0) > cap or (
                needed.get(key, 0) == 0 and flat.get(key, 0) >= cap
            ):
                return key
        return None

    def fits_beside_pending(self) -> bool:
        """Whether one more call keeps every limit with each call in flight at its reserved worst case."""
        lim, spent, held = self.limits, self.spent, self.meter.pending_of(self.stage)
        if lim.calls is not None and spent.calls + held.calls + 1 > lim.calls:
            return False
        flat, pending = spent.flat(), held.flat()
        flat["dollars"], pending["dollars"] = spent.dollars, held.dollars  # unrounded
        for key in ("input_tokens", "output_tokens", "tokens", "dollars"):
            cap = getattr(lim, key)
            if cap is not None and held.calls and flat[key] + pending[key] >= cap:
                return False
        return True

    async def admit(self, stage: str, worst: Spend) -> None:
        """Let one call of ``stage`` (costing at most ``worst``) through, reserving ``worst`` in the meter.

        Raises :class:`BudgetExceeded` as :meth:`check` does; while the calls in flight, at their worst
        case, leave no room for this one, waits for them to end. The caller must
        ``meter.unreserve(stage, worst)`` once the call is recorded or has failed.
        """
        while True:
            self.check()
            if not self.meter.pending_of(self.stage).calls or self.fits_beside_pending():
                self.meter.reserve(stage, worst)
                return
            await self.meter.changed()

    def check(self, **needed: int) -> None:
        """Raise :class:`BudgetExceeded` (carrying what was spent) if the next call is not affordable."""
        hit = self.exhausted_by(**needed)
        if hit is not None:
            cap = getattr(self.limits, hit, None)
            if cap is None:
                cap = self.limits.counters.get(hit)
            where = "the run" if self.stage == ALL_STAGES else f"stage {self.stage!r}"
            raise BudgetExceeded(
                f"budget reached for {where}: {hit} limit {cap} (spent {self.spent.flat()[hit]:g}); "
                f"raise the {hit} limit to continue",
                spent=self.spent.flat(),
            )
