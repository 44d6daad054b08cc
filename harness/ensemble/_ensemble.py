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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.ensemble._discover import MAX_FILES, Discovery, discover_tests
from harness.ensemble._runs import RUNS_VERSION, Run, Runner, RunSandboxFactory, strict_sandbox
from harness.ensemble._select import SelectorName, choose
from harness.ensemble._votes import SystemPatch, vote_groups
from harness.errors import ConfigError, DataError, HarnessError
from harness.evaluation._apply import patch_files
from harness.evaluation._batch import Evaluator, load_predictions
from harness.pipeline.ensemble import write_predictions
from harness.store import atomic_write_json, atomic_write_text
from harness.tasks._repo import EnvironmentSpec, PublicRepoTask, RepoTask

CHOICE_VERSION = 1


class Settings(BaseModel):
    """What decides a choice besides the candidates and the image (part of the resume key)."""

    model_config = ConfigDict(extra="forbid")

    selector: SelectorName = "votes"
    max_test_files: int = MAX_FILES
    """At most this many related test files are run (see ``harness.ensemble._discover``)."""
    test_timeout: float = 600.0
    """Seconds for one test run (the base or one candidate); past it the run's missing tests fail."""


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


async def choose_instance(
    task: PublicRepoTask,
    env: EnvironmentSpec,
    image: str | None,
    cands: Sequence[SystemPatch],
    settings: Settings,
    *,
    factory: RunSandboxFactory = strict_sandbox,
    cache: Path | None = None,
    log_dir: Path | None = None,
    log: Callable[[str], None] = lambda _line: None,
) -> dict[str, Any]:
    """The choice record of one instance (see docs/ensembles.md); ``image`` is needed unless ``votes``."""
    if not isinstance(task, PublicRepoTask):
        raise ConfigError("choose_instance takes a PublicRepoTask (task.public_view()), never the full task")
    t0 = time.monotonic()
    record: dict[str, Any] = {
        "version": CHOICE_VERSION,
        "instance_id": task.instance_id,
        "selector": settings.selector,
        "candidates": [
            {"system": c.system, "patch_sha256": c.sha256, "files": patch_files(c.patch)} for c in cands
        ],
        "groups": [[cands[i].system for i in g.members] for g in vote_groups(cands)],
    }
    base: Run | None = None
    runs: dict[int, Run] = {}
    found: Discovery | None = None
    distinct = {c.sha256 for c in cands}
    runner: Runner | None = None
    if settings.selector != "votes" and len(distinct) > 1:
        if image is None:
            raise ConfigError(
                f"{task.instance_id}: the {settings.selector} selector needs the instance image"
            )
        runner = Runner(
            task, env, image, factory=factory, timeout=settings.test_timeout, cache=cache, log_dir=log_dir
        )
        try:
            patched = [f for c in cands for f in patch_files(c.patch)]
            found = await _discover(runner, image, patched, settings.max_test_files, cache)
            log(
                f"tests: {len(found.selected)} of {found.test_files} test files: {', '.join(found.selected) or '-'}"
            )
            base = await runner.run("", found.selected, label="base")
            log(f"base: {len(base.passing)} of {len(base.statuses)} tests pass ({base.duration_s:.0f} s)")
            by_sha: dict[str, Run] = {}
            for i, c in enumerate(cands):
                if c.sha256 not in by_sha:
                    by_sha[c.sha256] = await runner.run(
                        c.patch, found.selected, label=f"c{i}-{_safe(c.system)}"
                    )
                runs[i] = by_sha[c.sha256]
                r = runs[i]
                log(
                    f"{c.system}: "
                    + (f"{len(r.passing)} of {len(r.statuses)} pass" if r.applied else "does not apply")
                )
        finally:
            await runner.close()
    elif settings.selector != "votes":
        record["note"] = "a single distinct patch: nothing to compare, no test run"
    verdict = choose(settings.selector, cands, base, runs)
    for i, entry in enumerate(record["candidates"]):
        if i in runs:
            r = runs[i]
            entry.update(applied=r.applied, apply_method=r.apply_method, timed_out=r.timed_out,
                         passed=len(r.passing), tests=len(r.statuses), run_s=r.duration_s, cached=r.cached)  # fmt: skip
            if base is not None and r.applied:
                entry["broke"] = sorted(base.passing - r.passing)
        entry["dropped"] = verdict.dropped.get(i)
    if found is not None:
        record["discovery"] = found.model_dump()
    if base is not None:
        record["base"] = {"passed": len(base.passing), "tests": len(base.statuses), "timed_out": base.timed_out,
                          "run_s": base.duration_s, "cached": base.cached}  # fmt: skip
    w = verdict.winner
    record["winner"] = (
        None if w is None else {"system": cands[w].system, "patch_sha256": cands[w].sha256, "index": w}
    )
    record.update(fallback=verdict.fallback, reason=verdict.reason, b4_scores=verdict.b4_scores)
    fresh = [r for r in [base, *runs.values()] if r is not None and not r.cached]
    record["cost"] = {
        "sandbox_s": round(runner.sandbox_s, 1) if runner is not None else 0.0,
        "runs": len(fresh),
        "cached_runs": len({r.patch_sha256 for r in [base, *runs.values()] if r is not None and r.cached}),
    }
    record["duration_s"] = round(time.monotonic() - t0, 1)
    return record


async def _discover(
    runner: Runner, image: str, patched: list[str], max_files: int, cache: Path | None
) -> Discovery:
    """:func:`discover_tests` in the runner's sandbox, cached by image, patched files and limit."""
    body = [RUNS_VERSION, image, sorted(set(patched)), max_files]
    key = hashlib.sha256(json.dumps(body).encode()).hexdigest()
    path = cache / "discovery" / f"{key}.json" if cache is not None else None
    if path is not None and path.is_file():
        try:
            return Discovery.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError:
            pass
    found = await discover_tests(runner.view(), patched, max_files=max_files)
    if path is not None:
        atomic_write_json(path, found.model_dump())
    return found


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:60]


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


class Ensemble:
    """Chooses among ``systems``' patches for each task and writes predictions and reasons to ``out``."""

    def __init__(
        self,
        settings: Settings,
        evaluator: Evaluator,
        out: Path,
        *,
        factory: RunSandboxFactory = strict_sandbox,
        cache: Path | None = None,
        concurrency: int = 1,
        progress: Callable[[str], None] = lambda _line: None,
    ) -> None:
        if out.exists() and not out.is_dir():
            raise DataError(f"--out {out} is a file; choices go to a folder: name a folder or a new path")
        self.settings, self.evaluator, self.out, self.factory = settings, evaluator, out, factory
        self.cache, self.concurrency, self.progress = cache, concurrency, progress

    async def run(
        self, tasks: Sequence[RepoTask], systems: Sequence[str], cands: dict[str, list[SystemPatch]]
    ) -> Summary:
        summary = Summary(selector=self.settings.selector, systems=list(systems), instances=len(tasks))
        gate = asyncio.Semaphore(self.concurrency)
        done = 0

        async def one(task: RepoTask) -> None:
            nonlocal done
            async with gate:
                try:
                    await self._instance(task, cands.get(task.instance_id, []), summary)
                except HarnessError as exc:  # this instance only; retried on the next run
                    summary.errors.append(
                        InstanceError(instance_id=task.instance_id, error=f"{type(exc).__name__}: {exc}")
                    )
                    self._log(task.instance_id, f"error: {type(exc).__name__}: {exc}")
            done += 1
            self.progress(f"[{done}/{len(tasks)}] {task.instance_id} done")

        await asyncio.gather(*(one(t) for t in tasks))
        self._write_outputs([t.instance_id for t in tasks], summary)
        return summary

    def _log(self, instance_id: str, line: str) -> None:
        folder = self.out / instance_id
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%H:%M:%S")
        with (folder / "ensemble.log").open("a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {line}\n")
        self.progress(f"{instance_id}: {line}")

    async def _instance(self, task: RepoTask, cands: list[SystemPatch], summary: Summary) -> None:
        iid = task.instance_id
        if not cands:
            summary.no_candidates.append(iid)
            return
        image: str | None = None
        env = task.environment
        unsupported = env.unsupported
        if self.settings.selector != "votes" and not unsupported and len({c.sha256 for c in cands}) > 1:
            image = await self.evaluator.image_for(task)  # evaluation's code path; raises ImageError
        key = resume_key(self.settings, cands, image or "")
        path = self.out / iid / "choice.json"
        old = _read(path)
        if old is not None and old.get("key") == key:
            summary.reused += 1
            summary.chosen += 1
            return
        self._log(iid, f"{len(cands)} candidates, selector {self.settings.selector}")
        settings = self.settings
        if unsupported:
            settings = settings.model_copy(update={"selector": "votes"})
        record = await choose_instance(
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
            record["selector"] = self.settings.selector
            record["fallback"] = f"{unsupported}: no test can run here, votes"
        record["key"] = key
        record["patch"] = cands[record["winner"]["index"]].patch if record["winner"] else ""
        atomic_write_json(path, record)
        summary.chosen += 1
        w = record["winner"]
        self._log(iid, f"chose {w['system'] if w else '-'} ({record['reason'] or record['fallback']}), "
                       f"{record['cost']['sandbox_s']} sandbox-s")  # fmt: skip

    def _write_outputs(self, ids: Sequence[str], summary: Summary) -> None:
        records = [r for r in (_read(self.out / i / "choice.json") for i in sorted(ids)) if r is not None]
        name = f"ensemble-{self.settings.selector}"
        write_predictions(self.out / "predictions.jsonl", {r["instance_id"]: r.get("patch", "") for r in records},
                          model_name=name)  # fmt: skip
        lines = [json.dumps({k: v for k, v in r.items() if k != "patch"}, sort_keys=True) for r in records]
        atomic_write_text(self.out / "choices.jsonl", "".join(line + "\n" for line in lines))
        summary.sandbox_s = round(sum(float(r.get("cost", {}).get("sandbox_s", 0.0)) for r in records), 1)
        atomic_write_json(self.out / "summary.json", summary.model_dump())


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("version") == CHOICE_VERSION else None
