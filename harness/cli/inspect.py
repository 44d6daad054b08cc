"""``harness report``, ``harness compare`` and ``harness view``: looking at runs.

All three accept a run id under the results folder (``--results``, default ``$HARNESS_RESULTS`` or
``results``) or a path to a run folder. A run that is still going, or was killed, is reported as far as
it goes and labelled partial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.cli._common import (
    SEED,
    Host,
    InputDir,
    Int,
    OutputDir,
    OutputFile,
    Port,
    friendly_errors,
    print_json,
)
from harness.store import default_results_dir

ResultsOpt = Annotated[
    Path | None,
    typer.Option(
        "--results",
        parser=InputDir("results folder"),
        help="Results folder holding the runs (default: $HARNESS_RESULTS or results).",
    ),
]
out = Console()


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def _report_table(report: object) -> Table:
    from harness.report import RunReport

    assert isinstance(report, RunReport)
    title = f"{escape(report.run_id)} ({escape(report.kind)})" + (" [PARTIAL]" if report.partial else "")
    table = Table(title=title)
    for col in (
        "system",
        "tasks",
        "pass@1 %",
        "oracle %",
        "random %",
        "B4 tasks",
        "B4 pass@1 %",
        "$",
        "time s",
    ):
        table.add_column(col, justify="left" if col == "system" else "right", no_wrap=col == "system")
    for s in report.systems:
        table.add_row(
            escape(s.system), str(s.n_tasks), _pct(s.pass_at_1), _pct(s.oracle), _pct(s.random_pick),
            str(s.relevant_tasks), _pct(s.relevant_pass_at_1), f"{s.cost_usd:.4f}", f"{s.time_s:.1f}",
        )  # fmt: skip
    return table


def report_cmd(
    run: Annotated[str, typer.Argument(help="Run id under --results, or a path to a run folder.")],
    results: ResultsOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            parser=OutputDir("--out folder"),
            help="Where to write report.json/.md and plots (default: RUN/report).",
        ),
    ] = None,
    plots: Annotated[
        bool, typer.Option("--plots/--no-plots", help="Draw PNG plots (needs the report extra).")
    ] = True,
) -> None:
    """Report a run: pass@1 of the choice, oracle coverage, random pick, per-task outcomes, cost per stage."""
    from harness.report import build_report, load_run, write_report

    data = load_run(run, results or default_results_dir())
    report = build_report(data)
    written = write_report(report, out_dir or data.dir / "report", plots=plots)
    if json_out:
        print_json({"report": report.model_dump(mode="json"), "written": [str(p) for p in written]})
        return
    out.print(_report_table(report))
    for problem in report.problems:
        out.print(f"[yellow]partial:[/] {escape(problem)}")
    out.print(f"wrote {', '.join(str(p) for p in written)}")


def compare_cmd(
    runs: Annotated[
        list[str], typer.Argument(help="Two or more run ids or run folders (one run compares its systems).")
    ],
    results: ResultsOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON on stdout.")] = False,
    parquet: Annotated[
        Path | None,
        typer.Option(
            "--parquet",
            parser=OutputFile("--parquet file"),
            help="Also write per-task outcomes (one row per seed) to this Parquet file.",
        ),
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option(
            "--md", parser=OutputFile("--md file"), help="Also write the comparison as Markdown here."
        ),
    ] = None,
    n_boot: Annotated[
        int,
        typer.Option(
            parser=Int(1, 1_000_000), help="Bootstrap resamples for the paired confidence intervals."
        ),
    ] = 10_000,
    seed: Annotated[int, typer.Option(parser=SEED, help="Seed of the bootstrap generator.")] = 0,
) -> None:
    """Compare runs task by task: a table, ensemble coverage, paired differences with bootstrap CIs."""
    from harness.report import compare_runs, load_run, render_comparison_markdown, write_parquet
    from harness.store import atomic_write_text

    root = results or default_results_dir()
    loaded = [load_run(r, root) for r in runs]
    cmp = compare_runs(loaded, n_boot=n_boot, seed=seed)
    if parquet is not None:
        write_parquet(loaded, parquet)
    text = render_comparison_markdown(cmp)
    if markdown is not None:
        atomic_write_text(markdown, text)
    if json_out:
        print_json(cmp.model_dump(mode="json"))
        return
    table = Table(title="paired differences (b - a, points; 95% bootstrap CI)")
    for col in ("a", "b", "tasks", "diff", "CI", "p", "b>a", "a>b"):
        table.add_column(col, justify="left" if col in "ab" else "right", no_wrap=col in "ab")
    for p in cmp.pairs:
        ci = "-" if p.ci_low is None else f"[{_pct(p.ci_low)}, {_pct(p.ci_high)}]"
        pv = "-" if p.p_value is None else f"{p.p_value:.4f}"
        table.add_row(
            escape(p.a), escape(p.b), str(p.n_tasks), _pct(p.diff), ci, pv, str(p.b_better), str(p.a_better)
        )
    cols = Table(title="columns")
    for col in ("column", "tasks", "pass@1 %", "oracle %"):
        cols.add_column(col, justify="left" if col == "column" else "right", no_wrap=col == "column")
    for c in cmp.columns:
        cols.add_row(
            escape(c.label) + (" [PARTIAL]" if c.partial else ""),
            str(c.n_tasks),
            _pct(c.pass_at_1),
            _pct(c.oracle),
        )
    out.print(cols)
    out.print(f"union coverage: {_pct(cmp.union_coverage)} % of {len(cmp.rows)} tasks; "
              f"best column per task: {_pct(cmp.best_of_columns)} %")  # fmt: skip
    if cmp.pairs:
        out.print(table)
    out.print(f"[dim]{cmp.method}[/]")
    if parquet is not None:
        out.print(f"wrote {parquet}")


def view_cmd(
    results_dir: Annotated[
        Path | None,
        typer.Argument(
            parser=InputDir("results folder"), help="Results folder (default: $HARNESS_RESULTS or results)."
        ),
    ] = None,
    port: Annotated[
        int, typer.Option("--port", "-p", parser=Port(min=0), help="Port on 127.0.0.1 (0 picks a free one).")
    ] = 8765,
    host: Annotated[
        str,
        typer.Option(parser=Host(), help="Interface to bind; keep 127.0.0.1 unless you mean to share."),
    ] = "127.0.0.1",
) -> None:
    """Serve the web viewer over a results folder (runs, tasks, pass matrices, trajectories)."""
    from harness.viewer import ViewerServer

    root = results_dir or default_results_dir()
    server = ViewerServer(root, host=host, port=port)
    out.print(f"harness viewer on [bold]{server.url}[/] over {root} (Ctrl-C stops)", soft_wrap=True)
    server.start()
    try:
        server.wait()
    except KeyboardInterrupt:
        out.print("viewer stopped")
    finally:
        server.stop()


def register(app: typer.Typer) -> None:
    app.command("report")(friendly_errors(report_cmd))
    app.command("compare")(friendly_errors(compare_cmd))
    app.command("view")(friendly_errors(view_cmd))
