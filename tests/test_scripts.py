"""The set-up scripts (scripts/*.sh), run for real against stand-ins for the system tools they drive."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Like dockerd: it handles SIGINT and SIGTERM itself (Go's signal.Notify), writes its pid, then serves.
FAKE_DOCKERD = """#!{python}
import os, signal, sys, time
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
open({pid!r} + ".tmp", "w").write(str(os.getpid()))
os.replace({pid!r} + ".tmp", {pid!r})
while True:
    time.sleep(1)
"""


def _tool(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_ensure_docker_starts_the_engine_outside_the_callers_process_group(tmp_path: Path) -> None:
    """A Ctrl-C (SIGINT to the foreground group) during main.sh/test.sh must not stop the engine it started."""
    if os.geteuid() != 0:
        pytest.skip("ensure-docker.sh starts an engine only as root")
    shims, pid_file = tmp_path / "bin", tmp_path / "dockerd.pid"
    shims.mkdir()
    _tool(shims, "dockerd", FAKE_DOCKERD.format(python=sys.executable, pid=str(pid_file)))
    _tool(shims, "docker", f'#!/bin/bash\n[ -f "{pid_file}" ]\n')  # `docker info` answers once it runs
    _tool(shims, "pgrep", "#!/bin/bash\nexit 1\n")  # the machine's own dockerd is not ours
    env = {
        **os.environ,
        "PATH": f"{shims}:{os.environ['PATH']}",
        "HARNESS_DOCKERD_LOG": str(tmp_path / "d.log"),
    }
    proc = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "ensure-docker.sh")], env=env, start_new_session=True
    )
    try:
        assert proc.wait(timeout=120) == 0
        dockerd = int(pid_file.read_text())
        assert os.getpgid(dockerd) != proc.pid  # the script's group: Ctrl-C would reach it there
        assert os.getsid(dockerd) != proc.pid
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):  # it may have gone already
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
