"""Where a cold ``harness select`` spends its time on the heavy pool (issue 15): 1.5 M cells, ~16 k timeouts.

Runs the command itself, cold (a fresh results folder and engine cache), on the pool of
``benchmarks/heavy_pool.py`` (made first if missing) with ``--test-limit 0``, and splits its wall time T:

``harness select`` ran on the machine's cores for T seconds: T x cores core-seconds, split into
- **running tests**: the CPU of the tests (and ground-truth scripts) that ended, as each child measures
  it around each test;
- **waiting out timeouts**: the CPU the tests that timed out burned until their timers fired (a test that
  spins holds a core; one that sleeps holds only its slot, see the slots' view);
- **everything else**: the rest of what harness used: a process per program (start, uid, defining the
  program, end), the workers (forking, reading records, reaping) and ``harness select`` itself (pools,
  extraction, the cache, selection, curves, writing the run);
- idle, or other processes (Docker, the OS, other jobs).

The figures come from ``summary.engine`` (``Engine.account``). ``--write-docs`` puts the table in
docs/selection.md between its markers (``selection_heavy``, or ``selection_heavy_chunkN`` with
``--chunk N``).

Usage: ``.venv/bin/python benchmarks/selection_heavy.py [--chunk N] [--write-docs] [--json]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _docs import replace_section  # benchmarks/, this script's folder

ROOT = Path(__file__).resolve().parents[1]
POOL = ROOT / "results" / "heavy-pool"
DOC = ROOT / "docs" / "selection.md"


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
        t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"harness select failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout)
    summary["driver_cpu_s"] = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
    return wall, summary


def account(wall: float, summary: dict[str, Any]) -> dict[str, Any]:
    """The run's core-seconds (wall x CPUs), by what used them; and the slots' view of the engine."""
    e, t = summary["engine"], summary["timings_s"]
    cores = os.cpu_count() or 1
    offered = wall * cores
    tests, timeouts = e["ended_cpu_s"], e["timeout_cpu_s"]
    processes = e["children_cpu_s"] - tests - timeouts  # starting, defining programs, ending
    harness = e["worker_cpu_s"] + processes + summary["driver_cpu_s"]
    idle = offered - tests - timeouts - harness
    slots = e["slots"]
    return {
        "measured_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_s": round(wall, 1),
        "cores": cores,
        "core_s": {
            "running_tests": round(tests, 1),
            "waiting_out_timeouts": round(timeouts, 1),
            "everything_else": round(harness, 1),
            "idle_or_other_processes": round(idle, 1),
        },
        "everything_else_breakdown_core_s": {
            "a_process_per_program": round(processes, 1),
            "workers": round(e["worker_cpu_s"], 1),
            "driver": round(summary["driver_cpu_s"], 1),
        },
        "everything_else_share_of_used": round(harness / (tests + timeouts + harness), 3),
        "slots_view_s": {
            "slots": slots,
            "cells_that_ended": round(e["test_s"] / slots, 1),
            "cells_that_timed_out": round(e["timeout_s"] / slots, 1),
            "children_alive": round(e["alive_s"] / slots, 1),
            "lanes_running": round(e["slot_s"] / slots, 1),
            "starting_children_per_lane": round(e["spawn_s"] / e["lanes"], 1),
        },
        "phases_s": {k: round(v, 1) for k, v in t.items()},
        "programs_run": summary["programs_run"],
        "children": e["children"],
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }


def table(a: dict[str, Any], extra: list[str]) -> str:
    c, b, v = a["core_s"], a["everything_else_breakdown_core_s"], a["slots_view_s"]
    offered = a["wall_s"] * a["cores"]

    def row(name: str, x: float) -> str:
        return f"| {name} | {x:.1f} | {100 * x / offered:.0f}% |"

    return "\n".join([
        f"Measured {a['measured_at']} with `{' '.join(['.venv/bin/python benchmarks/selection_heavy.py', *extra])}`"
        + f", cold, {a['wall_s']:.1f} s on {a['cores']} cores ({a['programs_run']:,} programs run in "
        f"{a['children']:,} processes, {v['slots']} at once; load average after the run {a['load_average']}):",
        "",
        "| where the cold run's core-seconds went | core-s | share |",
        "|---|---:|---:|",
        row("running tests (CPU of the tests and ground-truth scripts that ended)", c["running_tests"]),
        row("waiting out timeouts (CPU the timed-out tests burned until their timers fired)",
            c["waiting_out_timeouts"]),
        row("**everything else**", c["everything_else"]),
        row("&nbsp;&nbsp;a process per program: start, uid, define the program, end", b["a_process_per_program"]),
        row("&nbsp;&nbsp;the workers (forking, reading records, reaping)", b["workers"]),
        row("&nbsp;&nbsp;`harness select` itself (pools, extraction, cache, selection, curves, writing)",
            b["driver"]),
        row("idle, or other processes (Docker, the OS, other jobs)", c["idle_or_other_processes"]),
        f"| total ({a['wall_s']:.1f} s x {a['cores']} cores) | {offered:.1f} | 100% |",
        "",
        f"Everything else is {100 * a['everything_else_share_of_used']:.0f}% of the core-seconds harness used. "
        f"Seen from the engine's {v['slots']} slots (wall seconds per slot): cells that ended "
        f"{v['cells_that_ended']}, cells that timed out {v['cells_that_timed_out']}, children alive "
        f"{v['children_alive']}, lanes running {v['lanes_running']}; each lane's worker spent "
        f"{v['starting_children_per_lane']} s starting children. Phases: {a['phases_s']}.",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=None, help="harness select --chunk (default: its own)")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--from-json", type=Path, help="render a --json result again (no run)")
    args = parser.parse_args()
    extra = ["--chunk", str(args.chunk)] if args.chunk else []
    if args.from_json:
        a = json.loads(args.from_json.read_text())
    else:
        ensure_pool()
        wall, summary = cold_run(extra)
        a = account(wall, summary)
    if args.json:
        print(json.dumps(a))
    else:
        print(table(a, extra))
    if args.write_docs:
        replace_section(
            DOC, "selection_heavy" + (f"_chunk{args.chunk}" if args.chunk else ""), table(a, extra)
        )


if __name__ == "__main__":
    main()
