"""A host-process stand-in for the pipeline's sandboxes in unit tests (test helper, not a test).

Each sandbox is a folder holding a copy of the task's repository twice: ``testbed/`` (what the
instance image has at ``/testbed``) and ``workspace/`` (the trajectory's editable copy), plus ``tmp/``.
Absolute paths of the container (``/testbed``, ``/workspace``, ``/tmp/harness-...``) are mapped to
those folders in commands, working directories, environment values and file paths, and commands run as
real processes with this interpreter's ``python3`` first on ``PATH``. No isolation at all: the code run
here is ours (the scripted policy's tests and the tasks' own tests). The real sandboxes are covered by
``tests/test_pipeline_docker.py``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.pipeline.loops import Roots
from harness.pipeline.run import Deps
from harness.sandbox._types import ExecResult
from harness.tasks import RepoTask

ROOTS = Roots("/workspace", "/testbed")


class HostSandbox:
    def __init__(self, repo: str, parent: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sb-", dir=parent))
        shutil.copytree(repo, self.dir / "testbed", symlinks=True)
        shutil.copytree(repo, self.dir / "workspace", symlinks=True)
        (self.dir / "tmp").mkdir()
        self.id = self.dir.name

    def map(self, text: str) -> str:
        return (
            text.replace("/tmp/harness-", f"{self.dir}/tmp/harness-")
            .replace("/testbed", f"{self.dir}/testbed")
            .replace("/workspace", f"{self.dir}/workspace")
        )

    def path(self, path: str) -> Path:
        return Path(self.map(path)) if path.startswith("/") else self.dir / "workspace" / path

    async def run(
        self,
        cmd: str | Sequence[str],
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | bytes | None = None,
    ) -> ExecResult:
        full_env = {
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            "HOME": str(self.dir / "tmp"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t.invalid",
        }
        full_env.update({k: self.map(v) for k, v in (env or {}).items()})
        args: str | list[str] = self.map(cmd) if isinstance(cmd, str) else [self.map(c) for c in cmd]
        where = str(self.path(cwd)) if cwd else str(self.dir / "workspace")
        data = stdin.encode() if isinstance(stdin, str) else stdin
        start = time.monotonic()

        def call() -> subprocess.CompletedProcess[bytes]:
            return subprocess.run(
                args,
                shell=isinstance(args, str),
                cwd=where,
                env=full_env,
                input=data,
                capture_output=True,
                timeout=timeout or 60,
            )

        try:
            proc = await asyncio.to_thread(call)
        except subprocess.TimeoutExpired as exc:
            return ExecResult(
                status="timeout",
                exit_code=124,
                stdout=(exc.stdout or b"").decode(),
                stderr=(exc.stderr or b"").decode(),
                duration_ms=(time.monotonic() - start) * 1000,
            )
        return ExecResult(
            status="ok" if proc.returncode == 0 else "nonzero",
            exit_code=proc.returncode,
            stdout=proc.stdout.decode("utf-8", "replace"),
            stderr=proc.stderr.decode("utf-8", "replace"),
            duration_ms=(time.monotonic() - start) * 1000,
        )

    async def write_file(self, path: str, content: str | bytes, *, mode: int = 0o644) -> None:
        p = self.path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode() if isinstance(content, str) else content)

    async def read_file(self, path: str) -> bytes:
        return self.path(path).read_bytes()

    async def diff(self) -> str:
        res = await self.run("git add -A && git diff --cached --no-renames", cwd="/workspace")
        return res.stdout

    async def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def host_deps(parent: Path) -> Deps:
    """Deps whose "image" is the task's repository folder and whose sandboxes are host folders."""
    parent.mkdir(parents=True, exist_ok=True)

    def image(task: RepoTask) -> str:
        return task.repo_source().location

    async def sandbox(image: str) -> HostSandbox:
        return HostSandbox(image, parent)

    return Deps(image=image, trajectory_sandbox=sandbox, eval_sandbox=sandbox, roots=ROOTS)
