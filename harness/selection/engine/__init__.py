"""The pass-matrix engine: programs x tests, run in one warm Docker sandbox, cached by content.

:class:`Engine` ships the stdlib worker (:mod:`harness.selection.engine._worker`) into a strict sandbox
and feeds it batches of :class:`Request` s; the worker forks a child per (program, shard of tests), up
to ``parallel`` at once, each test under its own timer (see the worker's docstring for the kinds
``tests``, ``faithful`` and ``whole``). Every finished program row is stored in a SQLite cache keyed by
the worker's source, the settings, the tests and the program, so a rerun starts no sandbox at all.

The engine knows nothing about tasks or ground truth: :mod:`harness.selection.build` sends generated
tests, and :mod:`harness.selection.ground_truth` (the only reader of hidden tests) sends ``whole``
scripts. See ``docs/selection.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import EngineUnavailable, ImageError, SandboxError
from harness.sandbox._types import ExecResult, Sandbox, SandboxProfile
from harness.selection._types import Cell
from harness.selection.engine._cache import ResultCache, result_key, settings_key, tests_digest
from harness.selection.engine._types import EngineConfig, ProgramResult, Request, RequestKind

__all__ = [
    "BOOT",
    "Engine",
    "EngineConfig",
    "EngineError",
    "LaneFactory",
    "ProgramResult",
    "Request",
    "worker_source",
]

UID_BASE = 200_000
"""The worker runs each child under ``UID_BASE + n`` (see the worker's ``_Privsep``)."""
BOOT = (
    "import sys\n"
    "del sys.path[:1]\n"  # '' (the working directory): nothing may shadow the standard library
    "n = int(sys.stdin.buffer.readline())\n"
    "code = compile(sys.stdin.buffer.read(n), '<harness-worker>', 'exec')\n"
    "exec(code, sys.modules['__main__'].__dict__)\n"
)
"""``python3 -s -c BOOT``: the worker's source comes first on stdin (its length in bytes on a line, then
the source), its requests after it. Nothing of the worker is ever on disk, where a program could rewrite
it for the next batch."""
WORKER_TIMES = ("spawn_s", "alive_s", "worker_cpu_s", "children_cpu_s", "ended_cpu_s", "timeout_cpu_s")
"""The seconds of the worker's last line (its ``usage``)."""
TIMES = ("batch_s", "slot_s", "test_s", "timeout_s", *WORKER_TIMES)
"""The keys of :meth:`Engine.account`'s seconds."""
Progress = Callable[[int], None]
"""Called with the number of programs just finished (cached ones included)."""
LaneFactory = Callable[[str | None, SandboxProfile], Awaitable[Sandbox]]
"""Starts a lane's sandbox from an image (None: the Python runner image) and the supervisor profile,
e.g. on a node of a Ray cluster (``harness.cluster.Cluster.sandbox``); it may wait for a free place."""


class EngineError(SandboxError):
    """The worker failed as a whole (not a program's failure, which is data)."""


class _LaneLost(Exception):
    """A lane's sandbox failed under its batch (its node was lost, its container died): the batch runs
    again on another lane. Carries the sandbox's error."""

    def __init__(self, error: SandboxError) -> None:
        super().__init__(str(error))
        self.error = error


@functools.cache
def worker_source() -> str:
    """The worker's source, read once per process (``harness search`` starts an engine per program)."""
    return (Path(__file__).parent / "_worker.py").read_text(encoding="utf-8")


@functools.cache
def worker_version() -> str:
    return hashlib.sha256(worker_source().encode()).hexdigest()[:16]


class Engine:
    """Runs :class:`Request` s; use as ``async with Engine(cfg, cache=path) as engine``.

    ``sandbox``: run in this sandbox instead of starting one (it is not closed here). Else each lane
    starts its own supervisor sandbox lazily, on the first cache miss: a local ``DockerSandbox``, or
    what ``lanes`` starts (e.g. sandboxes on the nodes of a Ray cluster; a lane that waits for a place
    while the others finish the work gives up). A lane whose sandbox fails under a batch (or while it
    starts) is replaced, and the batch runs again (``stats["retries"]``, at most ``config.retries``).
    """

    def __init__(
        self,
        config: EngineConfig | None = None,
        *,
        sandbox: Sandbox | None = None,
        cache: Path | None = None,
        run_id: str | None = None,
        lanes: LaneFactory | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self._lanes = 1 if sandbox is not None else self.config.lanes
        self._active = self._lanes
        self._sandboxes: list[Sandbox | None] = [sandbox] + [None] * (self._lanes - 1)
        self._owned: list[Sandbox] = []
        self._ready: set[int] = set()
        self._run_id = run_id
        self._factory = lanes
        self.cache = ResultCache(cache / "pass_matrix.sqlite" if cache is not None else None)
        self._source = worker_source().encode()
        self._version = worker_version()
        self._privsep = sandbox is None
        """Programs run under uids of their own (the engine's own supervisor sandbox). A sandbox given by
        the caller is used as it is: its programs share the worker's uid (for trusted programs only)."""
        self.stats = {"programs": 0, "cached": 0, "batches": 0, "retries": 0, "children": 0}
        self.times = {k: 0.0 for k in TIMES}
        """Where the engine's time went, summed over batches (see :data:`TIMES`)."""

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self.cache.close()
        for sb in self._owned:
            await sb.close()
        self._owned = []
        self._sandboxes = [None] * self._lanes
        self._ready = set()

    @property
    def started(self) -> bool:
        """Whether a sandbox was ever needed (false when the cache answered everything)."""
        return bool(self.stats["batches"])

    # -- public -----------------------------------------------------------------------------------

    async def run(
        self, requests: Sequence[Request], *, progress: Progress | None = None
    ) -> list[list[ProgramResult]]:
        """One :class:`ProgramResult` per program of each request, in order."""
        out: list[list[ProgramResult | None]] = [[None] * len(r.programs) for r in requests]
        keys = [self._keys(r) for r in requests]
        flat = [k for ks in keys for k in ks]
        hits = self.cache.get_many(sorted(set(flat)))
        todo: list[tuple[int, int]] = []
        for ri, ks in enumerate(keys):
            for pi, key in enumerate(ks):
                if key in hits:
                    out[ri][pi] = hits[key]
                else:
                    todo.append((ri, pi))
        self.stats["programs"] += len(flat)
        self.stats["cached"] += len(flat) - len(todo)
        if progress is not None and len(flat) > len(todo):
            progress(len(flat) - len(todo))
        queue = _batches(todo, self._batch_size(len(todo)))
        queue.reverse()
        drained = asyncio.Event()
        """Set while no batch waits: a lane still waiting for its sandbox then gives up."""

        async def lane(index: int) -> None:
            """One worker in its own sandbox; lanes overlap one batch's tail with another's work."""
            while queue:
                try:
                    if await self._lane_sandbox(index, drained) is None or not queue:
                        return
                except _LaneLost as lost:
                    await self._drop_lane(index, lost.error)
                    continue
                batch = queue.pop()
                if not queue:
                    drained.set()
                try:
                    results = await self._run_batch(requests, batch, index)
                except _LaneLost as lost:
                    await self._drop_lane(index, lost.error)
                    queue.append(batch)
                    drained.clear()
                    continue
                fresh = []
                for (ri, pi), res in zip(batch, results, strict=True):
                    out[ri][pi] = res
                    fresh.append((keys[ri][pi], res))
                    timed_out = res.cells == Cell.TIMEOUT
                    self.times["test_s"] += float(res.ms[~timed_out].sum()) / 1000.0
                    self.times["timeout_s"] += float(res.ms[timed_out].sum()) / 1000.0
                self.cache.put_many(fresh)
                if progress is not None:
                    progress(len(batch))

        # CodeT ran one check program per CPU: a faithful run keeps to that many lanes of one child each.
        faithful = any(r.kind == "faithful" for r in requests)
        self._active = min(self._lanes, max(1, int(self._cpus()))) if faithful else self._lanes
        while queue:  # again when every lane was lost (or gave up) with batches left
            await asyncio.gather(*(lane(i) for i in range(min(self._active, len(queue)))))
        return [[r for r in row if r is not None] for row in out]

    # -- internals --------------------------------------------------------------------------------

    def _batch_size(self, n: int) -> int:
        """``batch_programs``, or less for a run of fewer programs: at least 4 batches per lane (down to
        :data:`MIN_BATCH` programs), so that no lane sits idle while another has two batches, and a
        batch's slowest program (a tail the other lanes fill) is a small part of the run."""
        return max(1, min(self.config.batch_programs, max(MIN_BATCH, -(-n // (4 * self._lanes)))))

    def _settings(self, kind: RequestKind) -> str:
        c = self.config
        timeout = c.hidden_timeout_s if kind == "whole" else c.timeout_s
        fields: dict[str, object] = {"worker": self._version, "kind": kind, "timeout": timeout}
        if not self._privsep:
            fields["shared_uid"] = True
        fields.update(
            memory_mb=c.memory_mb, clock=self._clock(kind), chunk=c.chunk if kind != "faithful" else 1
        )
        if kind == "tests":
            fields.update(load=c.load_timeout_s, reuse_lhs=c.reuse_lhs)
            if c.clock == "wall":
                fields.update(demote_ms=c.demote_ms)
            if c.detail:  # options off by default add nothing: existing keys stay as they were
                fields.update(detail=True)
            if c.program_name != "__main__":
                fields.update(program_name=c.program_name)
        return settings_key(**fields)

    def _keys(self, request: Request) -> list[str]:
        settings = self._settings(request.kind)
        tests_hash = tests_digest(request.tests if request.kind != "whole" else [])
        return [result_key(settings, tests_hash, p) for p in request.programs]

    def _clock(self, kind: RequestKind) -> str:
        return {"whole": self.config.hidden_clock, "tests": self.config.clock, "faithful": "wall"}[kind]

    def _parallel(self) -> int:
        """Children at once in one lane."""
        total = self.config.parallel or 8 * max(1, int(self._cpus()))
        return max(1, total // self._active)

    def _cpus(self) -> float:
        return self.config.cpus or float(os.cpu_count() or 1)

    def _profile(self) -> SandboxProfile:
        c = self.config
        return SandboxProfile.supervisor(
            cpus=self._cpus(),
            memory=c.sandbox_memory,
            pids=max(512, 8 * self._parallel()),
            output_cap_bytes=1 << 30,
            max_lifetime_s=24 * 3600.0,
            default_timeout_s=3600.0,
        )

    async def _ensure_sandbox(self, lane: int) -> Sandbox:
        sandbox = self._sandboxes[lane]
        if sandbox is None:
            if self._factory is not None:
                try:
                    sandbox = await self._factory(self.config.image, self._profile())
                except (ImageError, EngineUnavailable):
                    raise
                except SandboxError as exc:  # e.g. the node was lost while the sandbox started there
                    raise _LaneLost(exc) from exc
            else:
                from harness.sandbox import DockerSandbox

                sandbox = await DockerSandbox.create(self.config.image, self._profile(), run_id=self._run_id)
            self._sandboxes[lane] = sandbox
            self._owned.append(sandbox)
        return sandbox

    async def _lane_sandbox(self, lane: int, drained: asyncio.Event) -> Sandbox | None:
        """The lane's sandbox, started when it has none; None when every batch was taken by other lanes
        while a ``lanes`` factory waited for a place (a cluster whose slots are all held)."""
        if self._sandboxes[lane] is not None or self._factory is None:
            return await self._ensure_sandbox(lane)
        if drained.is_set():
            return None
        opening = asyncio.ensure_future(self._ensure_sandbox(lane))
        waiting = asyncio.ensure_future(drained.wait())
        try:
            await asyncio.wait({opening, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            if not opening.done():
                opening.cancel()  # the factory frees its place (a placement group) when cancelled
        await asyncio.wait({opening})  # a cancelled opening may still have finished first
        return None if opening.cancelled() else opening.result()

    async def _drop_lane(self, lane: int, error: SandboxError) -> None:
        """Close a lane whose sandbox failed (on a lost node closing does not fail); bounded retries."""
        sandbox, self._sandboxes[lane] = self._sandboxes[lane], None
        self._ready.discard(lane)
        if sandbox is not None:
            if sandbox in self._owned:
                self._owned.remove(sandbox)
            with contextlib.suppress(SandboxError):  # it failed already; its batch runs elsewhere
                await sandbox.close()
        self.stats["retries"] += 1
        if self.stats["retries"] > self.config.retries:
            raise EngineError(
                f"{self.stats['retries']} batches lost their sandbox (last: {error}); more than the "
                f"engine's retries ({self.config.retries}). Cells finished before are cached; rerun to "
                "continue"
            ) from error

    def _payload(self, requests: Sequence[Request], batch: list[tuple[int, int]]) -> tuple[str, float]:
        c = self.config
        by_request: dict[int, list[int]] = {}
        for ri, pi in batch:
            by_request.setdefault(ri, []).append(pi)
        lines = []
        worst = 0.0
        parallel = self._parallel()
        for ri, pis in by_request.items():
            r = requests[ri]
            timeout = c.hidden_timeout_s if r.kind == "whole" else c.timeout_s
            req: dict[str, Any] = {
                "id": str(ri),
                "kind": r.kind,
                "programs": [r.programs[pi] for pi in pis],
                "tests": r.tests if r.kind != "whole" else [],
                "timeout": timeout,
                "load_timeout": c.load_timeout_s,
                "grace": c.grace_s,
                "memory_mb": c.memory_mb,
                "reuse_lhs": c.reuse_lhs,
                # CodeT ran one check program per CPU at a time; so does the faithful mode.
                "parallel": max(1, int(self._cpus()) // self._active) if r.kind == "faithful" else parallel,
                "clock": self._clock(r.kind),
                "demote_ms": c.demote_ms,
                "shard": c.shard,
                "chunk": c.chunk,
                "split": True,
            }
            if r.kind == "tests" and c.detail:
                req["detail"] = True
            if r.kind == "tests" and c.program_name != "__main__":
                req["program_name"] = c.program_name
            lines.append(json.dumps(req))
            n_tests = 1 if r.kind == "whole" else max(1, len(r.tests))
            per_program = c.load_timeout_s + n_tests * (timeout + 0.05) + c.grace_s * (1 + n_tests / c.shard)
            worst += per_program * len(pis)
        slack = 10.0 if "cpu" in (c.clock, c.hidden_clock) else 1.0  # starved CPU timers run long
        return "\n".join(lines) + "\n", slack * worst / max(1, min(parallel, len(batch))) + 120.0

    async def _run_batch(
        self, requests: Sequence[Request], batch: list[tuple[int, int]], lane: int
    ) -> list[ProgramResult]:
        rows = await self._isolating(requests, batch, lane)
        return [rows[k].result() for k in batch]

    async def _isolating(
        self, requests: Sequence[Request], batch: list[tuple[int, int]], lane: int
    ) -> dict[tuple[int, int], _Row]:
        """Rows for ``batch``. The worker is the parent of the children running programs, so a program can
        kill it (``os.kill(os.getppid(), 9)``), and every rerun of the batch would die the same way. When
        the worker was killed, the programs it did not finish run again in halves until the killer runs
        alone; :meth:`_isolate_tests` then finds the tests that kill it, which cost their own cells."""
        res, rows = await self._execute(requests, batch, lane)
        missing = [k for k in batch if not rows[k].complete()]
        if not missing:
            return rows
        if res.status != "killed":
            raise self._failed(res, len(missing), len(batch))
        if len(missing) > 1:
            half = len(missing) // 2
            for part in (missing[:half], missing[half:]):
                rows.update(await self._isolating(requests, part, lane))
        else:
            ri, pi = missing[0]
            rows[(ri, pi)] = await self._isolate_tests(requests[ri], pi, lane)
        return rows

    async def _isolate_tests(self, request: Request, pi: int, lane: int) -> _Row:
        """The row of one program that killed the worker when run alone: its tests in halves (kind
        ``tests``), a test that still kills it alone an error cell, as a crash is; a program that kills
        it on every test (while loading) did not run. Other kinds run as a whole: one error row."""
        program = request.programs[pi]
        row = _Row(1 if request.kind == "whole" else len(request.tests))
        row.ran, finished_any = True, False

        async def bisect(idx: list[int]) -> None:
            nonlocal finished_any
            tests = [request.tests[j] for j in idx] if request.kind == "tests" else request.tests
            sub = Request(request.kind, [program], tests)
            res, rows = await self._execute([sub], [(0, 0)], lane)
            part = rows[(0, 0)]
            if part.complete():
                row.cells[idx], row.ms[idx], row.out[idx] = part.cells, part.ms, part.out
                row.ran, finished_any = row.ran and part.ran, True
            elif res.status != "killed":
                raise self._failed(res, 1, 1)
            elif request.kind == "tests" and len(idx) > 1:
                await bisect(idx[: len(idx) // 2])
                await bisect(idx[len(idx) // 2 :])
            else:
                row.cells[idx], row.ms[idx], row.out[idx] = Cell.ERROR, 0.0, 0

        await bisect(list(range(len(request.tests))) if request.kind == "tests" else [0])
        row.ran = row.ran and finished_any
        row.seen = True
        return row

    async def _execute(
        self, requests: Sequence[Request], batch: list[tuple[int, int]], lane: int
    ) -> tuple[ExecResult, dict[tuple[int, int], _Row]]:
        """One worker run over ``batch``: its result and the rows it sent (complete or not)."""
        sandbox = await self._ensure_sandbox(lane)
        payload, budget = self._payload(requests, batch)
        # A fixed hash seed: set iteration order (and so some programs' outputs) is the same every run,
        # which keeps cached and fresh cells consistent.
        env = {"PYTHONHASHSEED": "0", "HOME": "/tmp"}
        if self._privsep:
            env["HARNESS_WORKER_UID_BASE"] = str(UID_BASE)
        source = self._source
        started = time.perf_counter()
        try:
            res = await sandbox.run(
                ["python3", "-s", "-c", BOOT],
                stdin=b"%d\n" % len(source) + source + payload.encode(),
                timeout=budget,
                env=env,
                cwd="/",
            )
        except SandboxError as exc:
            if sandbox not in self._owned:  # a sandbox given by the caller: not the engine's to replace
                raise
            raise _LaneLost(exc) from exc
        self.stats["batches"] += 1
        elapsed = time.perf_counter() - started
        self.times["batch_s"] += elapsed
        self.times["slot_s"] += elapsed * self._parallel()
        rows: dict[tuple[int, int], _Row] = {}
        for ri, pi in batch:
            r = requests[ri]
            rows[(ri, pi)] = _Row(1 if r.kind == "whole" else len(r.tests))
        position: dict[str, list[int]] = {}
        for ri, pi in batch:
            position.setdefault(str(ri), []).append(pi)
        for line in res.stdout.splitlines():
            if not line.strip():
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                if res.status == "ok":
                    raise
                continue  # a killed worker's last line may be cut short
            if msg.get("done"):
                continue
            if "stats" in msg:
                self._add_usage(msg["stats"])
                continue
            ri = int(msg["id"])
            pi = position[msg["id"]][int(msg["program"])]
            rows[(ri, pi)].fill(msg)
        if res.status != "ok" and res.status != "killed":
            raise self._failed(res, sum(not row.complete() for row in rows.values()), len(batch))
        return res, rows

    def _add_usage(self, usage: Any) -> None:
        """The worker's last line (its forks and CPU seconds); a malformed one is ignored: it is the
        sandbox's output, and what it says changes no cell."""
        try:
            children = int(usage["children"])
            spent = {k: float(usage[k]) for k in WORKER_TIMES}
        except (KeyError, TypeError, ValueError):
            return
        if children < 0 or not all(math.isfinite(v) and v >= 0 for v in spent.values()):
            return
        self.stats["children"] += children
        for key, value in spent.items():
            self.times[key] += value

    def account(self) -> dict[str, float]:
        """The engine's time, in seconds: ``batch_s`` (wall time of the worker runs, summed over lanes),
        ``slot_s`` (that times the children each lane runs at once), of which children were alive for
        ``alive_s``, ran tests that ended for ``test_s`` and waited out tests that timed out for
        ``timeout_s`` (the cells' own times); the workers' ``spawn_s`` (starting children); CPU seconds:
        ``worker_cpu_s``, ``children_cpu_s``, and of the latter, the tests that ended ``ended_cpu_s`` and
        those that timed out ``timeout_cpu_s`` (as the children report them). Also the children forked,
        the lanes and the children run at once over all lanes (``slots``). Cached cells cost nothing and
        count nowhere."""
        return {k: round(v, 3) for k, v in self.times.items()} | {
            "children": self.stats["children"],
            "lanes": self._lanes,
            "slots": self._parallel() * self._lanes,
        }

    @staticmethod
    def _failed(res: ExecResult, missing: int, total: int) -> EngineError:
        return EngineError(
            f"the pass-matrix worker failed ({res.status}, exit {res.exit_code}) with "
            f"{missing} of {total} programs unfinished: {res.stderr[-800:]!r}. Cells finished "
            "before are cached; rerun to continue. If it ran out of memory, lower --parallel or raise "
            "the engine's sandbox_memory"
        )


class _Row:
    """One program's row assembled from its shards."""

    def __init__(self, n: int) -> None:
        self.cells = np.full(n, -1, dtype=np.int8)
        self.ms = np.zeros(n, dtype=np.float32)
        self.out = np.zeros(n, dtype=np.int64)
        self.ran = True
        self.seen = n == 0
        self.detail: list[str] | None = None

    def fill(self, msg: dict[str, Any]) -> None:
        idx = np.asarray(msg["tests"], dtype=np.int64)
        self.cells[idx] = np.frombuffer(msg["cells"].encode(), dtype=np.uint8) - ord("0")
        self.ms[idx] = np.asarray(msg["ms"], dtype=np.float32)
        self.out[idx] = np.asarray(msg["out"], dtype=np.int64)
        self.ran = self.ran and bool(msg["ran"])
        self.seen = True
        if "detail" in msg:
            self.detail = self.detail or [""] * len(self.cells)
            for j, text in zip(msg["tests"], msg["detail"], strict=True):
                self.detail[j] = str(text)

    def complete(self) -> bool:
        return self.seen and bool((self.cells >= 0).all())

    def result(self) -> ProgramResult:
        return ProgramResult(cells=self.cells, ms=self.ms, out=self.out, ran=self.ran, detail=self.detail)


MIN_BATCH = 100
"""Programs per worker run at the least when a run is cut finer than ``batch_programs`` (a worker's start
costs ~0.1 s)."""


def _batches(todo: list[tuple[int, int]], size: int) -> list[list[tuple[int, int]]]:
    return [todo[i : i + size] for i in range(0, len(todo), size)]
