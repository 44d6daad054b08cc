"""Where a cold ``harness select`` spends its time on the heavy pool (issue 15): 1.5 M cells, ~16 k timeouts.

Runs the command itself, cold (a fresh results folder and engine cache), on the pool of
``benchmarks/heavy_pool.py`` (made first if missing) with ``--test-limit 0``, and splits its wall time T:

- **running tests**: the cells' own times (tests that ended), over the children the engine runs at once
  (``slots``): the wall time the tests would take with every slot always busy running one;
- **waiting out timeouts**: the same for the cells that timed out (each holds its slot for its timer);
- **everything else**: T minus those two: reading the pools and extracting, starting sandboxes and
  workers, starting and ending a process per program (matrix and ground truth), slots left empty
  (the parent starting children, a batch's tail, lanes without a batch), programs' definitions,
  selection, curves, writing the run.

The figures come from ``summary.engine`` (``Engine.account``). ``--write-docs`` puts the table in
docs/selection.md between its markers.

Usage: ``.venv/bin/python benchmarks/selection_heavy.py [--chunk N] [--write-docs] [--json]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
POOL = ROOT / "results" / "heavy-pool"
DOC = ROOT / "docs" / "selection.md"
BEGIN, END = "<!-- selection_heavy:begin -->", "<!-- selection_heavy:end -->"


def ensure_pool() -> None:
    if not (POOL / "solutions.jsonl").is_file() or not (POOL / "tests.jsonl").is_file():
        subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "heavy_pool.py"), "--out", str(POOL)], check=True
        )


def cold_run(extra: list[str]) -> tuple[float, dict[str, Any]]:
    harness = Path(sys.executable).with_name("harness")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            str(harness), "select", "--pool-solutions", str(POOL / "solutions.jsonl"),
            "--pool-tests", str(POOL / "tests.jsonl"), "--test-limit", "0", "--results-dir", tmp,
            "--cache-dir", str(Path(tmp) / "cache"), "--json", *extra,
        ]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"harness select failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout)


def account(wall: float, summary: dict[str, Any]) -> dict[str, Any]:
    e, t = summary["engine"], summary["timings_s"]
    slots = e["slots"]
    tests, timeouts = e["test_s"] / slots, e["timeout_s"] / slots
    rest = wall - tests - timeouts
    phases = t["matrices"] + t["selection"] + t["curves"]
    return {
        "wall_s": round(wall, 1),
        "running_tests_s": round(tests, 1),
        "waiting_out_timeouts_s": round(timeouts, 1),
        "everything_else_s": round(rest, 1),
        "everything_else_share": round(rest / wall, 3),
        "else_breakdown_s": {
            "engine_besides_cells": round(t["matrices"] - tests - timeouts, 1),
            "of_which_starting_children_per_lane": round(e["spawn_s"] / e["lanes"], 1),
            "selection": round(t["selection"], 1),
            "curves": round(t["curves"], 1),
            "pools_extraction_start_and_writing": round(wall - phases, 1),
        },
        "programs_run": summary["programs_run"],
        "children": e["children"],
        "slots": slots,
        "cpu_s": {"workers": e["worker_cpu_s"], "children": e["children_cpu_s"]},
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }


def table(a: dict[str, Any], extra: list[str]) -> str:
    b = a["else_breakdown_s"]
    w = a["wall_s"]

    def row(name: str, s: float) -> str:
        return f"| {name} | {s:.1f} | {100 * s / w:.0f}% |"

    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        f"Measured {when} with `.venv/bin/python benchmarks/selection_heavy.py {' '.join(extra)}`".rstrip()
        + f" (load average after the run {a['load_average']}; {a['programs_run']:,} programs run, "
        f"{a['children']:,} children, {a['slots']} at once):",
        "",
        "| where the cold run's time went | seconds | share |",
        "|---|---:|---:|",
        row("running tests", a["running_tests_s"]),
        row("waiting out timeouts", a["waiting_out_timeouts_s"]),
        row("**everything else**", a["everything_else_s"]),
        row("&nbsp;&nbsp;engine besides the cells (process per program, empty slots, tails)",
            b["engine_besides_cells"]),
        row("&nbsp;&nbsp;selection (every selector, both protocols)", b["selection"]),
        row("&nbsp;&nbsp;pool-size curves", b["curves"]),
        row("&nbsp;&nbsp;pools, extraction, start, writing the run", b["pools_extraction_start_and_writing"]),
        f"| total (wall) | {w:.1f} | 100% |",
        "",
        f"The workers' parents spent {b['of_which_starting_children_per_lane']:.1f} s per lane starting "
        f"children; CPU seconds: workers {a['cpu_s']['workers']:.1f}, children {a['cpu_s']['children']:.1f}.",
    ])  # fmt: skip


def write_docs(text: str) -> None:
    doc = DOC.read_text()
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    DOC.write_text(doc[:start] + "\n" + text + "\n" + doc[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=None, help="harness select --chunk (default: its own)")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ensure_pool()
    extra = ["--chunk", str(args.chunk)] if args.chunk else []
    wall, summary = cold_run(extra)
    a = account(wall, summary)
    if args.json:
        print(json.dumps(a))
    else:
        print(table(a, extra))
    if args.write_docs:
        write_docs(table(a, extra))


if __name__ == "__main__":
    main()
