"""The budget meter every model call of a search passes through.

A :class:`~harness.models.BudgetLimits` says how much a search may spend (programs, calls, tokens,
``cost_usd``); a :class:`BudgetMeter` counts what was spent (a :class:`~harness.models.Spend`) and
refuses the next call once any limit is reached, by raising :class:`harness.errors.BudgetExceeded`. It
counts into the model layer's :class:`~harness.models.CostMeter` (one stage per call purpose) and asks
the model layer's :class:`~harness.models.Budget` whether a call fits, the meter and the rule the
pipeline's budget uses (:meth:`BudgetLimits.reached`).
These are the model layer's accounting types: search has none of its own. Strategies never call a model directly: they call
:meth:`BudgetMeter.sample`, so generation of programs, reflections, directions, insights and visible
tests are all counted the same way for every strategy.

A call is refused *before* it is sent when a limit is already reached, so a token or dollar limit can
be overshot by at most one call; ``programs`` and ``calls`` are never overshot.

Two sums are kept. ``spent`` is the work the search used, answers served from the model layer's
response cache included: budgets are checked against it, so a resumed search that replays its killed
attempt's calls from the cache stops where an uninterrupted one would. ``paid`` leaves out what the
cache served (the request that first fetched an answer paid for it), so a run's reported cost counts
every answered request once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from harness.errors import BudgetExceeded
from harness.models import Budget, BudgetLimits, Spend
from harness.models._types import Completion, Message, Model

Purpose = Literal["program", "reflection", "directions", "insights", "tests"]
"""Why a call was made. Only ``program`` calls produce programs (nodes)."""


def _spend_of(purpose: Purpose, out: Sequence[Completion], *, call: bool = True) -> Spend:
    """What the completions ``out`` of one call of ``purpose`` cost, as search counts it: calls,
    programs, tokens and ``cost_usd``."""
    return Spend.of(out, programs=purpose == "program", call=call)


class CallRecord(BaseModel):
    """One model call as the meter saw it: what was asked, what came back, what it cost."""

    model_config = ConfigDict(frozen=True)

    index: int
    purpose: Purpose
    messages: list[Message]
    outputs: list[str]
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = Field(default=0.0, validation_alias=AliasChoices("cost_usd", "dollars"))
    cached: int = 0
    """How many of ``outputs`` the model layer's response cache served (paid for by the request that
    first fetched them: an earlier call, an earlier attempt of the unit, or another run)."""


class BudgetMeter:
    """Counts every model call of one search and refuses calls past the limits.

    ``records`` keeps each call (prompt and outputs), so a run can be audited, e.g. to prove that no
    prompt ever contained a hidden test. ``on_record`` is called after each counted call, so what was
    spent can be written down before anything else happens (a comparison journals every attempt).
    ``spent`` (the budget's) and ``paid`` (without what the response cache served) are described in
    the module docstring.
    """

    def __init__(
        self,
        limits: BudgetLimits,
        *,
        keep_records: bool = True,
        on_record: Callable[[BudgetMeter], None] | None = None,
    ) -> None:
        self.limits = limits
        self.keep_records = keep_records
        self.on_record = on_record
        self.records: list[CallRecord] = []
        self.budget = Budget(limits)
        """The model layer's budget over this search's own :class:`~harness.models.CostMeter` (one
        stage per call purpose): the meter and the rule the pipeline's budget uses."""
        self._paid = Spend()
        self._paid_by_purpose: dict[str, Spend] = {}

    @property
    def spent(self) -> Spend:
        t = self.budget.spent
        return Spend(
            programs=t.programs,
            calls=t.calls,
            input_tokens=t.input_tokens,
            output_tokens=t.output_tokens,
            cost_usd=t.cost_usd,
        )

    def exhausted_by(self, *, programs: int = 0) -> str | None:
        """The name of a limit that another call (adding ``programs``) would break, else ``None``.

        ``programs=0`` is a call that makes no program (reflection, directions, ...): it must leave room
        for a program after it, one more program and, under ``calls``, one more call.
        """
        return self.budget.exhausted_by(calls=1 if programs > 0 else 2, programs=programs)

    @property
    def exhausted(self) -> bool:
        """No further program fits."""
        return self.exhausted_by(programs=1) is not None

    def check(self, *, programs: int = 0) -> None:
        """Raise :class:`BudgetExceeded` if a call adding ``programs`` programs is not affordable.

        A non-program call is refused as soon as no further program would fit after it: a reflection or
        a direction that can never be implemented would be wasted spend (under ``calls=B`` such a call
        needs two calls left, its own and the program's).
        """
        hit = self.exhausted_by(programs=programs)
        if hit is not None:
            raise BudgetExceeded(
                f"search budget reached ({hit}); raise the limit with --budget {hit}=...",
                spent=self.spent.flat(),
            )

    async def sample(
        self,
        model: Model,
        messages: Sequence[Message],
        *,
        purpose: Purpose,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int = 1024,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        logprobs: bool = False,
    ) -> list[Completion]:
        """Call ``model.sample`` once, if the budget allows, and count it.

        A ``program`` call asks for ``n`` programs; when fewer fit under ``programs``, ``n`` is cut to
        what fits, so the limit is exact.
        """
        if purpose == "program" and self.limits.programs is not None:
            n = max(1, min(n, self.limits.programs - self.budget.spent.programs))
        self.check(programs=n if purpose == "program" else 0)
        out = await model.sample(
            messages,
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop,
            seed=seed,
            logprobs=logprobs,
        )
        self.record(purpose, messages, out)
        return out

    def record(self, purpose: Purpose, messages: Sequence[Message], out: Sequence[Completion]) -> None:
        """Count a call that was made (also used by code that calls a model itself)."""
        work = _spend_of(purpose, out)
        self.budget.meter.record(purpose, out, requests=0)
        if work.programs:
            self.budget.meter.count("programs", work.programs, stage=purpose)
        # A call paid for a request when some answer did not come from the response cache.
        fresh = [c for c in out if not c.cached]
        paid = _spend_of(purpose, fresh, call=bool(fresh))
        self._paid = self._paid + paid
        by = self._paid_by_purpose
        by[purpose] = by[purpose] + paid if purpose in by else paid
        if self.keep_records:
            self.records.append(
                CallRecord(
                    index=len(self.records),
                    purpose=purpose,
                    messages=list(messages),
                    outputs=[c.text for c in out],
                    input_tokens=work.input_tokens,
                    output_tokens=work.output_tokens,
                    cost_usd=work.cost_usd,
                    cached=len(out) - len(fresh),
                )
            )
        if self.on_record is not None:
            self.on_record(self)

    @property
    def paid(self) -> Spend:
        """What the counted calls paid for: :attr:`spent` without the answers the response cache
        served (see the module docstring)."""
        return self._paid

    def paid_by_purpose(self) -> dict[str, Spend]:
        """:attr:`paid` per call purpose (kept whether or not records are)."""
        return dict(self._paid_by_purpose)

    def calls_by_purpose(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.records:
            counts[r.purpose] = counts.get(r.purpose, 0) + 1
        return counts

    def spent_by_purpose(self) -> dict[str, Spend]:
        """What the recorded calls spent, per purpose (empty when records are not kept)."""
        out: dict[str, Spend] = {}
        for r in self.records:
            one = Spend(
                programs=len(r.outputs) if r.purpose == "program" else 0,
                calls=1,
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
                cost_usd=r.cost_usd,
            )
            out[r.purpose] = out[r.purpose] + one if r.purpose in out else one
        return out


class BudgetSummary(BaseModel):
    """What a finished search spent, for reports."""

    model_config = ConfigDict(frozen=True)

    limits: BudgetLimits
    spent: Spend
    calls_by_purpose: dict[str, int] = Field(default_factory=dict)
