"""PNG plots of a report (matplotlib, Agg backend, imported lazily through the ``report`` extra).

Three plots, each drawn only when the run has the data for it:

- ``systems``: pass@1 of the choice, oracle coverage and random pick per system;
- ``candidates``: selected pass@1 and coverage against the number of candidates;
- ``stages``: dollars, tokens and seconds per stage.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness._extras import require
from harness.report._summary import RunReport
from harness.store import atomic_write_bytes

_COLORS = {"pass": "#2f7d4a", "oracle": "#3b6ea8", "random": "#b0803a", "time": "#7a5ba6"}


def _pyplot() -> Any:
    mpl = require("matplotlib", "report")
    mpl.use("Agg", force=True)
    return require("matplotlib.pyplot", "report")


def available_plots(report: RunReport) -> list[str]:
    names = []
    if report.systems:
        names.append("systems")
    if report.curve:
        names.append("candidates")
    if report.stages or report.total.cost_usd or report.total.time_s:
        names.append("stages")
    return names


def _systems(report: RunReport, plt: Any) -> Any:
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(report.systems) + 2), 3.6))
    xs = range(len(report.systems))
    width = 0.27
    series = [
        ("pass@1 of choice", [s.pass_at_1 for s in report.systems], "pass"),
        ("oracle coverage", [s.oracle or 0.0 for s in report.systems], "oracle"),
        ("random pick", [s.random_pick or 0.0 for s in report.systems], "random"),
    ]
    for k, (label, vals, color) in enumerate(series):
        ax.bar(
            [x + (k - 1) * width for x in xs],
            [100 * v for v in vals],
            width,
            label=label,
            color=_COLORS[color],
        )
    ax.set_xticks(list(xs), [s.system for s in report.systems], rotation=20, ha="right")
    ax.set_ylabel("% of tasks")
    ax.set_ylim(0, 118)  # headroom for the legend above the 100% line
    ax.set_yticks([0, 20, 40, 60, 80, 100])
    ax.set_title(f"{report.run_id}: systems" + (" (partial)" if report.partial else ""))
    ax.legend(loc="upper center", fontsize=8, ncol=3, frameon=False)
    return fig


def _candidates(report: RunReport, plt: Any) -> Any:
    fig, ax = plt.subplots(figsize=(7.6, 3.8))
    coverage: dict[tuple[tuple[int, float], ...], list[str]] = {}
    all_n: set[int] = set()
    lines: list[tuple[float, str, list[tuple[int, float]]]] = []
    for series in dict.fromkeys(p.series for p in report.curve):
        pts = sorted((p for p in report.curve if p.series == series), key=lambda p: p.n_candidates)
        all_n.update(p.n_candidates for p in pts)
        sel = [(p.n_candidates, 100 * p.pass_at_1) for p in pts if p.pass_at_1 is not None]
        cov = tuple((p.n_candidates, 100 * p.oracle) for p in pts if p.oracle is not None)
        if sel:
            lines.append((sel[-1][1], series, sel))
        if cov:
            coverage.setdefault(cov, []).append(series)
    # Coverage depends on the candidates, not the selector: draw each distinct curve once.
    for cov, names in coverage.items():
        label = "oracle coverage" if len(coverage) == 1 else f"coverage: {', '.join(names)}"
        ax.plot(*zip(*cov, strict=True), marker="s", linestyle="--", color="#555555", label=label)
    # Legend entries in the order of the curves' right ends, so a line is easy to find.
    for _, series, sel in sorted(lines, key=lambda x: -x[0]):
        ax.plot(*zip(*sel, strict=True), marker="o", markersize=4, label=series)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(all_n), [str(n) for n in sorted(all_n)])
    ax.set_xlabel("number of candidates")
    ax.set_ylabel("% of tasks")
    ax.set_ylim(0, 100)
    ax.set_title("selected pass@1 (solid) and oracle coverage (dashed) vs candidates", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def _stages(report: RunReport, plt: Any) -> Any:
    stages = report.stages or [report.total]
    fig, axes = plt.subplots(1, 3, figsize=(10.0, 3.4))
    names = [s.stage for s in stages]
    panels = [
        ("dollars", [s.cost_usd for s in stages], "pass"),
        ("tokens (in + out)", [s.input_tokens + s.output_tokens for s in stages], "oracle"),
        ("seconds", [s.time_s for s in stages], "time"),
    ]
    for ax, (title, vals, color) in zip(axes, panels, strict=True):
        ax.bar(names, vals, color=_COLORS[color])
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.suptitle("cost per stage" + (" (partial)" if report.partial else ""), fontsize=11)
    return fig


_DRAW: dict[str, Callable[[RunReport, Any], Any]] = {
    "systems": _systems,
    "candidates": _candidates,
    "stages": _stages,
}


def plot_png(report: RunReport, name: str) -> bytes:
    """One plot as PNG bytes. ``name`` must be one of :func:`available_plots`."""
    if name not in _DRAW:
        raise KeyError(name)
    plt = _pyplot()
    fig = _DRAW[name](report, plt)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_plots(report: RunReport, out_dir: Path) -> list[Path]:
    paths = []
    for name in available_plots(report):
        path = out_dir / f"{name}.png"
        atomic_write_bytes(path, plot_png(report, name))
        paths.append(path)
    return paths
