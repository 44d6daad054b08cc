"""``harness ensemble``: one prediction per instance chosen among several systems' patches, resumably.

Layout of ``--out``::

    <out>/<instance_id>/choice.json   the choice and why (versioned; the resume key inside)
    <out>/<instance_id>/ensemble.log  what was done, line by line
    <out>/<instance_id>/runs/*.log    each test run's output (base, c<k>-<system>)
    <out>/predictions.jsonl           SWE-bench predictions (model_name_or_path ensemble-<selector>)
    <out>/choices.jsonl               every choice.json, one a line, sorted by instance
    <out>/summary.json                counts, sandbox seconds, errors

An instance whose ``choice.json`` carries the same resume key (selector, settings, every candidate's
system and patch hash, the instance image) is not done again. Runs are also cached by content in
``cache`` (default ``~/.cache/harness/ensemble``), so ``regression`` and ``b4`` into two folders run
the tests once. The hidden parts of a task never reach this module's selection: :func:`choose_instance`
takes a :class:`PublicRepoTask` and refuses anything else; only the image build (evaluation's
``Evaluator.image_for``) sees the full task, as ``harness eval`` does.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness._progress import Progress, SilentProgress
from harness.ensemble._choice import CHOICE_VERSION, Choice, Settings, choose_instance
from harness.ensemble._runs import RUNS_VERSION, RunSandboxFactory, strict_sandbox
from harness.ensemble._votes import SystemPatch
from harness.errors import DataError, HarnessError
from harness.evaluation import patch_key
from harness.evaluation._batch import load_predictions
from harness.pipeline.ensemble import write_predictions
from harness.store import atomic_write_json, atomic_write_text
from harness.tasks._repo import RepoTask


def load_systems(paths: Sequence[Path]) -> tuple[list[str], dict[str, list[SystemPatch]]]:
    """System names (in the order given) and, per instance, their non-empty patches in that order.

    A system's name is its file's ``model_name_or_path`` (the file's stem when empty); a name given
    twice gets ``#2``."""
    systems: list[str] = []
    out: dict[str, list[SystemPatch]] = {}
    for rank, path in enumerate(paths):
        preds = load_predictions(path)
        name = next((p.model_name_or_path for p in preds if p.model_name_or_path), "") or path.stem
        k, base = 2, name
        while name in systems:
            name, k = f"{base}#{k}", k + 1
        systems.append(name)
        for p in preds:
            if (p.model_patch or "").strip():
                out.setdefault(p.instance_id, []).append(
                    SystemPatch(system=name, rank=rank, patch=p.model_patch or "")
                )
    return systems, out


def resume_key(settings: Settings, cands: Sequence[SystemPatch], image: str) -> str:
    body = [CHOICE_VERSION, RUNS_VERSION, settings.model_dump(), [(c.system, c.sha256) for c in cands], image]
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()


class InstanceError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_id: str
    error: str


class Summary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    selector: str
    systems: list[str]
    instances: int = 0
    chosen: int = 0
    reused: int = 0
    no_candidates: list[str] = Field(default_factory=list)
    errors: list[InstanceError] = Field(default_factory=list)
    sandbox_s: float = 0.0


class InstanceImages(Protocol):
    """Where instance images come from: ``harness.evaluation.Evaluator`` (``harness eval``'s builds)."""

    async def image_for(self, task: RepoTask) -> str: ...


class Ensemble:
    """Chooses among ``systems``' patches for each task and writes predictions and reasons to ``out``."""

    def __init__(
        self,
        settings: Settings,
        evaluator: InstanceImages,
        out: Path,
        *,
        factory: RunSandboxFactory = strict_sandbox,
        cache: Path | None = None,
        concurrency: int = 1,
        progress: Progress | None = None,
    ) -> None:
        if out.exists() and not out.is_dir():
            raise DataError(f"--out {out} is a file; choices go to a folder: name a folder or a new path")
        self.settings, self.evaluator, self.out, self.factory = settings, evaluator, out, factory
        self.cache, self.concurrency = cache, concurrency
        self.progress: Progress = progress or SilentProgress()
        """A counted step over the instances; each instance's log lines are its notes."""
        self._keys: dict[str, str] = {}
        """Instance id -> the resume key of this run's choice (only those go into the outputs)."""

    async def run(
        self, tasks: Sequence[RepoTask], systems: Sequence[str], cands: dict[str, list[SystemPatch]]
    ) -> Summary:
        summary = Summary(selector=self.settings.selector, systems=list(systems), instances=len(tasks))
        gate = asyncio.Semaphore(self.concurrency)
        self.progress.start(len(tasks), f"ensemble of {len(systems)} systems")

        async def one(task: RepoTask) -> None:
            async with gate:
                try:
                    await self._instance(task, cands.get(task.instance_id, []), summary)
                except HarnessError as exc:  # this instance only; retried on the next run
                    summary.errors.append(
                        InstanceError(instance_id=task.instance_id, error=f"{type(exc).__name__}: {exc}")
                    )
                    self._log(task.instance_id, f"error: {type(exc).__name__}: {exc}")
            self.progress.advance()

        try:
            await asyncio.gather(*(one(t) for t in tasks))
        finally:
            self.progress.close()
        self._write_outputs([t.instance_id for t in tasks], summary)
        return summary

    def _log(self, instance_id: str, line: str) -> None:
        folder = self.out / instance_id
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%H:%M:%S")
        with (folder / "ensemble.log").open("a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {line}\n")
        self.progress.note(f"{instance_id}: {line}")

    async def _instance(self, task: RepoTask, cands: list[SystemPatch], summary: Summary) -> None:
        iid = task.instance_id
        if not cands:
            summary.no_candidates.append(iid)
            return
        image: str | None = None
        env = task.environment
        unsupported = env.unsupported
        if (
            self.settings.selector != "votes"
            and not unsupported
            and len({patch_key(c.patch) for c in cands}) > 1
        ):
            image = await self.evaluator.image_for(task)  # evaluation's code path; raises ImageError
        key = self._keys[iid] = resume_key(self.settings, cands, image or "")
        path = self.out / iid / "choice.json"
        old = _read(path)
        if old is not None and old.key == key:
            summary.reused += 1
            summary.chosen += 1
            return
        self._log(iid, f"{len(cands)} candidates, selector {self.settings.selector}")
        settings = self.settings.model_copy(update={"selector": "votes"}) if unsupported else self.settings
        # Selection sees the public view only (the hidden tests stay with evaluation).
        choice = await choose_instance(
            task.public_view(),
            env,
            image,
            cands,
            settings,
            factory=self.factory,
            cache=self.cache,
            log_dir=self.out / iid / "runs",
            log=lambda line: self._log(iid, line),
        )
        if unsupported:
            choice.selector, choice.fallback = (
                self.settings.selector,
                f"{unsupported}: no test can run here, votes",
            )
        choice.key = key
        atomic_write_json(path, choice.model_dump())
        summary.chosen += 1
        w = choice.winner
        self._log(iid, f"chose {w.system if w else '-'} ({choice.reason or choice.fallback}), "
                       f"{choice.cost.sandbox_s} sandbox-s")  # fmt: skip

    def _write_outputs(self, ids: Sequence[str], summary: Summary) -> None:
        """predictions.jsonl, choices.jsonl, summary.json from the choices on disk made for this run's
        keys: an instance that failed now never contributes an older choice (another selector's, say)."""
        found = ((i, _read(self.out / i / "choice.json")) for i in sorted(ids))
        records = [r for i, r in found if r is not None and r.key == self._keys.get(i)]
        name = f"ensemble-{self.settings.selector}"
        write_predictions(
            self.out / "predictions.jsonl", {r.instance_id: r.patch for r in records}, model_name=name
        )
        lines = [r.model_dump_json(exclude={"patch"}) for r in records]
        atomic_write_text(self.out / "choices.jsonl", "".join(line + "\n" for line in lines))
        summary.sandbox_s = round(sum(r.cost.sandbox_s for r in records), 1)
        atomic_write_json(self.out / "summary.json", summary.model_dump())


def _read(path: Path) -> Choice | None:
    """A choice written earlier, or ``None`` (none, torn, or of another version)."""
    try:
        return Choice.model_validate_json(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValidationError, UnicodeDecodeError):
        return None
