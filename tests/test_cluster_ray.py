"""Sandboxes on a real Ray cluster started here: a head and two worker nodes on this machine, with the
real Docker engine (``ray`` tier).

The cluster and this test process's Ray driver run in a network namespace of their own with only
``lo`` up, so every node reports 127.0.0.1 and no test traffic leaves loopback (Ray otherwise binds the
machine's interface address); the Docker engine is still reached through its unix socket. One cluster
per module; its processes are gone afterwards (checked).
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.errors import SandboxError

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[1]
CLONE_NEWNET = 0x40000000
SLOTS_PER_WORKER = 2


@dataclass
class RayTestCluster:
    nodes: Any
    """``ray.cluster_utils.Cluster``: add and remove nodes."""
    harness: Any
    """``harness.cluster.Cluster`` connected to it."""
    workers: list[str]
    """Node ids of the two worker nodes (the head has no slots)."""
    run_id: str
    seen: set[int]
    """Processes the cluster started (collected before nodes go), all gone at the end."""


def _netns_enter() -> int:
    """Move this thread (and what it starts from now on) into a new network namespace with ``lo`` up;
    the file descriptor of the old one, to go back."""
    libc = ctypes.CDLL(None, use_errno=True)
    old = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    if libc.unshare(CLONE_NEWNET) != 0:
        os.close(old)
        pytest.fail(f"unshare(CLONE_NEWNET) failed: {os.strerror(ctypes.get_errno())} (the tier needs root)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    return old


def _netns_leave(old: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        if libc.setns(old, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back to the test's network namespace failed")
    finally:
        os.close(old)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayTestCluster]:
    import ray
    from ray.cluster_utils import Cluster

    from harness.cluster import connect
    from harness.sandbox import gc

    old = _netns_enter()
    run_id = f"test-cluster-{uuid.uuid4().hex[:8]}"
    # A lost node is noticed by the head's health checks: every 0.5 s, dead after 3 misses.
    fast = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
            "health_check_failure_threshold": 3}  # fmt: skip
    nodes = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "include_dashboard": False,
            "_system_config": fast,
        },
    )
    seen: set[int] = set()
    try:
        for _ in range(2):
            nodes.add_node(num_cpus=1, resources={"sandbox_slots": SLOTS_PER_WORKER})
        nodes.wait_for_nodes()
        cluster = connect(nodes.address, run_id=run_id)
        workers = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("sandbox_slots")]
        addresses = {n["NodeManagerAddress"] for n in ray.nodes()}
        assert addresses == {"127.0.0.1"}, f"Ray left loopback: {addresses}"
        yield RayTestCluster(nodes, cluster, workers, run_id, seen)
        asyncio.run(cluster.aclose())
        cluster.disconnect()  # also gives Ray's printing back (connect() sends it to stderr)
    finally:
        seen |= descendants()
        ray.shutdown()
        nodes.shutdown()
        _netns_leave(old)
        gc(run_id=run_id)
    alive = _wait_gone(seen)
    assert not alive, f"Ray processes left behind: {alive}"


def descendants(root: int | None = None) -> set[int]:
    """Every live process under ``root`` (default: this one)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            children.setdefault(int(st[1]), []).append(int(entry))
    out: set[int] = set()
    todo = [root or os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            out.add(child)
            todo.append(child)
    return out


def _stat(pid: int) -> list[str] | None:
    """State and parent of ``pid``, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1].split()[:2]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _wait_gone(pids: set[int], within_s: float = 30.0) -> list[int]:
    """The processes of ``pids`` still alive (not zombies) after up to ``within_s``."""
    import time

    end = time.monotonic() + within_s
    while True:
        alive = [p for p in pids if (st := _stat(p)) is not None and st[0] != "Z"]
        if not alive or time.monotonic() > end:
            return alive
        time.sleep(0.2)


async def _round_trip(sb: Any) -> None:
    await sb.write_file("hello.py", "print('hi from', __name__)\n")
    res = await sb.run(["python3", "hello.py"], timeout=30)
    assert res.status == "ok" and res.stdout == "hi from __main__\n", res
    assert await sb.read_file("hello.py") == b"print('hi from', __name__)\n"
    res = await sb.run("cat > echo.txt", stdin=b"x" * 100_000, timeout=30)
    assert res.ok, res
    patch = await sb.diff()
    assert "+++ b/hello.py" in patch and "echo.txt" in patch
    res = await sb.run("exit 3", timeout=30)
    assert (res.status, res.exit_code) == ("nonzero", 3)
    await sb.reset()
    assert await sb.diff() == ""
    with pytest.raises(SandboxError):
        await sb.read_file("hello.py")


async def test_round_trip_on_each_worker_node(ray_cluster: RayTestCluster) -> None:
    from harness.sandbox import Sandbox

    cluster = ray_cluster.harness
    assert cluster.slots == 2 * SLOTS_PER_WORKER
    # As many sandboxes as slots: Ray's placement has to use both worker nodes.
    boxes = await asyncio.gather(*(cluster.sandbox() for _ in range(2 * SLOTS_PER_WORKER)))
    try:
        assert sorted({sb.node_id for sb in boxes}) == sorted(ray_cluster.workers)
        for sb in boxes:
            assert isinstance(sb, Sandbox)
            where = await cluster.host(sb.node_id).where.remote()
            assert where["node_id"] == sb.node_id  # the actor serving it runs on that node
        await asyncio.gather(*(_round_trip(sb) for sb in boxes))
    finally:
        await asyncio.gather(*(sb.close() for sb in boxes))
    # Closing frees the slots: a new sandbox is placed at once.
    async with await cluster.sandbox() as sb:
        assert (await sb.run("echo again", timeout=30)).stdout == "again\n"


NOTES_ONLY = """diff --git a/NOTES.txt b/NOTES.txt
new file mode 100644
--- /dev/null
+++ b/NOTES.txt
@@ -0,0 +1 @@
+nothing fixed here
"""


def test_eval_on_the_cluster_gives_the_local_outcomes(
    ray_cluster: RayTestCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``harness eval --cluster auto`` over local tasks: containers on both workers, their images made
    on the nodes from the recipes (nothing built by the driver), and the same reports as the same
    command without ``--cluster``. Each folder then resumes the other way round (the cluster's
    locally, the local one's on the cluster) and evaluates nothing again: the reports name the same
    image on a cluster and locally."""
    from typer.testing import CliRunner

    from harness.cli import app
    from harness.cluster import _cluster
    from harness.sandbox import python_image
    from harness.tasks import load_suite

    tasks = sorted(load_suite(ROOT / "tasks" / "local"), key=lambda t: t.instance_id)[:5]
    patches = [t.patch for t in tasks[:3]] + [NOTES_ONLY, ""]  # resolved x3, unresolved, empty
    preds = tmp_path / "preds.jsonl"
    preds.write_text(
        "".join(
            json.dumps({"instance_id": t.instance_id, "model_name_or_path": "m", "model_patch": p}) + "\n"
            for t, p in zip(tasks, patches, strict=True)
        )
    )
    placed: list[str] = []
    recipes: list[Any] = []
    made: list[dict[str, Any]] = []
    real_open, real_close = _cluster.Cluster.open, _cluster.Cluster.aclose

    async def spy(self: Any, spec: Any) -> Any:
        sb = await real_open(self, spec)
        placed.append(sb.node_id)
        recipes.append(spec.recipe)
        return sb

    async def aclose(self: Any) -> None:
        made.append(await self.image_counts())
        await real_close(self)

    monkeypatch.setattr(_cluster.Cluster, "open", spy)
    monkeypatch.setattr(_cluster.Cluster, "aclose", aclose)
    monkeypatch.setenv("HARNESS_RUN_ID", ray_cluster.run_id)
    suite = str(ROOT / "tasks" / "local")
    base = ["eval", str(preds), "--suite", suite, "--base-image", python_image(), "-j", "4"]
    summaries = []
    for where, extra in (("cluster", ["--cluster", "auto"]), ("local", [])):
        out = tmp_path / where
        res = CliRunner().invoke(app, [*base, "--out", str(out), *extra])
        assert res.exit_code == 0, res.output
        summaries.append(json.loads((out / "summary.json").read_text()))
        if where == "cluster":
            assert sorted(set(placed)) == sorted(ray_cluster.workers), placed
            assert len(placed) == 4  # the empty patch is not run
            # The driver built nothing: each node made the instance images of the recipes it was sent.
            assert all(r is not None and r.task.test_patch == "" for r in recipes)
            (counts,) = made
            assert set(counts) == set(ray_cluster.workers)
            assert all(c["built"] or c["found"] for c in counts.values())
            assert all(not c["pulled"] for c in counts.values())
    on_cluster, local = summaries
    assert on_cluster == local
    assert len(on_cluster["resolved_ids"]) == 3 and len(on_cluster["unresolved_ids"]) == 1
    for where, extra in (("cluster", []), ("local", ["--cluster", "auto"])):
        out = tmp_path / where
        reports = sorted(out.glob("*/report.json"))
        assert len(reports) == 5
        written = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in reports}
        opened = len(placed)
        res = CliRunner().invoke(app, [*base, "--out", str(out), *extra])
        assert res.exit_code == 0, res.output
        assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in reports} == written, where
        assert len(placed) == opened  # no evaluation container started on the cluster either
        assert json.loads((out / "summary.json").read_text()) == local


def test_eval_of_many_systems_takes_retries_and_registry_on_a_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``harness eval A.jsonl B.jsonl --cluster ... --retries N --registry R`` evaluates as single-file
    eval does on a cluster: the instance retried ``N`` more times, the images pushed to ``R``, the
    evaluator's sandboxes from the cluster. (The cluster is a stand-in: only the wiring is checked.)"""
    from typer.testing import CliRunner

    import harness.cluster
    import harness.evaluation
    from harness.cli import app
    from harness.cluster import Registry
    from harness.tasks import load_suite

    task = sorted(load_suite(ROOT / "tasks" / "local"), key=lambda t: t.instance_id)[0]
    for name in ("a", "b"):
        pred = {"instance_id": task.instance_id, "model_name_or_path": name, "model_patch": task.patch}
        (tmp_path / f"{name}.jsonl").write_text(json.dumps(pred) + "\n")
    seen: dict[str, Any] = {}

    class Stop(Exception):
        pass

    class FakeCluster:
        def eval_sandboxes(self, registry: Any = None, images: Any = None) -> Any:
            seen["registry"], seen["images"] = registry, images
            return "factory"

    async def run_systems(evaluator: Any, *args: Any, **kw: Any) -> Any:
        seen["retries"], seen["factory"] = evaluator.retries, evaluator.sandbox_factory
        raise Stop

    def run_on_cluster(address: str, main: Any, **kw: Any) -> Any:
        seen["address"] = address
        return asyncio.run(main(FakeCluster()))

    monkeypatch.setattr(harness.evaluation, "run_systems", run_systems)
    monkeypatch.setattr(harness.cluster, "run_on_cluster", run_on_cluster)
    files = [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]
    common = [*files, "--suite", str(ROOT / "tasks" / "local"), "--out", str(tmp_path / "out")]
    res = CliRunner().invoke(
        app, ["eval", *common, "--cluster", "auto", "--retries", "4", "--registry", "127.0.0.1:5000/ns"]
    )
    assert isinstance(res.exception, Stop), res.output
    assert seen["address"] == "auto" and seen["retries"] == 4 and seen["factory"] == "factory"
    assert isinstance(seen["registry"], Registry) and seen["registry"].address == "127.0.0.1:5000/ns"
    assert seen["images"] is None  # the driver builds and pushes; the nodes pull
    seen.clear()
    res = CliRunner().invoke(app, ["eval", *common, "--cluster", "auto"])
    assert isinstance(res.exception, Stop), res.output
    assert seen["retries"] == 2 and seen["registry"] is None  # the default, as single-file eval's
    assert isinstance(seen["images"], harness.cluster.RecipeImages)  # the nodes build the images


DRIVER = """
import asyncio, json, sys
from harness.cluster import run_on_cluster

async def main(cluster):
    async with await cluster.sandbox(run_id=sys.argv[2]) as sb:
        await sb.write_file("x.txt", "from afar")
        res = await sb.run("cat x.txt", timeout=30)
        return {"node_id": sb.node_id, "stdout": res.stdout, "slots": cluster.slots}

print(json.dumps(run_on_cluster(sys.argv[1], main)))
"""


def test_a_driver_of_its_own_joins_with_auto(ray_cluster: RayTestCluster) -> None:
    """``--cluster auto`` from a driver process of its own (``$RAY_ADDRESS`` names the head, as on a
    machine of the cluster): it joins, places a sandbox on a worker, and leaves when done."""
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.nodes.address}
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, "auto", ray_cluster.run_id],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["node_id"] in ray_cluster.workers
    assert got["stdout"] == "from afar"
    assert got["slots"] == 2 * SLOTS_PER_WORKER


async def test_a_node_lost_mid_run_is_a_sandbox_error(ray_cluster: RayTestCluster) -> None:
    """Last in the module: it ends by removing every worker node."""
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group

    cluster = ray_cluster.harness
    victim = ray_cluster.nodes.add_node(num_cpus=1, resources={"sandbox_slots": 1})
    ray_cluster.nodes.wait_for_nodes()
    # Every slot of the two workers taken (Ray's own reservation), so the next sandbox lands on the victim.
    hold = placement_group([{"sandbox_slots": SLOTS_PER_WORKER}] * 2, strategy="STRICT_SPREAD")
    await hold.ready()
    try:
        sb = await cluster.sandbox()
        assert sb.node_id == victim.node_id
        running = asyncio.create_task(sb.run("echo started; sleep 300", timeout=600))
        await asyncio.sleep(1.0)
        assert not running.done()
        ray_cluster.seen.update(descendants())
        ray_cluster.nodes.remove_node(victim, allow_graceful=False)
        # Never a hang: the guard is far beyond what detection takes (the head's health checks).
        with pytest.raises(SandboxError, match="node was lost"):
            await asyncio.wait_for(running, 120)
        with pytest.raises(SandboxError, match="node was lost"):
            await asyncio.wait_for(sb.run("true", timeout=5), 120)
        await sb.close()  # a lost node's sandbox is gone with it: closing does not fail
    finally:
        remove_placement_group(hold)
    # The survivors still serve sandboxes.
    async with await cluster.sandbox() as sb2:
        assert sb2.node_id in ray_cluster.workers
        assert (await sb2.run("echo ok", timeout=30)).stdout == "ok\n"
    assert ray.is_initialized()
    # Last in the module: with every node that had slots gone, a new sandbox is an error, not a wait.
    ray_cluster.seen.update(descendants())
    for node in list(ray_cluster.nodes.worker_nodes):
        ray_cluster.nodes.remove_node(node, allow_graceful=False)
    with pytest.raises(SandboxError, match="offers sandbox slots any more"):
        await asyncio.wait_for(cluster.sandbox(), 120)
