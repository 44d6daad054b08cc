"""Fake OpenAI and Anthropic servers for tests and benchmarks: real HTTP on 127.0.0.1, real wire format.

:class:`FakeProvider` serves ``POST /v1/chat/completions`` (OpenAI: native ``n``, ``logprobs``,
``usage.prompt_tokens_details.cached_tokens``) and ``POST /v1/messages`` (Anthropic: content blocks,
``cache_control`` prefixes reported as ``cache_creation_input_tokens`` then ``cache_read_input_tokens``).
It is a lean asyncio HTTP/1.1 server with keep-alive, run in a background thread (``start()``) or as a
process (``python -m harness.models.testing --port 0``), fast enough not to be a benchmark's bottleneck.

Faults are queued with :meth:`FakeProvider.inject`; each request takes the first pending fault whose
``match`` it contains::

    429 (with Retry-After)  500  503  400  401  403  404
    slow          answer after ``delay`` seconds (past the client's timeout)
    drop          close the connection without answering
    truncate      a 200 whose JSON body is cut in half (Content-Length matches the cut body)
    content_type  a 200 with an HTML body and ``text/html``

:meth:`hold_after` makes the server stop answering after ``k`` answers (requests wait, unanswered),
and :meth:`drop_held` closes those held connections without an answer; together they let a test kill a
client mid-batch with nothing in flight that was answered. :attr:`stats` counts requests received,
answered (per prompt: the last user message) and faults served. Over HTTP: ``GET /_stats``,
``POST /_faults`` (a JSON list of faults), ``POST /_reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.models._fake_wire import (
    Reply,
    anthropic_message,
    default_reply,
    error_body,
    last_user_text,
    openai_completion,
)
from harness.models._tiny_model import make_tiny_llama

__all__ = ["FakeProvider", "Fault", "FaultKind", "ServerStats", "fake_provider", "make_tiny_llama"]

FaultKind = Literal[
    "429", "500", "503", "400", "401", "403", "404", "slow", "drop", "truncate", "content_type"
]


class Fault(BaseModel):
    """One injected failure; see the module docstring."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    retry_after: float | None = None
    """Seconds sent as ``Retry-After`` (429/503)."""
    delay: float = 1.0
    """Seconds a ``slow`` answer waits."""
    match: str | None = None
    """Only requests whose body contains this text take the fault."""
    times: int = Field(default=1, ge=1)
    """How many requests the fault hits."""


class ServerStats(BaseModel):
    """What the server saw."""

    received: int = 0
    answered: int = 0
    """Successful (200, well-formed) answers."""
    faults: int = 0
    held: int = 0
    max_in_flight: int = 0
    """The most model requests the server was working on at once."""
    answered_by_prompt: dict[str, int] = Field(default_factory=dict)
    received_by_prompt: dict[str, int] = Field(default_factory=dict)


class FakeProvider:
    """A fake OpenAI + Anthropic server. Use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(
        self, *, reply: Reply | None = None, latency: float = 0.0, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.reply: Reply = reply or default_reply
        self.latency = latency
        """Seconds every answer waits (lets tests see how many requests are in flight at once)."""
        self._in_flight = 0
        self.host, self.port = host, port
        self._faults: list[Fault] = []
        self._stats = ServerStats()
        self._answered: collections.Counter[str] = collections.Counter()
        self._received: collections.Counter[str] = collections.Counter()
        self._prefixes: set[str] = set()
        self._hold_after: int | None = None
        self._release: asyncio.Event | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- control ---------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    @property
    def stats(self) -> ServerStats:
        with self._lock:
            return self._stats.model_copy(
                update={
                    "answered_by_prompt": dict(self._answered),
                    "received_by_prompt": dict(self._received),
                }
            )

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._stats = ServerStats()
            self._answered.clear()
            self._received.clear()

    def hold_after(self, answers: int) -> None:
        """Answer ``answers`` requests in all, then hold every later one unanswered."""
        self._hold_after = answers

    def drop_held(self) -> None:
        """Close every held connection without an answer, and answer normally from now on."""
        self._hold_after = None
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> FakeProvider:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="fake-provider", daemon=True)
        self._thread.start()
        ready.wait(10)
        if self._server is None:
            raise RuntimeError("the fake provider did not start")
        return self

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(self.serve())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    async def serve(self) -> asyncio.Server:
        """Start listening on the current loop (for running the server in-process on your own loop)."""
        self._release = asyncio.Event()
        server = await asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        return server

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def _close() -> None:
            server.close()
            if self._release is not None:
                self._release.set()
            # Keep-alive connections outlive server.close(); end their handlers before the loop stops.
            tasks = [t for t in self._tasks if not t.done()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(_close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._server = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving ---------------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                keep = await self._respond(writer, *request)
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away; nothing to answer
        except asyncio.CancelledError:
            # Only stop() cancels handlers; ending normally keeps asyncio's stream callback quiet (3.11).
            pass
        finally:
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, method: str, path: str, raw: bytes) -> bool:
        if path.startswith("/_"):
            return await self._control(writer, method, path, raw)
        anthropic = path.rstrip("/").endswith("/messages")
        if method != "POST" or not (anthropic or path.rstrip("/").endswith("/chat/completions")):
            return await _send(writer, 404, error_body(anthropic, 404, f"no route {method} {path}"))
        body: dict[str, Any] = json.loads(raw or b"{}")
        prompt = last_user_text(body)
        with self._lock:
            self._stats.received += 1
            self._received[prompt] += 1
            fault = self._take_fault(raw)
            self._in_flight += 1
            self._stats.max_in_flight = max(self._stats.max_in_flight, self._in_flight)
        try:
            return await self._answer(writer, body, prompt, fault, anthropic)
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _answer(
        self,
        writer: asyncio.StreamWriter,
        body: dict[str, Any],
        prompt: str,
        fault: Fault | None,
        anthropic: bool,
    ) -> bool:
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault is not None:
            return await self._fault(writer, fault, anthropic, body)
        if self._hold_after is not None and self._stats.answered >= self._hold_after:
            return await self._hold(writer)
        if body.get("model") == "missing-model":
            return await _send(
                writer, 404, error_body(anthropic, 404, "The model `missing-model` does not exist")
            )
        make = anthropic_message if anthropic else openai_completion
        out = make(body, self.reply, self._prefixes)
        with self._lock:
            self._stats.answered += 1
            self._answered[prompt] += 1
        return await _send(writer, 200, out)

    def _take_fault(self, raw: bytes) -> Fault | None:
        for i, f in enumerate(self._faults):
            if f.match is None or f.match.encode() in raw:
                if f.times > 1:
                    self._faults[i] = f.model_copy(update={"times": f.times - 1})
                else:
                    del self._faults[i]
                self._stats.faults += 1
                return f
        return None

    async def _fault(
        self, writer: asyncio.StreamWriter, f: Fault, anthropic: bool, body: dict[str, Any]
    ) -> bool:
        if f.kind == "drop":
            return False
        if f.kind == "slow":
            await asyncio.sleep(f.delay)
            return await _send(writer, 200, openai_completion(body, self.reply, set()))
        if f.kind == "truncate":
            full = json.dumps(openai_completion(body, self.reply, set())).encode()
            return await _send_raw(writer, 200, full[: len(full) // 2], "application/json")
        if f.kind == "content_type":
            return await _send_raw(writer, 200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        status = int(f.kind)
        headers = {"retry-after": f"{f.retry_after:g}"} if f.retry_after is not None else {}
        return await _send(writer, status, error_body(anthropic, status, f"injected {status}"), headers)

    async def _hold(self, writer: asyncio.StreamWriter) -> bool:
        with self._lock:
            self._stats.held += 1
        assert self._release is not None
        await self._release.wait()
        return False  # close without an answer

    async def _control(self, writer: asyncio.StreamWriter, method: str, path: str, raw: bytes) -> bool:
        if path == "/_stats":
            return await _send(writer, 200, self.stats.model_dump())
        if path == "/_faults" and method == "POST":
            self.inject(*(Fault.model_validate(f) for f in json.loads(raw)))
            return await _send(writer, 200, {"ok": True})
        if path == "/_reset" and method == "POST":
            self.reset()
            return await _send(writer, 200, {"ok": True})
        return await _send(writer, 404, {"error": {"message": f"no control route {path}"}})


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return method, path, body


async def _send(
    writer: asyncio.StreamWriter, status: int, obj: Any, headers: dict[str, str] | None = None
) -> bool:
    return await _send_raw(writer, status, json.dumps(obj).encode(), "application/json", headers)


async def _send_raw(
    writer: asyncio.StreamWriter, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None
) -> bool:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\ncontent-type: {ctype}\r\n"
        f"content-length: {len(data)}\r\n{extra}\r\n"
    )
    writer.write(head.encode("latin-1") + data)
    await writer.drain()
    return True


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
_REASONS |= {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


@contextmanager
def fake_provider(**kwargs: Any) -> Iterator[FakeProvider]:
    """A started :class:`FakeProvider`, stopped on exit."""
    server = FakeProvider(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m harness.models.testing [--port P]``: serve in the foreground; prints ``port=P``."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    provider = FakeProvider(host=args.host, port=args.port)

    async def run() -> None:
        server = await provider.serve()
        print(f"port={provider.port}", flush=True)
        async with server:
            await server.serve_forever()

    with suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
