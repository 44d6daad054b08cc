"""Evaluating many predictions, resumably, and validating a suite (gold resolves, empty does not).

Layout of an evaluation folder::

    <out>/<instance_id>/report.json      swebench shape (+ a ``harness`` key); its presence = done
    <out>/<instance_id>/test_output.txt  apply.log, test_patch.log, patch.diff
    <out>/summary.json                   counts and id lists, as the swebench harness's final report

An instance whose ``report.json`` exists is skipped on a rerun, except infrastructure errors, which
are retried; a folder whose report was made for another patch (``patch.diff``) is refused, not reused. Environment images are built once per distinct environment, instance images as needed,
and instances run ``concurrency`` at a time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.errors import DataError, HarnessError
from harness.evaluation._instance import SandboxFactory, default_sandbox, evaluate_patch
from harness.evaluation._report import InstanceReport
from harness.store import atomic_write_json
from harness.tasks._repo import RepoTask
from harness.tasks.images import TaskImages

SUMMARY_VERSION = 1


class Prediction(BaseModel):
    """One line of a SWE-bench ``predictions.jsonl``."""

    model_config = ConfigDict(extra="ignore")

    instance_id: str
    model_name_or_path: str = ""
    model_patch: str | None = None


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"--out {out_dir} is a file; reports go to a folder: name a folder or a new path")


def load_predictions(path: str | Path) -> list[Prediction]:
    """Read a predictions file (JSONL, or a JSON list / ``{id: prediction}`` object)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"predictions file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read predictions file {p} as UTF-8 text ({exc})") from exc
    try:
        if p.suffix == ".jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
            rows = list(data.values()) if isinstance(data, dict) else data
        preds = [Prediction.model_validate(r) for r in rows]
    except (json.JSONDecodeError, ValidationError, TypeError) as exc:
        raise DataError(f"{p}: not a predictions file ({exc})") from exc
    seen: set[str] = set()
    for pred in preds:
        if pred.instance_id in seen:
            raise DataError(f"{p}: instance {pred.instance_id} appears twice")
        seen.add(pred.instance_id)
    return preds


class Evaluator:
    """Runs :func:`evaluate_patch` over many tasks with shared images and bounded concurrency."""

    def __init__(
        self,
        images: TaskImages,
        *,
        concurrency: int = 2,
        sandbox_factory: SandboxFactory = default_sandbox,
        test_timeout: float = 900.0,
    ) -> None:
        self.images = images
        self.concurrency = concurrency
        self.sandbox_factory = sandbox_factory
        self.test_timeout = test_timeout
        self._env_tags: dict[str, str] = {}
        self._image_lock = asyncio.Lock()

    async def image_for(self, task: RepoTask) -> str:
        """The instance image of ``task`` (builds are serialised: the engine builds one at a time well)."""
        async with self._image_lock:
            key = task.environment.model_dump_json()
            if key not in self._env_tags:
                self._env_tags[key] = await asyncio.to_thread(self.images.env_image, task.environment)
            return await asyncio.to_thread(self.images.instance_image, task, self._env_tags[key])

    async def evaluate(
        self,
        task: RepoTask,
        patch: str | None,
        *,
        model_name: str = "",
        log_dir: Path | None = None,
        run_empty: bool = False,
    ) -> InstanceReport:
        """One report; image failures become ``outcome="error"`` reports."""
        if not (patch and patch.strip()) and not run_empty:
            return await evaluate_patch(task, patch, "", model_name=model_name)
        try:
            image = await self.image_for(task)
        except HarnessError as exc:
            return InstanceReport(
                instance_id=task.instance_id,
                model_name_or_path=model_name,
                patch_is_None=patch is None,
                patch_exists=bool(patch and patch.strip()),
                outcome="error",
                error=f"{type(exc).__name__}: {exc}",
            )
        return await evaluate_patch(
            task,
            patch,
            image,
            model_name=model_name,
            sandbox_factory=self.sandbox_factory,
            test_timeout=self.test_timeout,
            log_dir=log_dir,
            run_empty=run_empty,
        )

    async def run_predictions(
        self, tasks: Sequence[RepoTask], predictions: Iterable[Prediction], out_dir: Path
    ) -> dict[str, object]:
        """Evaluate every prediction whose instance is in ``tasks``; write reports and the summary."""
        _check_out_dir(out_dir)
        by_id = {t.instance_id: t for t in tasks}
        preds = list(predictions)
        unknown = [p.instance_id for p in preds if p.instance_id not in by_id]
        if unknown:
            raise DataError(f"predictions for instances not in the suite: {', '.join(unknown[:10])}")
        # ``--out`` is often reused (its default is the same for every predictions file): a report
        # made for another patch must not pass for this prediction's result.
        stale = [p.instance_id for p in preds if _report_of_other_patch(out_dir / p.instance_id, p)]
        if stale:
            raise DataError(
                f"{out_dir} holds reports of other patches for {len(stale)} of these predictions "
                f"({', '.join(stale[:10])}); evaluate into another --out, or remove those instance "
                "folders to evaluate them again"
            )
        sem = asyncio.Semaphore(self.concurrency)

        async def one(pred: Prediction) -> InstanceReport:
            folder = out_dir / pred.instance_id
            done = read_report(folder / "report.json")
            if done is not None and not done.is_infra_error:
                return done
            # a retried instance's new patch may be empty, which writes no patch.diff of its own
            (folder / "patch.diff").unlink(missing_ok=True)
            async with sem:
                rep = await self.evaluate(
                    by_id[pred.instance_id],
                    pred.model_patch,
                    model_name=pred.model_name_or_path,
                    log_dir=folder,
                )
            atomic_write_json(folder / "report.json", rep.to_swebench())
            return rep

        reports = await asyncio.gather(*(one(p) for p in preds))
        summary = summarize(len(tasks), reports)
        atomic_write_json(out_dir / "summary.json", summary)
        return summary


def _report_of_other_patch(folder: Path, pred: Prediction) -> bool:
    """Whether ``folder`` holds a finished report made for a patch other than ``pred``'s.

    Evaluation keeps the patch it ran as ``patch.diff`` (none for an empty or blank patch, which is
    not run). Infrastructure errors are retried anyway, so they never count."""
    done = read_report(folder / "report.json")
    if done is None or done.is_infra_error:
        return False
    try:
        ran = (folder / "patch.diff").read_bytes()
    except FileNotFoundError:
        ran = b""
    patch = pred.model_patch or ""
    return ran != (patch.encode("utf-8", "surrogatepass") if patch.strip() else b"")


def read_report(path: Path) -> InstanceReport | None:
    """A report written earlier, or ``None`` when there is none (or it is torn)."""
    try:
        return InstanceReport.from_swebench(json.loads(path.read_text(encoding="utf-8")))
    except (FileNotFoundError, json.JSONDecodeError, ValidationError, ValueError):
        return None


def summarize(total: int, reports: Sequence[InstanceReport]) -> dict[str, object]:
    """Counts and id lists in the shape of the swebench harness's final report."""

    def ids(*outcomes: str) -> list[str]:
        return sorted(r.instance_id for r in reports if r.outcome in outcomes)

    return {
        "total_instances": total,
        "submitted_instances": len(reports),
        "completed_instances": len(ids("resolved", "unresolved")),
        "resolved_instances": len(ids("resolved")),
        "unresolved_instances": len(ids("unresolved")),
        "patch_failed_instances": len(ids("patch_failed")),
        "empty_patch_instances": len(ids("empty_patch")),
        "error_instances": len(ids("error")),
        "resolved_ids": ids("resolved"),
        "unresolved_ids": ids("unresolved"),
        "patch_failed_ids": ids("patch_failed"),
        "empty_patch_ids": ids("empty_patch"),
        "error_ids": ids("error"),
        "schema_version": SUMMARY_VERSION,
    }
