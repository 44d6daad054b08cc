"""The budget meter every model call of a search passes through.

A :class:`BudgetLimits` says how much a search may spend (programs, calls, tokens, dollars); a
:class:`BudgetMeter` counts what was spent and refuses the next call once any limit is reached, by
raising :class:`harness.errors.BudgetExceeded`. Strategies never call a model directly: they call
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

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import BudgetExceeded, ConfigError
from harness.models._types import Completion, Message, Model

Purpose = Literal["program", "reflection", "directions", "insights", "tests"]
"""Why a call was made. Only ``program`` calls produce programs (nodes)."""

_SPEC_KEYS = ("programs", "calls", "tokens", "input_tokens", "output_tokens", "dollars")


class BudgetLimits(BaseModel):
    """How much one search (one task, one strategy, one seed) may spend. ``None`` means no limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    programs: int | None = None
    """Candidate programs generated (one per ``program`` completion)."""
    calls: int | None = None
    """Model requests of any purpose (a request with ``n`` completions is one call)."""
    tokens: int | None = None
    """Input plus output tokens."""
    input_tokens: int | None = None
    """Prompt tokens, whether or not the provider served them from its prompt cache."""
    output_tokens: int | None = None
    dollars: float | None = None

    @classmethod
    def parse(cls, spec: str) -> BudgetLimits:
        """Parse ``"programs=10"`` or ``"calls=30,tokens=200000"`` (``|`` also separates)."""
        values: dict[str, float] = {}
        for part in spec.replace("|", ",").split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, raw = part.partition("=")
            key = key.strip()
            if not sep or key not in _SPEC_KEYS:
                raise ConfigError(
                    f"bad budget item {part!r}: use KEY=VALUE with KEY one of {', '.join(_SPEC_KEYS)}"
                )
            try:
                values[key] = float(raw)
            except ValueError as exc:
                raise ConfigError(f"budget {key}={raw!r} is not a number") from exc
        if not values:
            raise ConfigError("empty budget: give at least one limit, e.g. programs=10")
        return cls.model_validate({k: (v if k == "dollars" else int(v)) for k, v in values.items()})

    @property
    def axis(self) -> str:
        """The quantity a budget curve is drawn against: the first limit that is set."""
        for key in _SPEC_KEYS:
            if getattr(self, key) is not None:
                return key
        return "programs"

    def scaled(self, factor: float) -> BudgetLimits:
        """The same kinds of limits, each multiplied by ``factor`` (rounded down, at least 1)."""
        out: dict[str, float | int] = {}
        for key in _SPEC_KEYS:
            v = getattr(self, key)
            if v is not None:
                out[key] = v * factor if key == "dollars" else max(1, int(v * factor))
        return BudgetLimits.model_validate(out)

    def with_value(self, key: str, value: float) -> BudgetLimits:
        data = self.model_dump()
        data[key] = value if key == "dollars" else int(value)
        return BudgetLimits.model_validate(data)


class Spent(BaseModel):
    """A snapshot of what has been spent. Also the cost-so-far stamped on every node."""

    model_config = ConfigDict(frozen=True)

    programs: int = 0
    calls: int = 0
    input_tokens: int = 0
    """Prompt tokens, cached by the provider or not (``Usage`` keeps cache reads and writes apart)."""
    output_tokens: int = 0
    dollars: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def get(self, key: str) -> float:
        return float(self.tokens if key == "tokens" else getattr(self, key))

    def __add__(self, other: Spent) -> Spent:
        return Spent(
            programs=self.programs + other.programs,
            calls=self.calls + other.calls,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            dollars=self.dollars + other.dollars,
        )

    def __sub__(self, other: Spent) -> Spent:
        # Dollars are rounded to a nano-dollar, so a difference of equal sums summed in another order
        # reads 0.0 rather than 1e-19.
        return Spent(
            programs=self.programs - other.programs,
            calls=self.calls - other.calls,
            input_tokens=self.input_tokens - other.input_tokens,
            output_tokens=self.output_tokens - other.output_tokens,
            dollars=round(self.dollars - other.dollars, 9),
        )

    @classmethod
    def of(cls, purpose: Purpose, out: Sequence[Completion], *, call: bool = True) -> Spent:
        """What the completions ``out`` of one call cost. Prompt tokens served from the provider's
        prompt cache are input tokens too (the model read them; only their price differs, which
        ``cost_usd`` has), as the model layer's own budget counts them."""
        return cls(
            programs=len(out) if purpose == "program" else 0,
            calls=1 if call else 0,
            input_tokens=sum(
                c.usage.input_tokens + c.usage.cache_read_tokens + c.usage.cache_write_tokens for c in out
            ),
            output_tokens=sum(c.usage.output_tokens for c in out),
            dollars=sum(c.cost_usd for c in out),
        )


class CallRecord(BaseModel):
    """One model call as the meter saw it: what was asked, what came back, what it cost."""

    model_config = ConfigDict(frozen=True)

    index: int
    purpose: Purpose
    messages: list[Message]
    outputs: list[str]
    input_tokens: int = 0
    output_tokens: int = 0
    dollars: float = 0.0
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
        self._programs = 0
        self._calls = 0
        self._input = 0
        self._output = 0
        self._dollars = 0.0
        self._paid = Spent()
        self._paid_by_purpose: dict[str, Spent] = {}

    @property
    def spent(self) -> Spent:
        return Spent(
            programs=self._programs,
            calls=self._calls,
            input_tokens=self._input,
            output_tokens=self._output,
            dollars=self._dollars,
        )

    def exhausted_by(self, *, programs: int = 0) -> str | None:
        """The name of a limit that another call (adding ``programs``) would break, else ``None``.

        ``programs=0`` is a call that makes no program (reflection, directions, ...): it must leave room
        for a program after it, one more program and, under ``calls``, one more call.
        """
        lim, s = self.limits, self.spent
        if lim.programs is not None and s.programs + max(programs, 1) > lim.programs:
            return "programs"
        if lim.calls is not None and s.calls + (1 if programs > 0 else 2) > lim.calls:
            return "calls"
        for key in ("tokens", "input_tokens", "output_tokens", "dollars"):
            cap = getattr(lim, key)
            if cap is not None and s.get(key) >= cap:
                return key
        return None

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
                spent=self.spent.model_dump(),
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
            n = max(1, min(n, self.limits.programs - self._programs))
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
        work = Spent.of(purpose, out)
        self._calls += 1
        self._input += work.input_tokens
        self._output += work.output_tokens
        self._dollars += work.dollars
        self._programs += work.programs
        # A call paid for a request when some answer did not come from the response cache.
        fresh = [c for c in out if not c.cached]
        paid = Spent.of(purpose, fresh, call=bool(fresh))
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
                    dollars=work.dollars,
                    cached=len(out) - len(fresh),
                )
            )
        if self.on_record is not None:
            self.on_record(self)

    @property
    def paid(self) -> Spent:
        """What the counted calls paid for: :attr:`spent` without the answers the response cache
        served (see the module docstring)."""
        return self._paid

    def paid_by_purpose(self) -> dict[str, Spent]:
        """:attr:`paid` per call purpose (kept whether or not records are)."""
        return dict(self._paid_by_purpose)

    def calls_by_purpose(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.records:
            counts[r.purpose] = counts.get(r.purpose, 0) + 1
        return counts

    def spent_by_purpose(self) -> dict[str, Spent]:
        """What the recorded calls spent, per purpose (empty when records are not kept)."""
        out: dict[str, Spent] = {}
        for r in self.records:
            one = Spent(
                programs=len(r.outputs) if r.purpose == "program" else 0,
                calls=1,
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
                dollars=r.dollars,
            )
            out[r.purpose] = out[r.purpose] + one if r.purpose in out else one
        return out


class BudgetSummary(BaseModel):
    """What a finished search spent, for reports."""

    model_config = ConfigDict(frozen=True)

    limits: BudgetLimits
    spent: Spent
    calls_by_purpose: dict[str, int] = Field(default_factory=dict)
