"""The host actor: one per Ray node with a Docker engine, serving the sandboxes placed on that node.

It is a plain class made into a Ray actor by :func:`host_actor_class` (so that this module can be
read without Ray). Its methods are ``async``: Ray runs them on the actor's event loop, many at a time,
so every sandbox of the node is served concurrently while each sandbox keeps its own one-request lock.
Failures are raised as the harness's own errors; Ray carries them to the driver (``RayTaskError.cause``).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from harness._extras import require
from harness.cluster._images import ImageRecipe, NodeImages
from harness.errors import SandboxError
from harness.sandbox._types import ExecResult, SandboxProfile

if TYPE_CHECKING:
    from harness.sandbox._container import EvalSandbox  # what both kinds of box serve

SLOTS = "sandbox_slots"
"""The custom resource a node advertises for the sandboxes it can hold (``ray start --resources``)."""


class SandboxSpec(BaseModel):
    """What to start on a node. ``docker``: a :class:`~harness.sandbox.DockerSandbox` of ``image`` with
    ``profile`` (its workspace seeded from ``base`` when given); ``eval``: an evaluation container of
    ``image`` (what ``harness eval`` starts locally), with the default bridge when ``network``. With a
    ``recipe``, the image is the one the node has for it (built or pulled there first)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["docker", "eval"] = "docker"
    image: str | None = None
    profile: SandboxProfile | None = None
    run_id: str | None = None
    network: bool = False
    base: str | None = None
    recipe: ImageRecipe | None = None


class SandboxHost:
    """Starts sandboxes on its node and serves their calls by key. Not thread-safe: Ray runs an async
    actor's methods on one event loop."""

    def __init__(self) -> None:
        self._boxes: dict[str, EvalSandbox] = {}
        self._images = NodeImages()

    async def where(self) -> dict[str, Any]:
        """The Ray node id, host name and pid of this actor (placement is asserted with these)."""
        ray = require("ray", "ray")
        return {
            "node_id": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }

    async def images(self) -> dict[str, dict[str, int]]:
        """Per image tag, how many times this actor built it, found it already there, or pulled it."""
        return self._images.counts.as_dict()

    async def resolve(self, recipe: ImageRecipe) -> str:
        """The tag of ``recipe``'s image on this node, built or pulled first when it is not here."""
        return await self._images.ensure(recipe)

    async def open(self, spec: SandboxSpec) -> str:
        """Start a sandbox of ``spec`` on this node; its key for the other calls."""
        sb: EvalSandbox
        image = spec.image if spec.recipe is None else await self._images.ensure(spec.recipe)
        if spec.kind == "docker":
            from harness.sandbox._docker import DockerSandbox

            extra = {} if spec.base is None else {"base": spec.base}
            sb = await DockerSandbox.create(image, spec.profile, run_id=spec.run_id, **extra)
        else:
            from harness.sandbox._container import EvalContainer

            assert image is not None
            sb = await EvalContainer.start(image, run_id=spec.run_id, network=spec.network)
        key = uuid.uuid4().hex
        self._boxes[key] = sb
        return key

    def _box(self, key: str) -> EvalSandbox:
        try:
            return self._boxes[key]
        except KeyError:
            raise SandboxError("this sandbox is closed (or was never started on this node)") from None

    async def run(
        self,
        key: str,
        cmd: str | Sequence[str],
        timeout: float | None,
        cwd: str | None,
        env: Mapping[str, str] | None,
        stdin: str | bytes | None,
    ) -> ExecResult:
        return await self._box(key).run(cmd, timeout=timeout, cwd=cwd, env=env, stdin=stdin)

    async def write_file(self, key: str, path: str, content: str | bytes, mode: int) -> None:
        await self._box(key).write_file(path, content, mode=mode)

    async def read_file(self, key: str, path: str) -> bytes:
        data: bytes = await self._full(key, "read_file")(path)
        return data

    async def diff(self, key: str) -> str:
        text: str = await self._full(key, "diff")()
        return text

    async def reset(self, key: str) -> None:
        await self._full(key, "reset")()

    def _full(self, key: str, op: str) -> Any:
        """A method of the full ``Sandbox`` protocol, which evaluation containers do not have."""
        method = getattr(self._box(key), op, None)
        if method is None:
            raise SandboxError(f"an evaluation container has no {op}(); start a docker sandbox for it")
        return method

    async def close(self, key: str) -> None:
        sb = self._boxes.pop(key, None)
        if sb is not None:
            await sb.close()

    async def close_all(self) -> int:
        """Close every sandbox of this node (the driver is done); how many there were."""
        keys = list(self._boxes)
        for key in keys:
            await self.close(key)
        return len(keys)


def host_actor_class() -> Any:
    """:class:`SandboxHost` as a Ray actor class: no CPU of its own (its sandboxes use the slots),
    never restarted (a restarted host would have lost its containers' connections), and not niced:
    Ray starts worker processes at niceness 15 (for CPU-heavy tasks), and a host only relays calls, so
    on a busy node every call waited for the CPU behind everything else (+1.5 to +3 ms per round trip
    here). Ray's own job supervisor actor is started at niceness 0 the same way."""
    ray = require("ray", "ray")
    normal = {"env_vars": {"RAY_worker_niceness": "0"}}
    return ray.remote(num_cpus=0, max_restarts=0, max_concurrency=1000, runtime_env=normal)(SandboxHost)
