"""The pass-matrix engine's lanes from a factory (what ``--cluster`` gives it), in the real Docker
sandbox: a lane whose sandbox fails under a batch is replaced and the batch runs again with the same
rows; a lane that cannot get a place while the others finish the work gives up instead of hanging."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from harness.errors import SandboxError
from harness.sandbox import DockerSandbox, SandboxProfile
from harness.sandbox._types import ExecResult
from harness.selection.engine import Engine, EngineConfig, ProgramResult, Request

pytestmark = pytest.mark.docker

PROGRAMS = [f"def f(x):\n    return x + {k % 3}\n" for k in range(12)]
TESTS = ["assert f(1) == 1", "assert f(1) == 2", "assert f(0) == 2"]


class Failing:
    """A docker sandbox whose first ``run`` raises, as a sandbox on a lost node does."""

    def __init__(self, inner: DockerSandbox, fails: bool) -> None:
        self.inner, self.id, self.fails, self.closed = inner, inner.id, fails, False

    async def run(
        self,
        cmd: str | Sequence[str],
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | bytes | None = None,
    ) -> ExecResult:
        if self.fails:
            raise SandboxError("sandbox run on node x: the node was lost (ActorDiedError)")
        return await self.inner.run(cmd, timeout=timeout, cwd=cwd, env=env, stdin=stdin)

    async def write_file(self, path: str, content: str | bytes, *, mode: int = 0o644) -> None:
        await self.inner.write_file(path, content, mode=mode)

    async def read_file(self, path: str) -> bytes:
        return await self.inner.read_file(path)

    async def diff(self) -> str:
        return await self.inner.diff()

    async def reset(self) -> None:
        await self.inner.reset()

    async def close(self) -> None:
        self.closed = True
        await self.inner.close()


def _rows(results: list[list[ProgramResult]]) -> list[tuple[list[int], bool]]:
    return [(r.cells.tolist(), r.ran) for r in results[0]]


async def test_a_lost_lane_s_batch_runs_again_on_a_new_lane() -> None:
    made: list[Failing] = []

    async def lanes(image: str | None, profile: SandboxProfile) -> Failing:
        sb = Failing(await DockerSandbox.create(image, profile), fails=not made)
        made.append(sb)
        return sb

    cfg = EngineConfig(lanes=2, batch_programs=3)
    async with Engine(cfg, lanes=lanes) as engine:
        got = await engine.run([Request("tests", PROGRAMS, TESTS)])
        assert engine.stats["retries"] == 1
        assert made[0].closed  # the failed lane was closed; its batch ran on another
    async with Engine(cfg) as local:
        want = await local.run([Request("tests", PROGRAMS, TESTS)])
    assert _rows(got) == _rows(want)
    assert [c for c, _ in _rows(got)][:3] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]


async def test_lanes_beyond_the_places_give_up_when_the_work_is_done() -> None:
    """One place (a cluster with one slot): the second lane waits for it until the first lane has taken
    every batch, then gives up; the run ends (before, the engine waited for every lane's sandbox)."""
    place = asyncio.Semaphore(1)
    made: list[DockerSandbox] = []

    async def lanes(image: str | None, profile: SandboxProfile) -> DockerSandbox:
        await place.acquire()  # never released: the one place stays taken
        sb = await DockerSandbox.create(image, profile)
        made.append(sb)
        return sb

    async with Engine(EngineConfig(lanes=2, batch_programs=3), lanes=lanes) as engine:
        got = await asyncio.wait_for(engine.run([Request("tests", PROGRAMS, TESTS)]), 300)
    assert len(made) == 1 and len(got[0]) == len(PROGRAMS)


async def test_retries_are_bounded() -> None:
    async def lanes(image: str | None, profile: SandboxProfile) -> Failing:
        return Failing(await DockerSandbox.create(image, profile), fails=True)

    async with Engine(EngineConfig(lanes=1, retries=2), lanes=lanes) as engine:
        with pytest.raises(SandboxError, match=r"3 batches lost their sandbox .* retries \(2\)"):
            await engine.run([Request("tests", PROGRAMS[:2], TESTS)])
        assert engine.stats["retries"] == 3
