"""Wiring of ``harness run``: config -> tasks, models, run folder -> :class:`Pipeline` -> summary."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness._progress import Progress, as_progress
from harness.errors import ConfigError
from harness.models import Budget, BudgetLimits, CostMeter, load
from harness.pipeline._config import STAGES, PipelineConfig
from harness.pipeline._records import summary, write_summary
from harness.pipeline.run import Deps, Pipeline, StageModelSet, cluster_deps, docker_deps
from harness.store import ConfigDefaults, Run, TaskOutcome
from harness.tasks import RepoTask, load_suite

log = logging.getLogger(__name__)


def select_tasks(cfg: PipelineConfig, base: Path) -> list[RepoTask]:
    suite = Path(cfg.suite) if Path(cfg.suite).is_absolute() else base / cfg.suite
    repos = (
        None if cfg.repos is None else Path(cfg.repos) if Path(cfg.repos).is_absolute() else base / cfg.repos
    )
    tasks = load_suite(suite, repos=repos)
    if cfg.tasks is None:
        return tasks
    by_id = {t.instance_id: t for t in tasks}
    missing = [t for t in cfg.tasks if t not in by_id]
    if missing:
        raise ConfigError(f"tasks not in suite {suite}: {missing}; known: {sorted(by_id)}")
    return [by_id[t] for t in cfg.tasks]


def load_models(cfg: PipelineConfig, base: Path) -> StageModelSet:
    """One model per stage, sharing one :class:`CostMeter` (and the dollar budget, when set).

    A scripted policy given by path is imported once and shared by every stage that names it.
    """
    meter = CostMeter()
    budget = Budget(BudgetLimits(cost_usd=cfg.budget_usd), meter=meter) if cfg.budget_usd else None
    policies: dict[str, Any] = {}
    out: dict[str, Any] = {}
    for stage in STAGES:
        mc = cfg.models.for_stage(stage)
        options = dict(mc.options)
        if mc.policy is not None:
            if mc.policy not in policies:
                policies[mc.policy] = mc.load_policy(base)
            options["policy"] = policies[mc.policy]
        options.setdefault("meter", meter)
        if budget is not None:
            options.setdefault("budget", budget)
        out[stage] = load(mc.spec, stage=stage, **options)
    return StageModelSet(**out)


def run_pipeline(
    cfg: PipelineConfig,
    base: Path,
    *,
    results_dir: Path,
    run_id: str,
    deps: Deps | None = None,
    progress: Progress | Callable[[str], None] | None = None,
    cluster: str | None = None,
    registry: str | None = None,
) -> dict[str, Any]:
    """Run (or resume) the pipeline; returns the summary also written to ``summary.json``.

    ``cluster`` (else the config's ``cluster``): every sandbox on the nodes of that Ray cluster, the
    rest here; ``registry`` (else the config's): images pushed there for the nodes to pull. The summary's ``retries`` counts the units tried again after their sandbox failed.
    ``progress``: a :class:`~harness._progress.Progress`, or a callable that gets its notes."""
    bar = as_progress(progress)
    tasks = select_tasks(cfg, base)
    models = load_models(cfg, base)
    address = cluster or cfg.cluster
    run = Run(results_dir, run_id, "pipeline", cfg.identity(), defaults=ConfigDefaults.of(type(cfg)))
    try:
        if deps is None and address is not None:
            reg = registry or cfg.registry
            pipeline, outcomes = _on_cluster(address, reg, cfg, tasks, run, models, bar)
        else:
            pipeline = Pipeline(cfg, tasks, run, models, deps or docker_deps(cfg, run_id), progress=bar)
            outcomes = asyncio.run(pipeline())
        data = summary(outcomes, pipeline.stage_totals())
        data["run_id"] = run_id
        data["run_dir"] = str(run.dir)
        data["resumed"] = run.resumed
        data["retries"] = sum(pipeline.retries.values())
        data["retried_units"] = dict(sorted(pipeline.retries.items()))
        write_summary(run, data)
        log.info(
            "run %s: resolved %s of %d tasks, $%.4f, %d units tried again",
            run_id, data.get("resolved"), len(tasks), data.get("cost_usd", 0.0), data["retries"],
        )  # fmt: skip
        run.finish("done")
    except BaseException:
        run.finish("failed")
        raise
    finally:
        run.close()
    return data


def _on_cluster(
    address: str,
    registry: str | None,
    cfg: PipelineConfig,
    tasks: list[RepoTask],
    run: Run,
    models: StageModelSet,
    progress: Progress,
) -> tuple[Pipeline, list[TaskOutcome]]:
    from harness.cluster import Cluster, run_on_cluster

    made: list[Pipeline] = []

    async def main(c: Cluster) -> list[TaskOutcome]:
        made.append(
            Pipeline(
                cfg,
                tasks,
                run,
                models,
                cluster_deps(cfg, run.run_id, c, registry=registry),
                progress=progress,
            )
        )
        return await made[0]()

    outcomes = run_on_cluster(address, main, run_id=run.run_id)
    return made[0], outcomes
