"""Sandbox speed against ``docker exec``, measured in one run on this machine.

    .venv/bin/python benchmarks/sandbox.py [--json] [--n 300] [--concurrent 16]

- round trip of ``true`` through ``DockerSandbox.run`` (the in-container server) vs ``docker exec
  CONTAINER true`` (the CLI) and docker-py's ``exec_run`` in the same container: p50, p99, ratio;
- a 4 MiB stdin payload through ``run`` (``cat > /dev/null``);
- create-to-ready and destroy time of one sandbox;
- N sandboxes started concurrently: wall time, memory per sandbox (cgroup ``memory.usage_in_bytes``,
  else ``docker stats``), and the wall time to close them all.

``--json`` prints one JSON object (``exec_p50_ms``, ``docker_exec_p50_ms``, ``ratio``, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.sandbox import DockerSandbox
from harness.sandbox._docker import shared_client

RUN_ID = "benchmark-sandbox"


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


async def round_trips(sb: DockerSandbox, n: int) -> list[float]:
    for _ in range(20):
        await sb.run(["true"])
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = await sb.run(["true"])
        out.append((time.perf_counter() - t) * 1000)
        assert r.ok, r
    return out


def docker_cli_exec(cid: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(["docker", "exec", "-u", "1000", cid, "true"], check=True)
        out.append((time.perf_counter() - t) * 1000)
    return out


def docker_api_exec(cid: str, n: int) -> list[float]:
    container = shared_client().containers.get(cid)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        container.exec_run(["true"], user="1000")
        out.append((time.perf_counter() - t) * 1000)
    return out


def memory_of(cid: str) -> float:
    """Bytes charged to the container's memory cgroup (v1, v2), else ``docker stats``."""
    for path in (
        f"/sys/fs/cgroup/memory/docker/{cid}/memory.usage_in_bytes",
        f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/memory.current",
    ):
        p = Path(path)
        if p.exists():
            return float(p.read_text())
    stats = shared_client().containers.get(cid).stats(stream=False)
    return float(stats["memory_stats"].get("usage", 0))


async def concurrent_start(n: int) -> dict[str, float]:
    t = time.perf_counter()
    sbs = await asyncio.gather(*(DockerSandbox.create(run_id=RUN_ID) for _ in range(n)))
    wall = time.perf_counter() - t
    mem = [memory_of(sb.id) for sb in sbs]
    t = time.perf_counter()
    await asyncio.gather(*(sb.close() for sb in sbs))
    return {
        "concurrent": n,
        "concurrent_start_wall_s": wall,
        "concurrent_close_wall_s": time.perf_counter() - t,
        "memory_per_sandbox_mib": statistics.mean(mem) / (1 << 20),
    }


async def main(n: int, n_docker: int, concurrent: int) -> dict[str, Any]:
    res: dict[str, Any] = {}
    ready, destroy = [], []
    for _ in range(3):
        t = time.perf_counter()
        sb = await DockerSandbox.create(run_id=RUN_ID)
        ready.append(time.perf_counter() - t)
        t = time.perf_counter()
        await sb.close()
        destroy.append(time.perf_counter() - t)
    res["create_to_ready_s"] = statistics.median(ready)
    res["destroy_s"] = statistics.median(destroy)

    async with DockerSandbox(run_id=RUN_ID) as sb:
        ours = await round_trips(sb, n)
        cli = await asyncio.to_thread(docker_cli_exec, sb.id, n_docker)
        api = await asyncio.to_thread(docker_api_exec, sb.id, n_docker)
        payload = b"x" * (4 << 20)
        t = time.perf_counter()
        r = await sb.run("cat > /dev/null", stdin=payload)
        res["stdin_4mib_ms"] = (time.perf_counter() - t) * 1000
        assert r.ok, r
    res.update(
        exec_p50_ms=pct(ours, 0.5),
        exec_p99_ms=pct(ours, 0.99),
        docker_exec_p50_ms=pct(cli, 0.5),
        docker_exec_p99_ms=pct(cli, 0.99),
        docker_api_exec_p50_ms=pct(api, 0.5),
        docker_api_exec_p99_ms=pct(api, 0.99),
    )
    res["ratio"] = res["docker_exec_p50_ms"] / res["exec_p50_ms"]
    res["ratio_vs_api"] = res["docker_api_exec_p50_ms"] / res["exec_p50_ms"]
    res.update(await concurrent_start(concurrent))
    res.update(n=n, n_docker=n_docker)
    return res


def show(res: dict[str, Any]) -> None:
    print(f"round trip of `true`, p50 / p99 (n={res['n']}; docker n={res['n_docker']}):")
    print(f"  DockerSandbox.run        {res['exec_p50_ms']:8.2f} / {res['exec_p99_ms']:8.2f} ms")
    print(
        f"  docker exec (CLI)        {res['docker_exec_p50_ms']:8.2f} / {res['docker_exec_p99_ms']:8.2f} ms"
    )
    print(
        f"  docker-py exec_run       {res['docker_api_exec_p50_ms']:8.2f} / {res['docker_api_exec_p99_ms']:8.2f} ms"
    )
    print(
        f"  ratio (docker exec / ours, p50): {res['ratio']:.1f}x  (vs docker-py: {res['ratio_vs_api']:.1f}x)"
    )
    print(f"4 MiB stdin through run: {res['stdin_4mib_ms']:.1f} ms")
    print(f"create-to-ready {res['create_to_ready_s']:.2f} s, destroy {res['destroy_s']:.2f} s (median of 3)")
    print(
        f"{res['concurrent']} sandboxes at once: ready in {res['concurrent_start_wall_s']:.2f} s, "
        f"closed in {res['concurrent_close_wall_s']:.2f} s, {res['memory_per_sandbox_mib']:.1f} MiB each"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--n", type=int, default=300, help="round trips through the sandbox")
    ap.add_argument("--n-docker", type=int, default=40, help="round trips through docker exec")
    ap.add_argument("--concurrent", type=int, default=16)
    args = ap.parse_args()
    result = asyncio.run(main(args.n, args.n_docker, args.concurrent))
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        show(result)
