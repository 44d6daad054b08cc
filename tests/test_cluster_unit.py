"""The cluster package without a cluster: Ray is imported only with ``--cluster``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.errors import SandboxError

SELECT_AND_SEARCH = """
import asyncio, sys
from typer.testing import CliRunner
from harness.cli import app
from harness.selection.engine import Engine, EngineConfig
import harness.selection.run
from harness.cli.search import _executor

for cmd in ("select", "search"):
    res = CliRunner().invoke(app, [cmd, "--help"])
    assert res.exit_code == 0 and "--cluster" in res.output, res.output

async def go():
    async with Engine(EngineConfig()):  # lanes are local DockerSandboxes (none started: no request)
        pass
    async with _executor("docker", 1.0, 2, "r") as ex:  # a pool of local sandboxes, none started yet
        assert ex.pool.size == 0

asyncio.run(go())
loaded = sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))
assert not loaded, loaded
"""


def test_select_and_search_never_import_ray_without_cluster() -> None:
    """``harness select`` and ``harness search`` take ``--cluster``; without it their engine lanes and
    sandbox pool are local and no Ray module is loaded."""
    res = subprocess.run(
        [sys.executable, "-c", SELECT_AND_SEARCH], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr


def test_search_refuses_cluster_with_the_local_executor() -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    args = ["search", "--model", "scripted", "--executor", "local", "--cluster", "auto", "--limit-tasks", "1"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    assert "use it with --executor docker" in " ".join(res.output.split())


def test_harness_never_imports_ray_without_cluster() -> None:
    """``import harness``, the CLI (``harness eval`` and ``harness run`` included) and the packages a run
    uses load no Ray, nor does ``harness.cluster`` itself until it connects."""
    code = (
        "import sys\n"
        "import harness, harness.cli, harness.cli.tasks, harness.sandbox, harness.evaluation, harness.cluster\n"
        "from typer.testing import CliRunner\n"
        "from harness.cli import app\n"
        "for cmd in ('eval', 'run'):\n"
        "    res = CliRunner().invoke(app, [cmd, '--help'])\n"
        "    assert res.exit_code == 0 and '--cluster' in res.output, res.output\n"
        "import harness.pipeline._main, harness.pipeline.run\n"
        "loaded = sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.'))\n"
        "assert not loaded, loaded\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


@pytest.mark.ray
def test_ray_errors_become_sandbox_errors() -> None:
    import ray.exceptions as rx

    from harness.cluster._sandbox import ray_errors

    with pytest.raises(SandboxError, match="node was lost"), ray_errors("sandbox run on node x"):
        raise rx.ActorDiedError()
    with pytest.raises(SandboxError, match="this sandbox is closed"), ray_errors("x"):
        raise rx.RayTaskError("run", "tb", SandboxError("this sandbox is closed"))


def test_the_cluster_of_a_run_config_is_checked_and_not_part_of_the_run() -> None:
    from harness.errors import ConfigError
    from harness.pipeline import parse_config

    base = {"suite": "tasks/local", "models": {"default": {"spec": "scripted"}}}
    with pytest.raises(
        ConfigError, match=r"cluster: .*'ray:/x' is not a Ray cluster: auto or ray://HOST:PORT"
    ):
        parse_config({**base, "cluster": "ray:/x"})
    with pytest.raises(ConfigError, match=r"retries: Input should be less than or equal to 10"):
        parse_config({**base, "retries": 11})
    with pytest.raises(ConfigError, match=r"registry: 'http://x' is not an image namespace"):
        parse_config({**base, "registry": "http://x"})
    on = parse_config(
        {**base, "cluster": "ray://10.0.0.5:10001", "registry": "10.0.0.5:5000/ns", "retries": 3}
    )
    # Where it runs is not what it computes: the manifest's config is the local run's.
    assert on.identity() == parse_config(base).identity()
