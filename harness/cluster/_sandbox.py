"""``RaySandbox``: the driver's handle on a sandbox that lives on a Ray node.

Each call goes to the node's host actor (:mod:`harness.cluster._host`) and is awaited there; stages see
a plain :class:`harness.sandbox.Sandbox`. A node lost during a call (its actor died) or one that stops
answering is a :class:`SandboxError`, never a hang: Ray reports a dead actor, and every call also has
a deadline of its own in case Ray has not noticed yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from harness.errors import HarnessError, SandboxError
from harness.sandbox._docker import GRACE_S
from harness.sandbox._types import ExecResult

CALL_DEADLINE_S = 600.0
"""How long a call other than ``run`` may take on its node before the sandbox counts as lost."""
RUN_MARGIN_S = GRACE_S + 30.0
"""Past a command's timeout (and the node's own grace), how long the driver waits for its node."""


@contextmanager
def ray_errors(what: str) -> Iterator[None]:
    """Ray's errors as the harness's: a harness error raised on the node comes back as itself; a dead
    actor or node, or any other Ray failure, is a :class:`SandboxError` naming ``what``."""
    import ray.exceptions as rx

    try:
        yield
    except rx.RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, HarnessError):
            raise cause from None
        raise SandboxError(f"{what} failed on its node: {cause!r}") from exc
    except rx.RayError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SandboxError(f"{what}: the node was lost ({type(exc).__name__}: {first})") from exc


class RaySandbox:
    """A :class:`harness.sandbox.Sandbox` served by the host actor ``host`` under ``key``, on ``node_id``.
    ``release`` frees its slot (the placement group) when it is closed."""

    def __init__(self, host: Any, key: str, node_id: str, *, release: Callable[[], None]) -> None:
        self._host = host
        self._key = key
        self.node_id = node_id
        self.id = f"{node_id[:12]}/{key[:12]}"
        self._release: Callable[[], None] | None = release
        self.closed = False

    async def _call(self, op: str, deadline: float, *args: Any) -> Any:
        if self.closed:
            raise SandboxError("this sandbox is closed")
        with ray_errors(f"sandbox {op} on node {self.node_id[:12]}"):
            ref = getattr(self._host, op).remote(self._key, *args)
            try:
                # A timer on this task, not wait_for's task of its own: the lighter deadline.
                async with asyncio.timeout(deadline):
                    return await ref
            except TimeoutError:
                raise SandboxError(
                    f"sandbox {op} on node {self.node_id[:12]}: no answer within {deadline:.0f} s; "
                    "the node is lost or overloaded"
                ) from None

    async def run(
        self,
        cmd: str | Sequence[str],
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | bytes | None = None,
    ) -> ExecResult:
        """Run ``cmd`` on the sandbox's node (see ``DockerSandbox.run``). A lost node: SandboxError."""
        limit = (timeout if timeout is not None else 3600.0) + RUN_MARGIN_S
        env_ = dict(env) if env is not None else None
        cmd_ = cmd if isinstance(cmd, str) else [str(a) for a in cmd]
        result: ExecResult = await self._call("run", limit, cmd_, timeout, cwd, env_, stdin)
        return result

    async def write_file(self, path: str, content: str | bytes, *, mode: int = 0o644) -> None:
        await self._call("write_file", CALL_DEADLINE_S, path, content, mode)

    async def read_file(self, path: str) -> bytes:
        data: bytes = await self._call("read_file", CALL_DEADLINE_S, path)
        return data

    async def diff(self) -> str:
        text: str = await self._call("diff", CALL_DEADLINE_S)
        return text

    async def reset(self) -> None:
        await self._call("reset", CALL_DEADLINE_S)

    async def close(self) -> None:
        """Remove the sandbox on its node and free its slot. Idempotent; a lost node's sandbox is gone
        with it, so closing it does not fail."""
        if self.closed:
            return
        try:
            await self._call("close", CALL_DEADLINE_S)
        except SandboxError as exc:
            if not isinstance(exc.__cause__, _ray_actor_error()):
                raise
        finally:
            self.closed = True
            release, self._release = self._release, None
            if release is not None:
                release()

    async def __aenter__(self) -> RaySandbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _ray_actor_error() -> type[BaseException]:
    import ray.exceptions as rx

    cls: type[BaseException] = rx.RayActorError
    return cls
