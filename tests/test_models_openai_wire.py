"""The ``openai:`` backend's request on the wire: its fast path sends what the SDK's ``create`` sends.

A recording HTTP/1.1 server on a real socket keeps every request (path, headers, JSON body) and answers
in the OpenAI wire format (the fake provider's bodies).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.models import Message, load
from harness.models import _openai as openai_backend
from harness.models._fake_wire import default_reply, openai_completion


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Recorder:
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if x)}
                body = json.loads(await reader.readexactly(int(headers["content-length"])))
                self.requests.append(Recorded(path, headers, body))
                data = json.dumps(openai_completion(body, default_reply, set())).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(data)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed its keep-alive connection
        finally:
            writer.close()


@pytest.fixture
async def recorder(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Recorder]:
    monkeypatch.setenv("WIRE_TEST_KEY", "sk-wire")
    rec = Recorder()
    server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    rec.port = server.sockets[0].getsockname()[1]
    async with server:
        yield rec


@pytest.mark.parametrize("route", ["fast", "sdk_create"])
async def test_request_on_the_wire_and_parsed_answer(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    if route == "sdk_create":  # what an SDK without the fast path's internals gets
        monkeypatch.setattr(openai_backend, "_fast_post_options", lambda extra_body: None)
    m = load(
        "openai:served-model",
        base_url=f"http://127.0.0.1:{recorder.port}/v1",
        api_key_env="WIRE_TEST_KEY",
        extra_body={"top_k": 20, "repetition_penalty": 1.1},
        cache=False,
    )
    try:
        msgs = [Message(role="system", content="be brief"), Message(role="user", content="hi there")]
        out = await m.sample(msgs, n=2, temperature=0.5, max_tokens=7, stop=["END"], seed=3, logprobs=True)
        backend = m.backend
        assert isinstance(backend, openai_backend.OpenAIBackend)
        assert (backend._post_options is not None) == (route == "fast")
    finally:
        await m.aclose()
    [req] = recorder.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-wire"
    assert req.headers["content-type"] == "application/json"
    assert req.body == {
        "model": "served-model",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}],
        "n": 2,
        "temperature": 0.5,
        "top_p": 1.0,
        "max_tokens": 7,
        "stop": ["END"],
        "seed": 3,
        "logprobs": True,
        "top_k": 20,
        "repetition_penalty": 1.1,
    }
    assert [c.text.split()[-1] for c in out] == ["0", "1"]
    assert all(c.logprobs is not None and len(c.logprobs) == c.usage.output_tokens for c in out)
    assert sum(c.usage.input_tokens for c in out) == (2 + 3) + (2 + 3)


async def test_reasoning_models_get_max_completion_tokens(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = load(
        "openai:o3-mini",
        base_url=f"http://127.0.0.1:{recorder.port}/v1",
        api_key_env="WIRE_TEST_KEY",
        max_tokens_field="max_completion_tokens",
        cache=False,
    )
    try:
        await m.sample([Message(role="user", content="hi")], max_tokens=9)
    finally:
        await m.aclose()
    [req] = recorder.requests
    assert req.body["max_completion_tokens"] == 9 and "max_tokens" not in req.body
    assert "stop" not in req.body and "seed" not in req.body and "logprobs" not in req.body
