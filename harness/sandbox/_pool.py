"""``SandboxPool``: warm sandboxes handed out one user at a time, reset when given back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from harness.errors import SandboxError
from harness.sandbox._types import Sandbox, SandboxProfile

SandboxFactory = Callable[[], Awaitable[Sandbox]]


class SandboxPool:
    """At most ``max_size`` sandboxes; :meth:`acquire` lends one, and its release resets it.

    ``factory`` makes a started sandbox (default: a strict :class:`DockerSandbox` of ``image`` with
    ``profile`` and ``run_id``). A sandbox whose reset fails is closed and replaced by a new one later.
    """

    def __init__(
        self,
        max_size: int = 4,
        *,
        factory: SandboxFactory | None = None,
        image: str | None = None,
        profile: SandboxProfile | None = None,
        run_id: str | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self._factory = factory or _docker_factory(image, profile, run_id)
        self._idle: list[Sandbox] = []
        self._size = 0
        self._cond = asyncio.Condition()
        self._closed = False

    @property
    def size(self) -> int:
        """How many sandboxes exist (idle or lent)."""
        return self._size

    async def prewarm(self, n: int | None = None) -> None:
        """Start sandboxes (concurrently) until ``n`` (default ``max_size``) exist."""
        want = min(self.max_size, n if n is not None else self.max_size) - self._size
        if want <= 0:
            return
        self._size += want
        results = await asyncio.gather(*(self._factory() for _ in range(want)), return_exceptions=True)
        async with self._cond:
            for r in results:
                if isinstance(r, BaseException):
                    self._size -= 1
                else:
                    self._idle.append(r)
            self._cond.notify_all()
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Sandbox]:
        """Lend a sandbox (waiting while all ``max_size`` are lent); reset it when the block ends."""
        sb = await self._take()
        try:
            yield sb
        finally:
            await self._give_back(sb)

    async def _take(self) -> Sandbox:
        async with self._cond:
            while True:
                if self._closed:
                    raise SandboxError("this sandbox pool is closed")
                if self._idle:
                    return self._idle.pop()
                if self._size < self.max_size:
                    self._size += 1
                    break
                await self._cond.wait()
        try:
            return await self._factory()
        except BaseException:
            async with self._cond:
                self._size -= 1
                self._cond.notify()
            raise

    async def _give_back(self, sb: Sandbox) -> None:
        keep = not self._closed
        if keep:
            try:
                await sb.reset()
            except SandboxError:
                keep = False
        if not keep:
            await sb.close()
        async with self._cond:
            if keep and not self._closed:
                self._idle.append(sb)
            else:
                self._size -= 1
            self._cond.notify()

    async def close(self) -> None:
        """Close the idle sandboxes now; lent ones are closed when given back."""
        async with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._size -= len(idle)
            self._cond.notify_all()
        await asyncio.gather(*(sb.close() for sb in idle), return_exceptions=True)

    async def __aenter__(self) -> SandboxPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _docker_factory(image: str | None, profile: SandboxProfile | None, run_id: str | None) -> SandboxFactory:
    async def make() -> Sandbox:
        from harness.sandbox._docker import DockerSandbox

        return await DockerSandbox.create(image, profile, run_id=run_id)

    return make
