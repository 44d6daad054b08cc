"""Sandboxes through Ray against local ones, measured in one run on this machine (needs root).

    .venv/bin/python benchmarks/cluster.py [--json] [--n 300] [--units 8] [--commands 5] [--rounds 2]

It starts its own Ray cluster as the ``ray`` test tier does (``ray.cluster_utils.Cluster``: a head
without slots and two worker nodes with 4 ``sandbox_slots`` each, inside a network namespace of its own
with only ``lo`` up, the real Docker engine) and leaves nothing behind.

- **round trip**: ``run(["true"])`` into a sandbox on a worker node through Ray (``RaySandbox``) and
  into a local ``DockerSandbox``, interleaved call by call in the same run: p50/p90 ms of each, the
  difference and the ratio of the p50s; beside them the baseline (the same call through a host actor
  at Ray's default worker niceness, as it was before ``host_actor_class`` ran it at 0) and Ray's own
  empty call of the host actor;
- **units per second** for the same fixed work (``--units`` units, 4 at a time, each opening a
  sandbox, running ``--commands`` short Python commands and closing it) placed on **one** worker node
  against spread over **two** (the other slots held by a placement group meanwhile), alternated
  ``--rounds`` times. On one machine the two "nodes" share the same cores and Docker engine, so the ratio
  measures the overhead of spreading, not a speed-up.

``--json`` prints one JSON object (``ray_p50_ms``, ``local_p50_ms``, ``extra_p50_ms``, ``ratio``,
``niced_p50_ms``, ``ray_empty_call_p50_ms``, ``one_node_units_per_s``, ``two_nodes_units_per_s``, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from harness.cluster import Cluster, RaySandbox, SandboxHost, SandboxSpec, connect
from harness.sandbox import DockerSandbox, gc

CLONE_NEWNET = 0x40000000
SLOTS = 4
CONCURRENT = 4
COMMAND = ["python3", "-c", "print(sum(i * i for i in range(20000)))"]


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def enter_private_network() -> None:
    """This process (and the Ray processes it starts) in a network namespace with only ``lo``."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        sys.exit(f"unshare(CLONE_NEWNET) failed: {os.strerror(ctypes.get_errno())}; run as root")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


async def niced_sandbox(node_id: str, run_id: str) -> RaySandbox:
    """The baseline: a sandbox on ``node_id`` served by a host actor as it was first made, at Ray's
    default worker niceness (15) instead of ``host_actor_class``'s 0."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    strategy = NodeAffinitySchedulingStrategy(node_id, soft=False)
    actor = ray.remote(num_cpus=0, max_restarts=0, max_concurrency=1000)(SandboxHost)
    host = actor.options(scheduling_strategy=strategy).remote()
    key = await host.open.remote(SandboxSpec(run_id=run_id))
    return RaySandbox(host, key, node_id, release=lambda: ray.kill(host))


async def round_trips(
    cluster: Cluster, remote: RaySandbox, niced: RaySandbox, local: DockerSandbox, n: int
) -> dict[str, list[float]]:
    """``n`` timed calls of each kind, in turn (the order rotates): ``run(["true"])`` through Ray, the
    same through the niced baseline host, locally, and Ray's own call of the host actor that does
    nothing (``where``), for reference."""
    host = cluster.host(remote.node_id)

    def run_in(sb: Any) -> Callable[[], Awaitable[None]]:
        async def call() -> None:
            assert (await sb.run(["true"])).ok

        return call

    async def empty() -> None:
        await host.where.remote()

    kinds = {"ray": run_in(remote), "ray_niced": run_in(niced), "local": run_in(local), "empty": empty}
    for _ in range(30):
        for call in kinds.values():
            await call()
    out: dict[str, list[float]] = {k: [] for k in kinds}
    names = list(kinds)
    for i in range(n):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            t = time.perf_counter()
            await kinds[name]()
            out[name].append((time.perf_counter() - t) * 1000)
    return out


async def units(cluster: Cluster, n_units: int, n_commands: int, run_id: str) -> tuple[float, list[str]]:
    """Seconds for ``n_units`` units, ``CONCURRENT`` at a time (Ray places each unit's sandbox), and the
    node of each."""
    gate = asyncio.Semaphore(CONCURRENT)
    nodes: list[str] = []

    async def unit() -> None:
        async with gate, await cluster.sandbox(run_id=run_id) as sb:
            nodes.append(sb.node_id)
            for _ in range(n_commands):
                res = await sb.run(COMMAND, timeout=60)
                assert res.stdout.strip() == str(sum(i * i for i in range(20000))), res

    t = time.perf_counter()
    await asyncio.gather(*(unit() for _ in range(n_units)))
    return time.perf_counter() - t, nodes


async def holding(bundles: list[dict[str, float]], strategy: str, work: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``work`` while a placement group of ``bundles`` holds those slots."""
    from ray.util.placement_group import placement_group, remove_placement_group

    pg = placement_group(bundles, strategy=strategy)
    await pg.ready()
    try:
        return await work()
    finally:
        remove_placement_group(pg)


async def measure(cluster: Cluster, args: argparse.Namespace, run_id: str) -> dict[str, Any]:
    remote = await cluster.sandbox(run_id=run_id)
    niced = await niced_sandbox(remote.node_id, run_id)
    local = await DockerSandbox.create(run_id=run_id)
    try:
        trips = await round_trips(cluster, remote, niced, local, args.n)
    finally:
        await remote.close()
        await niced.close()
        await local.close()
    one: list[float] = []
    two: list[float] = []
    spread: dict[str, set[int]] = {"one": set(), "two": set()}
    work = lambda: units(cluster, args.units, args.commands, run_id)  # noqa: E731
    for _ in range(args.rounds):
        # One node: every slot of one worker held, so Ray places all units on the other.
        secs, nodes = await holding([{"sandbox_slots": SLOTS}], "STRICT_PACK", work)
        one.append(secs)
        spread["one"].add(len(set(nodes)))
        # Two nodes: half the slots of each worker held, so the four at a time are two per worker.
        half = SLOTS - CONCURRENT // 2
        secs, nodes = await holding([{"sandbox_slots": half}] * 2, "STRICT_SPREAD", work)
        two.append(secs)
        spread["two"].add(len(set(nodes)))
    ray_ms, local_ms = trips["ray"], trips["local"]
    r50, l50 = statistics.median(ray_ms), statistics.median(local_ms)
    one_rate, two_rate = args.units / statistics.median(one), args.units / statistics.median(two)
    return {
        "n": args.n,
        "ray_p50_ms": round(r50, 3),
        "ray_p90_ms": round(pct(ray_ms, 0.9), 3),
        "local_p50_ms": round(l50, 3),
        "local_p90_ms": round(pct(local_ms, 0.9), 3),
        "extra_p50_ms": round(r50 - l50, 3),
        "ratio": round(r50 / l50, 3),
        "ray_empty_call_p50_ms": round(statistics.median(trips["empty"]), 3),
        "niced_p50_ms": round(statistics.median(trips["ray_niced"]), 3),
        "niced_p90_ms": round(pct(trips["ray_niced"], 0.9), 3),
        "niced_extra_p50_ms": round(statistics.median(trips["ray_niced"]) - l50, 3),
        "units": args.units,
        "commands_per_unit": args.commands,
        "concurrent": CONCURRENT,
        "rounds": args.rounds,
        "one_node_s": [round(s, 2) for s in one],
        "two_nodes_s": [round(s, 2) for s in two],
        "one_node_units_per_s": round(one_rate, 3),
        "two_nodes_units_per_s": round(two_rate, 3),
        "two_over_one": round(two_rate / one_rate, 3),
        "nodes_used": {k: sorted(v) for k, v in spread.items()},
        "cpus": os.cpu_count(),
        "load_1m": round(os.getloadavg()[0], 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import ray
    from ray.cluster_utils import Cluster as RayNodes

    enter_private_network()
    run_id = f"benchmark-cluster-{uuid.uuid4().hex[:8]}"
    nodes = RayNodes(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        for _ in range(2):
            nodes.add_node(num_cpus=1, resources={"sandbox_slots": SLOTS})
        nodes.wait_for_nodes()
        cluster = connect(nodes.address, run_id=run_id)

        async def go() -> dict[str, Any]:
            try:
                return await measure(cluster, args, run_id)
            finally:
                await cluster.aclose()

        return asyncio.run(go())
    finally:
        ray.shutdown()
        nodes.shutdown()
        gc(run_id=run_id)


def table(r: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"round trip run(['true']), {r['n']} calls each, interleaved (cpus {r['cpus']}, load {r['load_1m']})",
            f"  through Ray   p50 {r['ray_p50_ms']:7.2f} ms   p90 {r['ray_p90_ms']:7.2f} ms",
            f"  baseline      p50 {r['niced_p50_ms']:7.2f} ms   p90 {r['niced_p90_ms']:7.2f} ms   (host at "
            f"Ray's worker niceness 15, as before; extra {r['niced_extra_p50_ms']:+.2f} ms)",
            f"  local         p50 {r['local_p50_ms']:7.2f} ms   p90 {r['local_p90_ms']:7.2f} ms",
            f"  extra p50 {r['extra_p50_ms']:+.2f} ms, ratio {r['ratio']:.2f}; Ray's own empty actor call "
            f"p50 {r['ray_empty_call_p50_ms']:.2f} ms",
            f"units: {r['units']} x (open, {r['commands_per_unit']} commands, close), {r['concurrent']} at a "
            f"time, rounds alternated: {r['rounds']}; nodes used per run {r['nodes_used']}",
            f"  one worker node   {r['one_node_units_per_s']:.3f} units/s  (s: {r['one_node_s']})",
            f"  two worker nodes  {r['two_nodes_units_per_s']:.3f} units/s  (s: {r['two_nodes_s']})",
            f"  two/one {r['two_over_one']:.3f} (same cores and Docker engine: the overhead of spreading, "
            "not a speed-up)",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--n", type=int, default=300, help="round trips of each kind")
    ap.add_argument("--units", type=int, default=8, help="units of the fixed work")
    ap.add_argument("--commands", type=int, default=5, help="commands per unit")
    ap.add_argument("--rounds", type=int, default=2, help="one-node and two-node runs, alternated")
    args = ap.parse_args()
    result = run(args)
    print(json.dumps(result) if args.json else table(result))


if __name__ == "__main__":
    main()
