"""``harness run``: the whole pipeline over a suite, resumable from its artefacts.

Per task, each stage is a unit of the run's index (``harness.store.Run``) with an artefact under
``results/<run-id>/``; a unit marked done is read back, never redone:

=============  ==================================  ============================================
stage          unit id                             artefact
=============  ==================================  ============================================
context        ``<task>``                          ``context/<key>.json``
trajectory     ``<task>#<i>``                      ``trajectories_out/<key>/<i>.json`` (+ log)
selection      ``<task>``                          ``selection/<key>.json`` (+ viewer artefacts)
evaluation     ``<task>``                          ``eval/<key>.json``, ``eval/<key>/c<k>/report``
=============  ==================================  ============================================

Trajectory logs are ``trajectories/<key>/t<i>.jsonl`` (``context.jsonl``, ``selection.jsonl``), which
``harness view`` shows; a trajectory killed half-way is started afresh, its partial log moved to
``abandoned/<key>/`` and what its answered calls cost still counted in the totals.
Trajectories run ``limits.trajectories`` at once over all tasks, each in its own sandbox of the task's
instance image; the first of a task runs alone when ``first_alone``. Models only ever get the task's
public view; the hidden tests are read by evaluation alone.

A unit whose sandbox fails (:class:`SandboxError`: a lost cluster node, a dead engine) is tried again,
up to ``retries`` more times, from scratch; the summary counts the retries. The models of a trajectory
(and of a task's selection loop) send a seed of their own, derived from the unit, so a unit tried again
sends the very requests of its former attempt, which the response cache answers: no answered call is
paid twice (within a run, and across a killed and resumed one).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from pydantic import BaseModel

from harness._progress import Progress, SilentProgress
from harness.errors import SandboxError
from harness.evaluation._instance import SandboxFactory, default_sandbox, evaluate_patch
from harness.evaluation._report import InstanceReport
from harness.models import Spend
from harness.models._types import Completion, Message, Model
from harness.pipeline._config import PipelineConfig
from harness.pipeline._records import (
    EvalRecord,
    SelectionRecord,
    abandoned_spent,
    set_aside,
    stage_totals,
    task_outcome,
)
from harness.pipeline._trajectory import FileSandbox, TrajectoryRecord, read_sources, run_trajectory
from harness.pipeline.context import ContextResult, build_context
from harness.pipeline.ensemble import load_external, merge_candidates, our_candidates, write_predictions
from harness.pipeline.loops import Roots
from harness.pipeline.selection_agent import select_patch
from harness.pipeline.voting import vote
from harness.store import (
    Run,
    StageTotals,
    TaskOutcome,
    task_key,
    write_candidates,
    write_matrix,
    write_rankings,
    write_stages,
)
from harness.store._outcomes import OutcomeAppender
from harness.tasks._repo import RepoTask
from harness.trajectory import TrajectoryLog

if TYPE_CHECKING:
    from harness.cluster import Cluster
    from harness.sandbox._container import EvalSandbox

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)
R = TypeVar("R")
PIPELINE_STAGES = ("context", "testing", "editing", "selection", "evaluation")


class ClosableSandbox(FileSandbox, Protocol):
    async def close(self) -> None: ...


TrajectorySandboxFactory = Callable[[str], Awaitable[ClosableSandbox]]


@dataclass
class Deps:
    """The parts the pipeline runs on; tests swap them, ``harness run`` uses :func:`docker_deps`."""

    image: Callable[[RepoTask], str]
    """The task's instance image (built when missing); called in a worker thread."""
    trajectory_sandbox: TrajectorySandboxFactory
    eval_sandbox: SandboxFactory = default_sandbox
    roots: Roots = field(default_factory=Roots)


@dataclass
class StageModelSet:
    relevance: Model
    ranking: Model
    testing: Model
    editing: Model
    selection: Model


class SeededModel:
    """``model`` whose calls without a seed carry ``seed``: the same conversation asks the same
    requests, which the response cache answers when they were answered before."""

    def __init__(self, model: Model, seed: int) -> None:
        self.model, self.seed = model, seed
        self.name = model.name

    async def sample(
        self,
        messages: Sequence[Message],
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int = 1024,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        logprobs: bool = False,
    ) -> list[Completion]:
        return await self.model.sample(
            messages,
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop,
            seed=self.seed if seed is None else seed,
            logprobs=logprobs,
        )


def unit_seed(unit: str) -> int:
    """A seed of its own for ``unit`` (``<task>#<i>``, ``<task>/selection``), the same in every run."""
    return int.from_bytes(hashlib.sha256(unit.encode()).digest()[:4], "big") >> 1


def docker_deps(cfg: PipelineConfig, run_id: str) -> Deps:
    """Real images and sandboxes: ``TaskImages`` and a strict ``DockerSandbox`` of the instance image
    whose workspace is seeded from ``/testbed``."""
    from harness.sandbox import DockerSandbox, SandboxProfile
    from harness.tasks.images import TESTBED, TaskImages

    images = TaskImages(base_image=cfg.base_image)
    profile = SandboxProfile.strict(memory=cfg.sandbox_memory)

    async def sandbox(image: str) -> ClosableSandbox:
        return await DockerSandbox.create(image, profile, run_id=run_id, base=TESTBED)

    return Deps(
        image=images.instance_image, trajectory_sandbox=sandbox, roots=Roots(profile.workspace, TESTBED)
    )


def cluster_deps(cfg: PipelineConfig, run_id: str, cluster: Cluster, *, registry: str | None = None) -> Deps:
    """:func:`docker_deps` on the nodes of a Ray cluster: every trajectory, voting, selection-agent and
    evaluation sandbox is placed by Ray on a node with a free slot, whose host actor makes sure the
    instance image is there: built on the node from the same recipe (once per node), or, with a
    ``registry``, built here, pushed there and pulled by the node."""
    from harness.cluster import ImageRecipe, Registry
    from harness.sandbox import SandboxProfile
    from harness.tasks.images import TESTBED, TaskImages

    profile = SandboxProfile.strict(memory=cfg.sandbox_memory)
    recipes: dict[str, ImageRecipe] = {}
    pushing = None if registry is None else (Registry(registry), TaskImages(base_image=cfg.base_image))

    def image(task: RepoTask) -> str:
        if pushing is None:
            recipe = ImageRecipe.of(task, base_image=cfg.base_image)
        else:
            recipe = ImageRecipe.pulled(pushing[0].push(pushing[1].instance_image(task)))
        recipes[recipe.key] = recipe
        return recipe.key

    async def sandbox(image: str) -> ClosableSandbox:
        return await cluster.sandbox(profile=profile, run_id=run_id, base=TESTBED, recipe=recipes[image])

    async def eval_sandbox(image: str, *, network: bool = False) -> EvalSandbox:
        return await cluster.eval_sandbox(image, network=network, recipe=recipes[image])

    return Deps(
        image=image,
        trajectory_sandbox=sandbox,
        eval_sandbox=eval_sandbox,
        roots=Roots(profile.workspace, TESTBED),
    )


class Pipeline:
    """One ``harness run`` over ``tasks`` (full tasks: only evaluation reads their hidden parts)."""

    def __init__(
        self,
        cfg: PipelineConfig,
        tasks: Sequence[RepoTask],
        run: Run,
        models: StageModelSet,
        deps: Deps,
        *,
        progress: Progress | None = None,
    ) -> None:
        self.cfg, self.tasks, self.run, self.models, self.deps = cfg, list(tasks), run, models, deps
        self.progress = progress or SilentProgress()
        """Counts units (a task's context, each trajectory, its selection, its evaluation); notes say
        what each found."""
        self._traj_gate = asyncio.Semaphore(cfg.limits.trajectories)
        self._images: dict[str, str] = {}
        self.retries: dict[str, int] = {}
        """Per unit (``trajectory <task>#<i>``, ...), how many times it was tried again (this process)."""
        # Other systems' patches (config ``ensemble``), read once here so a bad file fails the run
        # before any model call; they join ours at selection.
        self._external = load_external(cfg.ensemble) if cfg.ensemble else {}
        if cfg.ensemble:
            hit = [t.instance_id for t in self.tasks if self._external.get(t.instance_id)]
            n = sum(len(self._external[t]) for t in hit)
            self.progress.note(
                f"ensemble: {n} external candidates for {len(hit)} of {len(self.tasks)} tasks "
                f"from {len(cfg.ensemble)} predictions file(s)"
            )

    # -- artefacts -------------------------------------------------------------------------------
    def _load(self, rel: str, cls: type[M]) -> M:
        return cls.model_validate_json(self.run.path(rel).read_text(encoding="utf-8"))

    def _done(self, stage: str, unit: str, rel: str) -> bool:
        done = self.run.unit_done(stage, unit) and self.run.path(rel).exists()
        if done:
            self.progress.note(f"{unit}: {stage}: done earlier, read back")
            self.progress.advance()
        return done

    def _log(self, key: str, name: str, *, fresh: bool) -> TrajectoryLog:
        if fresh:
            # A former attempt that did not finish (killed, sandbox failure): its log is set aside,
            # still counted in the totals (its answered calls were paid), and this one starts afresh.
            set_aside(self.run.dir, key, name)
        return TrajectoryLog(self.run.path("trajectories", key, f"{name}.jsonl"))

    async def _image(self, task: RepoTask) -> str:
        if task.instance_id not in self._images:
            t0 = time.monotonic()
            self._images[task.instance_id] = image = await asyncio.to_thread(self.deps.image, task)
            log.info("%s: image %s (%.1f s)", task.instance_id, image, time.monotonic() - t0)
        return self._images[task.instance_id]

    async def _retrying(self, unit: str, attempt: Callable[[str], Awaitable[R]]) -> R:
        """``attempt(note)`` until it does not raise :class:`SandboxError`, at most ``retries`` more
        times; ``note`` says why a later attempt runs (empty for the first)."""
        note = ""
        for tried in range(self.cfg.retries + 1):
            try:
                return await attempt(note)
            except SandboxError as exc:
                if tried == self.cfg.retries:
                    raise SandboxError(
                        f"{unit}: its sandbox failed {tried + 1} times, last: {exc}; the results so far "
                        "are kept: rerun with the same --run-id to resume (on the cluster or locally)"
                    ) from exc
                self.retries[unit] = tried + 1
                note = f"retry {tried + 1} of {self.cfg.retries} after: {exc}"
                self.progress.note(f"{unit}: sandbox failed ({exc}); {note.split(' after')[0]}")
        raise AssertionError("unreachable")

    # -- stages ----------------------------------------------------------------------------------
    async def context(self, task: RepoTask) -> ContextResult:
        key, tid = task_key(task.instance_id), task.instance_id
        rel = f"context/{key}.json"
        if self._done("context", tid, rel):
            return self._load(rel, ContextResult)
        self.run.mark("context", tid, "running")
        image = await self._image(task)

        async def read(_note: str) -> dict[str, str]:
            sandbox = await self.deps.trajectory_sandbox(image)
            try:
                return await read_sources(sandbox, self.deps.roots, self.cfg.max_file_chars * 10)
            finally:
                await sandbox.close()

        sources = await self._retrying(f"context {tid}", read)
        suffixes = tuple(self.cfg.source_suffixes)
        log = self._log(key, "context", fresh=True)
        try:
            result = await build_context(
                task.public_view(),
                {p: t for p, t in sources.items() if p.endswith(suffixes)},
                relevance_model=self.models.relevance,
                ranking_model=self.models.ranking,
                token_budget=self.cfg.context_tokens,
                n_rankings=self.cfg.n_rankings,
                max_file_chars=self.cfg.max_file_chars,
                concurrency=self.cfg.limits.model_calls,
                log=log,
            )
        finally:
            log.close()
        self.run.write_json(rel, result.model_dump(mode="json"))
        self.run.mark("context", tid, "done")
        self.progress.advance()
        self.progress.note(f"{tid}: context: {len(result.relevant)} relevant, {len(result.included)} shown")
        return result

    async def trajectory(self, task: RepoTask, index: int, ctx: ContextResult) -> TrajectoryRecord:
        key, tid = task_key(task.instance_id), task.instance_id
        unit, rel = f"{tid}#{index}", f"trajectories_out/{key}/{index}.json"
        if self._done("trajectory", unit, rel):
            return self._load(rel, TrajectoryRecord)
        image = await self._image(task)
        async with self._traj_gate:
            self.run.mark("trajectory", unit, "running")
            # The backend failed, not the model: the trajectory again from scratch, its answered
            # calls replayed from the response cache (the same seed asks the same requests).
            record = await self._retrying(
                f"trajectory {unit}", lambda note: self._attempt(task, index, ctx, image, key, note=note)
            )
        self.run.write_json(rel, record.model_dump(mode="json"))
        self.run.mark("trajectory", unit, "done")
        verdict = {0: "fixed", 2: "not fixed", None: "no test"}.get(record.edited_exit, "crashed")
        self.progress.advance()
        self.progress.note(
            f"{tid}: trajectory {index}: {len(record.patch.splitlines())} diff lines, test {verdict}"
        )
        return record

    async def _attempt(
        self, task: RepoTask, index: int, ctx: ContextResult, image: str, key: str, note: str = ""
    ) -> TrajectoryRecord:
        log = self._log(key, f"t{index}", fresh=True)
        if note:
            log.append("note", {"kind": "retry", "message": note})
        sandbox = await self.deps.trajectory_sandbox(image)
        seed = unit_seed(f"{task.instance_id}#{index}")
        try:
            return await run_trajectory(
                task.public_view(),
                index,
                sandbox,
                ctx.included,
                testing_model=SeededModel(self.models.testing, seed),
                editing_model=SeededModel(self.models.editing, seed),
                log=log,
                roots=self.deps.roots,
                testing_turns=self.cfg.testing_turns,
                editing_turns=self.cfg.editing_turns,
                timeout=self.cfg.test_timeout,
                temperature=self.cfg.temperature,
                max_file_chars=self.cfg.max_file_chars * 10,
            )
        finally:
            log.close()
            await sandbox.close()

    async def trajectories(self, task: RepoTask, ctx: ContextResult) -> list[TrajectoryRecord]:
        n = self.cfg.n_trajectories
        first: list[TrajectoryRecord] = []
        if self.cfg.first_alone and n > 1:
            first = [await self.trajectory(task, 0, ctx)]
        rest = await asyncio.gather(*(self.trajectory(task, i, ctx) for i in range(len(first), n)))
        return [*first, *rest]

    async def selection(self, task: RepoTask, records: list[TrajectoryRecord]) -> SelectionRecord:
        key, tid = task_key(task.instance_id), task.instance_id
        rel = f"selection/{key}.json"
        if self._done("selection", tid, rel):
            return self._load(rel, SelectionRecord)
        self.run.mark("selection", tid, "running")
        return await self._retrying(f"selection {tid}", lambda note: self._select(task, records, note))

    async def _select(self, task: RepoTask, records: list[TrajectoryRecord], note: str) -> SelectionRecord:
        key, tid = task_key(task.instance_id), task.instance_id
        rel = f"selection/{key}.json"
        start = time.monotonic()
        image = await self._image(task)
        public = task.public_view()
        # The ensemble's merge point: our trajectories' patches first, then other systems' (config
        # ``ensemble``); everything after (dedup, votes, B4, the agent, evaluation) treats them alike.
        model = getattr(self.models.editing, "name", "")
        merged = merge_candidates(
            our_candidates(tid, [r.patch for r in records], model=model), self._external.get(tid, [])
        )
        v = await vote(
            public,
            [c.code for c in merged],
            [r.test for r in records],
            image=image,
            sandbox_factory=self.deps.eval_sandbox,
            timeout=self.cfg.test_timeout,
            concurrency=self.cfg.limits.vote_sandboxes,
            cache=self.cfg.vote_cache(self.run.dir),
        )
        method, reason, fell_back, spent = self.cfg.selector, "", False, Spend()
        if self.cfg.selector == "agent":
            log = self._log(key, "selection", fresh=True)
            if note:
                log.append("note", {"kind": "retry", "message": note})
            try:
                res = await select_patch(
                    public,
                    SeededModel(self.models.selection, unit_seed(f"{tid}/selection")),
                    v.dedup.unique,
                    v.matrix,
                    image=image,
                    max_turns=self.cfg.selection_turns,
                    sandbox_factory=self.deps.eval_sandbox,
                    log=log,
                    test_timeout=self.cfg.test_timeout,
                )
            finally:
                log.close()
            chosen, reason, fell_back = res.index, res.reason, res.fell_back
            u = res.usage
            spent = Spend(
                calls=res.calls,
                input_tokens=u.input_tokens + u.cache_read_tokens + u.cache_write_tokens,
                output_tokens=u.output_tokens,
                cost_usd=res.cost_usd,
            )
        else:
            ranking = v.votes if self.cfg.selector == "votes" else v.b4
            chosen = ranking.top[0] if ranking.top else 0
        spent.time_s = time.monotonic() - start  # voting's containers included
        record = SelectionRecord(
            task_id=tid,
            candidates=v.dedup.unique,
            groups=v.dedup.groups,
            tests=v.tests,
            matrix=v.matrix.to_json(),
            votes=v.votes,
            b4=v.b4,
            method=method,
            chosen=chosen,
            reason=reason,
            fell_back=fell_back,
            spent=spent,
        )
        # One candidate per distinct patch, with the provenance of the first to write it (ours before
        # the ensemble's), so reports show which system a candidate came from.
        cands = [merged[g[0]] for g in v.dedup.groups]
        write_candidates(self.run, tid, cands)
        write_matrix(self.run, v.matrix.matrix)
        write_rankings(self.run, tid, [v.votes, v.b4])
        self.run.write_json(rel, record.model_dump(mode="json"))
        self.run.mark("selection", tid, "done")
        origin = cands[chosen].provenance if 0 <= chosen < len(cands) else None
        source = f" from {origin.source}" + (f" ({origin.model})" if origin.model else "") if origin else ""
        self.progress.advance()
        self.progress.note(
            f"{tid}: selection ({method}): candidate {chosen} of {len(v.dedup.unique)}{source}"
        )
        return record

    async def evaluation(self, task: RepoTask, sel: SelectionRecord) -> EvalRecord:
        key, tid = task_key(task.instance_id), task.instance_id
        rel = f"eval/{key}.json"
        if self._done("evaluation", tid, rel):
            return self._load(rel, EvalRecord)
        self.run.mark("evaluation", tid, "running")
        start = time.monotonic()
        image = await self._image(task)
        resolved: list[bool | None] = []
        outcomes: list[str] = []
        for k, patch in enumerate(sel.candidates):
            if k != sel.chosen and not self.cfg.evaluate_all:
                outcomes.append("not_evaluated")
                resolved.append(None)
                continue
            report = await self._evaluate(task, patch, image, f"evaluation {tid}/c{k}", key, k)
            self.run.write_json(f"eval/{key}/c{k}/report.json", {tid: report.model_dump(mode="json")})
            outcomes.append(report.outcome)
            resolved.append(None if report.outcome == "error" else bool(report.resolved))
        record = EvalRecord(
            task_id=tid,
            chosen=sel.chosen,
            resolved=bool(resolved[sel.chosen]),
            candidate_resolved=resolved,
            outcomes=outcomes,
            time_s=round(time.monotonic() - start, 3),
        )
        correct = [bool(r) for r in resolved]
        write_rankings(
            self.run,
            tid,
            [sel.votes, sel.b4],
            correct,
        )
        self.run.write_json(rel, record.model_dump(mode="json"))
        self.run.mark("evaluation", tid, "done")
        self.progress.advance()
        self.progress.note(f"{tid}: evaluation: {'RESOLVED' if record.resolved else 'not resolved'}")
        return record

    async def _evaluate(
        self, task: RepoTask, patch: str, image: str, unit: str, key: str, k: int
    ) -> InstanceReport:
        """One candidate's report; an evaluation whose sandbox failed is tried again (``retries``)."""
        last: list[InstanceReport] = []

        async def attempt(_note: str) -> InstanceReport:
            report = await evaluate_patch(
                task,
                patch,
                image,
                model_name="harness",
                sandbox_factory=self.deps.eval_sandbox,
                test_timeout=self.cfg.test_timeout * 10,
                log_dir=self.run.dir / "eval" / key / f"c{k}",
            )
            last[:] = [report]
            if report.outcome == "error" and (report.error or "").startswith(f"{SandboxError.__name__}:"):
                raise SandboxError(report.error or "")
            return report

        try:
            return await self._retrying(unit, attempt)
        except SandboxError:
            return last[0]  # out of retries: the infrastructure error is the candidate's report

    # -- driver ----------------------------------------------------------------------------------
    async def task(self, task: RepoTask) -> TaskOutcome:
        ctx = await self.context(task)
        records = await self.trajectories(task, ctx)
        sel = await self.selection(task, records)
        ev = await self.evaluation(task, sel) if self.cfg.evaluate else None
        lost = abandoned_spent(self.run.dir, task_key(task.instance_id))
        return task_outcome(task.instance_id, f"pipeline:{self.cfg.selector}", ctx, records, sel, ev, lost)

    async def __call__(self) -> list[TaskOutcome]:
        gate = asyncio.Semaphore(self.cfg.limits.tasks)
        # A finished task is rebuilt from its artefacts on a rerun, into the same outcome: only a
        # new or changed one is appended, so rerunning a finished run leaves outcomes.jsonl as it was.
        appender = OutcomeAppender(self.run.dir)
        per_task = 2 + self.cfg.n_trajectories + (1 if self.cfg.evaluate else 0)
        self.progress.start(per_task * len(self.tasks), f"{len(self.tasks)} tasks: stages done")

        async def one(task: RepoTask) -> TaskOutcome:
            async with gate:
                outcome = await self.task(task)
            appender.append([outcome])
            return outcome

        outcomes = list(await asyncio.gather(*(one(t) for t in self.tasks)))
        write_stages(self.run.dir, self.stage_totals())
        chosen = {}
        for t in self.tasks:
            sel = self._load(f"selection/{task_key(t.instance_id)}.json", SelectionRecord)
            chosen[t.instance_id] = sel.candidates[sel.chosen] if sel.candidates else ""
        write_predictions(self.run.path("predictions.jsonl"), chosen, model_name=f"harness-{self.run.run_id}")
        return outcomes

    def stage_totals(self) -> list[StageTotals]:
        return stage_totals(self.run.dir, [task_key(t.instance_id) for t in self.tasks])
