"""Counting what model calls cost (:class:`CostMeter`) and stopping at a limit (:class:`Budget`).

A :class:`CostMeter` is a ledger keyed by stage (``tests``, ``edits``, ``search``, ...) of
:class:`~harness.models._accounting.Spend`: calls, requests, completions, tokens and ``cost_usd``, plus
``programs``, which a higher layer counts itself. Every model wrapper records into a meter after each call; several wrappers and
several strategies may share one meter, so every call is counted once, wherever it came from.

A :class:`Budget` holds :class:`BudgetLimits` and reads a meter (one stage, or all of them). It is
checked *before* each call, and refuses the call with :class:`harness.errors.BudgetExceeded` once a
limit is reached (:meth:`BudgetLimits.reached`, the rule search's meter uses too), so a token or dollar
limit may be overshot by at most the one call that crossed it; ``calls`` and ``programs`` checked with
``check(programs=k)`` are exact.

Calls in flight count too (:meth:`Budget.admit`): a model call reserves its worst case in the meter
(one call; its estimated prompt and ``max_tokens`` of output per sample, priced) until it is recorded
or fails. A call is let through when the limits still hold with every reserved call counted at its
worst case; while they would not, it waits for calls in flight to end, then the spent amounts decide.
So N concurrent calls never pass a limit that only one of them fits under.

Completions served from the response cache count like fresh ones (``cost_usd`` is the cost of the
work, ``paid_usd`` what this process actually paid), so a resumed run stops where the first run
would have stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from harness.errors import BudgetExceeded
from harness.models._accounting import BudgetLimits, Spend
from harness.models._types import Completion

ALL_STAGES = "*"


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
        work = Spend.of(completions, call=call)
        work.requests = requests
        work.completions = len(completions)
        work.cached_completions = sum(1 for c in completions if c.cached)
        work.paid_usd = sum(c.cost_usd for c in completions if not c.cached)
        self.stage(stage).add(work)

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
        """Add ``k`` to ``programs`` (the one count a higher layer keeps itself)."""
        if name != "programs":
            raise ValueError(f"no counter {name!r} in a Spend: the one counted by hand is 'programs'")
        self.stage(stage).programs += k

    def summary(self) -> dict[str, dict[str, float]]:
        """Per-stage flat totals plus ``"total"``, for reports and ``stages.json``."""
        out = {name: s.flat() for name, s in sorted(self.stages.items())}
        out["total"] = self.total.flat()
        return out


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

    def exhausted_by(self, *, calls: int = 1, **needed: int) -> str | None:
        """The first limit that a next step of ``calls`` calls (making ``needed["programs"]`` programs)
        would break, else None (:meth:`BudgetLimits.reached`)."""
        unknown = set(needed) - {"programs"}
        if unknown:
            raise ValueError(f"no counter {sorted(unknown)} in a Spend: the one counted is 'programs'")
        return self.limits.reached(self.spent, calls=calls, programs=needed.get("programs", 0))

    def fits_beside_pending(self) -> bool:
        """Whether one more call keeps every limit with each call in flight at its reserved worst case."""
        lim, spent, held = self.limits, self.spent, self.meter.pending_of(self.stage)
        if lim.calls is not None and spent.calls + held.calls + 1 > lim.calls:
            return False
        for key in ("input_tokens", "output_tokens", "tokens", "cost_usd"):
            cap = getattr(lim, key)
            if cap is not None and held.calls and spent.get(key) + held.get(key) >= cap:
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
            where = "the run" if self.stage == ALL_STAGES else f"stage {self.stage!r}"
            raise BudgetExceeded(
                f"budget reached for {where}: {hit} limit {getattr(self.limits, hit)} "
                f"(spent {self.spent.get(hit):g}); raise the {hit} limit to continue",
                spent=self.spent.flat(),
            )
