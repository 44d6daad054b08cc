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
    KeyValue,
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
    verdicts: Annotated[
        list[str],
        typer.Option(
            "--verdicts",
            parser=KeyValue(example="CodeR=CodeR.results.json"),
            help="SYSTEM=FILE: published verdicts of a system of a many-systems evaluation (default: the "
            "X.resolved.json / X.results.json found beside its predictions).",
        ),
    ] = [],  # noqa: B006 - typer reads the default
) -> None:
    """Report a run: pass@1 of the choice, oracle coverage, random pick, per-task outcomes, cost per stage.
    On a many-systems evaluation folder (harness eval A.jsonl B.jsonl ...): the per-instance x system
    table, each system's resolved rate, oracle and random pick with CIs, and agreement with published
    verdicts."""
    from harness.report import build_report, load_run, write_report

    if _systems(run, results, json_out, verdicts=verdicts, out_dir=out_dir, pairs=False):
        return
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

    if len(runs) == 1 and _systems(runs[0], results, json_out, n_boot=n_boot, seed=seed, markdown=markdown):
        return
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


def _systems(
    run: str,
    results: Path | None,
    json_out: bool,
    *,
    verdicts: list[str] | None = None,
    out_dir: Path | None = None,
    markdown: Path | None = None,
    pairs: bool = True,
    n_boot: int = 10_000,
    seed: int = 0,
) -> bool:
    """Report or compare a many-systems evaluation folder; False when ``run`` is not one."""
    from harness.errors import ConfigError
    from harness.report import load_systems_report, render_systems_markdown
    from harness.report._systems import SystemRow
    from harness.store import atomic_write_json, atomic_write_text

    folder = Path(run) if Path(run).is_dir() else (results or default_results_dir()) / run
    named: dict[str, Path] = {}
    for item in verdicts or []:
        name, _, path = item.partition("=")
        if not Path(path).is_file():
            raise ConfigError(f"--verdicts {item}: no such file {path!r}; give SYSTEM=FILE")
        named[name.strip()] = Path(path)
    rep = load_systems_report(folder, verdicts=named, n_boot=n_boot, seed=seed)
    if rep is None:
        if folder.is_dir() and not (folder / "summary.json").exists() and any(folder.glob("*/*/report.json")):
            raise ConfigError(
                f"{folder} holds a many-systems evaluation without systems.json: it did not finish; rerun "
                "the same harness eval (it continues) to write it"
            )
        if named:
            raise ConfigError(f"--verdicts applies to a many-systems evaluation folder; {run} is not one")
        return False
    text = render_systems_markdown(rep)
    written = []
    if out_dir is not None or not pairs:  # report writes beside the evaluation; compare only with --md
        target = out_dir or folder
        atomic_write_json(target / "systems_report.json", rep.model_dump(mode="json"))
        atomic_write_text(target / "systems_report.md", text)
        written = [target / "systems_report.json", target / "systems_report.md"]
    if markdown is not None:
        atomic_write_text(markdown, text)
        written.append(markdown)
    if json_out:
        print_json(rep.model_dump(mode="json"))
        return True
    names = [s.name for s in rep.systems]
    rates = Table(title=f"{escape(str(folder))}: {len(rep.instances)} instances, {len(names)} systems")
    for col in ("system", "resolved", "%", "95% CI", "not resolved"):
        rates.add_column(
            col, justify="left" if col in ("system", "not resolved") else "right", no_wrap=col == "system"
        )
    for r in [*rep.systems, rep.oracle, rep.random_pick]:
        rest = (
            ", ".join(f"{k} {n}" for k, n in r.counts.items() if k != "resolved")
            if isinstance(r, SystemRow)
            else ""
        )
        rates.add_row(
            escape(r.name),
            f"{r.resolved:g}/{r.n}",
            _pct(r.rate),
            f"[{_pct(r.ci_low)}, {_pct(r.ci_high)}]",
            rest,
        )
    grid = Table(title="per instance")
    grid.add_column("instance", no_wrap=True)
    for i in range(len(names)):
        grid.add_column(f"{i + 1}", justify="center")
    for iid, row in rep.table.items():
        grid.add_row(escape(iid), *(row[n] for n in names))
    out.print(rates)
    out.print(grid)
    out.print("  ".join(f"{i + 1}: {escape(n)}" for i, n in enumerate(names)), soft_wrap=True)
    if pairs and rep.pairs:
        diffs = Table(title="paired differences (b - a, points; 95% bootstrap CI)")
        for col in ("a", "b", "diff", "CI", "p", "b only", "a only"):
            diffs.add_column(col, justify="left" if col in "ab" else "right", no_wrap=col in "ab")
        number = {n: str(i + 1) for i, n in enumerate(names)}  # the legend's numbers: names are long
        for p in rep.pairs:
            diffs.add_row(number[p.a], number[p.b], _pct(p.diff), f"[{_pct(p.ci_low)}, {_pct(p.ci_high)}]",
                          f"{p.p_value:.4f}", str(p.b_only), str(p.a_only))  # fmt: skip
        out.print(diffs)
    for a in rep.agreement:
        out.print(f"{escape(a.system)} against {escape(a.verdicts)} ({a.kind}): {a.agree}/{a.compared} agree",
                  soft_wrap=True, highlight=False)  # fmt: skip
        for d in a.differences:
            out.print(f"  {escape(d.instance_id)}: {d.what} differs: ours {d.ours}, published {d.published}",
                      highlight=False)  # fmt: skip
        if a.not_published:
            out.print(f"  not evaluated by the published run: {escape(', '.join(a.not_published))}",
                      soft_wrap=True, highlight=False)  # fmt: skip
        if a.not_evaluated_here:
            out.print(f"  no verdict here: {escape(', '.join(a.not_evaluated_here))}", soft_wrap=True)
    out.print(f"[dim]{escape(rep.method)}[/]")
    if written:
        out.print(f"wrote {', '.join(str(p) for p in written)}", soft_wrap=True)
    return True


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
