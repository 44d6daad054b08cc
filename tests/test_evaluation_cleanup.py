"""Evaluation containers never outlive their harness either: SIGTERM removes them, and ``harness sandbox
gc`` finds what a SIGKILL left (a killed ``harness eval`` used to leave ``sleep infinity`` behind for good).

Each scenario runs a real process that starts an evaluation container, and looks at the engine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.sandbox import python_image
from harness.sandbox._docker import shared_client

pytestmark = pytest.mark.docker

HARNESS = str(Path(sys.executable).parent / "harness")

_OWNER = """
import asyncio, sys
from harness.evaluation import EvalContainer

async def main() -> None:
    box = await EvalContainer.start(sys.argv[1])
    print("ready", box.id, flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def _containers(run_id: str) -> list[Any]:
    return list(shared_client().containers.list(all=True, filters={"label": f"harness.run_id={run_id}"}, ignore_removed=True))


def _owner(run_id: str) -> tuple[subprocess.Popen[str], str]:
    """A process (run id from ``$HARNESS_RUN_ID``) holding one evaluation container; its short id."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _OWNER, python_image(shared_client())],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "HARNESS_RUN_ID": run_id},
    )
    assert proc.stdout is not None
    ready, cid = proc.stdout.readline().split()
    assert ready == "ready"
    return proc, cid


def _cleanup(proc: subprocess.Popen[str], cid: str) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
    if _exists(cid):
        shared_client().api.remove_container(cid, force=True)


def _exists(cid: str) -> bool:
    return any(c.id.startswith(cid) for c in shared_client().containers.list(all=True, ignore_removed=True))


def test_gc_removes_the_container_of_a_killed_evaluation() -> None:
    run_id = f"pytest-evalgc-{uuid.uuid4().hex[:8]}"
    proc, cid = _owner(run_id)
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _exists(cid), "SIGKILL leaves it behind"
        out = subprocess.run([HARNESS, "sandbox", "gc", "--run-id", run_id], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert not _exists(cid), f"gc --run-id left the evaluation container: {out.stdout}{out.stderr}"
    finally:
        _cleanup(proc, cid)


def test_sigterm_removes_the_container_of_an_evaluation() -> None:
    run_id = f"pytest-evalterm-{uuid.uuid4().hex[:8]}"
    proc, cid = _owner(run_id)
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        assert not _exists(cid)
        assert _containers(run_id) == []
    finally:
        _cleanup(proc, cid)


def test_docker_client_proxy_credentials_stay_out_of_evaluation_containers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Evaluation containers run candidate patches and their tests: the proxies of the Docker client's
    # config.json (credentials included), which docker-py copies into containers, must not reach them.
    import asyncio
    import json

    from harness.evaluation import EvalContainer
    from harness.sandbox.images import docker_client

    secret = "proxy-secret-do-not-leak"
    proxy = f"http://user:{secret}@proxy.invalid:3128"
    (tmp_path / "config.json").write_text(json.dumps({"proxies": {"default": {"httpProxy": proxy}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    client = docker_client(timeout=120)

    async def look() -> tuple[str, list[str]]:
        box = await EvalContainer.start(python_image(client), client=client, run_id="pytest-eval-proxy")
        try:
            r = await box.run("env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'")
            return r.stdout, client.api.inspect_container(box.id)["Config"]["Env"]
        finally:
            await box.close()

    seen, env = asyncio.run(look())
    assert secret not in seen and "proxy" not in seen.lower(), seen
    assert not [e for e in env if "proxy" in e.lower()], env
