"""Rendering a :class:`RunReport` as Markdown and writing the report folder."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from harness.report._compare import Comparison
from harness.report._summary import RunReport
from harness.store import atomic_write_json, atomic_write_text


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return out


def _curve_table(report: RunReport) -> list[str]:
    """One row per series (selected pass@1 %) and per distinct oracle-coverage curve, one column per
    number of candidates."""
    sizes = sorted({p.n_candidates for p in report.curve})
    series = list(dict.fromkeys(p.series for p in report.curve))
    at = {(p.series, p.n_candidates): p for p in report.curve}
    rows = [[f"{s}: pass@1 %", *[pct(at[(s, n)].pass_at_1) if (s, n) in at else "-" for n in sizes]]
            for s in series]  # fmt: skip
    coverage: dict[tuple[str, ...], list[str]] = {}
    for s in series:
        cells = tuple(pct(at[(s, n)].oracle) if (s, n) in at else "-" for n in sizes)
        if any(c != "-" for c in cells):
            coverage.setdefault(cells, []).append(s)
    for cells, names in coverage.items():
        label = "oracle coverage %" if len(coverage) == 1 else f"coverage ({', '.join(names)}) %"
        rows.append([label, *cells])
    n_tasks = max(p.n_tasks for p in report.curve)
    return [*_table(["series", *[f"n={n}" for n in sizes]], rows), "", f"Tasks per point: up to {n_tasks}."]


def render_markdown(report: RunReport, plots: list[str], max_tasks: int = 200) -> str:
    """A readable report: headline metrics per system, stage costs, per-task outcomes (capped)."""
    when = (
        dt.datetime.fromtimestamp(report.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        if report.created_at
        else "unknown"
    )
    lines = [f"# Run {report.run_id}", "", f"kind `{report.kind}`, created {when}, status `{report.status}`"]
    if report.partial:
        lines += ["", "**PARTIAL RUN** — figures cover what exists so far:"]
        lines += [f"- {p}" for p in report.problems]
    lines += ["", "## Systems", ""]
    lines += _table(
        [
            "system",
            "tasks",
            "seeds",
            "pass@1 %",
            "oracle %",
            "random %",
            "B4 tasks",
            "B4 pass@1 %",
            "B4 random %",
            "$",
            "tokens in",
            "tokens out",
            "time s",
        ],
        [
            [
                s.system,
                str(s.n_tasks),
                str(s.n_seeds),
                pct(s.pass_at_1),
                pct(s.oracle),
                pct(s.random_pick),
                str(s.relevant_tasks),
                pct(s.relevant_pass_at_1),
                pct(s.relevant_random_pick),
                f"{s.cost_usd:.4f}",
                str(s.input_tokens),
                str(s.output_tokens),
                f"{s.time_s:.1f}",
            ]
            for s in report.systems
        ],
    )
    lines += ["", "Methods:"] + [f"- **{k}**: {v}" for k, v in report.methods.items()]
    lines += ["", "## Stages", ""]
    stage_rows = [*report.stages, report.total]
    lines += _table(
        ["stage", "calls", "tokens in", "tokens out", "$", "time s"],
        [
            [
                s.stage,
                str(s.calls),
                str(s.input_tokens),
                str(s.output_tokens),
                f"{s.cost_usd:.4f}",
                f"{s.time_s:.1f}",
            ]
            for s in stage_rows
        ],
    )
    if report.curve:
        lines += ["", "## Against the number of candidates", "", *_curve_table(report)]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    systems = [s.system for s in report.systems]
    lines += ["", f"## Tasks ({len(report.tasks)})", ""]
    rows = []
    for row in report.tasks[:max_tasks]:
        by_sys = {c.system: c for c in row.cells}
        first = row.cells[0]
        rows.append(
            [row.task_id, pct(first.oracle), pct(first.random_pick)]
            + [pct(by_sys[s].resolved) if s in by_sys else "-" for s in systems]
        )
    lines += _table(["task", "oracle %", "random %", *[f"{s} %" for s in systems]], rows)
    if len(report.tasks) > max_tasks:
        lines += ["", f"... {len(report.tasks) - max_tasks} more tasks in report.json"]
    return "\n".join(lines) + "\n"


def write_report(report: RunReport, out_dir: Path, *, plots: bool = True) -> list[Path]:
    """Write ``report.json``, ``report.md`` and (when matplotlib is installed and asked for) the PNG
    plots into ``out_dir``. Returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if plots:
        from harness.report._plots import write_plots

        written += write_plots(report, out_dir)
    atomic_write_json(out_dir / "report.json", report.model_dump(mode="json"))
    atomic_write_text(out_dir / "report.md", render_markdown(report, [p.name for p in written]))
    return [out_dir / "report.json", out_dir / "report.md", *written]


def render_comparison_markdown(cmp: Comparison, max_tasks: int = 200) -> str:
    """The comparison as Markdown: columns, ensemble coverage, paired differences, per-task table."""
    lines = ["# Comparison", "", "runs: " + ", ".join(f"`{r}`" for r in cmp.runs)]
    if cmp.partial_runs:
        lines += ["", "**PARTIAL RUNS** (figures cover what exists): " + ", ".join(cmp.partial_runs)]
    lines += ["", "## Columns", ""]
    lines += _table(
        ["column", "tasks", "pass@1 %", "oracle %"],
        [[c.label, str(c.n_tasks), pct(c.pass_at_1), pct(c.oracle)] for c in cmp.columns],
    )
    lines += [
        "",
        f"Union coverage (some column has a correct candidate): {pct(cmp.union_coverage)} % of "
        f"{len(cmp.rows)} tasks; best column per task: {pct(cmp.best_of_columns)} %.",
    ]
    if cmp.pairs:
        lines += ["", "## Paired differences (b - a, percentage points)", ""]
        lines += _table(
            ["a", "b", "tasks", "diff", "95% CI", "p", "b better", "a better", "ties"],
            [
                [
                    p.a,
                    p.b,
                    str(p.n_tasks),
                    pct(p.diff),
                    "-" if p.ci_low is None else f"[{pct(p.ci_low)}, {pct(p.ci_high)}]",
                    "-" if p.p_value is None else f"{p.p_value:.4f}",
                    str(p.b_better),
                    str(p.a_better),
                    str(p.ties),
                ]
                for p in cmp.pairs
            ],
        )
    lines += ["", f"Method: {cmp.method}.", "", f"## Tasks ({len(cmp.rows)})", ""]
    lines += _table(
        ["task", *[c.label for c in cmp.columns]],
        [[r.task_id, *[pct(v) for v in r.resolved]] for r in cmp.rows[:max_tasks]],
    )
    if len(cmp.rows) > max_tasks:
        lines += ["", f"... {len(cmp.rows) - max_tasks} more tasks in the JSON output"]
    return "\n".join(lines) + "\n"
