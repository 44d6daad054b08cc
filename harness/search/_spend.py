"""What a comparison run has paid for, read back from its folder, so every process's spend is counted.

Each answered model request is counted once. What a search got from the model layer's response cache
was paid for by the request that first fetched it, so it is not counted again: in particular a
retried unit replays its failed or killed attempts' answered calls from the cache, and those calls
are counted with the attempt that paid for them (:mod:`harness.search._attempts`).

``finished`` is what the attempts that finished units paid (the index has them as done; probes and
extra searches of the adaptive split included, their combined ``+adaptive`` records not counted
again). ``failed_attempts`` is what attempts that did not finish paid (failed, crashed, cancelled, or
killed with their process), in this process or an earlier one. ``total`` is their sum: what the run
paid. ``from_cache`` is the rest of the finished units' work, the answers the response cache served
them (counted in their unit records and budgets, like every call they made, and not paid again).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from harness.models import Spend
from harness.search._attempts import read_attempts
from harness.search._compare import STAGE, UnitRecord, is_combined, unit_path
from harness.store import Run, StageTotals

FAILED_STAGE = f"{STAGE}.failed_attempts"
"""The ``stages.json`` row of failed attempts' spend (the ``search`` row is the finished units')."""


class FailedSpend(BaseModel):
    """The attempts that did not finish, and what they paid for."""

    model_config = ConfigDict(frozen=True)

    attempts: int = 0
    spent: Spend = Field(default_factory=Spend)
    """What they paid for (answers the response cache served them are left out)."""
    by_purpose: dict[str, Spend] = Field(default_factory=dict)
    units: dict[str, int] = Field(default_factory=dict)
    """Unit id -> how many of its attempts did not finish."""


class RunSpend(BaseModel):
    """Everything a comparison run paid for (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    finished: Spend
    failed_attempts: FailedSpend
    total: Spend
    from_cache: Spend = Field(default_factory=Spend)
    """The finished units' work that the response cache served (their records' spend minus
    ``finished``): in their budgets, not paid again."""


def run_spend(run: Run) -> RunSpend:
    """The run's spend as its folder and index have it now."""
    done = {uid for _, uid, status in run.index.units(run.run_id, STAGE) if status == "done"}
    finished, work = Spend(), Spend()
    for uid in sorted(done):
        path = run.dir / unit_path("units", uid)
        if path.exists():
            rec = UnitRecord.model_validate_json(path.read_text())
            if not is_combined(rec.system):
                journal = read_attempts(run.dir / unit_path("attempts", uid))
                last = None if journal is None else journal.finishing()
                # Without a journal (a run older than journals) the record's spend is all there is.
                finished = finished + (rec.spent if last is None else last.cost)
                work = work + rec.spent
    spent, n = Spend(), 0
    by_purpose: dict[str, Spend] = {}
    units: dict[str, int] = {}
    for path in sorted((run.dir / STAGE / "attempts").glob("*.json")):
        journal = read_attempts(path)
        if journal is None:
            continue
        lost = journal.unfinished(unit_done=journal.unit in done)
        if lost:
            units[journal.unit] = len(lost)
        for attempt in lost:
            n += 1
            spent = spent + attempt.cost
            for purpose, s in attempt.cost_by_purpose.items():
                by_purpose[purpose] = by_purpose[purpose] + s if purpose in by_purpose else s
    failed = FailedSpend(attempts=n, spent=spent, by_purpose=by_purpose, units=units)
    return RunSpend(
        finished=finished, failed_attempts=failed, total=finished + spent, from_cache=work - finished
    )


def stage_totals(spend: RunSpend, time_s: float) -> list[StageTotals]:
    """``stages.json`` rows: what the finished units' attempts paid (with this process's wall time)
    and, labelled apart, what the failed attempts paid. ``harness report`` adds the rows up into the
    run's total, what the run paid."""
    return [
        StageTotals(
            stage=STAGE,
            calls=spend.finished.calls,
            input_tokens=spend.finished.input_tokens,
            output_tokens=spend.finished.output_tokens,
            cost_usd=spend.finished.cost_usd,
            time_s=time_s,
        ),
        StageTotals(
            stage=FAILED_STAGE,
            calls=spend.failed_attempts.spent.calls,
            input_tokens=spend.failed_attempts.spent.input_tokens,
            output_tokens=spend.failed_attempts.spent.output_tokens,
            cost_usd=spend.failed_attempts.spent.cost_usd,
        ),
    ]
