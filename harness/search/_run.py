"""Wiring of one comparison run: results folder, executor, units, summary, table and plot."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness._progress import Progress, SilentProgress
from harness.models._types import Model
from harness.search._compare import STAGE, CompareConfig, Comparison, UnitRecord, is_internal, unit_id
from harness.search._evaluate import CodeRunner, RunnerEvaluator
from harness.search._executor import Executor, VisibleTest
from harness.search._report import SystemSummary, budget_grid, curves, plot, report_json
from harness.search._spend import RunSpend, run_spend, stage_totals
from harness.store import ConfigDefaults, Run, write_stages
from harness.tasks._function import FunctionTask

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger(__name__)


async def run_comparison(
    cfg: CompareConfig,
    tasks: Sequence[FunctionTask],
    model: Model,
    executor_factory: Callable[[], AbstractAsyncContextManager[Any]],
    *,
    results_dir: Path,
    run_id: str,
    visible: Mapping[str, Sequence[VisibleTest]] | None = None,
    extra_config: Mapping[str, Any] | None = None,
    plot_png: bool = True,
    progress: Progress | None = None,
    concurrency: int = 1,
) -> dict[str, Any]:
    """Run (or resume) a comparison; write ``search/summary.json`` and ``search/budget.png`` under
    ``results/<run-id>/`` and return the summary.

    ``stages.json`` and the summary's ``spend`` count what every attempt paid for, in this process
    and earlier ones, each answered request once, failed attempts labelled apart
    (:mod:`harness.search._spend`); ``stages.json`` is written also when the run ends with an error.
    ``progress`` counts the units and notes each one's result; :func:`show_summary` prints the table."""
    config = {**cfg.model_dump(mode="json"), **dict(extra_config or {})}
    defaults = ConfigDefaults.of(type(cfg))
    run = Run(results_dir, run_id, "search", config, seeds=list(range(cfg.seeds)), defaults=defaults)
    started = time.monotonic()
    bar = progress or SilentProgress()

    def on_unit(r: UnitRecord) -> None:
        mark = "correct" if r.resolved else ("oracle" if r.oracle else "wrong")
        bar.note(
            f"{r.task_id:<18} {r.system:<22} seed {r.seed}  {mark:<8} "
            f"programs {r.spent.programs:>3}  calls {r.spent.calls:>3}  tokens {r.spent.tokens:>7}"
        )
        if not is_internal(r.system):  # the adaptive split's probes and extras are not units of their own
            bar.advance()

    units = [unit_id(t.task_id, s, seed) for seed in range(cfg.seeds) for t in tasks for s in cfg.strategies]
    bar.start(len(units), f"search units ({cfg.allocation} allocation)")
    bar.advance(sum(run.unit_done(STAGE, uid) for uid in units))

    try:
        async with executor_factory() as executor:
            if not isinstance(executor, Executor) or not isinstance(executor, CodeRunner):
                raise TypeError(f"{type(executor).__name__} cannot run visible and hidden tests")
            comparison = Comparison(
                run,
                cfg,
                model,
                executor,
                RunnerEvaluator(executor),
                visible=visible,
                on_unit=on_unit,
                concurrency=concurrency,
            )
            records = await comparison.run_all(tasks)
        axis = cfg.budget.axis
        limit = float(cfg.budget.model_dump()[axis])
        spend = run_spend(run)
        summary = {
            "run_id": run_id,
            "run_dir": str(run.dir),
            **report_json(records, axis, limit),
            "failed_units": comparison.failures,
            "spend": spend.model_dump(mode="json"),
        }
        run.write_json("search/summary.json", summary)
        write_stages(run.dir, stage_totals(spend, time.monotonic() - started))
        if plot_png:
            cv = curves(records, axis, budget_grid(limit, axis))
            title = f"{cfg.suite} · {cfg.model} · {len(tasks)} tasks × {cfg.seeds} seeds"
            summary["plot"] = str(plot(run.dir / "search" / "budget.png", cv, records, axis, title))
        log.info(
            "search %s: %d units, %d failed; %s",
            run_id,
            len(records),
            len(comparison.failures),
            _spend_line(spend),
        )
        for uid, err in comparison.failures.items():
            log.warning("failed unit %s: %s", uid, err)
        run.finish("failed" if comparison.failures else "done")
        return summary
    except BaseException:
        try:
            # What was paid until the error is reported too (the summary needs every unit).
            write_stages(run.dir, stage_totals(run_spend(run), time.monotonic() - started))
        finally:
            run.finish("failed")
        raise
    finally:
        run.close()


def show_summary(console: Console, summary: Mapping[str, Any]) -> None:
    """The table of :func:`run_comparison`'s summary, where its results are, its failed units and what
    it paid (what ``harness search`` prints on stderr without ``--json``)."""
    console.print(_table([SystemSummary.model_validate(s) for s in summary["systems"]]))
    console.print(f"results: {summary['run_dir']}")
    for uid, err in summary["failed_units"].items():
        console.print(f"[yellow]failed unit[/] {uid}: {err[:300]} (rerun with --run-id {summary['run_id']})")
    console.print(_spend_line(RunSpend.model_validate(summary["spend"])))


def _spend_line(spend: RunSpend) -> str:
    t, f, c = spend.total, spend.failed_attempts, spend.from_cache
    line = f"paid: {t.calls} calls, {t.tokens} tokens, ${t.cost_usd:.4f}"
    if f.attempts:
        line += (
            f" ({f.attempts} failed attempts of {len(f.units)} units: {f.spent.calls} calls, "
            f"{f.spent.tokens} tokens, ${f.spent.cost_usd:.4f})"
        )
    if c.calls:
        line += f"; the response cache served {c.calls} more calls ({c.tokens} tokens), not paid again"
    return line


def _fmt(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _table(systems: Sequence[SystemSummary]) -> Any:
    from rich.table import Table

    table = Table(title="search strategies at equal budget")
    for col in (
        "system",
        "units",
        "pass@1",
        "oracle",
        "calls→1st ok",
        "tokens→1st ok",
        "calls",
        "tokens",
        "$",
    ):
        table.add_column(col, justify="left" if col == "system" else "right")
    for s in systems:
        table.add_row(
            s.system,
            str(s.units),
            f"{100 * s.pass_at_1:.1f}",
            f"{100 * s.oracle:.1f}",
            _fmt(s.calls_to_first_correct),
            _fmt(s.tokens_to_first_correct, 0),
            _fmt(s.mean_calls),
            _fmt(s.mean_tokens, 0),
            f"{s.mean_cost_usd:.4f}",
        )
    return table
