"""``DockerSandbox``: a container per sandbox and a command server inside it.

The container's main process is a root ``sleep`` (its lifetime), it has no network, a read-only root,
tmpfs ``/tmp`` and workspace, no capabilities, and limits on memory, CPU, pids, open files and file
size (:mod:`harness.sandbox._config`). Commands go through the command server
(:mod:`harness.sandbox._server`), started once per sandbox through one ``docker exec``; requests are
served one at a time (a lock), so use several sandboxes (a :class:`SandboxPool`) for parallelism.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from harness.errors import ImageError, SandboxError
from harness.sandbox import _cleanup
from harness.sandbox._client import ServerChannel, ServerLost
from harness.sandbox._config import base_env, command_env, container_kwargs
from harness.sandbox._types import ExecResult, ExecStatus, SandboxProfile
from harness.sandbox.images import docker_client, python_image

log = logging.getLogger(__name__)

GRACE_S = 10.0
"""How long past a command's timeout the host waits for the server before it rebuilds the container."""

_shared_client: Any = None


def shared_client() -> Any:
    """One docker-py client per process (its connection pool is shared by all sandboxes)."""
    global _shared_client
    if _shared_client is None:
        _shared_client = docker_client(timeout=120)
    return _shared_client


class DockerSandbox:
    """A :class:`harness.sandbox.Sandbox` in a Docker container. Use ``async with`` or :meth:`create`.

    ``image`` defaults to the Python runner image (:func:`harness.sandbox.python_image`); ``profile``
    to the strict profile; ``run_id`` to ``$HARNESS_RUN_ID`` or one id per process.
    """

    def __init__(
        self,
        image: str | None = None,
        profile: SandboxProfile | None = None,
        *,
        run_id: str | None = None,
        client: Any = None,
        base: str = "/base",
    ) -> None:
        self.image = image
        self.profile = profile or SandboxProfile.strict()
        self.run_id = _cleanup.resolve_run_id(run_id)
        self.base = base
        self.id = ""
        self.name = ""
        self._client = client
        self._channel: ServerChannel | None = None
        self._lock = asyncio.Lock()
        self.closed = False
        self._started: float | None = None

    @classmethod
    async def create(
        cls, image: str | None = None, profile: SandboxProfile | None = None, **kwargs: Any
    ) -> DockerSandbox:
        """A started sandbox (container up, server greeted, workspace seeded)."""
        sb = cls(image, profile, **kwargs)
        await sb.start()
        return sb

    async def start(self) -> None:
        _cleanup.install()
        client = self._client = self._client or await asyncio.to_thread(shared_client)
        if self.image is None:
            self.image = await asyncio.to_thread(python_image, client)
        t0 = time.monotonic()
        try:
            await self._start_container()
            await self._connect()
            await self._call({"op": "reset"})
        except BaseException as exc:
            log.debug("sandbox from %s did not start: %s: %s", self.image, type(exc).__name__, exc)
            await self.close()
            raise
        self._started = time.monotonic()
        log.debug(
            "sandbox %s up from %s in %.1f s (run %s)", self.name, self.image, self._started - t0, self.run_id
        )

    async def _start_container(self) -> None:
        import docker.errors

        assert self.image is not None
        self.name = f"harness-{_slug(self.run_id)}-{uuid.uuid4().hex[:8]}"
        kwargs = container_kwargs(self.profile, self.image, _cleanup.owner_labels(self.run_id), self.name)
        kwargs.pop("detach")

        def create_and_start() -> Any:
            container = self._client.containers.create(**kwargs)  # never pulls, unlike containers.run
            _cleanup.track(str(container.id))
            try:
                container.start()
            except BaseException:
                _cleanup.remove_ids(self._client, [str(container.id)])
                _cleanup.untrack(str(container.id))
                raise
            return container

        try:
            container = await asyncio.to_thread(create_and_start)
        except docker.errors.ImageNotFound as exc:
            raise ImageError(
                f"image {self.image!r} is not on this Docker engine: build it "
                "(`harness sandbox build` makes the harness images)"
            ) from exc
        except docker.errors.APIError as exc:
            raise SandboxError(f"could not start a sandbox from {self.image!r}: {exc}") from exc
        self.id = str(container.id)

    async def _connect(self) -> None:
        self._channel = await ServerChannel.open(
            self._client.api,
            self.id,
            user=self.profile.user,
            env=base_env(self.profile),
            workspace=self.profile.workspace,
            base=self.base,
        )
        reply, _ = await self._channel.request({"op": "hello"})
        self.server_info: dict[str, Any] = reply.get("info", {})

    async def _restart_server(self) -> None:
        """A new server after the old one died; it first kills what the commands left running."""
        if self._channel is not None:
            await self._channel.close()
        try:
            await self._connect()
            await self._call_once({"op": "killall"})
        except SandboxError:
            await self._recreate()

    async def _recreate(self) -> None:
        """Last resort (the container or its server no longer answers): a fresh container."""
        await self._remove_container()
        await self._start_container()
        await self._connect()
        await self._call_once({"op": "reset"})

    async def __aenter__(self) -> DockerSandbox:
        if not self.id:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def run(
        self,
        cmd: str | Sequence[str],
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | bytes | None = None,
    ) -> ExecResult:
        """Run ``cmd`` (shell string via ``/bin/sh -c``, or argv) in the workspace (or ``cwd`` in it)."""
        limit = self.profile.default_timeout_s if timeout is None else float(timeout)
        req: dict[str, Any] = {
            "op": "run",
            "cwd": cwd,
            "env": command_env(self.profile, env),
            "timeout": limit,
            "cap": self.profile.output_cap_bytes,
        }
        if isinstance(cmd, str):
            req["shell"] = cmd
        else:
            req["argv"] = [str(a) for a in cmd]
        data = stdin.encode() if isinstance(stdin, str) else (stdin or b"")
        relayed = _Relayed()
        async with self._lock:
            await self._ensure_server()
            t0 = time.monotonic()
            try:
                assert self._channel is not None
                request = self._channel.request(req, [data], partial=relayed.add)
                reply, out = await asyncio.wait_for(request, limit + GRACE_S)
            except ServerLost as exc:
                ms = (time.monotonic() - t0) * 1000  # until the server died, not until its successor is up
                await self._restart_server()
                why = (
                    f"harness: the sandbox's command server died during this command ({exc}); it was "
                    "killed, most likely by the command. The sandbox started a new one; output the old "
                    "one had not relayed yet is lost."
                )
                return relayed.result("killed", why, ms)
            except TimeoutError:
                ms = (time.monotonic() - t0) * 1000
                await self._recreate()
                return relayed.result("timeout", "the sandbox stopped answering; it was rebuilt", ms)
        if "error" in reply:
            return relayed.result("error", str(reply["error"]), (time.monotonic() - t0) * 1000)
        return ExecResult(
            status=reply["status"],
            exit_code=reply["exit_code"],
            stdout=(relayed.out + out[0]).decode(errors="replace"),
            stderr=(relayed.err + out[1]).decode(errors="replace"),
            duration_ms=float(reply["duration_ms"]),
            truncated=bool(reply["truncated"]),
        )

    async def write_file(self, path: str, content: str | bytes, *, mode: int = 0o644) -> None:
        """Write ``path`` (relative to the workspace, or absolute), creating parent folders."""
        data = content.encode() if isinstance(content, str) else content
        await self._call({"op": "write", "path": path, "mode": mode}, [data])

    async def read_file(self, path: str) -> bytes:
        """The bytes of ``path``; :class:`SandboxError` when it cannot be read."""
        return (await self._call({"op": "read", "path": path}))[0]

    async def diff(self) -> str:
        """``git diff`` of the workspace against ``/base`` (added, deleted, binary files included)."""
        return (await self._call({"op": "diff"}))[0].decode(errors="replace")

    async def reset(self) -> None:
        """Kill every command process, empty ``/tmp`` and put the workspace back to ``/base``."""
        await self._call({"op": "reset"})

    async def _call(self, req: dict[str, Any], blobs: Sequence[bytes] = ()) -> list[bytes]:
        """A request that is safe to repeat: retried once on a fresh server if the server died."""
        async with self._lock:
            await self._ensure_server()
            try:
                return await self._call_once(req, blobs)
            except ServerLost:
                await self._restart_server()
                return await self._call_once(req, blobs)

    async def _call_once(self, req: dict[str, Any], blobs: Sequence[bytes] = ()) -> list[bytes]:
        assert self._channel is not None
        reply, out = await self._channel.request(req, blobs)
        if "error" in reply:
            raise SandboxError(f"sandbox {req['op']} failed: {reply['error']}")
        return out

    async def _ensure_server(self) -> None:
        if self.closed or self._channel is None:
            raise SandboxError("this sandbox is closed (or was never started)")
        if self._channel.closed:  # a cancelled request left it out of step
            await self._restart_server()

    async def close(self) -> None:
        """Stop the server and remove the container. Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self._channel is not None:
            await self._channel.close()
        await self._remove_container()
        if self._started is not None:
            log.debug("sandbox %s removed after %.1f s", self.name, time.monotonic() - self._started)

    async def _remove_container(self) -> None:
        if self.id:
            cid, self.id = self.id, ""
            await asyncio.to_thread(_cleanup.remove_ids, self._client, [cid])
            _cleanup.untrack(cid)


class _Relayed:
    """The output a command's server relayed ahead of its reply (``partial`` frames), kept for a result
    when the reply never comes (the command killed the server, or the sandbox stopped answering)."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.err = bytearray()
        self.seen = [0, 0]
        """Bytes the server had read from each stream when it last relayed (head and tail)."""

    def add(self, reply: dict[str, Any], blobs: list[bytes]) -> None:
        self.out += blobs[0]
        self.err += blobs[1]
        self.seen = [int(n) for n in reply.get("total", self.seen)]

    def result(self, status: ExecStatus, why: str, ms: float) -> ExecResult:
        """An :class:`ExecResult` without an exit code: the relayed output, ``why`` as stderr's last line,
        and ``ms``, the time the command really ran."""
        streams, lost = [], False
        for kept, seen in ((self.out, self.seen[0]), (self.err, self.seen[1])):
            text = kept.decode(errors="replace")
            if seen > len(kept):
                text += f"\n[... {seen - len(kept)} bytes lost with the command server ...]\n"
                lost = True
            streams.append(text)
        stdout, stderr = streams
        if stderr and not stderr.endswith("\n"):
            stderr += "\n"
        return ExecResult(
            status=status,
            exit_code=None,
            stdout=stdout,
            stderr=stderr + why + "\n",
            duration_ms=ms,
            truncated=lost,
        )


def _slug(run_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in run_id)[:40]
