"""Evaluating many predictions, resumably, and validating a suite (gold resolves, empty does not).

Layout of an evaluation folder::

    <out>/<instance_id>/report.json      swebench 4.1.0's schema (+ a ``harness`` key)
    <out>/<instance_id>/test_output.txt  the eval script's log; apply.log, eval.sh, patch.diff
    <out>/summary.json                   swebench's final report (its keys) + harness's own keys

Resume is keyed on (instance, patch hash, environment): a report is reused when it was made for the
same patch in the same instance image (whose tag is a hash of its recipe), else the instance is
evaluated again; infrastructure errors are always retried. An instance whose environment cannot be
built here (``unsupported: needs Python 3.6``) gets the outcome ``unsupported`` with that reason, before
anything is built; it is not an infrastructure error, and its report is reused while the reason stays
the same. A folder whose report was made for another
patch is refused, not overwritten (``--out`` defaults to the same folder for every predictions file).
Environment images are built once per distinct environment, instance images as needed, and instances
run ``concurrency`` at a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from harness._progress import Progress, SilentProgress
from harness.errors import DataError, HarnessError, SandboxError
from harness.evaluation._instance import INSTANCE_LOG, SandboxFactory, default_sandbox, evaluate_patch
from harness.evaluation._report import InstanceReport, patch_sha256
from harness.store import atomic_write_json
from harness.tasks._pipbuild import UnsupportedEnvironment
from harness.tasks._repo import RepoTask
from harness.tasks.images import TaskImages

log = logging.getLogger(__name__)

SUMMARY_VERSION = 2
SWEBENCH_SCHEMA_VERSION = 2
"""``schema_version`` of swebench 4.1.0's final report (``make_run_report``)."""


class ImageBuild(BaseModel):
    """How an instance's images were had: seconds spent on each layer and whether it was cached.

    ``env_s`` includes the base layer when the environment had to build it. An environment another
    instance of the same run already asked for is cached and takes 0 s here."""

    model_config = ConfigDict(extra="forbid")

    env_s: float = 0.0
    env_cached: bool = True
    instance_s: float = 0.0
    instance_cached: bool = True


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
        eval_network: bool = False,
        retries: int = 0,
    ) -> None:
        self.images = images
        self.retries = retries
        """How many more times an evaluation whose sandbox failed, or whose image could not be made
        (``SandboxError``: a lost cluster node), is tried, within the run; :attr:`retried` counts them
        and the summary's ``retried``."""
        self.retried: dict[str, int] = {}
        self.concurrency = concurrency
        self.sandbox_factory = sandbox_factory
        self.test_timeout = test_timeout
        self.eval_network = eval_network
        """Network for every evaluation container (besides tasks whose spec asks for it)."""
        self.reports: list[InstanceReport] = []
        """The reports of the last :meth:`run_predictions`."""
        self.builds: dict[str, ImageBuild] = {}
        """Per instance id, the time its images took and whether they were cached (:meth:`image_for`)."""
        self._env_tags: dict[str, str] = {}
        self._image_lock = asyncio.Lock()

    async def image_for(self, task: RepoTask) -> str:
        """The instance image of ``task`` (builds are serialised: the engine builds one at a time well).

        Records in :attr:`builds` how long each layer took and whether it was built now (an image
        created after the call began) or found cached."""
        # --images swebench: SWE-bench's prebuilt image when a registry serves it, nothing built here.
        official = await asyncio.to_thread(self.images.official_image, task)
        if official is not None:
            return official
        async with self._image_lock:
            build = self.builds.setdefault(task.instance_id, ImageBuild())
            key = task.environment.model_dump_json()
            if key not in self._env_tags:
                t0 = time.time()
                self._env_tags[key] = await asyncio.to_thread(self.images.env_image, task.environment)
                build.env_s = round(time.time() - t0, 1)
                build.env_cached = not await asyncio.to_thread(self._created_since, self._env_tags[key], t0)
                log.info(
                    "%s: environment image %s %s (%.1f s)", task.instance_id, self._env_tags[key],
                    "cached" if build.env_cached else "built", build.env_s,
                )  # fmt: skip
            t0 = time.time()
            tag = await asyncio.to_thread(self.images.instance_image, task, self._env_tags[key])
            build.instance_s = round(time.time() - t0, 1)
            build.instance_cached = not await asyncio.to_thread(self._created_since, tag, t0)
            log.info(
                "%s: instance image %s %s (%.1f s)", task.instance_id, tag,
                "cached" if build.instance_cached else "built", build.instance_s,
            )  # fmt: skip
            return tag

    def _created_since(self, tag: str, t0: float) -> bool:
        """Whether image ``tag`` was created at or after ``t0`` (built now, not found cached)."""
        try:
            created = str(self.images.client.images.get(tag).attrs["Created"])
        except Exception:  # an engine without the attribute: no claim that anything was built
            return False
        # Docker writes nanoseconds ("2026-12-06T14:23:45.123456789Z"); fromisoformat takes microseconds.
        created = re.sub(r"(\.\d{6})\d+", r"\1", created).replace("Z", "+00:00")
        try:
            return datetime.fromisoformat(created).timestamp() >= t0 - 1.0
        except ValueError:
            return False

    async def evaluate(
        self,
        task: RepoTask,
        patch: str | None,
        *,
        model_name: str = "",
        log_dir: Path | None = None,
        run_empty: bool = False,
        image: str | None = None,
    ) -> InstanceReport:
        """One report; image failures become ``outcome="error"`` reports. ``image``: already known."""
        if not (patch and patch.strip()) and not run_empty:
            return await evaluate_patch(task, patch, "", model_name=model_name)
        if task.environment.unsupported:
            return self._image_error(
                task, patch, model_name, UnsupportedEnvironment(task.environment.unsupported)
            )
        tried = 0
        while image is None:
            try:
                image = await self.image_for(task)
            except SandboxError as exc:  # the node making it was lost: another one makes it
                if tried == self.retries:
                    return self._image_error(task, patch, model_name, exc)
                self._retry(task, f"making its image failed ({type(exc).__name__}: {exc})", tried)
                tried += 1
            except HarnessError as exc:
                return self._image_error(task, patch, model_name, exc)
        for tried in range(self.retries + 1):
            report = await evaluate_patch(
                task,
                patch,
                image,
                model_name=model_name,
                sandbox_factory=self.sandbox_factory,
                test_timeout=self.test_timeout,
                log_dir=log_dir,
                run_empty=run_empty,
                network=True if self.eval_network else None,
            )
            if tried == self.retries or not (report.error or "").startswith("SandboxError:"):
                break
            self._retry(task, f"its sandbox failed ({report.error})", tried)
        return report

    def _retry(self, task: RepoTask, why: str, tried: int) -> None:
        """Count one more try of ``task`` (the summary's ``retried``) and say why."""
        self.retried[task.instance_id] = self.retried.get(task.instance_id, 0) + 1
        log.warning("%s: %s; try %d of %d", task.instance_id, why, tried + 2, self.retries + 1)

    def _image_error(
        self, task: RepoTask, patch: str | None, model_name: str, exc: HarnessError
    ) -> InstanceReport:
        """The report of an instance without an image: ``unsupported`` (with the reason alone) when its
        environment cannot be built here, else an infrastructure error."""
        unsupported = isinstance(exc, UnsupportedEnvironment)
        if unsupported:
            log.info("%s: unsupported here: %s", task.instance_id, exc)
        else:
            log.error("%s: no image: %s: %s", task.instance_id, type(exc).__name__, exc)
        return InstanceReport(
            instance_id=task.instance_id,
            model_name_or_path=model_name,
            patch_is_None=patch is None,
            patch_exists=bool(patch and patch.strip()),
            patch_sha256=patch_sha256(patch),
            outcome="unsupported" if unsupported else "error",
            error=str(exc) if unsupported else f"{type(exc).__name__}: {exc}",
        )

    async def _resume(self, task: RepoTask, pred: Prediction, folder: Path) -> tuple[InstanceReport, bool]:
        """The report of ``pred`` and whether it is new: the one in ``folder`` when its resume key
        matches, else a new one."""
        done = read_report(folder / "report.json")
        image: str | None = None
        why = task.environment.unsupported
        if why and pred.model_patch and pred.model_patch.strip():
            # Nothing to build or run: reuse the report while the reason and the patch are the same.
            if (
                done is not None
                and done.outcome == "unsupported"
                and done.error == why
                and done.patch_sha256 == patch_sha256(pred.model_patch)
            ):
                return done, False
            return self._image_error(
                task, pred.model_patch, pred.model_name_or_path, UnsupportedEnvironment(why)
            ), True
        if pred.model_patch and pred.model_patch.strip():
            try:
                image = await self.image_for(task)
            except HarnessError as exc:
                return self._image_error(task, pred.model_patch, pred.model_name_or_path, exc), True
        key = (pred.instance_id, patch_sha256(pred.model_patch), image or "")
        if done is not None and not done.is_infra_error and done.resume_key() == key:
            return done, False
        for name in ("patch.diff", "apply.log", "eval.sh", "test_output.txt", INSTANCE_LOG):
            (folder / name).unlink(missing_ok=True)  # a new run's logs only
        rep = await self.evaluate(
            task, pred.model_patch, model_name=pred.model_name_or_path, log_dir=folder, image=image
        )
        return rep, True

    async def run_predictions(
        self,
        tasks: Sequence[RepoTask],
        predictions: Iterable[Prediction],
        out_dir: Path,
        progress: Progress | None = None,
    ) -> dict[str, object]:
        """Evaluate every prediction whose instance is in ``tasks``; write reports and the summary.
        ``progress`` counts the predictions and notes each one's outcome."""
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
        bar = progress or SilentProgress()
        bar.start(len(preds), "instances evaluated")
        done = 0

        async def one(pred: Prediction) -> InstanceReport:
            nonlocal done
            folder = out_dir / pred.instance_id
            async with sem:
                t0 = time.monotonic()
                rep, new = await self._resume(by_id[pred.instance_id], pred, folder)
            if new:
                atomic_write_json(folder / "report.json", rep.to_swebench())
            how = f"evaluated in {time.monotonic() - t0:.0f} s" if new else "reused"
            done += 1
            bar.advance()
            bar.note(f"[{done}/{len(preds)}] {pred.instance_id}: {rep.outcome}, {how}")
            return rep

        reports = await asyncio.gather(*(one(p) for p in preds))
        self.reports = list(reports)
        summary = summarize([t.instance_id for t in tasks], reports)
        if self.retried:  # evaluations tried again after their sandbox failed (only when there were)
            summary["retried"] = dict(sorted(self.retried.items()))
        atomic_write_json(out_dir / "summary.json", summary)
        return summary


def _report_of_other_patch(folder: Path, pred: Prediction) -> bool:
    """Whether ``folder`` holds a finished report made for a patch other than ``pred``'s.

    Reports carry the hash of their patch; older ones (version 1) are compared through the
    ``patch.diff`` kept beside them (none for an empty or blank patch, which is not run).
    Infrastructure errors are retried anyway and unsupported instances ran nothing, so they never count."""
    done = read_report(folder / "report.json")
    if done is None or done.is_infra_error or done.outcome == "unsupported":
        return False
    if done.version >= 2:
        return done.patch_sha256 != patch_sha256(pred.model_patch)
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


def summarize(instances: int | Sequence[str], reports: Sequence[InstanceReport]) -> dict[str, object]:
    """swebench 4.1.0's final report (``make_run_report``'s keys) plus harness's own keys.

    ``instances`` are the suite's ids (or their number: then ``incomplete_ids`` stays empty). swebench's
    ``error_ids`` are the instances it writes no report for: a patch that does not apply, a test run
    that timed out, an infrastructure failure, an instance it could not build; harness also lists them
    apart (``patch_failed_ids``, ``timed_out_ids``, ``infra_error_ids``, ``unsupported_ids``: environments
    this machine cannot build, not infrastructure errors). ``completed`` = ``resolved`` + ``unresolved``.
    """
    total = instances if isinstance(instances, int) else len(instances)

    def ids(pred: Callable[[InstanceReport], bool]) -> list[str]:
        return sorted(r.instance_id for r in reports if pred(r))

    timed_out = ids(lambda r: r.test_timed_out and r.outcome in ("resolved", "unresolved"))
    errors = ids(
        lambda r: r.outcome in ("patch_failed", "error", "unsupported") or r.instance_id in timed_out
    )
    resolved = ids(lambda r: r.outcome == "resolved" and r.instance_id not in timed_out)
    unresolved = ids(lambda r: r.outcome == "unresolved" and r.instance_id not in timed_out)
    submitted = sorted(r.instance_id for r in reports)
    incomplete = [] if isinstance(instances, int) else sorted(set(instances) - set(submitted))
    return {
        "total_instances": total,
        "submitted_instances": len(reports),
        "completed_instances": len(resolved) + len(unresolved),
        "resolved_instances": len(resolved),
        "unresolved_instances": len(unresolved),
        "empty_patch_instances": len(ids(lambda r: r.outcome == "empty_patch")),
        "error_instances": len(errors),
        "completed_ids": sorted(resolved + unresolved),
        "incomplete_ids": incomplete,
        "empty_patch_ids": ids(lambda r: r.outcome == "empty_patch"),
        "submitted_ids": submitted,
        "resolved_ids": resolved,
        "unresolved_ids": unresolved,
        "error_ids": errors,
        "schema_version": SWEBENCH_SCHEMA_VERSION,
        "patch_failed_instances": len(ids(lambda r: r.outcome == "patch_failed")),
        "patch_failed_ids": ids(lambda r: r.outcome == "patch_failed"),
        "timed_out_ids": timed_out,
        "infra_error_instances": len(ids(lambda r: r.outcome == "error")),
        "infra_error_ids": ids(lambda r: r.outcome == "error"),
        "unsupported_instances": len(ids(lambda r: r.outcome == "unsupported")),
        "unsupported_ids": ids(lambda r: r.outcome == "unsupported"),
        "network_ids": ids(lambda r: r.network),
        "harness_summary_version": SUMMARY_VERSION,
    }


def failures(reports: Sequence[InstanceReport]) -> list[str]:
    """One line per instance swebench counts as an error: its id, outcome, cause and log (an
    unsupported instance: ``<id>: unsupported: needs Python 3.6``)."""
    lines = []
    for r in sorted(reports, key=lambda r: r.instance_id):
        if r.outcome == "unsupported":
            lines.append(f"{r.instance_id}: {r.error or 'unsupported'}")
        elif r.outcome in ("patch_failed", "error") or (r.test_timed_out and r.outcome != "empty_patch"):
            kind = "timeout" if r.outcome in ("resolved", "unresolved") else r.outcome
            cause = (r.error or "the test command outlived --test-timeout").strip().splitlines()
            where = f" (log: {r.log})" if r.log else ""
            lines.append(f"{r.instance_id}: {kind}: {cause[0] if cause else '?'}{where}")
    return lines
