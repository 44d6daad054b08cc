"""The ``openai:`` backend's two transports: harness's aiohttp client sends what the SDK's ``create``
sends, both map the same faults alike, and the answer parser copes with odd JSON.

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

from harness.errors import ModelResponseError
from harness.models import Message, RetryPolicy, load
from harness.models._fake_wire import default_reply, openai_completion
from harness.models._openai import OpenAIBackend, parse_chat_completion
from harness.models._openai_wire import ChatWire
from harness.models.testing import FakeProvider, Fault


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


@pytest.mark.parametrize("transport", ["aiohttp", "sdk"])
async def test_request_on_the_wire_and_parsed_answer(recorder: Recorder, transport: str) -> None:
    m = load(
        "openai:served-model",
        base_url=f"http://127.0.0.1:{recorder.port}/v1",
        api_key_env="WIRE_TEST_KEY",
        extra_body={"top_k": 20, "repetition_penalty": 1.1},
        transport=transport,
        cache=False,
    )
    try:
        msgs = [Message(role="system", content="be brief"), Message(role="user", content="hi there")]
        out = await m.sample(msgs, n=2, temperature=0.5, max_tokens=7, stop=["END"], seed=3, logprobs=True)
        backend = m.backend
        assert isinstance(backend, OpenAIBackend)
        assert isinstance(backend._client, ChatWire) == (transport == "aiohttp")
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


FAULTS = ["429", "500", "503", "drop", "slow", "truncate", "content_type"]


@pytest.mark.parametrize("kind", FAULTS)
async def test_sdk_transport_retries_each_transient_fault(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """The default transport's fault matrix is in test_models_http.py; the SDK's gets the same."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeProvider() as server:
        m = load(
            "openai:gpt-4o-mini",
            base_url=server.openai_base_url,
            transport="sdk",
            timeout=0.5,
            cache=False,
            retry=RetryPolicy(attempts=4, backoff_base=0.001, backoff_max=0.01),
        )
        try:
            server.inject(Fault(kind=kind, delay=3.0, retry_after=0.01))  # type: ignore[arg-type]
            out = await m.sample([Message(role="user", content="hello")], seed=1)
        finally:
            await m.aclose()
        assert out[0].text.startswith("answer ")
        assert (server.stats.received, server.stats.answered, server.stats.faults) == (2, 1, 1)


GOOD = {
    "model": "m",
    "choices": [
        {"index": 1, "message": {"content": "b"}, "finish_reason": "length"},
        {"index": 0, "message": {"content": None}, "finish_reason": "stop"},
    ],
    "usage": {"prompt_tokens": 10, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 4}},
}


def test_parser_orders_choices_and_reads_usage() -> None:
    out = parse_chat_completion(GOOD, "openai:m", 2)
    assert [(c.text, c.finish_reason) for c in out] == [("", "stop"), ("b", "length")]
    assert [c.usage.input_tokens for c in out] == [3, 3] and [c.usage.cache_read_tokens for c in out] == [
        2,
        2,
    ]
    assert sum(c.usage.output_tokens for c in out) == 4 and out[0].model == "openai:m"
    bare = parse_chat_completion({"choices": [{"message": {"content": "x"}}]}, "openai:m", 1)
    assert bare[0].text == "x" and bare[0].usage.input_tokens == 0 and bare[0].model == "openai:m"


@pytest.mark.parametrize(
    "answer",
    [
        "<html>busy</html>",
        None,
        [GOOD],
        {"choices": "none"},
        {**GOOD, "choices": GOOD["choices"][:1]},
        {**GOOD, "choices": ["a", "b"]},
        {**GOOD, "usage": {"prompt_tokens": "many"}},
        {"choices": [{"message": {"content": 3}}, {"message": {"content": "b"}}]},
        {"choices": [{"logprobs": {"content": [{"token": "a"}]}}] * 2},
    ],
)
def test_parser_rejects_malformed_answers(answer: Any) -> None:
    with pytest.raises(ModelResponseError, match="openai:m: malformed response"):
        parse_chat_completion(answer, "openai:m", 2)


@pytest.mark.parametrize("transport", ["aiohttp", "sdk"])
async def test_proxy_from_the_environment(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{recorder.port}")
    m = load(
        "openai:served-model",
        base_url="http://models.invalid/v1",
        api_key_env="WIRE_TEST_KEY",
        transport=transport,
        cache=False,
    )
    try:
        out = await m.sample([Message(role="user", content="via proxy")])
    finally:
        await m.aclose()
    [req] = recorder.requests
    assert req.path == "http://models.invalid/v1/chat/completions"  # absolute: sent to the proxy
    assert req.headers["authorization"] == "Bearer sk-wire" and out[0].text.startswith("answer ")
