"""OpenAI and Anthropic backends against the fake servers: wire format, retries, errors, limits, cost."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest
from hosted_fakes import RecordingReply, closing, load_on

from harness.errors import ModelAuthError, ModelRequestError, ModelResponseError, ModelTransientError
from harness.models import HarnessModel, Message, Price, RetryPolicy, Usage, load
from harness.models.testing import FakeProvider, Fault

FAST = RetryPolicy(attempts=4, backoff_base=0.001, backoff_max=0.01)
PRICE = Price(input=1.0, output=2.0, cache_read=0.1, cache_write=1.25)

pytestmark = pytest.mark.usefixtures("close_models")


def connect(srv: FakeProvider, provider: str = "openai", **options: Any) -> HarnessModel:
    options.setdefault("retry", FAST)
    options.setdefault("cache", False)
    options.setdefault("timeout", 2.0)
    options.setdefault("price", PRICE)
    return load_on(srv, provider, **options)


def chat(text: str = "hello there") -> list[Message]:
    return [Message(role="system", content="be brief"), Message(role="user", content=text)]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


# -- wire format ---------------------------------------------------------------------------------------
async def test_openai_native_n_logprobs_usage_and_cost(fake_server: FakeProvider) -> None:
    m = connect(fake_server)
    out = await m.sample(chat(), n=3, seed=5, logprobs=True, temperature=0.7)
    assert [c.text for c in out] == [f"answer {digest('hello there')} s5 choice {i}" for i in range(3)]
    assert fake_server.stats.received == 1
    prompt_tokens = (2 + 3) + (2 + 3)  # words + 3 per message, as the fake counts
    assert sum(c.usage.input_tokens for c in out) == prompt_tokens
    assert all(c.usage.output_tokens == 5 and c.logprobs is not None and len(c.logprobs) == 5 for c in out)
    total = sum((c.usage for c in out), Usage())
    assert m.meter.total.cost_usd == pytest.approx(PRICE.cost(total))
    assert sum(c.cost_usd for c in out) == pytest.approx(PRICE.cost(total))


async def test_anthropic_parallel_n_and_prompt_cache_markers(fake_server: FakeProvider) -> None:
    m = connect(fake_server, "anthropic")
    long_system = Message(role="system", content="shared instructions " * 20, cache=True)
    msgs = [long_system, Message(role="user", content="task one")]
    first = await m.sample(msgs, n=1)
    assert first[0].usage.cache_write_tokens == 43 and first[0].usage.cache_read_tokens == 0
    more = await m.sample(msgs, n=3)
    assert fake_server.stats.received == 4  # n=3 is three requests
    assert all(c.usage.cache_read_tokens == 43 and c.usage.input_tokens == 5 for c in more)
    total = sum((c.usage for c in [*first, *more]), Usage())
    assert m.meter.total.cost_usd == pytest.approx(PRICE.cost(total))
    assert PRICE.cost(more[0].usage) < PRICE.cost(first[0].usage)  # cache reads are cheaper


async def test_anthropic_stop_sequences_map_to_stop(fake_server: FakeProvider) -> None:
    out = await connect(fake_server, "anthropic").sample(chat(), stop=["choice"])
    assert out[0].text.endswith(" ") and out[0].finish_reason == "stop"


# -- retries -------------------------------------------------------------------------------------------
FAULTS = ["429", "500", "503", "drop", "slow", "truncate", "content_type"]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("kind", FAULTS)
async def test_each_transient_fault_is_retried_once(
    fake_server: FakeProvider, provider: str, kind: str
) -> None:
    m = connect(fake_server, provider, timeout=0.5)
    fake_server.inject(Fault(kind=kind, delay=3.0, retry_after=0.01))  # type: ignore[arg-type]
    out = await m.sample(chat(), seed=1)
    assert out[0].text.startswith(f"answer {digest('hello there')}")
    stats = fake_server.stats
    assert (stats.received, stats.answered, stats.faults) == (2, 1, 1)
    assert m.attempts == 2 and m.meter.total.completions == 1


async def test_retry_after_is_honoured(fake_server: FakeProvider) -> None:
    m = connect(fake_server)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    m.sleep = record
    fake_server.inject(Fault(kind="429", retry_after=7.5), Fault(kind="503", retry_after=2))
    await m.sample(chat())
    assert len(waits) == 2 and waits[0] >= 7.5 and waits[1] >= 2.0


async def test_backoff_grows_and_transient_failures_give_up(fake_server: FakeProvider) -> None:
    m = connect(fake_server, retry=RetryPolicy(attempts=3, backoff_base=0.001, backoff_max=0.01))
    fake_server.inject(Fault(kind="500", times=10))
    with pytest.raises(ModelTransientError, match=r"openai:gpt-4o-mini: HTTP 500.*gave up after 3 attempts"):
        await m.sample(chat())
    assert fake_server.stats.received == 3


async def test_malformed_responses_are_retried_once_only(fake_server: FakeProvider) -> None:
    m = connect(fake_server)
    fake_server.inject(Fault(kind="truncate", times=2))
    with pytest.raises(ModelResponseError, match="openai:gpt-4o-mini"):
        await m.sample(chat())
    assert fake_server.stats.received == 2


@pytest.mark.parametrize(
    ("kind", "error", "needle"),
    [
        ("400", ModelRequestError, "rejected the request"),
        ("401", ModelAuthError, "OPENAI_API_KEY"),
        ("403", ModelAuthError, "--base-url"),
        ("404", ModelRequestError, "check the model name and --base-url"),
    ],
)
async def test_client_errors_are_not_retried(
    fake_server: FakeProvider, kind: str, error: type[Exception], needle: str
) -> None:
    m = connect(fake_server)
    fake_server.inject(Fault(kind=kind))  # type: ignore[arg-type]
    with pytest.raises(error, match=needle) as info:
        await m.sample(chat())
    assert "openai:gpt-4o-mini" in str(info.value)
    assert fake_server.stats.received == 1


async def test_anthropic_auth_error_names_its_env_var(fake_server: FakeProvider) -> None:
    fake_server.inject(Fault(kind="401"))
    with pytest.raises(ModelAuthError, match="ANTHROPIC_API_KEY"):
        await connect(fake_server, "anthropic").sample(chat())


async def test_missing_key_fails_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    m = closing(load("openai:gpt-4o-mini", cache=False))
    with pytest.raises(ModelAuthError, match=r"set OPENAI_API_KEY .*--base-url"):
        await m.sample(chat())


# -- limits, batches, cache ----------------------------------------------------------------------------
async def test_concurrency_limit_caps_requests_in_flight(fake_server: FakeProvider) -> None:
    fake_server.latency = 0.05
    m = connect(fake_server, max_concurrency=4)
    await asyncio.gather(*(m.sample(chat(f"task {i}")) for i in range(20)))
    assert fake_server.stats.max_in_flight == 4 and fake_server.stats.answered == 20


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_batch_under_faults_loses_and_duplicates_nothing(
    fake_server: FakeProvider, provider: str
) -> None:
    m = connect(fake_server, provider, timeout=0.5, max_concurrency=8)
    prompts = [f"problem number {i}" for i in range(40)]
    for i, kind in enumerate(FAULTS * 2):  # 14 faults, each aimed at one prompt
        fake_server.inject(Fault(kind=kind, match=f'problem number {i * 3}"', delay=3.0, retry_after=0.01))  # type: ignore[arg-type]
    results = await asyncio.gather(*(m.sample(chat(p), seed=i) for i, p in enumerate(prompts)))
    for p, out in zip(prompts, results, strict=True):
        assert len(out) == 1 and out[0].text.startswith(f"answer {digest(p)} ")
    stats = fake_server.stats
    assert stats.answered_by_prompt == dict.fromkeys(prompts, 1)
    assert stats.faults == 14 and stats.received == 40 + 14
    expected = sum((c.usage for out in results for c in out), Usage())
    assert m.meter.total.completions == 40 and m.meter.total.calls == 40
    assert m.meter.total.cost_usd == pytest.approx(PRICE.cost(expected))
    assert expected.output_tokens == 40 * 5


async def test_cache_means_zero_duplicate_calls_on_rerun(fake_server: FakeProvider, tmp_path: Path) -> None:
    cache = tmp_path / "responses.sqlite"
    prompts = [f"item {i}" for i in range(25)]
    first = connect(fake_server, cache=True, cache_path=cache)
    a = await asyncio.gather(*(first.sample(chat(p), n=2, seed=3) for p in prompts))
    assert fake_server.stats.received == 25
    rerun = connect(fake_server, cache=True, cache_path=cache)
    b = await asyncio.gather(*(rerun.sample(chat(p), n=2, seed=3) for p in prompts))
    assert fake_server.stats.received == 25  # nothing sent again
    assert [[c.text for c in o] for o in a] == [[c.text for c in o] for o in b]
    assert rerun.meter.total.paid_usd == 0 and rerun.meter.total.cost_usd == pytest.approx(
        first.meter.total.cost_usd
    )


async def test_cache_top_up_asks_only_for_the_missing_samples(
    fake_server: FakeProvider, tmp_path: Path
) -> None:
    fake_server.reply = asked = RecordingReply()
    cache = tmp_path / "c.sqlite"
    await connect(fake_server, cache=True, cache_path=cache).sample(chat(), n=8, seed=1)
    out = await connect(fake_server, cache=True, cache_path=cache).sample(chat(), n=10, seed=1)
    assert asked.asked_n == [8, 2]
    assert len({c.text for c in out}) == 10  # the top-up used a derived seed: no repeats
