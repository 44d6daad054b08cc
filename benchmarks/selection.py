"""The whole selection experiment, cold, against a one-process-per-candidate executor on the same tasks.

What is timed (Docker sandbox, CodeGen-16B's HumanEval pools, test limit 5, nothing cached), on a fixed
subset drawn across the suite: every ``--stride``-th HumanEval task from the first (default 4: 41 tasks,
HumanEval/0, /4, ..., /160), the same tasks for every contender, nothing scaled:

1. ours, as ``harness select`` runs it: extraction, the generated-test pass matrix (isolated mode), the
   ground truth (hidden tests), and every selector under both protocols; with the default ``chunk`` 1
   (a process and a uid per candidate) and with ``--trusted-chunk`` (16: trusted pools only);
2. baseline: what CodeT's released executor does, run straightforwardly: one fresh ``python3`` per
   distinct candidate for its packed check program, and one per candidate for its ground truth, as many
   at once as there are CPUs (CodeT's ``ProcessPoolExecutor``), in the same kind of sandbox;
3. B4 over a 100 x 500 matrix (``benchmarks/bench_selectors.py`` has the per-set loop baseline).

``--full`` also times ours on all 164 tasks (no baseline there: it would take ~15 minutes).

Usage: ``.venv/bin/python benchmarks/selection.py [--stride 4] [--full] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.sandbox import DockerSandbox, SandboxProfile
from harness.selection import select
from harness.selection.build import build_task_data, task_inputs
from harness.selection.engine import EngineConfig, worker_source
from harness.selection.experiment import run_experiment
from harness.selection.extraction import ExtractionOptions, TaskInputs
from harness.selection.ground_truth import ground_truth_request
from harness.tasks import FunctionTask, Pool, default_data_dir, load_codet_pool, load_function_suite

sys.path.insert(0, str(Path(__file__).parent))
from bench_selectors import realistic_matrix

WORKER_PATH = "/tmp/harness_baseline_worker.py"  # the baseline's own copy (trusted timing runs only)
POOLS = "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300"
STRATEGIES = ["random", "maxpass", "mbr", "mbr-behaviour", "codet", "b4", "b4-beh", "tournament"]


def load(n_tasks: int) -> tuple[list[FunctionTask], Pool, Pool]:
    suite = load_function_suite("humaneval")
    base = default_data_dir() / "codet" / POOLS
    solutions = load_codet_pool(Path(f"{base}_code_solution.jsonl"), suite, "solutions")
    tests = load_codet_pool(Path(f"{base}_test_case.jsonl"), suite, "tests")
    return suite[:n_tasks], solutions, tests


async def ours(
    tasks: list[FunctionTask], solutions: Pool, tests: Pool, config: EngineConfig
) -> dict[str, float]:
    """Cold (a fresh engine, an empty cache): extraction, matrices and ground truth in one stream, as
    ``harness select`` runs them, then every selector under both protocols."""
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        data = await build_task_data(tasks, solutions, tests, engine=config, cache=Path(cache))
        t1 = time.perf_counter()
    run_experiment(data, strategies=STRATEGIES, protocol="both", n_samples=None, seeds=[0], params={})
    t2 = time.perf_counter()
    return {"extraction_matrices_ground_truth_s": t1 - t0, "selection_s": t2 - t1, "total_s": t2 - t0}


async def baseline(tasks: list[FunctionTask], inputs: list[TaskInputs]) -> float:
    """One fresh interpreter per candidate (matrix) and per candidate (ground truth), CPUs at once."""
    cpus = os.cpu_count() or 1
    jobs: list[str] = []
    for task, ti in zip(tasks, inputs, strict=True):
        base = {"timeout": 0.1, "load_timeout": 1.0, "grace": 0.5, "memory_mb": 0, "parallel": 1}
        for program in ti.programs:
            req = {**base, "id": "m", "kind": "faithful", "programs": [program], "tests": ti.tests}
            jobs.append(json.dumps(req))
        for script in ground_truth_request(task, ti.programs).programs:
            jobs.append(json.dumps({**base, "id": "g", "kind": "whole", "programs": [script], "tests": []}))
    profile = SandboxProfile.strict(cpus=float(cpus), max_lifetime_s=24 * 3600.0)
    boxes = [await DockerSandbox.create(None, profile) for _ in range(cpus)]
    try:
        for sb in boxes:
            await sb.write_file(WORKER_PATH, worker_source())
        queue = list(reversed(jobs))
        t0 = time.perf_counter()

        async def drain(sb: DockerSandbox) -> None:
            while queue:
                await sb.run(["python3", WORKER_PATH], stdin=queue.pop() + "\n", timeout=120)

        await asyncio.gather(*(drain(sb) for sb in boxes))
        return time.perf_counter() - t0
    finally:
        for sb in boxes:
            await sb.close()


def b4_ms(repeat: int = 20) -> float:
    matrix = realistic_matrix(100, 500)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        select("b4", matrix)
        best = min(best, time.perf_counter() - t0)
    return best * 1000.0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stride", type=int, default=4, help="every STRIDE-th task from the first")
    parser.add_argument("--trusted-chunk", type=int, default=16, help="ours again with this chunk (0: skip)")
    parser.add_argument("--engine", default="{}", help='EngineConfig fields as JSON, e.g. {"parallel": 16}')
    parser.add_argument("--full", action="store_true", help="also time ours on all 164 tasks")
    parser.add_argument("--ours-only", action="store_true", help="time ours only (no baseline)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    tasks, solutions, tests = load(164)
    config = EngineConfig.model_validate(json.loads(args.engine))
    sub = tasks[:: args.stride]
    inputs = task_inputs(sub, solutions, tests, ExtractionOptions())
    result: dict[str, Any] = {
        "subset": {
            "tasks": len(sub),
            "task_ids": f"{sub[0].task_id}, {sub[1].task_id}, ..., {sub[-1].task_id} (every {args.stride}th)",
            "candidates": sum(len(ti.programs) for ti in inputs),
            "cells": sum(len(ti.programs) * len(ti.tests) for ti in inputs),
        }
    }
    contenders = {f"ours_chunk{config.chunk}": config}
    if args.trusted_chunk and args.trusted_chunk != config.chunk:
        contenders[f"ours_chunk{args.trusted_chunk}"] = config.model_copy(
            update={"chunk": args.trusted_chunk}
        )
    times: dict[str, float] = {}
    for name, cfg in contenders.items():
        times[name] = (await ours(sub, solutions, tests, cfg))["total_s"]
    if not args.ours_only:
        times["baseline"] = await baseline(sub, inputs)
        for name in contenders:
            result[f"ratio_{name}"] = round(times["baseline"] / times[name], 1)
    result["seconds"] = {k: round(v, 2) for k, v in times.items()}
    if args.full:
        full = await ours(tasks, solutions, tests, config)
        result["full_164_tasks_s"] = {k: round(v, 2) for k, v in full.items()}
    result["b4_100x500_ms"] = round(b4_ms(), 2)
    result["load_average"] = [round(x, 1) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(result))
        return
    s = result["subset"]
    print(f"{s['tasks']} tasks ({s['task_ids']}), {s['candidates']} candidates, {s['cells']} cells, cold:")
    for name, seconds in result["seconds"].items():
        ratio = result.get(f"ratio_{name}")
        print(f"  {name:<16} {seconds:8.2f} s" + (f"   baseline / ours: x{ratio}" if ratio else ""))
    if args.full:
        print(f"ours on all 164 tasks: {result['full_164_tasks_s']}")
    print(f"B4 over 100 x 500: {result['b4_100x500_ms']} ms (target <= 50 ms)")
    print(f"load average after the run: {result['load_average']}")


if __name__ == "__main__":
    asyncio.run(main())
