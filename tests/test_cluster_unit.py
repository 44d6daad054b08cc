"""The cluster package without a cluster: Ray is imported only with ``--cluster``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.errors import SandboxError


def test_harness_never_imports_ray_without_cluster() -> None:
    """``import harness``, the CLI (``harness eval`` included) and the packages a run uses load no Ray,
    nor does ``harness.cluster`` itself until it connects."""
    code = (
        "import sys\n"
        "import harness, harness.cli, harness.cli.tasks, harness.sandbox, harness.evaluation, harness.cluster\n"
        "from typer.testing import CliRunner\n"
        "from harness.cli import app\n"
        "res = CliRunner().invoke(app, ['eval', '--help'])\n"
        "assert res.exit_code == 0 and '--cluster' in res.output, res.output\n"
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
