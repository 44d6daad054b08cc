"""What a comparison run has spent, read back from its folder, so every process's spend is counted.

``finished`` is the spend of the searches of finished units (the index has them as done; probes and
extra searches of the adaptive split included, their combined ``+adaptive`` records not counted again).
``failed_attempts`` is the spend of attempts that did not finish (failed, crashed, cancelled, or
killed with their process; :mod:`harness.search._attempts`), in this process or an earlier one. A
failed unit is retried on resume, so its failed attempts and its finished attempt are all paid for:
``total`` is their sum.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from harness.search._attempts import read_attempts
from harness.search._budget import Spent
from harness.search._compare import STAGE, UnitRecord, is_combined, unit_path
from harness.store import Run, StageTotals

FAILED_STAGE = f"{STAGE}.failed_attempts"
"""The ``stages.json`` row of failed attempts' spend (the ``search`` row is the finished units')."""


class FailedSpend(BaseModel):
    """The attempts that did not finish, and what they spent."""

    model_config = ConfigDict(frozen=True)

    attempts: int = 0
    spent: Spent = Field(default_factory=Spent)
    by_purpose: dict[str, Spent] = Field(default_factory=dict)
    units: dict[str, int] = Field(default_factory=dict)
    """Unit id -> how many of its attempts did not finish."""


class RunSpend(BaseModel):
    """Everything a comparison run paid for (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    finished: Spent
    failed_attempts: FailedSpend
    total: Spent


def run_spend(run: Run) -> RunSpend:
    """The run's spend as its folder and index have it now."""
    done = {uid for _, uid, status in run.index.units(run.run_id, STAGE) if status == "done"}
    finished = Spent()
    for uid in sorted(done):
        path = run.dir / unit_path("units", uid)
        if path.exists():
            rec = UnitRecord.model_validate_json(path.read_text())
            if not is_combined(rec.system):
                finished = finished + rec.spent
    spent, n = Spent(), 0
    by_purpose: dict[str, Spent] = {}
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
            spent = spent + attempt.spent
            for purpose, s in attempt.by_purpose.items():
                by_purpose[purpose] = by_purpose[purpose] + s if purpose in by_purpose else s
    failed = FailedSpend(attempts=n, spent=spent, by_purpose=by_purpose, units=units)
    return RunSpend(finished=finished, failed_attempts=failed, total=finished + spent)


def stage_totals(spend: RunSpend, time_s: float) -> list[StageTotals]:
    """``stages.json`` rows: the finished units' spend (with this process's wall time) and, labelled
    apart, the failed attempts'. ``harness report`` adds the rows up into the run's total."""
    return [
        StageTotals(
            stage=STAGE,
            calls=spend.finished.calls,
            input_tokens=spend.finished.input_tokens,
            output_tokens=spend.finished.output_tokens,
            cost_usd=spend.finished.dollars,
            time_s=time_s,
        ),
        StageTotals(
            stage=FAILED_STAGE,
            calls=spend.failed_attempts.spent.calls,
            input_tokens=spend.failed_attempts.spent.input_tokens,
            output_tokens=spend.failed_attempts.spent.output_tokens,
            cost_usd=spend.failed_attempts.spent.dollars,
        ),
    ]
