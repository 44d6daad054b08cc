"""The driver's view of a Ray cluster: connecting, one host actor per node, placing sandboxes.

Placement is Ray's: each sandbox reserves one ``sandbox_slots`` unit in a one-bundle placement group,
Ray picks a node with a free slot (or queues the request until one frees), and the sandbox is started
by that node's host actor. Closing the sandbox removes the placement group, which frees the slot.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from harness._extras import require
from harness.cluster._host import SLOTS, SandboxSpec, host_actor_class
from harness.cluster._images import ImageRecipe, RecipeImages, Registry
from harness.cluster._sandbox import RaySandbox, ray_errors
from harness.errors import ConfigError, SandboxError
from harness.sandbox._types import SandboxProfile

NAMESPACE = "harness"
PLACEMENT_CHECK_S = 1.0
"""While a sandbox waits for a slot, how often the driver checks that the cluster still has any."""
T = TypeVar("T")


class Cluster:
    """A connection to a Ray cluster whose nodes serve sandboxes. Make one with :func:`connect`."""

    def __init__(self, ray: Any, *, owns_connection: bool, run_id: str | None = None) -> None:
        self._ray = ray
        self._owns = owns_connection
        self.run_id = run_id
        self._hosts: dict[str, Any] = {}
        self._hosts_lock = threading.Lock()  # image_tag() starts host actors from evaluation's threads
        self._undo_output = _ray_output_to_stderr()

    @property
    def slots(self) -> float:
        """Sandbox slots of the whole cluster (live nodes)."""
        return float(self._ray.cluster_resources().get(SLOTS, 0))

    def host(self, node_id: str) -> Any:
        """This driver's host actor on ``node_id``, started there on first use (pinned: it never moves).
        Each driver has its own (unnamed) actors, so two runs on one cluster never close each other's
        sandboxes."""
        with self._hosts_lock:
            if node_id not in self._hosts:
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                strategy = NodeAffinitySchedulingStrategy(node_id, soft=False)
                self._hosts[node_id] = host_actor_class().options(scheduling_strategy=strategy).remote()
            return self._hosts[node_id]

    def image_tag(self, recipe: ImageRecipe) -> str:
        """The tag of ``recipe``'s image on a node that offers slots (built or pulled there first): the
        same tag as the same recipe has locally, so reports name it alike wherever they were made.
        Blocking: evaluation calls it from a thread, as it calls a local build."""
        alive = [n["NodeID"] for n in self._ray.nodes() if n["Alive"] and n["Resources"].get(SLOTS, 0) >= 1]
        if not alive:
            raise SandboxError("no node of the Ray cluster offers sandbox slots any more (lost?)")
        node = alive[
            zlib.crc32(recipe.key.encode()) % len(alive)
        ]  # recipes spread over the nodes, each to one
        with ray_errors(f"making the image of {recipe.key} on node {node[:12]}"):
            tag: str = self._ray.get(self.host(node).resolve.remote(recipe))
        return tag

    async def sandbox(
        self,
        image: str | None = None,
        profile: SandboxProfile | None = None,
        *,
        run_id: str | None = None,
        base: str | None = None,
        recipe: ImageRecipe | None = None,
    ) -> RaySandbox:
        """A started docker sandbox on a node with a free slot (waits for one while all are taken);
        with ``recipe``, of the image the node has for it (built or pulled there first)."""
        spec = SandboxSpec(
            image=image, profile=profile, run_id=run_id or self.run_id, base=base, recipe=recipe
        )
        return await self.open(spec)

    async def eval_sandbox(
        self, image: str, *, network: bool = False, recipe: ImageRecipe | None = None
    ) -> RaySandbox:
        """An evaluation container on a node with a free slot: ``harness eval``'s ``sandbox_factory``."""
        spec = SandboxSpec(kind="eval", image=image, run_id=self.run_id, network=network, recipe=recipe)
        return await self.open(spec)

    def eval_sandboxes(
        self, registry: Registry | None = None, images: RecipeImages | None = None
    ) -> Callable[..., Awaitable[RaySandbox]]:
        """``harness eval``'s ``sandbox_factory``: with ``registry``, each image the driver built is
        pushed there once and the node pulls it when it lacks it; with ``images`` (the evaluator's,
        which builds nothing here), the node builds the image of the recipe the name stands for; that
        name is the image's tag (:meth:`image_tag`), the one a local evaluation gives it."""
        if images is not None:
            images.resolve = self.image_tag

        async def factory(image: str, *, network: bool = False) -> RaySandbox:
            if registry is not None:
                name = await asyncio.to_thread(registry.push, image)
                return await self.eval_sandbox(name, network=network, recipe=ImageRecipe.pulled(name))
            recipe = images.recipes.get(image) if images is not None else None
            return await self.eval_sandbox(image, network=network, recipe=recipe)

        return factory

    async def image_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """Per node id, what its host actor did for images (:meth:`SandboxHost.images`); lost nodes
        are left out."""
        ids = list(self._hosts)
        got = await asyncio.gather(*(self._hosts[n].images.remote() for n in ids), return_exceptions=True)
        return {n: g for n, g in zip(ids, got, strict=True) if not isinstance(g, BaseException)}

    async def open(self, spec: SandboxSpec) -> RaySandbox:
        from ray.util.placement_group import placement_group, placement_group_table, remove_placement_group

        pg = placement_group([{SLOTS: 1}])
        try:
            with ray_errors("placing a sandbox"):
                await self._placed(pg)
            node_id = placement_group_table(pg)["bundles_to_node_id"][0]
            host = self.host(node_id)
            with ray_errors(f"starting a sandbox on node {node_id[:12]}"):
                key = await host.open.remote(spec)
        except BaseException:
            remove_placement_group(pg)
            raise
        return RaySandbox(host, key, node_id, release=lambda: remove_placement_group(pg))

    async def _placed(self, pg: Any) -> None:
        """Wait until Ray has reserved the slot (all may be taken: Ray queues the request). A cluster
        left without any slot (every node that had some is lost) is a SandboxError, not a wait forever."""
        ready = asyncio.ensure_future(_awaited(pg.ready()))
        try:
            while not (await asyncio.wait({ready}, timeout=PLACEMENT_CHECK_S))[0]:
                if self.slots < 1:
                    raise SandboxError(
                        "no node of the Ray cluster offers sandbox slots any more (lost?): start nodes "
                        f"with `ray start ... --resources '{{\"{SLOTS}\": N}}'`, then run again"
                    )
            ready.result()
        finally:
            ready.cancel()  # nothing when it is done; else nobody waits for it any more

    async def aclose(self) -> None:
        """Close every sandbox the host actors still serve and stop the actors."""
        hosts, self._hosts = list(self._hosts.values()), {}
        results = await asyncio.gather(*(h.close_all.remote() for h in hosts), return_exceptions=True)
        for h in hosts:
            self._ray.kill(h)
        lost = [r for r in results if isinstance(r, BaseException)]
        if lost and not all(isinstance(r, self._ray.exceptions.RayActorError) for r in lost):
            raise SandboxError(f"closing the sandboxes of the cluster failed: {lost[0]}")

    def disconnect(self) -> None:
        """Leave the cluster (when :func:`connect` joined it)."""
        try:
            if self._owns and self._ray.is_initialized():
                self._ray.shutdown()
        finally:
            self._undo_output()


def _ray_output_to_stderr() -> Callable[[], None]:
    """Send to stderr what Ray prints for its processes on the driver; the undo.

    Ray's listener thread prints the cluster's error messages (a node lost: ``(raylet) Raylet is
    terminated ...``) on the driver's *stdout*, and flushes what it held back there again when the
    driver leaves; no option of ``ray.init`` moves them (``log_to_driver`` covers the workers' output
    only). stdout carries the ``--json`` documents, so while harness is connected every line Ray
    prints goes through ``print_worker_logs`` (the one function they all go through) to stderr."""
    from ray._private import worker

    printer = worker.print_worker_logs

    def to_stderr(data: dict[str, Any], print_file: Any, ignore_prefix: bool = False) -> None:
        printer(data, sys.stderr, ignore_prefix)

    worker.print_worker_logs = to_stderr

    def undo() -> None:
        if worker.print_worker_logs is to_stderr:
            worker.print_worker_logs = printer

    return undo


async def _awaited(ref: Awaitable[T]) -> T:
    return await ref


def connect(address: str, *, run_id: str | None = None) -> Cluster:
    """Join the Ray cluster at ``address`` (``auto``: the one on this machine or ``$RAY_ADDRESS``;
    ``ray://HOST:PORT``: through Ray Client). A cluster without ``sandbox_slots`` is a ConfigError."""
    ray = require("ray", "ray")
    owns = not ray.is_initialized()
    if owns:
        try:
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level="WARNING")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot join the Ray cluster at {address}: {exc}") from exc
    cluster = Cluster(ray, owns_connection=owns, run_id=run_id)
    if cluster.slots < 1:
        cluster.disconnect()
        raise ConfigError(
            f"no node of the Ray cluster at {address} offers sandbox slots: start the nodes that have a "
            f"Docker engine with `ray start ... --resources '{{\"{SLOTS}\": N}}'`"
        )
    return cluster


def run_on_cluster(address: str, main: Callable[[Cluster], Awaitable[T]], *, run_id: str | None = None) -> T:
    """``asyncio.run(main(cluster))`` on the cluster at ``address``; its sandboxes are closed and the
    driver leaves the cluster afterwards, whatever happened."""
    cluster = connect(address, run_id=run_id)

    async def go() -> T:
        try:
            return await main(cluster)
        finally:
            await cluster.aclose()

    try:
        return asyncio.run(go())
    finally:
        cluster.disconnect()
