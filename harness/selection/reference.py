"""A naive reference executor: one fresh interpreter per (program, test) cell, one cell at a time.

It exists to check the fast engine (``tests/test_engine_docker.py``): same cells on a sample, with
disagreements only where timing decides (a cell near its timeout on either side). It shares no code
with the worker: its own script, its own timer, its own classification.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from harness.sandbox._types import Sandbox
from harness.selection._types import Cell

REFERENCE_SCRIPT = r"""
import json, os, resource, signal, sys, time

class Expired(BaseException):
    pass

def on_alarm(signum, frame):
    raise Expired()

req = json.loads(sys.stdin.read())
report = os.fdopen(os.dup(1), "w")
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
if req["memory_mb"]:
    limit = req["memory_mb"] << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
signal.signal(signal.SIGALRM, on_alarm)
scope = {"__name__": "__main__"}

def attempt(source, seconds):
    began = time.perf_counter()
    try:
        code = compile(source, "<cell>", "exec")
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            exec(code, scope)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        verdict = 1
    except Expired:
        verdict = 3
    except AssertionError:
        verdict = 0
    except BaseException:
        verdict = 2
    return verdict, (time.perf_counter() - began) * 1000.0

loaded, _ = attempt(req["program"], req["load_timeout"])
if loaded != 1:
    report.write(json.dumps({"cell": 3 if loaded == 3 else 2, "ms": 0.0, "loaded": False}))
else:
    cell, ms = attempt(req["test"], req["timeout"])
    report.write(json.dumps({"cell": cell, "ms": ms, "loaded": True}))
report.flush()
os._exit(0)
"""


@dataclass(frozen=True)
class ReferenceCell:
    cell: Cell
    ms: float
    loaded: bool


async def reference_cell(
    sandbox: Sandbox,
    program: str,
    test: str,
    *,
    timeout_s: float = 0.1,
    load_timeout_s: float = 1.0,
    memory_mb: int = 1024,
) -> ReferenceCell:
    """One cell in a fresh ``python3`` process: define ``program``, then run ``test`` under its timer. A
    process that dies without reporting (``os._exit``, a crash) is an error; one that outlives every
    timer is a timeout."""
    payload = {
        "program": program,
        "test": test,
        "timeout": timeout_s,
        "load_timeout": load_timeout_s,
        "memory_mb": memory_mb,
    }
    res = await sandbox.run(
        ["python3", "-c", REFERENCE_SCRIPT],
        stdin=json.dumps(payload),
        timeout=load_timeout_s + timeout_s + 5.0,
        env={"PYTHONHASHSEED": "0"},
    )
    if res.status == "timeout":
        return ReferenceCell(Cell.TIMEOUT, (timeout_s + 5.0) * 1000.0, True)
    try:
        data = json.loads(res.stdout)
    except ValueError:
        return ReferenceCell(Cell.ERROR, 0.0, True)
    return ReferenceCell(Cell(int(data["cell"])), float(data["ms"]), bool(data["loaded"]))


async def reference_cells(
    sandbox: Sandbox, cells: Sequence[tuple[str, str]], *, timeout_s: float = 0.1
) -> list[ReferenceCell]:
    """Each (program, test) pair, one after another (no contention: this is the slow baseline)."""
    return [await reference_cell(sandbox, p, t, timeout_s=timeout_s) for p, t in cells]
