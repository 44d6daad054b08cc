"""Reports and comparisons of runs: what ``harness report`` and ``harness compare`` print and write.

Everything reads a run through the store's per-run summary (``outcomes.jsonl``, ``stages.json``,
``manifest.json`` and the index), so it works on any run kind, finished or still running (partial).
"""

from harness.report._compare import Column, CompareRow, Comparison, PairedDiff, bootstrap_diff, compare_runs
from harness.report._export import write_parquet
from harness.report._load import RunData, list_run_dirs, load_run, resolve_run_dir
from harness.report._render import render_comparison_markdown, render_markdown, write_report
from harness.report._summary import (
    CurvePoint,
    RunReport,
    SystemSummary,
    TaskCell,
    TaskRow,
    build_report,
    candidate_curve,
    task_rows,
)
from harness.report._systems import (
    SystemsReport,
    build_systems_report,
    load_systems_report,
    render_systems_markdown,
)

__all__ = [
    "Column",
    "CompareRow",
    "Comparison",
    "CurvePoint",
    "PairedDiff",
    "RunData",
    "RunReport",
    "SystemSummary",
    "SystemsReport",
    "TaskCell",
    "TaskRow",
    "bootstrap_diff",
    "build_report",
    "build_systems_report",
    "candidate_curve",
    "compare_runs",
    "list_run_dirs",
    "load_run",
    "load_systems_report",
    "render_comparison_markdown",
    "render_markdown",
    "render_systems_markdown",
    "resolve_run_dir",
    "task_rows",
    "write_parquet",
    "write_report",
]
