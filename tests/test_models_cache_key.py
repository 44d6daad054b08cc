"""The response cache's key covers every request field that changes the answer, backend options too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hosted_fakes import load_on

from harness.models import HarnessModel, Message, SampleParams, cache_key
from harness.models.testing import FakeProvider

pytestmark = pytest.mark.usefixtures("close_models")

CHAT = [Message(role="user", content="write fib")]


def connect(srv: FakeProvider, path: Path, provider: str = "openai", **options: Any) -> HarnessModel:
    return load_on(srv, provider, cache=True, cache_path=path, **options)


@pytest.mark.parametrize(
    ("provider", "extra"),
    [
        ("openai", {"reasoning_effort": "high"}),
        ("openai", {"top_k": 5}),
        ("anthropic", {"thinking": {"type": "enabled", "budget_tokens": 1024}}),
    ],
)
async def test_extra_body_is_part_of_the_cache_key(
    fake_server: FakeProvider, tmp_path: Path, provider: str, extra: dict[str, Any]
) -> None:
    path = tmp_path / "responses.sqlite"
    plain = await connect(fake_server, path, provider).sample(CHAT, seed=3)
    assert fake_server.stats.received == 1
    other = await connect(fake_server, path, provider, extra_body=extra).sample(CHAT, seed=3)
    assert fake_server.stats.received == 2, "a request with other extra_body was served another's answer"
    assert not other[0].cached and not plain[0].cached
    again = await connect(fake_server, path, provider, extra_body=dict(extra)).sample(CHAT, seed=3)
    assert fake_server.stats.received == 2 and again[0].cached and again[0].text == other[0].text


async def test_models_without_backend_options_keep_their_keys(
    fake_server: FakeProvider, tmp_path: Path
) -> None:
    """Rows written before backend options were keyed stay reachable: no options, the same key."""
    path = tmp_path / "responses.sqlite"
    m = connect(fake_server, path)
    await m.sample(CHAT, seed=3)
    assert m.cache is not None
    old_key = cache_key(m.name, CHAT, SampleParams(seed=3))
    assert m.cache.get(old_key, [0])


def test_vllm_random_weights_and_prompt_rendering_key_apart(tmp_path: Path) -> None:
    """A `load_format="dummy"` smoke run must not feed a real run of the same path from the cache."""
    from harness.models import load

    def key(**options: Any) -> str:
        m = load("vllm:/models/tiny", cache=False, **options)
        return cache_key(m.name, CHAT, SampleParams(seed=1), getattr(m.backend, "cache_options", None))

    real = key()
    assert real == cache_key("vllm:/models/tiny", CHAT, SampleParams(seed=1))
    assert key(load_format="dummy") != real
    assert key(chat_template="{{ messages }}") != real
    assert key(gpu_memory_utilization=0.2) == real  # engine sizing does not change answers
