"""Every attempt at a unit, with what it spent, written down as the money goes out.

A unit that fails (a sandbox error, a model error after the model layer's retries, a crash) or whose
process is killed has still paid for the calls it made; it is retried on resume and pays again. So
each attempt is journaled in ``results/<run-id>/search/attempts/<unit>.json`` (a versioned
:class:`UnitAttempts`), rewritten atomically when the attempt starts, after every model call it makes
and when it ends. The run's totals (:mod:`harness.search._spend`) add the attempts that did not
finish to the finished units' spend.

An attempt is ``running`` until it ends ``done`` or ``failed``. One still ``running`` when the next
attempt of its unit starts belonged to a killed process (a run is held by one process at a time) and
becomes ``killed``. A ``running`` attempt of a unit the index has as done is the attempt that
finished it, killed before it could say so: its spend is the unit record's, and is not counted twice.

Each attempt keeps two sums (:class:`~harness.search._budget.BudgetMeter`): ``spent``, the work its
search used (what its budget saw), and ``paid``, the same without the answers the model layer's
response cache served. A retried unit replays its earlier attempts' answered calls from the cache:
they are in the retry's ``spent`` (so it reproduces an uninterrupted search) but not in its ``paid``,
so the run's totals, which add up ``paid``, count each answered request once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.models import Spend
from harness.search._budget import BudgetMeter
from harness.store import atomic_write_json

ATTEMPTS_VERSION = 2
"""2 added ``paid`` and ``paid_by_purpose`` (a version-1 attempt's ``spent`` stands for both)."""

AttemptStatus = Literal["running", "done", "failed", "killed"]


class Attempt(BaseModel):
    """One try at a unit and what it spent (every model call that came back, whatever came after)."""

    model_config = ConfigDict(extra="forbid")

    number: int
    """1 for the first attempt, counting attempts of earlier processes."""
    status: AttemptStatus
    error: str | None = None
    """``ErrorType: message`` of a failed attempt."""
    spent: Spend = Field(default_factory=Spend)
    """The work of the attempt's search, answers from the response cache included (its budget's)."""
    by_purpose: dict[str, Spend] = Field(default_factory=dict)
    """The same spend per call purpose (``program``, ``reflection``, ...)."""
    paid: Spend | None = None
    """``spent`` without the answers the response cache served: what this attempt paid for.
    ``None`` in version-1 journals, where :attr:`cost` falls back on ``spent``."""
    paid_by_purpose: dict[str, Spend] | None = None
    started_at: float
    ended_at: float | None = None

    def unfinished(self, unit_done: bool) -> bool:
        """Whether this attempt's spend is not in a unit record (see the module docstring)."""
        return self.status in ("failed", "killed") or (self.status == "running" and not unit_done)

    @property
    def cost(self) -> Spend:
        """What this attempt paid for (what the run's totals count)."""
        return self.spent if self.paid is None else self.paid

    @property
    def cost_by_purpose(self) -> dict[str, Spend]:
        """:attr:`cost` per call purpose."""
        return self.by_purpose if self.paid_by_purpose is None else self.paid_by_purpose


class UnitAttempts(BaseModel):
    """The attempts at one (task, system, seed) unit, oldest first."""

    model_config = ConfigDict(extra="forbid")

    v: int = ATTEMPTS_VERSION
    unit: str
    task_id: str
    system: str
    seed: int
    attempts: list[Attempt] = Field(default_factory=list)

    def unfinished(self, unit_done: bool) -> list[Attempt]:
        return [a for a in self.attempts if a.unfinished(unit_done)]

    def finishing(self) -> Attempt | None:
        """The attempt that finished the unit, when the index has it as done: the last one, ``done``,
        or ``running`` when its process was killed after marking the unit done."""
        last = self.attempts[-1] if self.attempts else None
        return last if last is not None and last.status in ("done", "running") else None


def read_attempts(path: Path) -> UnitAttempts | None:
    return UnitAttempts.model_validate_json(path.read_text()) if path.exists() else None


class AttemptJournal:
    """The journal of the current attempt at one unit. :meth:`start` writes it before any call;
    pass :meth:`update` as the meter's ``on_record``; :meth:`end` says how the attempt ended."""

    def __init__(self, path: Path, record: UnitAttempts) -> None:
        self.path = path
        self.record = record

    @classmethod
    def start(cls, path: Path, unit: str, task_id: str, system: str, seed: int) -> AttemptJournal:
        old = read_attempts(path)
        attempts = [] if old is None else old.attempts
        # This process holds the run, so an attempt still running is one whose process died.
        attempts = [
            a.model_copy(update={"status": "killed"}) if a.status == "running" else a for a in attempts
        ]
        attempts.append(
            Attempt(
                number=len(attempts) + 1,
                status="running",
                paid=Spend(),
                paid_by_purpose={},
                started_at=time.time(),
            )
        )
        journal = cls(
            path, UnitAttempts(unit=unit, task_id=task_id, system=system, seed=seed, attempts=attempts)
        )
        journal._write()
        return journal

    @property
    def current(self) -> Attempt:
        return self.record.attempts[-1]

    def earlier_unfinished(self) -> list[Attempt]:
        """The attempts before this one that did not finish (their spend is not in any unit record)."""
        return [a for a in self.record.attempts[:-1] if a.unfinished(unit_done=False)]

    def update(self, meter: BudgetMeter) -> None:
        self._set(**_sums(meter))

    def end(self, meter: BudgetMeter, status: AttemptStatus, error: str | None = None) -> None:
        self._set(
            **_sums(meter),
            status=status,
            error=None if error is None else error[:2000],
            ended_at=time.time(),
        )

    def _set(self, **update: object) -> None:
        self.record.attempts[-1] = self.current.model_copy(update=update)
        self._write()

    def _write(self) -> None:
        atomic_write_json(self.path, self.record.model_dump(mode="json"))


def _sums(meter: BudgetMeter) -> dict[str, object]:
    return {
        "spent": meter.spent,
        "by_purpose": meter.spent_by_purpose(),
        "paid": meter.paid,
        "paid_by_purpose": meter.paid_by_purpose(),
    }
