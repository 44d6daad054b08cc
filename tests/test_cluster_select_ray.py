"""``harness select`` and ``harness search --executor docker`` with ``--cluster`` on a real Ray cluster
(``ray`` tier): the cluster of ``test_cluster_ray`` (a head without slots and two worker nodes with 2
slots each, in a network namespace of its own, the real Docker engine), started again for this module.

Each command's results are compared with the same command run locally (its own cache, so nothing is
read back): the same pass matrices and selector figures, the same search outcomes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_cluster_ray import RayTestCluster, descendants, ray_cluster  # noqa: F401 (the fixture)
from test_search_cli import STRATEGIES, _policy
from test_search_fakes import ScriptedModel
from typer.testing import CliRunner

import harness.cli.search as cli_search
import harness.selection.run as select_run
from harness.cli import app
from harness.selection.engine import EngineConfig

pytestmark = pytest.mark.ray

POOLS = "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300"
BATCH = 25
"""Programs per engine batch: 3 tasks x 100 candidates make 12 batches, enough for four lanes."""
VOLATILE = ("run_id", "run_dir", "timings_s", "engine", "resumed", "cluster")


def _engine_config(cfg: Any) -> EngineConfig:
    """The select run's engine settings (local and cluster runs alike) with small batches, and tests
    timed on their CPU time: on the wall clock a loaded machine flips borderline cells between runs."""
    return EngineConfig(chunk=cfg.chunk, batch_programs=BATCH, clock="cpu")


def _select(shared_data: Path, out: Path, *extra: str, built: int = 3) -> dict[str, Any]:
    base = shared_data / "codet" / POOLS
    args = [
        "select", "--suite", "humaneval", "--pool-solutions", f"{base}_code_solution.jsonl",
        "--pool-tests", f"{base}_test_case.jsonl", "--limit-tasks", "3", "--strategies", "random,codet,b4,mbr",
        "--run-id", "sel", "--results-dir", str(out / "results"), "--cache-dir", str(out / "cache"), "--json",
        *extra,
    ]  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(select_run, "_engine_config", _engine_config)
        res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    # The last line: Ray prints its own notices (a raylet that died) on the driver's stdout.
    summary: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["matrices_built"] == built
    return summary


def _matrices(out: Path) -> dict[str, dict[str, Any]]:
    """Every task's saved matrix without its timings."""
    got = {}
    for path in sorted((out / "results" / "sel" / "04_matrix").glob("*.npz")):
        with np.load(path, allow_pickle=False) as z:
            got[path.name] = {k: z[k].tolist() for k in z.files if k != "times_ms"}
    assert len(got) == 3
    return got


@pytest.fixture(scope="module")
def local_select(
    ray_cluster: RayTestCluster,  # noqa: F811 (entered first: the local run shares its namespace)
    shared_data: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
    """The selection run without ``--cluster``: its summary and matrices."""
    out = tmp_path_factory.mktemp("local")
    summary = _select(shared_data, out)
    assert "cluster" not in summary
    yield summary, _matrices(out)


def _same(summary: dict[str, Any], local: dict[str, Any]) -> None:
    assert {k: v for k, v in summary.items() if k not in VOLATILE} == {
        k: v for k, v in local.items() if k not in VOLATILE
    }


def _differences(got: dict[str, dict[str, Any]], want: dict[str, dict[str, Any]]) -> list[str]:
    """Where two runs' matrices differ (file, array, first positions), for the failure message."""
    out = []
    for name in sorted(got.keys() | want.keys()):
        for key in sorted(got.get(name, {}).keys() | want.get(name, {}).keys()):
            a, b = np.asarray(got.get(name, {}).get(key)), np.asarray(want.get(name, {}).get(key))
            if a.shape != b.shape:
                out.append(f"{name} {key}: shape {a.shape} vs {b.shape}")
            elif (a != b).any():
                where = np.argwhere(a != b)[:5].tolist()
                out.append(
                    f"{name} {key}: {int((a != b).sum())} differ, e.g. {where}: {a[a != b][:5]} vs {b[a != b][:5]}"
                )
    return out


def test_select_on_the_cluster_gives_the_local_results(
    ray_cluster: RayTestCluster,  # noqa: F811
    local_select: tuple[dict[str, Any], dict[str, dict[str, Any]]],
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lanes on both worker nodes (the node ids of the sandboxes Ray placed), the same matrices and
    figures as the local run, no retry."""
    from harness.cluster import _cluster

    placed: list[str] = []
    real_open = _cluster.Cluster.open

    async def spy(self: Any, spec: Any) -> Any:
        sb = await real_open(self, spec)
        placed.append(sb.node_id)
        return sb

    monkeypatch.setattr(_cluster.Cluster, "open", spy)
    summary = _select(shared_data, tmp_path, "--cluster", "auto")
    assert sorted(set(placed)) == sorted(ray_cluster.workers), placed
    assert summary["cluster"] == {"address": "auto", "lane_retries": 0}
    local, local_matrices = local_select
    _same(summary, local)
    assert not _differences(_matrices(tmp_path), local_matrices)
    # Where cells ran is not part of the run: the same run resumes without --cluster (nothing rebuilt).
    again = _select(shared_data, tmp_path, built=0)
    assert again["resumed"] and again["matrices_reused"] == 3


def test_search_on_the_cluster_gives_the_local_results(
    ray_cluster: RayTestCluster,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``harness search --executor docker --cluster auto`` with the scripted model: its sandboxes on the
    worker nodes, and the summary and units of the same search with local sandboxes."""
    from harness.cluster import _cluster

    placed: list[str] = []
    real_open = _cluster.Cluster.open

    async def spy(self: Any, spec: Any) -> Any:
        sb = await real_open(self, spec)
        placed.append(sb.node_id)
        return sb

    monkeypatch.setattr(_cluster.Cluster, "open", spy)
    runs = []
    for where, extra in (("cluster", ["--cluster", "auto"]), ("local", [])):
        model = ScriptedModel(_policy)
        monkeypatch.setattr(cli_search, "_make_model", lambda spec, base_url, max_dollars, m=model: m)
        args = [
            "search", "--model", "scripted", "--suite", "humaneval-pypi", "--limit-tasks", "3",
            "--strategies", ",".join(STRATEGIES), "--budget", "programs=7", "--executor", "docker",
            "--concurrency", "4", "--results-dir", str(tmp_path / where), "--run-id", "s", "--json",
            "--no-plot", *extra,
        ]  # fmt: skip
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, res.output
        summary = json.loads(res.stdout.strip().splitlines()[-1])
        units = {
            p.name: {k: v for k, v in json.loads(p.read_text()).items() if k not in ("elapsed_s", "time_s")}
            for p in sorted((tmp_path / where / "s" / "search" / "units").glob("*.json"))
        }
        runs.append(({k: v for k, v in summary.items() if k not in ("run_dir", "spend")}, units))
    assert placed and set(placed) <= set(ray_cluster.workers), placed
    (on_cluster, cluster_units), (local, local_units) = runs
    assert on_cluster["failed_units"] == {}
    assert on_cluster == local
    assert cluster_units == local_units and len(local_units) == 3 * len(STRATEGIES)


async def test_the_engine_s_integrity_holds_on_a_node(
    ray_cluster: RayTestCluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    """docs/security.md's attacks (``test_engine_integrity``) with the engine's lane on a worker node:
    every honest row as in a clean run, the lane's next batch unchanged, no process of a program's uid
    left and nothing planted ever ran there."""
    from test_engine_integrity import ATTACKS, CONFIG, TESTS, WRONG, F, _rows, _run

    from harness.selection.engine import Engine, Request

    clean = (
        ["1011" if k % 2 == 0 else "1000" for k in range(10)],
        ["1" if k % 2 == 0 else "0" for k in range(10)],
    )
    for attack in sorted(ATTACKS):
        async with Engine(CONFIG, cache=tmp_path / attack, lanes=ray_cluster.harness.sandbox) as engine:
            assert await _run(engine, attack) == clean, attack
            fresh = [(F if k % 2 == 0 else WRONG) + f"# after {k}\n" for k in range(10)]
            rows, whole = await engine.run(
                [
                    Request("tests", fresh, TESTS),
                    Request("whole", [p + "assert f(3) == 6\n" for p in fresh], []),
                ]
            )
            assert (_rows(rows), _rows(whole)) == clean, attack
            sandbox = engine._sandboxes[0]
            assert sandbox is not None and getattr(sandbox, "node_id", None) in ray_cluster.workers
            ps = await sandbox.run("cat /proc/[0-9]*/status 2>/dev/null | grep '^Uid:'", timeout=30)
            uids = {int(line.split()[1]) for line in ps.stdout.splitlines()}
            assert all(u < 200_000 for u in uids), (attack, uids)
            pwned = await sandbox.run("ls /tmp | grep -c PWNED || true", timeout=30)
            assert pwned.stdout.strip() == "0", attack


def test_select_survives_a_lost_worker_with_the_local_results(
    ray_cluster: RayTestCluster,  # noqa: F811
    local_select: tuple[dict[str, Any], dict[str, dict[str, Any]]],
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A third worker node holds the first lane (the two workers' slots are held meanwhile, so the other
    lanes wait for a place); it is removed while a batch runs there. The batch runs again on a new lane of a surviving worker, the run
    completes with the local matrices and figures and counts the retry. Last in the module: the
    victim is gone afterwards."""
    from ray.util.placement_group import placement_group, remove_placement_group

    from harness.cluster import RaySandbox

    # One slot: the hold below (two bundles of two) can only take the two workers' slots.
    victim = ray_cluster.nodes.add_node(num_cpus=1, resources={"sandbox_slots": 1})
    ray_cluster.nodes.wait_for_nodes()
    # Every slot of the two workers taken (Ray's own reservation): the first lanes land on the victim.
    hold = placement_group([{"sandbox_slots": 2}] * 2, strategy="STRICT_SPREAD")
    asyncio.run(_ready(hold))
    held = [True]
    lost: list[str] = []
    real_run = RaySandbox.run

    async def run_then_lose_the_node(self: RaySandbox, cmd: Any, **kw: Any) -> Any:
        if self.node_id == victim.node_id and not lost:
            lost.append(self.id)
            call = asyncio.ensure_future(real_run(self, cmd, **kw))
            await asyncio.sleep(0)  # the call has left for the node
            ray_cluster.seen.update(descendants())
            ray_cluster.nodes.remove_node(victim, allow_graceful=False)
            remove_placement_group(hold)  # the workers' slots free for the lanes that replace it
            held[0] = False
            return await call
        return await real_run(self, cmd, **kw)

    monkeypatch.setattr(RaySandbox, "run", run_then_lose_the_node)
    try:
        summary = _select(shared_data, tmp_path, "--cluster", "auto")
    finally:
        if held[0]:
            remove_placement_group(hold)
    assert lost, "no lane ran on the victim node"
    assert summary["cluster"]["lane_retries"] == 1  # the victim's one lane
    local, local_matrices = local_select
    _same(summary, local)
    assert not _differences(_matrices(tmp_path), local_matrices)


async def _ready(pg: Any) -> None:
    await pg.ready()
