"""``harness tasks validate``: each task's gold patch resolves it and the empty patch does not.

With the empty patch the tests still run, so validation also checks the task's own claims: every
``FAIL_TO_PASS`` test fails on the base commit and every ``PASS_TO_PASS`` test passes there.

Each row also says how the instance's images were had (seconds for the environment and instance
layers, each built now or found cached) and how long its two evaluations took.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness._progress import Progress, SilentProgress
from harness.errors import HarnessError
from harness.evaluation._batch import Evaluator, ImageBuild
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
    env_s: float = 0.0
    """Seconds spent on the environment layer (with the base when it was built): ~0 when cached."""
    env_cached: bool = True
    instance_s: float = 0.0
    """Seconds spent on the instance layer."""
    instance_cached: bool = True
    eval_s: float = 0.0
    """Seconds of the gold and empty evaluations (they run side by side)."""

    @property
    def build(self) -> str:
        """``env 38.2s built, instance 0.1s cached``: the build column of the table."""
        return (
            f"env {self.env_s:.0f}s {'cached' if self.env_cached else 'built'}, "
            f"instance {self.instance_s:.0f}s {'cached' if self.instance_cached else 'built'}"
        )

    @property
    def ok(self) -> bool:
        return not self.problems


def judge(
    task: RepoTask,
    gold: InstanceReport,
    empty: InstanceReport,
    build: ImageBuild | None = None,
    eval_s: float = 0.0,
) -> ValidationRow:
    problems: list[str] = []
    for rep, name in ((gold, "gold"), (empty, "empty")):
        if rep.outcome in ("error", "unsupported"):
            problems.append(f"{name}: {rep.error}")
    if gold.outcome not in ("error", "unsupported") and not gold.resolved:
        failing = gold.tests_status.FAIL_TO_PASS.failure + gold.tests_status.PASS_TO_PASS.failure
        detail = ", ".join(failing[:3]) or "patch did not apply"
        problems.append(f"gold patch does not resolve ({gold.outcome}: {detail})")
    if empty.outcome not in ("error", "unsupported"):
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
        **(build or ImageBuild()).model_dump(),
        eval_s=round(eval_s, 1),
    )


async def validate_tasks(
    tasks: Sequence[RepoTask],
    evaluator: Evaluator,
    out_dir: Path | None = None,
    progress: Progress | None = None,
) -> list[ValidationRow]:
    """Validate every task, ``evaluator.concurrency`` evaluations at a time; rows in task order.
    ``progress`` counts the tasks and notes each one's verdict."""
    sem = asyncio.Semaphore(evaluator.concurrency)
    bar = progress or SilentProgress()
    bar.start(len(tasks), "tasks validated")

    async def run(task: RepoTask, patch: str, kind: str, image: str | None) -> InstanceReport:
        log_dir = out_dir / task.instance_id / kind if out_dir else None
        async with sem:
            rep = await evaluator.evaluate(
                task, patch, model_name=kind, log_dir=log_dir, run_empty=True, image=image
            )
        if log_dir is not None:
            atomic_write_json(log_dir / "report.json", rep.to_swebench())
        return rep

    async def one(task: RepoTask) -> ValidationRow:
        row = await judged(task)
        bar.advance()
        bar.note(
            f"{row.instance_id}: gold {row.gold}, empty {row.empty}: " + ("; ".join(row.problems) or "ok")
        )
        return row

    async def judged(task: RepoTask) -> ValidationRow:
        # Build the image before the two runs, so they do not both wait on the build lock, and time it.
        image: str | None = None
        if not task.environment.unsupported:
            try:
                image = await evaluator.image_for(task)
            except HarnessError as exc:  # not built twice more: both runs fail with it
                gold = evaluator._image_error(task, task.patch, "gold", exc)
                empty = evaluator._image_error(task, "", "empty", exc)
                return judge(task, gold, empty, evaluator.builds.get(task.instance_id))
        t0 = time.monotonic()
        gold, empty = await asyncio.gather(
            run(task, task.patch, "gold", image), run(task, "", "empty", image)
        )
        return judge(task, gold, empty, evaluator.builds.get(task.instance_id), time.monotonic() - t0)

    return list(await asyncio.gather(*(one(t) for t in tasks)))
