"""``harness run`` and ``harness eval`` with ``--cluster`` on a real Ray cluster (``ray`` tier): the
cluster of ``test_cluster_ray`` (a head without slots and two worker nodes with 2 slots each, in a
network namespace of its own, the real Docker engine), started again for this module.

The model is the pipeline's scripted policy (``tests/pipeline_policy.py``) behind the fake OpenAI
server on 127.0.0.1 (real HTTP, the ``openai:`` backend with its response cache), which counts every
request it answers: a request body answered twice is a call paid twice. Node loss is a worker node
added for the test and removed (not gracefully) while one of its sandboxes is in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pipeline_policy
import pytest
import test_cluster_ray
from test_cluster_ray import NOTES_ONLY, RayTestCluster, descendants
from typer.testing import CliRunner

from harness.cli import app
from harness.models._types import Message
from harness.models.testing import FakeProvider

pytestmark = pytest.mark.ray
ray_cluster = test_cluster_ray.ray_cluster  # the module's own cluster, as test_cluster_ray starts it

ROOT = Path(__file__).resolve().parents[1]
TASK = "local__unitconv-1"
PRICE = {"input": 3.0, "output": 15.0}


class PaidRequests:
    """The fake server's reply: the scripted policy's answer, and a count per request body."""

    def __init__(self) -> None:
        self.bodies: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any], index: int) -> str:
        if index == 0:
            with self._lock:
                self.bodies[hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()] += 1
        messages: list[object] = [Message(role=m["role"], content=m["content"]) for m in body["messages"]]
        return str(pipeline_policy.policy(messages, index))

    @property
    def twice(self) -> list[int]:
        return [n for n in self.bodies.values() if n > 1]


@pytest.fixture
def server() -> Iterator[tuple[FakeProvider, PaidRequests]]:
    pipeline_policy.reset()
    paid = PaidRequests()
    with FakeProvider(reply=paid) as srv:
        yield srv, paid


def _config(tmp_path: Path, srv: FakeProvider, name: str, **over: Any) -> Path:
    options = {
        "base_url": srv.openai_base_url,
        "price": PRICE,
        "cache_path": str(tmp_path / f"{name}.sqlite"),
    }
    cfg: dict[str, Any] = {
        "suite": str(ROOT / "tasks" / "local"),
        "tasks": [TASK],
        "models": {"default": {"spec": "openai:gpt-4o-mini", "options": options}},
        "n_trajectories": 4,
        "first_alone": False,
        "testing_turns": 3,
        "editing_turns": 4,
        "selection_turns": 3,
        "limits": {"trajectories": 4, "vote_sandboxes": 2},
        "test_timeout": 60,
        "cache_dir": str(tmp_path / f"{name}-rows"),
    }
    cfg.update(over)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(cfg))
    return path


def _outcome(run_dir: Path) -> dict[str, Any]:
    """What a run computed, without times, costs and the order trajectories happened to take."""
    sel = json.loads((run_dir / "selection" / f"{TASK}.json").read_text())
    ev = json.loads((run_dir / "eval" / f"{TASK}.json").read_text())
    trajs = [json.loads(p.read_text()) for p in sorted((run_dir / "trajectories_out" / TASK).glob("*.json"))]
    return {
        "patches": sorted(t["patch"] for t in trajs),
        "candidates": sorted(sel["candidates"]),
        "chosen": sel["candidates"][sel["chosen"]],
        "method": sel["method"],
        "fell_back": sel["fell_back"],
        "resolved": ev["resolved"],
        "candidate_resolved": sorted(
            (c, r) for c, r in zip(sel["candidates"], ev["candidate_resolved"], strict=True)
        ),
    }


def _run(config: Path, results: Path, run_id: str, *extra: str) -> dict[str, Any]:
    res = CliRunner().invoke(
        app, ["run", str(config), "--run-id", run_id, "--results", str(results), "--json", *extra]
    )
    assert res.exit_code == 0, res.output
    summary: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    return summary


@dataclass
class Spy:
    opened: list[tuple[Any, Any]] = field(default_factory=list)
    """Every sandbox the cluster handed out, with its spec, in order."""
    images: list[dict[str, Any]] = field(default_factory=list)
    """What the host actors did for images, read as each run left the cluster."""

    @property
    def nodes(self) -> list[str]:
        return [sb.node_id for sb, _ in self.opened]


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    from harness.cluster import _cluster

    got = Spy()
    real_open, real_close = _cluster.Cluster.open, _cluster.Cluster.aclose

    async def open_(self: Any, spec: Any) -> Any:
        sb = await real_open(self, spec)
        got.opened.append((sb, spec))
        return sb

    async def aclose(self: Any) -> None:
        got.images.append(await self.image_counts())
        await real_close(self)

    monkeypatch.setattr(_cluster.Cluster, "open", open_)
    monkeypatch.setattr(_cluster.Cluster, "aclose", aclose)
    return got


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, ray_cluster: RayTestCluster) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("HARNESS_RUN_ID", ray_cluster.run_id)


REFERENCE: dict[str, Any] = {}
"""The uninterrupted cluster run's outcome, which the later tests must reproduce."""


def _gc(run_id: str) -> None:
    from harness.sandbox import gc

    gc(run_id=run_id)


def test_run_on_the_cluster_uses_both_workers_and_matches_the_local_run(
    ray_cluster: RayTestCluster, server: tuple[FakeProvider, PaidRequests], spy: Spy, tmp_path: Path
) -> None:
    srv, paid = server
    rid = f"{ray_cluster.run_id}-run"
    try:
        summary = _run(_config(tmp_path, srv, "cluster"), tmp_path / "results", rid, "--cluster", "auto")
    finally:
        _gc(rid)
    assert summary["resolved"] == 1 and summary["retries"] == 0
    # Four trajectories at once on four slots: Ray has to use both workers (2 slots each).
    assert sorted(set(spy.nodes)) == sorted(ray_cluster.workers)
    kinds = Counter(spec.kind for _, spec in spy.opened)
    assert kinds["docker"] == 1 + 4 and kinds["eval"] >= 2  # context, trajectories; voting, evaluation
    assert all(spec.recipe is not None for _, spec in spy.opened)  # the node has the image made
    # Every image came from a node's host actor (built there or found there), none from the driver.
    (images,) = spy.images
    assert set(images) == set(ray_cluster.workers)
    for counts in images.values():
        assert counts["pulled"] == {} and sum(counts["built"].values()) + sum(counts["found"].values()) == 1
    assert not paid.twice and sum(paid.bodies.values()) == srv.stats.answered
    on_cluster = _outcome(tmp_path / "results" / rid)
    REFERENCE.update(on_cluster)
    # The same config without a cluster (its own response cache): the same outcome.
    pipeline_policy.reset()
    local = _run(_config(tmp_path, srv, "local"), tmp_path / "results", f"{rid}-local")
    assert local["resolved"] == 1
    assert _outcome(tmp_path / "results" / f"{rid}-local") == on_cluster


def test_a_worker_lost_mid_run_is_retried_elsewhere_without_paying_twice(
    ray_cluster: RayTestCluster,
    server: tuple[FakeProvider, PaidRequests],
    spy: Spy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A third worker node takes the first trajectory (the others' slots are held); before that
    trajectory's second command (its testing loop's first test: the model has answered by then) the
    node is removed. The
    trajectory is tried again on the other workers, replaying its answered calls from the response
    cache: the run computes the uninterrupted outcome and no request body reaches the server twice."""
    from ray.util.placement_group import placement_group, remove_placement_group

    from harness.cluster import _sandbox

    assert REFERENCE, "runs after the uninterrupted run"
    srv, paid = server
    nodes = ray_cluster.nodes
    victim = nodes.add_node(num_cpus=1, resources={"sandbox_slots": 1})
    nodes.wait_for_nodes()
    hold = placement_group([{"sandbox_slots": 2}] * 2, strategy="STRICT_SPREAD")  # the two workers' slots
    asyncio.run(_ready(hold))
    state: dict[str, Any] = {"runs": 0, "removed": False, "opened": 0}
    real_run = _sandbox.RaySandbox.run

    async def run(self: Any, cmd: Any, **kw: Any) -> Any:
        trajectories = [sb for sb, spec in spy.opened if spec.kind == "docker"][1:]  # the first: context
        if self.node_id == victim.node_id and self in trajectories and not state["removed"]:
            state["runs"] += 1
            if state["runs"] == 2:  # the testing loop's first test: the model has answered by now
                state["removed"], state["opened"] = True, len(spy.opened)
                host_pid = (await self._host.where.remote())["pid"]
                ray_cluster.seen.update(descendants())
                await asyncio.to_thread(nodes.remove_node, victim, allow_graceful=False)
                # Actor calls go straight to the actor's process: until it has exited, this very
                # command may still be answered there (seen in a CI dry run: no retry at all).
                await asyncio.to_thread(_exited, host_pid)
                remove_placement_group(hold)
        return await real_run(self, cmd, **kw)

    monkeypatch.setattr(_sandbox.RaySandbox, "run", run)
    rid = f"{ray_cluster.run_id}-lost"
    try:
        summary = _run(_config(tmp_path, srv, "lost"), tmp_path / "results", rid, "--cluster", "auto")
    finally:
        if not state["removed"]:
            remove_placement_group(hold)
        _gc(rid)
    assert state["removed"], "no trajectory sandbox reached the victim node"
    assert summary["retries"] == 1, summary
    ((unit, n),) = summary["retried_units"].items()
    assert unit.startswith(f"trajectory {TASK}#") and n == 1
    # The lost attempt had model answers (its log, set aside), and the retry ran on the workers.
    index = unit.rsplit("#", 1)[1]
    abandoned = list((tmp_path / "results" / rid / "abandoned").rglob(f"t{index}*.jsonl"))
    assert abandoned and any('"model_response"' in p.read_text() for p in abandoned)
    assert victim.node_id in spy.nodes[: state["opened"]]
    assert set(spy.nodes[state["opened"] :]) <= set(ray_cluster.workers)  # after the loss: the others
    assert _outcome(tmp_path / "results" / rid) == REFERENCE
    assert not paid.twice, f"{len(paid.twice)} request bodies were answered more than once"


async def _ready(pg: Any) -> None:
    await pg.ready()


def test_a_killed_driver_is_rerun_with_the_same_run_id(
    ray_cluster: RayTestCluster, server: tuple[FakeProvider, PaidRequests], tmp_path: Path
) -> None:
    """``harness run --cluster auto --registry ...`` in a driver process of its own (it pushes the
    instance image, the nodes pull it), SIGKILLed after two trajectories
    (while it waits for a model answer the server holds back, so no answer is lost on the way), then
    rerun with the same run id here without the cluster: it resumes (finished units read back, not
    redone), computes the uninterrupted outcome, and no request body was answered twice."""
    assert REFERENCE, "runs after the uninterrupted run"
    srv, paid = server
    config = _config(tmp_path, srv, "killed", limits={"trajectories": 1, "vote_sandboxes": 2})
    results = tmp_path / "results"
    rid = f"{ray_cluster.run_id}-killed"
    cmd = [sys.executable, "-c", "from harness.cli import main; main()", "run", str(config)]
    cmd += ["--run-id", rid, "--results", str(results), "--json"]
    env = {**os.environ, "RAY_ADDRESS": ray_cluster.nodes.address}
    out_dir = results / rid / "trajectories_out" / TASK
    with _registry(tmp_path) as address:
        driver = subprocess.Popen(
            [*cmd, "--cluster", "auto", "--registry", f"{address}/run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 600
            while len(list(out_dir.glob("*.json"))) < 2:
                assert driver.poll() is None, driver.stderr.read().decode() if driver.stderr else ""
                assert time.monotonic() < deadline, "no trajectory finished"
                time.sleep(0.05)
            srv.hold_after(srv.stats.answered)
            while srv.stats.held < 1:
                assert driver.poll() is None, driver.stderr.read().decode() if driver.stderr else ""
                assert time.monotonic() < deadline, "the driver asked the model nothing more"
                time.sleep(0.05)
        finally:
            driver.send_signal(signal.SIGKILL)
            driver.wait()
            if driver.stderr is not None:
                driver.stderr.close()
            srv.drop_held()
            _gc(rid)
        # The driver built the instance image and pushed it; the nodes ran it by the registry's name.
        assert f"run/harness-task-{TASK}" in _catalog(address)
    finished = {p.name: p.read_bytes() for p in out_dir.glob("*.json")}
    assert 2 <= len(finished) < 4
    answered_before = srv.stats.answered
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    finally:
        _gc(rid)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["resumed"] is True and summary["resolved"] == 1
    for name, data in finished.items():
        assert (out_dir / name).read_bytes() == data  # read back, not redone
    assert srv.stats.answered > answered_before
    assert _outcome(results / rid) == REFERENCE
    assert not paid.twice, f"{len(paid.twice)} request bodies were answered more than once"


def test_images_are_built_on_the_nodes_once(ray_cluster: RayTestCluster) -> None:
    """An instance image absent everywhere (its base image is new): four sandboxes of it at once over
    both workers. The image is built once in all (the nodes share this machine's engine), and each
    host actor says whether it built it or found it."""
    import docker

    from harness.cluster import ImageRecipe
    from harness.sandbox import python_image
    from harness.tasks import load_suite
    from harness.tasks.images import TESTBED

    client = docker.from_env()
    base = f"harness-test-base:{uuid.uuid4().hex[:8]}"
    client.images.build(
        fileobj=_dockerfile(f"FROM {python_image()}\nLABEL harness.test-base={base.split(':')[1]}\n"),
        tag=base,
        rm=True,
    )
    task = next(t for t in load_suite(ROOT / "tasks" / "local") if t.instance_id == TASK)
    recipe = ImageRecipe.of(task, base_image=base)
    assert recipe.task.test_patch == "" and recipe.task.FAIL_TO_PASS == ()  # nothing hidden leaves
    cluster = ray_cluster.harness
    made: set[str] = set()
    try:

        async def go() -> tuple[list[str], dict[str, Any]]:
            boxes = await asyncio.gather(*(cluster.sandbox(recipe=recipe, base=TESTBED) for _ in range(4)))
            try:
                outs = [
                    (await sb.run("git -C /testbed log --oneline | wc -l", timeout=30)).stdout for sb in boxes
                ]
                assert outs == ["1\n"] * 4
                return [sb.node_id for sb in boxes], await cluster.image_counts()
            finally:
                await asyncio.gather(*(sb.close() for sb in boxes))

        placed, counts = asyncio.run(go())
        assert sorted(set(placed)) == sorted(ray_cluster.workers)
        built = [tag for n in set(placed) for tag in counts[n]["built"]]
        found = [tag for n in set(placed) for tag in counts[n]["found"]]
        made.update(built)
        assert len(set(placed)) == 2 and len(built) == 1 and len(found) == 1 and built == found
        for n in set(placed):
            c = counts[n]
            assert sum(c["built"].values()) + sum(c["found"].values()) == 1  # once per node, 2 boxes each
    finally:
        for tag in made:
            client.images.remove(tag, force=True)
        _remove_built_from(client, base)


def _dockerfile(text: str) -> Any:
    import io

    return io.BytesIO(text.encode())


def _remove_built_from(client: Any, base: str) -> None:
    """Remove ``base`` and the harness images built on it (this test's only: its id is new)."""
    base_id = client.images.get(base).id
    for img in client.images.list(filters={"label": "harness.kind"}):
        if any(h.get("Id") == base_id for h in img.history()):
            client.images.remove(img.id, force=True)
    client.images.remove(base, force=True)


def test_eval_with_a_worker_lost_retries_the_instance_elsewhere(
    ray_cluster: RayTestCluster, spy: Spy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``harness eval --cluster auto`` over three local tasks; the first evaluation container lands on
    a third worker node, which is removed before its test script runs. That instance is evaluated again
    on the other workers: the summary is the local run's, plus ``retried`` naming it. What Ray prints
    of the lost node (``(raylet) Raylet is terminated ...``) goes to stderr: stdout is exactly the one
    JSON document of the summary."""
    from ray._private import worker as ray_worker
    from ray.util.placement_group import placement_group, remove_placement_group

    from harness.cluster import _sandbox
    from harness.sandbox import python_image
    from harness.tasks import load_suite

    tasks = sorted(load_suite(ROOT / "tasks" / "local"), key=lambda t: t.instance_id)[:3]
    patches = [t.patch for t in tasks[:2]] + [NOTES_ONLY]  # resolved x2, unresolved
    preds = tmp_path / "preds.jsonl"
    preds.write_text(
        "".join(
            json.dumps({"instance_id": t.instance_id, "model_name_or_path": "m", "model_patch": p}) + "\n"
            for t, p in zip(tasks, patches, strict=True)
        )
    )
    suite = str(ROOT / "tasks" / "local")
    base = ["eval", str(preds), "--suite", suite, "--base-image", python_image(), "-j", "3"]
    local = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    nodes = ray_cluster.nodes
    victim = nodes.add_node(num_cpus=1, resources={"sandbox_slots": 1})
    nodes.wait_for_nodes()
    hold = placement_group([{"sandbox_slots": 2}] * 2, strategy="STRICT_SPREAD")  # the two workers' slots
    asyncio.run(_ready(hold))
    state: dict[str, Any] = {"removed": False, "opened": 0, "instance": None}
    real_run = _sandbox.RaySandbox.run

    async def run(self: Any, cmd: Any, **kw: Any) -> Any:
        if self.node_id == victim.node_id and "eval.sh" in str(cmd) and not state["removed"]:
            state["removed"], state["opened"] = True, len(spy.opened)
            host_pid = (await self._host.where.remote())["pid"]
            ray_cluster.seen.update(descendants())
            await asyncio.to_thread(nodes.remove_node, victim, allow_graceful=False)
            # Actor calls go straight to the actor's process: until it has exited, one may still
            # be answered (seen once: no retry).
            await asyncio.to_thread(_exited, host_pid)
            remove_placement_group(hold)
        return await real_run(self, cmd, **kw)

    heard = threading.Event()
    printed: list[tuple[str, bool]] = []  # what Ray printed, and whether on stdout
    real_print = ray_worker.print_worker_logs

    def spy_print(data: dict[str, Any], print_file: Any, ignore_prefix: bool = False) -> None:
        printed.append((str(data.get("pid")), print_file is sys.stdout))
        if data.get("pid") == "raylet":
            heard.set()
        real_print(data, print_file, ignore_prefix)

    async def run_and_hear(self: Any, cmd: Any, **kw: Any) -> Any:
        removing = not state["removed"]
        try:
            return await run(self, cmd, **kw)  # the node's loss: a SandboxError
        finally:
            if removing and state["removed"]:  # Ray's message of it, printed while harness runs
                state["heard"] = await asyncio.to_thread(heard.wait, 60)

    monkeypatch.setattr(ray_worker, "print_worker_logs", spy_print)
    monkeypatch.setattr(_sandbox.RaySandbox, "run", run_and_hear)
    try:
        res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "cluster"), "--cluster", "auto"])
    finally:
        if not state["removed"]:
            remove_placement_group(hold)
    assert res.exit_code == 0, res.output
    assert state["removed"], "no evaluation reached the victim node"
    on_cluster = json.loads((tmp_path / "cluster" / "summary.json").read_text())
    assert "retried" in on_cluster, (res.output, printed, state)
    retried = on_cluster.pop("retried")
    # One instance's evaluation is on the victim when it goes; on a loaded machine another's image step
    # may be there too: each is tried once more elsewhere.
    assert retried and set(retried.values()) == {1} and set(retried) <= {t.instance_id for t in tasks}
    assert on_cluster == json.loads((tmp_path / "local" / "summary.json").read_text())
    assert victim.node_id in spy.nodes[: state["opened"]]
    assert set(spy.nodes[state["opened"] :]) <= set(ray_cluster.workers) and spy.nodes[state["opened"] :]
    assert len(on_cluster["resolved_ids"]) == 2 and len(on_cluster["unresolved_ids"]) == 1
    assert state.get("heard"), f"Ray printed nothing of the lost node: {printed}"
    assert not [pid for pid, on_stdout in printed if on_stdout], printed
    assert res.stdout.count("\n") == 1 and json.loads(res.stdout) == {**on_cluster, "retried": retried}


def _exited(pid: int, bound_s: float = 60.0) -> None:
    """Wait until process ``pid`` (not a child of ours) has exited, at most ``bound_s``."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([fd], [], [], bound_s)  # readable once the process has exited
    finally:
        os.close(fd)


@contextlib.contextmanager
def _registry(tmp: Path) -> Iterator[str]:
    """A registry process (Debian's docker-registry) on ``127.0.0.1:PORT`` of the Docker engine's own
    network namespace (the test's parent's), where the engine pulls and pushes; stopped afterwards."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("Debian's docker-registry is not installed (scripts/setup.sh installs it)")
    host_net = ["nsenter", f"--net=/proc/{os.getppid()}/ns/net"]
    port = 20000 + int(uuid.uuid4().int % 20000)
    config = tmp / "registry.yml"
    config.write_text(
        f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {tmp / 'storage'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (tmp / "registry.log").open("wb")
    proc = subprocess.Popen([*host_net, binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    probe = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)"
    try:
        deadline = time.monotonic() + 30
        url = f"http://127.0.0.1:{port}/v2/"
        while subprocess.run([*host_net, sys.executable, "-c", probe, url], capture_output=True).returncode:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"docker-registry did not serve: {(tmp / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _catalog(address: str) -> list[str]:
    """The repositories the registry at ``address`` holds (asked from the engine's namespace)."""
    code = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
    url = f"http://{address}/v2/_catalog"
    host_net = ["nsenter", f"--net=/proc/{os.getppid()}/ns/net"]
    out = subprocess.run(
        [*host_net, sys.executable, "-c", code, url], capture_output=True, text=True, check=True
    )
    repos: list[str] = json.loads(out.stdout)["repositories"]
    return repos


def test_eval_with_a_registry_pulls_the_driver_s_images_on_the_nodes(
    ray_cluster: RayTestCluster, spy: Spy, tmp_path: Path
) -> None:
    """``harness eval --cluster auto --registry HOST:PORT/NS``: the driver builds each instance image and
    pushes it; the nodes pull it by the registry's name (the driver keeps no tag of that name, so the
    shared engine has to pull it), build nothing, and the summary is the local run's."""
    from harness.sandbox import python_image
    from harness.tasks import load_suite

    tasks = sorted(load_suite(ROOT / "tasks" / "local"), key=lambda t: t.instance_id)[:2]
    preds = tmp_path / "preds.jsonl"
    preds.write_text(
        "".join(
            json.dumps({"instance_id": t.instance_id, "model_name_or_path": "m", "model_patch": t.patch})
            + "\n"
            for t in tasks
        )
    )
    suite = str(ROOT / "tasks" / "local")
    base = ["eval", str(preds), "--suite", suite, "--base-image", python_image(), "-j", "2"]
    local = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    namespace = f"harness-test-{uuid.uuid4().hex[:6]}"
    with _registry(tmp_path) as address:
        res = CliRunner().invoke(
            app,
            [
                *base,
                "--out",
                str(tmp_path / "cluster"),
                "--cluster",
                "auto",
                "--registry",
                f"{address}/{namespace}",
            ],
        )
        assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "cluster" / "summary.json").read_text()) == json.loads(
        (tmp_path / "local" / "summary.json").read_text()
    )
    names = {spec.image for _, spec in spy.opened}
    assert len(names) == 2 and all(n.startswith(f"{address}/{namespace}/") for n in names)
    (images,) = spy.images
    pulled = Counter(tag for counts in images.values() for tag in counts["pulled"])
    assert pulled == Counter(names)  # each pulled once in all: the nodes share one engine here
    assert all(counts["built"] == {} for counts in images.values())
    import docker

    client = docker.from_env()
    for name in names:
        client.images.remove(name, noprune=True)
