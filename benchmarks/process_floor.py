"""The floor of a process per program: what one costs when the program does nothing.

Two measurements in one run, CPU seconds per process (from ``getrusage``, so the load of other jobs
moves them little):

1. **bare fork**: a fresh ``python3`` with the worker's imports, in the engine's image and a sandbox
   like its own, forks a child that calls ``os._exit(0)`` at once, and waits for it; the child's CPU and the parent's, and the child's page faults (each page
   the child or the parent writes after a fork is copied or made writable again: that is where the
   time goes, ``perf`` shows page faults and the copy of page tables on top).
2. **the engine**: the pass-matrix engine as ``harness select`` runs it (a supervisor sandbox per lane,
   a uid per child), on programs that do nothing (``x = <i>``) against one test (``tests`` kind) or as
   whole scripts (``whole``, the ground truth's kind); the children's CPU besides their tests', and the
   workers'.

The ratio (engine / bare fork) is what the engine adds to a fork. ``--programs N`` (default 3000).

Usage: ``.venv/bin/python benchmarks/process_floor.py [--programs 3000] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.selection.engine import Engine, EngineConfig, Request

WORKER_IMPORTS = ("ast", "json", "math", "mmap", "re", "select", "signal", "string", "struct", "threading")


BARE = """
import json, os, resource, sys
for name in {imports!r}:
    __import__(name)
n = {n}
c0, s0 = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
c1, s1 = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{
    "child": (c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime) / n,
    "parent": (s1.ru_utime + s1.ru_stime - s0.ru_utime - s0.ru_stime) / n,
    "faults": (c1.ru_minflt - c0.ru_minflt) / n,
}}))
"""


async def bare_fork(n: int) -> dict[str, float]:
    """A fresh ``python3`` with the worker's imports, in the engine's own image and sandbox profile,
    forking children that exit at once."""
    from harness.sandbox import DockerSandbox, SandboxProfile

    sb = await DockerSandbox.create(None, SandboxProfile.strict(cpus=float(os.cpu_count() or 1)))
    try:
        res = await sb.run(["python3", "-s", "-c", BARE.format(imports=WORKER_IMPORTS, n=n)], timeout=600)
    finally:
        await sb.close()
    if res.exit_code != 0:
        raise SystemExit(f"the bare fork failed: {res.stderr[-2000:]}")
    got = json.loads(res.stdout.strip().splitlines()[-1])
    return {
        "child_ms": round(got["child"] * 1e3, 3),
        "parent_ms": round(got["parent"] * 1e3, 3),
        "total_ms": round((got["child"] + got["parent"]) * 1e3, 3),
        "child_page_faults": round(got["faults"], 1),
    }


async def engine(n: int, kind: str) -> dict[str, float]:
    tests = ["assert x >= 0"] if kind == "tests" else []
    with tempfile.TemporaryDirectory() as cache:
        eng = Engine(EngineConfig(), cache=Path(cache))
        try:
            await eng.run([Request(kind=kind, programs=["x = -1\n"], tests=tests)])  # the lanes are up
            before, t0 = eng.account(), time.perf_counter()
            await eng.run([Request(kind=kind, programs=[f"x = {i}\n" for i in range(n)], tests=tests)])
            wall, after = time.perf_counter() - t0, eng.account()
        finally:
            await eng.close()
    d = {k: after[k] - before.get(k, 0.0) for k in after}
    children = max(1.0, d["children"])
    child = (d["children_cpu_s"] - d["ended_cpu_s"] - d["timeout_cpu_s"]) / children
    worker = d["worker_cpu_s"] / children
    return {
        "processes": int(d["children"]),
        "wall_s": round(wall, 2),
        "child_ms": round(child * 1e3, 3),
        "worker_ms": round(worker * 1e3, 3),
        "total_ms": round((child + worker) * 1e3, 3),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=3000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {"bare_fork": await bare_fork(args.programs)}
    for kind in ("tests", "whole"):
        out[f"engine_{kind}"] = await engine(args.programs, kind)
        out[f"ratio_{kind}"] = round(out[f"engine_{kind}"]["total_ms"] / out["bare_fork"]["total_ms"], 2)
    out["load_average"] = [round(x, 1) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(out))
        return
    b = out["bare_fork"]
    print(
        f"bare fork + _exit: {b['total_ms']} ms of CPU per process ({b['child_ms']} child, {b['parent_ms']} "
        f"parent), {b['child_page_faults']} page faults per child"
    )
    for kind in ("tests", "whole"):
        e = out[f"engine_{kind}"]
        print(
            f"engine, {kind} kind, programs that do nothing: {e['total_ms']} ms per process ({e['child_ms']} "
            f"child, {e['worker_ms']} worker; {e['processes']} processes in {e['wall_s']} s): "
            f"x{out[f'ratio_{kind}']} a bare fork"
        )
    print(f"load average after the run: {out['load_average']}")


if __name__ == "__main__":
    asyncio.run(main())
