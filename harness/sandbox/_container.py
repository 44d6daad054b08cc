"""A throwaway container that runs evaluation commands: the part of a sandbox evaluation needs.

Evaluation only needs ``run``, ``write_file`` and ``close``; :class:`EvalSandbox` names that much, so
``harness.sandbox``'s full ``DockerSandbox`` can be passed instead through ``sandbox_factory``. This one
runs the instance image as root (images of repository tasks need a writable ``/testbed``), with no
network unless asked (``--eval-network``: the default bridge, as swebench's own containers have), a
memory and process limit, and the owner labels of every harness container, so SIGTERM and exit remove
it and ``harness sandbox gc`` finds it after a SIGKILL.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from harness.errors import EngineUnavailable, SandboxError
from harness.sandbox import _cleanup
from harness.sandbox._types import CommandRunner, ExecResult, ExecStatus

EVAL_LABEL = "harness.eval"


class EvalSandbox(CommandRunner, Protocol):
    """What evaluation uses of a sandbox (a subset of ``harness.sandbox.Sandbox``)."""

    async def write_file(self, path: str, content: str | bytes, *, mode: int = 0o644) -> None: ...

    async def close(self) -> None: ...


class EvalContainer:
    """A detached container of ``image`` kept alive by ``sleep``, removed by :meth:`close`."""

    def __init__(self, container: Any, *, default_timeout: float) -> None:
        self._container = container
        self.id = str(container.id)[:12]
        self._default_timeout = default_timeout

    @classmethod
    async def start(
        cls,
        image: str,
        *,
        client: Any = None,
        memory: str = "2g",
        default_timeout: float = 1800.0,
        run_id: str | None = None,
        network: bool = False,
    ) -> EvalContainer:
        """Start a container of ``image``, labelled with ``run_id`` (default: ``$HARNESS_RUN_ID`` or this
        process's id) and this process as its owner; ``network`` puts it on the default bridge."""
        labels = {
            EVAL_LABEL: "1",
            **_cleanup.owner_labels(_cleanup.resolve_run_id(run_id)),
            "harness.kind": "eval",
        }
        _cleanup.install()  # here, in the loop's thread: signal handlers cannot be set from a worker

        def _start() -> Any:
            import docker

            try:
                c = client or docker.from_env(timeout=120)
                container = c.containers.run(
                    image,
                    ["sleep", "infinity"],
                    detach=True,
                    init=True,
                    network_disabled=not network,
                    mem_limit=memory,
                    memswap_limit=memory,
                    pids_limit=1024,
                    user="0:0",
                    labels=labels,
                    # docker-py copies the client's config.json proxies (credentials included) into
                    # every container's environment; candidate code must not read them.
                    use_config_proxy=False,
                )
                _cleanup.track(str(container.id))
                return container
            except docker.errors.DockerException as exc:
                if "Connection" in type(exc).__name__ or "connect" in str(exc).lower():
                    raise EngineUnavailable(f"no Docker engine answers: {exc}") from exc
                raise SandboxError(f"could not start a container of {image}: {exc}") from exc

        return cls(await asyncio.to_thread(_start), default_timeout=default_timeout)

    async def run(
        self,
        cmd: str | Sequence[str],
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | bytes | None = None,
    ) -> ExecResult:
        if stdin is not None:
            raise SandboxError("EvalContainer.run does not take stdin; write a file instead")
        limit = timeout if timeout is not None else self._default_timeout
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        # `timeout` kills the command's whole process group at the deadline (exit 124, or 137 after
        # the grace period), so nothing it started outlives it.
        full = ["timeout", "-k", "5", f"{limit:.0f}", *argv]
        start = time.monotonic()

        def _exec() -> Any:
            return self._container.exec_run(full, workdir=cwd, environment=dict(env or {}), demux=True)

        try:
            res = await asyncio.to_thread(_exec)
        except Exception as exc:  # docker-py and requests errors alike: the engine failed, not the command
            raise SandboxError(f"exec in container {self.id} failed: {exc}") from exc
        out, err = res.output if res.output is not None else (None, None)
        code = res.exit_code
        status: ExecStatus = "ok" if code == 0 else "nonzero"
        if code in (124, 137) and time.monotonic() - start >= limit:
            status = "timeout"
        return ExecResult(
            status=status,
            exit_code=code,
            stdout=(out or b"").decode("utf-8", "replace"),
            stderr=(err or b"").decode("utf-8", "replace"),
            duration_ms=(time.monotonic() - start) * 1000,
        )

    async def write_file(self, path: str, content: str | bytes, *, mode: int = 0o644) -> None:
        data = content.encode() if isinstance(content, str) else content
        folder, _, name = path.rpartition("/")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        await self.run(["mkdir", "-p", folder or "/"])
        try:
            ok = await asyncio.to_thread(self._container.put_archive, folder or "/", buf.getvalue())
        except Exception as exc:  # docker-py and requests errors alike
            raise SandboxError(f"could not write {path} into container {self.id}: {exc}") from exc
        if not ok:
            raise SandboxError(f"could not write {path} into container {self.id}")

    async def close(self) -> None:
        try:
            await asyncio.to_thread(self._container.remove, force=True)
        except Exception as exc:
            import docker.errors

            if not isinstance(exc, docker.errors.NotFound):
                raise SandboxError(f"could not remove container {self.id}: {exc}") from exc
        _cleanup.untrack(str(self._container.id))
