"""``harness tasks validate``: each task's gold patch resolves it and the empty patch does not.

With the empty patch the tests still run, so validation also checks the task's own claims: every
``FAIL_TO_PASS`` test fails on the base commit and every ``PASS_TO_PASS`` test passes there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.evaluation._batch import Evaluator
from harness.evaluation._report import InstanceReport
from harness.store import atomic_write_json
from harness.tasks._repo import RepoTask


class ValidationRow(BaseModel):
    """The verdict on one task."""

    model_config = ConfigDict(extra="forbid")

    instance_id: str
    gold: str
    """Outcome of the gold patch (``resolved`` is right)."""
    empty: str
    """Outcome of the empty patch (``unresolved`` is right)."""
    problems: list[str] = Field(default_factory=list)
    network: bool = False
    """Whether the instance's evaluation containers had network (``--eval-network``)."""

    @property
    def ok(self) -> bool:
        return not self.problems


def judge(task: RepoTask, gold: InstanceReport, empty: InstanceReport) -> ValidationRow:
    problems: list[str] = []
    for rep, name in ((gold, "gold"), (empty, "empty")):
        if rep.outcome == "error":
            problems.append(f"{name}: {rep.error}")
    if gold.outcome != "error" and not gold.resolved:
        failing = gold.tests_status.FAIL_TO_PASS.failure + gold.tests_status.PASS_TO_PASS.failure
        detail = ", ".join(failing[:3]) or "patch did not apply"
        problems.append(f"gold patch does not resolve ({gold.outcome}: {detail})")
    if empty.outcome != "error":
        passing_f2p = empty.tests_status.FAIL_TO_PASS.success
        if passing_f2p:
            problems.append(f"FAIL_TO_PASS passes without a fix: {', '.join(passing_f2p[:3])}")
        failing_p2p = empty.tests_status.PASS_TO_PASS.failure
        if failing_p2p:
            problems.append(f"PASS_TO_PASS fails on the base commit: {', '.join(failing_p2p[:3])}")
    if not task.FAIL_TO_PASS:
        problems.append("no FAIL_TO_PASS tests")
    return ValidationRow(
        instance_id=task.instance_id,
        gold=gold.outcome,
        empty=empty.outcome,
        problems=problems,
        network=gold.network or empty.network,
    )


async def validate_tasks(
    tasks: Sequence[RepoTask], evaluator: Evaluator, out_dir: Path | None = None
) -> list[ValidationRow]:
    """Validate every task, ``evaluator.concurrency`` evaluations at a time; rows in task order."""
    sem = asyncio.Semaphore(evaluator.concurrency)

    async def run(task: RepoTask, patch: str, kind: str) -> InstanceReport:
        log_dir = out_dir / task.instance_id / kind if out_dir else None
        async with sem:
            rep = await evaluator.evaluate(task, patch, model_name=kind, log_dir=log_dir, run_empty=True)
        if log_dir is not None:
            atomic_write_json(log_dir / "report.json", rep.to_swebench())
        return rep

    async def one(task: RepoTask) -> ValidationRow:
        # Build the image before the two runs, so they do not both wait on the build lock.
        gold, empty = await asyncio.gather(run(task, task.patch, "gold"), run(task, "", "empty"))
        return judge(task, gold, empty)

    return list(await asyncio.gather(*(one(t) for t in tasks)))
