"""The host side of the in-container command server: one ``docker exec``, framed requests over it.

:class:`ServerChannel` starts :mod:`harness.sandbox._server` with ``python3 -I -c BOOT`` (which reads SOURCE from stdin) in a
container, attaches to the exec's hijacked socket (docker-py's low-level API) and speaks the server's
framing over it. Docker multiplexes the exec's stdout and stderr into 8-byte-headed frames on that
socket; this module demultiplexes them: stdout carries replies, stderr is kept (last 4 KiB) to explain
a server that died.

Only local engines (unix socket or plain TCP) are supported: a TLS socket cannot be handed to asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import SandboxError

SERVER_SOURCE = (Path(__file__).parent / "_server.py").read_bytes()
# The server's source goes over stdin ahead of the first request: short command line, no ARG_MAX limit.
# Before it waits for the source, BOOT makes the process non-dumpable (prctl(PR_SET_DUMPABLE, 0)), so the
# window in which a command's leftover daemon could open its /proc files is only the interpreter's start;
# the server checks and reports it again (``harden``), and works on without ctypes.
_BOOT = (
    "import sys\ntry:\n import ctypes\nexcept ImportError:\n ctypes = None\n"
    "if ctypes:\n ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n"
    f"exec(compile(sys.stdin.buffer.read({len(SERVER_SOURCE)}),'harness-sandbox-server','exec'))"
)


class ServerLost(SandboxError):
    """The command server's stream ended: it exited or was killed (e.g. by ``kill -9 -1``)."""


class ServerChannel:
    """A running command server and its stream. One request at a time (the caller holds a lock)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, exec_id: str) -> None:
        self._reader = reader
        self._writer = writer
        self.exec_id = exec_id
        self._buf = bytearray()
        self.stderr_tail = b""
        self.closed = False

    @classmethod
    async def open(
        cls, api: Any, container_id: str, *, user: str, env: Mapping[str, str], workspace: str, base: str
    ) -> ServerChannel:
        """Start the server in ``container_id`` as ``user`` and return its channel (not yet greeted)."""

        def attach() -> tuple[Any, str]:
            cmd = ["python3", "-I", "-c", _BOOT, workspace, base]
            environment = [f"{k}={v}" for k, v in env.items()]
            ex = api.exec_create(
                container_id, cmd, stdin=True, tty=False, user=user, environment=environment, workdir="/"
            )
            sock = api.exec_start(ex["Id"], socket=True)
            raw = getattr(sock, "_sock", sock)
            # Own a duplicate of the socket: docker-py's response objects may close theirs when collected.
            mine = raw.dup()
            sock.close()
            return mine, str(ex["Id"])

        try:
            sock, exec_id = await asyncio.to_thread(attach)
        except Exception as exc:
            raise SandboxError(f"could not start the command server in {container_id[:12]}: {exc}") from exc
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
        writer.write(SERVER_SOURCE)
        return cls(reader, writer, exec_id)

    async def request(
        self,
        header: dict[str, Any],
        blobs: Sequence[bytes] = (),
        partial: Callable[[dict[str, Any], list[bytes]], None] | None = None,
    ) -> tuple[dict[str, Any], list[bytes]]:
        """Send one request and wait for its reply. :class:`ServerLost` when the stream ends.

        ``partial`` receives the frames a ``run`` sends ahead of its reply (output read so far).
        """
        if self.closed:
            raise ServerLost("the command server's channel is closed")
        header = {**header, "blobs": [len(b) for b in blobs]}
        data = json.dumps(header).encode()
        try:
            self._writer.write(struct.pack(">I", len(data)) + data)
            for b in blobs:
                self._writer.write(b)
            await self._writer.drain()
            while True:
                (n,) = struct.unpack(">I", await self._read(4))
                reply: dict[str, Any] = json.loads(await self._read(n))
                out = [await self._read(size) for size in reply.get("blobs", [])]
                if not reply.get("partial"):
                    break
                if partial is not None:
                    partial(reply, out)
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            self.closed = True
            tail = self.stderr_tail.decode(errors="replace").strip()
            why = f"the command server stopped ({type(exc).__name__}){': ' + tail if tail else ''}"
            raise ServerLost(why) from exc
        except BaseException:
            # Cancelled (or worse) mid-request: the stream is out of step with its replies. Drop it;
            # the sandbox starts a new server (which kills this one) before its next request.
            self.closed = True
            self._writer.close()
            raise
        return reply, out

    async def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            head = await self._reader.readexactly(8)
            size = int.from_bytes(head[4:8], "big")
            payload = await self._reader.readexactly(size) if size else b""
            if head[0] == 1:
                self._buf += payload
            else:
                self.stderr_tail = (self.stderr_tail + payload)[-4096:]
        if n == len(self._buf):
            out = bytes(self._buf)
            self._buf.clear()
            return out
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    async def close(self) -> None:
        """Close the stream; the server reads EOF and exits."""
        if not self.closed:
            self.closed = True
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        else:
            self._writer.close()
