"""The accounting vocabulary of every layer: :class:`Usage`, :class:`Spend` and :class:`BudgetLimits`.

One word per idea. A completion's tokens are a :class:`Usage`; what a call, a stage, a search or a run
spent is a :class:`Spend` (the model layer's :class:`~harness.models.CostMeter` keeps one per stage,
search stamps one on every node and unit record, the pipeline keeps one per stage of a task); how much
may be spent is a :class:`BudgetLimits`, and :meth:`BudgetLimits.reached` is the one rule that says
whether the next call still fits (the model layer's :class:`~harness.models.Budget` and search's
:class:`~harness.search.BudgetMeter` both decide through it). Money is ``cost_usd`` everywhere.

Artefacts written before this vocabulary spelled money ``dollars`` (search's unit records, attempt
journals and configs) and ``paid_dollars``; those keys are still read.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.models._types import Completion

LIMIT_KEYS = ("programs", "calls", "tokens", "input_tokens", "output_tokens", "cost_usd")
"""Every limit, in the order a budget curve picks its axis (:attr:`BudgetLimits.axis`)."""

_OLD_KEYS = {"dollars": "cost_usd"}
"""Spellings of a limit read from older configs and ``--budget`` specs."""


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=3)


class Usage(BaseModel):
    """Tokens one completion (or a sum of them) used.

    ``input_tokens`` are the prompt tokens billed at the full input price; tokens read from or written
    to the provider's prompt cache are counted only in ``cache_read_tokens`` / ``cache_write_tokens``
    (Anthropic's convention; OpenAI's ``cached_tokens`` are moved out of ``prompt_tokens`` to match).
    """

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        """Every prompt token, whether or not the provider's prompt cache served it."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )


class Spend(BaseModel):
    """What a call, a stage, a search or a run spent. Sums with ``+`` (``-`` for a difference).

    ``input_tokens`` counts every prompt token, those the provider's prompt cache served included (the
    model read them; only their price differs, which ``cost_usd`` has). ``cost_usd`` is the cost of
    the work, completions served from harness's response cache included; ``paid_usd`` leaves those out.
    """

    model_config = ConfigDict(extra="forbid")

    calls: int = 0
    """``Model.sample`` calls (one call may ask for ``n`` completions)."""
    requests: int = 0
    """Provider requests actually sent, retries excluded (cached completions need none)."""
    completions: int = 0
    cached_completions: int = 0
    programs: int = 0
    """Candidate programs generated (search: one per ``program`` completion)."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = Field(default=0.0, validation_alias=AliasChoices("cost_usd", "dollars"))
    """Cost of every completion, including those served from the response cache."""
    paid_usd: float = Field(default=0.0, validation_alias=AliasChoices("paid_usd", "paid_dollars"))
    """Cost of the completions this process paid for (not served from the response cache)."""
    time_s: float = 0.0
    """Seconds spent waiting for the model, where a layer measures it (the pipeline does)."""

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def dollars(self) -> float:
        """Deprecated spelling of :attr:`cost_usd` (it warns)."""
        _deprecated("Spend.dollars", "Spend.cost_usd")
        return self.cost_usd

    @property
    def paid_dollars(self) -> float:
        """Deprecated spelling of :attr:`paid_usd` (it warns)."""
        _deprecated("Spend.paid_dollars", "Spend.paid_usd")
        return self.paid_usd

    def get(self, key: str) -> float:
        """The amount a limit named ``key`` (one of :data:`LIMIT_KEYS`, or ``dollars``) is checked on."""
        key = _OLD_KEYS.get(key, key)
        return float(self.tokens if key == "tokens" else getattr(self, key))

    @classmethod
    def of(cls, out: Sequence[Completion], *, programs: bool = False, call: bool = True) -> Spend:
        """The work the completions ``out`` of one call did: the call, its tokens and ``cost_usd``
        (``programs``: each completion is a program). A ledger adds requests, completions and
        ``paid_usd`` itself (:meth:`harness.models.CostMeter.record`)."""
        return cls(
            calls=1 if call else 0,
            programs=len(out) if programs else 0,
            input_tokens=sum(c.usage.prompt_tokens for c in out),
            output_tokens=sum(c.usage.output_tokens for c in out),
            cost_usd=sum(c.cost_usd for c in out),
        )

    def add(self, other: Spend) -> None:
        """Add ``other`` in place (a ledger's running total)."""
        for name in type(self).model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def __add__(self, other: Spend) -> Spend:
        out = self.model_copy()
        out.add(other)
        return out

    def __sub__(self, other: Spend) -> Spend:
        # Money is rounded to a nano-dollar, so a difference of equal sums summed in another order
        # reads 0.0 rather than 1e-19.
        diff = {k: getattr(self, k) - getattr(other, k) for k in type(self).model_fields}
        for k in ("cost_usd", "paid_usd", "time_s"):
            diff[k] = round(diff[k], 9)
        return Spend(**diff)

    def flat(self) -> dict[str, float]:
        """A flat mapping for :class:`~harness.errors.BudgetExceeded` and reports."""
        out: dict[str, float] = self.model_dump()
        out["tokens"] = self.tokens
        for k in ("cost_usd", "paid_usd"):
            out[k] = round(out[k], 6)
        return out


class BudgetLimits(BaseModel):
    """Upper limits on a :class:`Spend`; ``None`` means unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    programs: int | None = None
    """Candidate programs generated (search)."""
    calls: int | None = None
    """``Model.sample`` calls of any purpose (a call with ``n`` completions is one call)."""
    tokens: int | None = None
    """Input plus output tokens."""
    input_tokens: int | None = None
    """Prompt tokens, whether or not the provider served them from its prompt cache."""
    output_tokens: int | None = None
    cost_usd: float | None = Field(default=None, validation_alias=AliasChoices("cost_usd", "dollars"))

    @model_validator(mode="before")
    @classmethod
    def _old_counters(cls, data: Any) -> Any:
        # The model layer's limits once held ``counters={"programs": n}``; programs is a limit now.
        if isinstance(data, dict) and "counters" in data:
            data = dict(data)
            counters = dict(data.pop("counters") or {})
            if "programs" in counters:
                data.setdefault("programs", counters.pop("programs"))
            if counters:
                raise ConfigError(f"unknown budget counters {sorted(counters)}: the only counter is programs")
        return data

    @property
    def dollars(self) -> float | None:
        """Deprecated spelling of :attr:`cost_usd` (it warns)."""
        _deprecated("BudgetLimits.dollars", "BudgetLimits.cost_usd")
        return self.cost_usd

    @classmethod
    def parse(cls, spec: str) -> BudgetLimits:
        """Parse ``"programs=10"`` or ``"calls=30,tokens=200000"`` (``|`` also separates; ``dollars`` is
        read as ``cost_usd``)."""
        values: dict[str, float] = {}
        for part in spec.replace("|", ",").split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, raw = part.partition("=")
            key = _OLD_KEYS.get(key.strip(), key.strip())
            if not sep or key not in LIMIT_KEYS:
                raise ConfigError(
                    f"bad budget item {part!r}: use KEY=VALUE with KEY one of {', '.join(LIMIT_KEYS)}"
                )
            try:
                values[key] = float(raw)
            except ValueError as exc:
                raise ConfigError(f"budget {key}={raw!r} is not a number") from exc
        if not values:
            raise ConfigError("empty budget: give at least one limit, e.g. programs=10")
        return cls.model_validate({k: (v if k == "cost_usd" else int(v)) for k, v in values.items()})

    @property
    def axis(self) -> str:
        """The quantity a budget curve is drawn against: the first limit that is set."""
        for key in LIMIT_KEYS:
            if getattr(self, key) is not None:
                return key
        return "programs"

    def scaled(self, factor: float) -> BudgetLimits:
        """The same kinds of limits, each multiplied by ``factor`` (rounded down, at least 1)."""
        out: dict[str, float | int] = {}
        for key in LIMIT_KEYS:
            v = getattr(self, key)
            if v is not None:
                out[key] = v * factor if key == "cost_usd" else max(1, int(v * factor))
        return BudgetLimits.model_validate(out)

    def with_value(self, key: str, value: float) -> BudgetLimits:
        key = _OLD_KEYS.get(key, key)
        data = self.model_dump()
        data[key] = value if key == "cost_usd" else int(value)
        return BudgetLimits.model_validate(data)

    def reached(self, spent: Spend, *, calls: int = 1, programs: int = 0) -> str | None:
        """The first limit that a next step of ``calls`` calls making ``programs`` programs would break.

        ``calls`` and ``programs`` are exact: the step must fit (a step that makes no program still
        needs room for one). Tokens and money are known only after a call, so they stop the next call
        once reached, and may be overshot by the one call that crossed them.
        """
        if self.programs is not None and spent.programs + max(programs, 1) > self.programs:
            return "programs"
        if self.calls is not None and spent.calls + calls > self.calls:
            return "calls"
        for key in ("tokens", "input_tokens", "output_tokens", "cost_usd"):
            cap = getattr(self, key)
            if cap is not None and spent.get(key) >= cap:
                return key
        return None
