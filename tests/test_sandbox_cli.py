"""``harness exec`` and ``harness sandbox build``, run as a user would (subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

HARNESS = str(Path(sys.executable).parent / "harness")


def _harness(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HARNESS, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300
    )


def test_exec_json() -> None:
    out = _harness("exec", "--json", "--", "python3", "-c", "import os; print(os.getuid(), os.getcwd())")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert {"status", "exit_code", "stdout", "stderr", "duration_ms", "truncated"} <= result.keys()
    assert result["status"] == "ok" and result["stdout"] == "1000 /workspace\n"


def test_exec_mirrors_the_exit_code_and_streams() -> None:
    out = _harness("exec", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (out.returncode, out.stdout) == (7, "out\n") and "err" in out.stderr


def test_exec_timeout_memory_and_profiles() -> None:
    out = _harness("exec", "--json", "--timeout", "1", "--", "sleep", "30")
    assert out.returncode == 124 and json.loads(out.stdout)["status"] == "timeout"
    out = _harness("exec", "--json", "--memory", "128m", "--", "python3", "-c", "x = b'x' * (1 << 30)")
    assert out.returncode == 137 and json.loads(out.stdout)["status"] == "oom"
    out = _harness("exec", "--profile", "compat", "--", "id", "-u")
    assert out.returncode == 0 and out.stdout == "0\n"


def test_exec_errors_name_the_fix() -> None:
    out = _harness("exec", "--image", "harness-no-such-image:1", "--", "true")
    assert out.returncode == 2 and "harness sandbox build" in out.stderr and "Traceback" not in out.stderr
    out = _harness("exec", "--", "true", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert out.returncode == 2 and "ensure-docker.sh" in out.stderr and "Traceback" not in out.stderr


def test_build_is_idempotent() -> None:
    out = _harness("sandbox", "build")
    assert out.returncode == 0, out.stderr
    assert "harness-python:" in out.stderr
