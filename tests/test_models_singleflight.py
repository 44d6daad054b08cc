"""Single flight: identical requests in flight at once reach the provider once (real HTTP, OpenAI wire).

The wrapper runs against :class:`FakeProvider` on 127.0.0.1, which counts what it receives. Calls
started together with ``asyncio.gather`` each run up to their first network wait in turn, so the first
one leads the request and the later identical ones find it in flight.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hosted_fakes import RecordingReply, load_on

from harness.errors import ModelRequestError, ModelTransientError
from harness.models import Completion, HarnessModel, Message, Price, RetryPolicy
from harness.models.testing import FakeProvider, Fault

FAST = RetryPolicy(attempts=4, backoff_base=0.001, backoff_max=0.01)
PRICE = Price(input=1.0, output=2.0)
SAME = {"seed": 1, "temperature": 0.0}
"""An identical, cacheable request: seeded, so every call asks for sample 0 of one key."""

pytestmark = pytest.mark.usefixtures("close_models")


def connect(srv: FakeProvider, tmp_path: Path, provider: str = "openai", **options: Any) -> HarnessModel:
    options.setdefault("retry", FAST)
    options.setdefault("cache_path", tmp_path / "responses.sqlite")
    options.setdefault("timeout", 5.0)
    options.setdefault("price", PRICE)
    return load_on(srv, provider, **options)


def chat(text: str = "hello there") -> list[Message]:
    return [Message(role="system", content="be brief"), Message(role="user", content=text)]


def texts(outs: list[list[Completion]]) -> list[list[str]]:
    return [[c.text for c in out] for out in outs]


async def assert_nothing_in_flight(m: HarnessModel) -> None:
    assert m.cache is not None and len(m.cache.in_flight()) == 0


# -- merging ---------------------------------------------------------------------------------------------
async def test_eight_identical_requests_reach_the_server_once(
    fake_server: FakeProvider, tmp_path: Path
) -> None:
    m = connect(fake_server, tmp_path)
    outs = await asyncio.gather(*(m.sample(chat(), **SAME) for _ in range(8)))
    assert fake_server.stats.received == 1
    assert len({c.text for out in outs for c in out}) == 1
    assert [c.cached for out in outs for c in out] == [False] + [True] * 7
    total = m.meter.total
    assert (total.calls, total.requests, total.completions, total.cached_completions) == (8, 1, 8, 7)
    assert m.merged == 7
    one = outs[0][0].cost_usd
    assert one > 0
    # Paid once; ``dollars`` is the cost of the work, merged samples included, as for cache hits.
    assert total.paid_usd == pytest.approx(one) and total.cost_usd == pytest.approx(8 * one)
    await assert_nothing_in_flight(m)
    again = await m.sample(chat(), **SAME)  # landed in the cache: a plain hit now
    assert again[0].cached and again[0].text == outs[0][0].text and fake_server.stats.received == 1


async def test_distinct_requests_are_not_merged(fake_server: FakeProvider, tmp_path: Path) -> None:
    m = connect(fake_server, tmp_path)
    # Unseeded calls draw their own sample indices: eight different samples, eight requests.
    unseeded = await asyncio.gather(*(m.sample(chat(), temperature=0.7) for _ in range(8)))
    assert fake_server.stats.received == 8 and len({o[0].text for o in unseeded}) == 8
    seeds = await asyncio.gather(*(m.sample(chat(), seed=s, temperature=0.7) for s in range(8)))
    assert fake_server.stats.received == 16 and len({o[0].text for o in seeds}) == 8
    prompts = await asyncio.gather(*(m.sample(chat(f"task {i}"), **SAME) for i in range(8)))
    assert fake_server.stats.received == 24 and len({o[0].text for o in prompts}) == 8
    params = await asyncio.gather(*(m.sample(chat(), seed=100, temperature=t / 10) for t in range(8)))
    assert fake_server.stats.received == 32 and len(params) == 8
    assert m.merged == 0 and m.meter.total.cached_completions == 0
    await assert_nothing_in_flight(m)


async def test_no_cache_means_no_merging(fake_server: FakeProvider, tmp_path: Path) -> None:
    m = connect(fake_server, tmp_path, cache=False)
    outs = await asyncio.gather(*(m.sample(chat(), **SAME) for _ in range(8)))
    assert fake_server.stats.received == 8 and len({o[0].text for o in outs}) == 1  # seeded: same text
    assert m.merged == 0 and m.meter.total.requests == 8 and m.meter.total.cached_completions == 0


async def test_a_larger_n_awaits_the_overlap_and_asks_only_for_the_rest(
    fake_server: FakeProvider, tmp_path: Path
) -> None:
    fake_server.reply = asked = RecordingReply()
    m = connect(fake_server, tmp_path)
    four, six = await asyncio.gather(m.sample(chat(), n=4, seed=1), m.sample(chat(), n=6, seed=1))
    assert sorted(asked.asked_n) == [2, 4]
    assert [c.text for c in six[:4]] == [c.text for c in four] and len({c.text for c in six}) == 6
    assert [c.cached for c in six] == [True] * 4 + [False] * 2 and m.merged == 4


async def test_models_on_one_cache_file_merge_with_each_other(
    fake_server: FakeProvider, tmp_path: Path
) -> None:
    a, b = connect(fake_server, tmp_path), connect(fake_server, tmp_path)
    view = a.for_stage("search")
    outs = await asyncio.gather(*(x.sample(chat(), **SAME) for x in (a, b, view, b)))
    assert fake_server.stats.received == 1 and len({o[0].text for o in outs}) == 1
    assert a.merged + b.merged == 3
    other = connect(fake_server, tmp_path / "elsewhere")  # another file: its own requests
    await asyncio.gather(other.sample(chat(), **SAME), a.sample(chat("new"), **SAME))
    assert fake_server.stats.received == 3


async def test_anthropic_parallel_n_merges_per_sample(fake_server: FakeProvider, tmp_path: Path) -> None:
    m = connect(fake_server, tmp_path, "anthropic")
    outs = await asyncio.gather(*(m.sample(chat(), n=3, seed=4) for _ in range(5)))
    assert fake_server.stats.received == 3  # n=3 is three requests, sent once for five callers
    assert len({tuple(t) for t in texts(outs)}) == 1 and m.merged == 12


# -- a leader that fails or goes away --------------------------------------------------------------------
async def test_leader_retrying_a_500_serves_its_followers(fake_server: FakeProvider, tmp_path: Path) -> None:
    m = connect(fake_server, tmp_path)
    fake_server.inject(Fault(kind="500"))
    outs = await asyncio.gather(*(m.sample(chat(), **SAME) for _ in range(8)))
    stats = fake_server.stats
    assert (stats.received, stats.faults, stats.answered) == (2, 1, 1)
    assert len({o[0].text for o in outs}) == 1 and m.merged == 7 and m.meter.total.requests == 1


async def test_followers_of_a_leader_out_of_retries_try_once_more(
    fake_server: FakeProvider, tmp_path: Path
) -> None:
    m = connect(fake_server, tmp_path, retry=RetryPolicy(attempts=2, backoff_base=0.001, backoff_max=0.01))
    fake_server.inject(Fault(kind="500", times=2))  # the leader's two attempts
    results = await asyncio.gather(*(m.sample(chat(), **SAME) for _ in range(8)), return_exceptions=True)
    assert isinstance(results[0], ModelTransientError)
    rest = [r for r in results[1:] if isinstance(r, list)]
    assert len(rest) == 7 and len({o[0].text for o in rest}) == 1
    # One follower led a second request (with its own retries); the other six awaited it.
    assert (fake_server.stats.received, fake_server.stats.answered) == (3, 1) and m.merged == 6
    await assert_nothing_in_flight(m)


async def test_a_second_failed_flight_is_final_for_its_followers(
    fake_server: FakeProvider, tmp_path: Path
) -> None:
    m = connect(fake_server, tmp_path, retry=RetryPolicy(attempts=2, backoff_base=0.001, backoff_max=0.01))
    fake_server.inject(Fault(kind="503", times=4))
    results = await asyncio.gather(*(m.sample(chat(), **SAME) for _ in range(8)), return_exceptions=True)
    assert all(isinstance(r, ModelTransientError) for r in results)
    assert fake_server.stats.received == 4 and fake_server.stats.answered == 0  # two flights, not eight
    await assert_nothing_in_flight(m)


async def test_a_non_retryable_error_is_every_followers_error(
    fake_server: FakeProvider, tmp_path: Path
) -> None:
    m = connect(fake_server, tmp_path)
    fake_server.inject(Fault(kind="400"))
    results = await asyncio.gather(*(m.sample(chat(), **SAME) for _ in range(8)), return_exceptions=True)
    assert all(isinstance(r, ModelRequestError) for r in results)
    assert fake_server.stats.received == 1
    await assert_nothing_in_flight(m)


async def _wait_until_held(fake_server: FakeProvider, count: int) -> None:
    for _ in range(2000):
        if fake_server.stats.held >= count:
            return
        await asyncio.sleep(0.005)
    pytest.fail(f"the server never held {count} request(s)")


async def test_cancelled_leader_hands_over_to_a_follower(fake_server: FakeProvider, tmp_path: Path) -> None:
    m = connect(fake_server, tmp_path)
    fake_server.hold_after(0)  # the leader's request waits, unanswered
    leader = asyncio.create_task(m.sample(chat(), **SAME))
    await _wait_until_held(fake_server, 1)
    followers = [asyncio.create_task(m.sample(chat(), **SAME)) for _ in range(7)]
    await asyncio.sleep(0)  # each follower finds the leader's request in flight and awaits it
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    fake_server.drop_held()
    # wait_for only guards against a hang (the bug this test is about); nothing here is timed.
    outs = await asyncio.wait_for(asyncio.gather(*followers), 60)
    assert len({o[0].text for o in outs}) == 1
    assert (fake_server.stats.received, fake_server.stats.answered) == (2, 1)
    assert m.merged == 6 and m.meter.total.requests == 1
    await assert_nothing_in_flight(m)


async def test_cancelled_follower_leaves_the_flight_alone(fake_server: FakeProvider, tmp_path: Path) -> None:
    m = connect(fake_server, tmp_path)
    fake_server.hold_after(0)
    tasks = [asyncio.create_task(m.sample(chat(), **SAME)) for _ in range(4)]
    await _wait_until_held(fake_server, 1)
    tasks[2].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[2]
    fake_server.drop_held()  # the held request is dropped: the leader retries it, the followers still wait
    outs = await asyncio.wait_for(asyncio.gather(tasks[0], tasks[1], tasks[3]), 60)
    assert len({o[0].text for o in outs}) == 1
    assert fake_server.stats.answered == 1 and m.merged == 2
    await assert_nothing_in_flight(m)
