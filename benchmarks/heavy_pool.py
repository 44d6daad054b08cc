"""A heavy HumanEval pool for the engine's speed (issue 15): about 1.5 M cells and 15 k timeouts.

Made from CodeGen-16B's released pools (``../shared/data/codet``), deterministically, in our pool format:

- tests: CodeT's test pool as it is; select with ``--test-limit 0`` (every extracted test kept, not
  CodeT's first five per sample): 15,054 distinct tests, 1.17 M cells with the solutions alone;
- solutions, every one a whole program (so that extraction ``auto`` reads them all as written):
  - CodeT's 100 completions per task, each with its prompt: the programs CodeT runs;
  - ``--whole`` whole programs per task, as instruction-tuned models write them: the prompt's imports
    and the entry point's signature without its docstring, then one of the first distinct completions
    (cut as CodeT cuts them) as the body; extraction ``auto`` runs them as written, new candidates
    whose rows equal their completions' (the same code, another text);
  - programs that hang, every ``--hang-every``-th task: one whose entry point spins (``while True``),
    and one whose entry point sleeps (``time.sleep``), the two ways a sampled program fails to return.

Usage: ``.venv/bin/python benchmarks/heavy_pool.py [--out results/heavy-pool] [--whole 22]
[--hang-every 4]`` prints the pool's counts (programs, tests, cells) as ``harness select`` extracts them.
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path

from harness.selection.build import task_inputs
from harness.selection.extraction import ExtractionOptions, truncate
from harness.tasks import (
    FunctionTask,
    Pool,
    PoolProvenance,
    PoolRecord,
    default_data_dir,
    load_codet_pool,
    load_function_suite,
    write_pool,
)

POOLS = "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300"
SPIN = "    n = 0\n    while True:\n        n += 1\n"
SLEEP = "    import time\n    time.sleep(60)\n"


def undocumented(prompt: str, entry_point: str) -> str:
    """``prompt`` without the entry point's docstring (lines cut as they are; the rest untouched)."""
    tree = ast.parse(prompt + "    pass\n")
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == entry_point and ast.get_docstring(node):
            doc = node.body[0]
            lines = prompt.splitlines(keepends=True)
            return "".join(lines[: doc.lineno - 1] + lines[doc.end_lineno or doc.lineno :])
    return prompt


def whole_programs(task: FunctionTask, samples: list[str], k: int) -> list[str]:
    """Whole programs from the first ``k`` distinct completions, as instruction-tuned models write them:
    the imports and the entry point's signature without its docstring, then the body."""
    head = undocumented(task.prompt, task.entry_point)
    out: list[str] = []
    for sample in dict.fromkeys(truncate(s) for s in samples):
        if len(out) == k:
            break
        if sample.strip():
            out.append(head + sample)
    return out


def heavy(
    tasks: list[FunctionTask], solutions: Pool, whole: int, hang_every: int
) -> tuple[Pool, dict[str, int]]:
    records = []
    added = {"whole_programs": 0, "hanging_programs": 0}
    prov = PoolProvenance(source=f"benchmarks/heavy_pool.py from {POOLS}", model="codegen-16B-mono")
    for n, task in enumerate(tasks):
        samples = solutions.samples(task.task_id)
        programs = [task.prompt + truncate(s) for s in samples]
        extra = whole_programs(task, samples, whole)
        added["whole_programs"] += len(extra)
        if hang_every and n % hang_every == 0:
            extra += [task.prompt + SPIN, task.prompt + SLEEP]
            added["hanging_programs"] += 2
        records.append(
            PoolRecord(task_id=task.task_id, kind="solutions", samples=programs + extra, provenance=prov)
        )
    return Pool("solutions", records), added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/heavy-pool"))
    parser.add_argument("--whole", type=int, default=22, help="whole programs added per task")
    parser.add_argument("--hang-every", type=int, default=4, help="hanging programs in every N-th task")
    args = parser.parse_args()
    suite = load_function_suite("humaneval")
    base = default_data_dir() / "codet" / POOLS
    solutions = load_codet_pool(Path(f"{base}_code_solution.jsonl"), suite, "solutions")
    tests = load_codet_pool(Path(f"{base}_test_case.jsonl"), suite, "tests")
    pool, added = heavy(suite, solutions, args.whole, args.hang_every)
    args.out.mkdir(parents=True, exist_ok=True)
    write_pool(args.out / "solutions.jsonl", pool)
    write_pool(args.out / "tests.jsonl", tests)
    options = ExtractionOptions(test_limit=None, reading="auto")
    inputs = task_inputs(suite, pool, tests, options)
    counts = {
        "tasks": len(suite),
        **added,
        "programs": sum(len(ti.programs) for ti in inputs),
        "tests": sum(len(ti.tests) for ti in inputs),
        "cells": sum(len(ti.programs) * len(ti.tests) for ti in inputs),
        "out": str(args.out),
    }
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
