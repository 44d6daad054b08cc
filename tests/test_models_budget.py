"""Budgets and the meter under concurrency and failure, over real HTTP (the fake providers).

A budget is checked before each call; calls in flight have not been recorded yet, so the check must
count them too, or N concurrent calls all pass a limit that only one of them fits under.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hosted_fakes import load_on

from harness.errors import BudgetExceeded, ModelRequestError
from harness.models import Budget, BudgetLimits, CostMeter, HarnessModel, Message, Price, RetryPolicy
from harness.models.testing import FakeProvider, Fault

FAST = RetryPolicy(attempts=2, backoff_base=0.001, backoff_max=0.01)
PRICE = Price(input=1.0, output=2.0)

pytestmark = pytest.mark.usefixtures("close_models")


def connect(srv: FakeProvider, provider: str = "openai", **options: Any) -> HarnessModel:
    options.setdefault("retry", FAST)
    options.setdefault("cache", False)
    options.setdefault("timeout", 5.0)
    options.setdefault("price", PRICE)
    return load_on(srv, provider, **options)


def chat(text: str) -> list[Message]:
    return [Message(role="user", content=text)]


async def sample_all(model: HarnessModel, k: int, **kw: Any) -> list[Any]:
    return await asyncio.gather(
        *(model.sample(chat(f"prompt {i}"), **kw) for i in range(k)), return_exceptions=True
    )


async def test_calls_limit_is_exact_under_concurrency(fake_server: FakeProvider) -> None:
    budget = Budget(BudgetLimits(calls=2))
    m = connect(fake_server, budget=budget)
    out = await sample_all(m, 10)
    answered = [r for r in out if isinstance(r, list)]
    refused = [r for r in out if isinstance(r, BudgetExceeded)]
    assert len(answered) == 2 and len(refused) == 8
    assert fake_server.stats.received == 2
    assert budget.spent.calls == 2


async def test_dollar_limit_is_overshot_by_at_most_one_call_under_concurrency(
    fake_server: FakeProvider,
) -> None:
    max_tokens = 16
    # One call's worst case: its prompt plus max_tokens of output; the limit fits about three.
    worst = (20 + 2 * max_tokens) / 1_000_000
    cap = 3 * worst
    budget = Budget(BudgetLimits(dollars=cap))
    m = connect(fake_server, budget=budget)
    out = await sample_all(m, 40, max_tokens=max_tokens)
    answered = [r for r in out if isinstance(r, list)]
    assert all(isinstance(r, list | BudgetExceeded) for r in out)
    assert answered, "the limit fits some calls"
    one_call = max(r[0].cost_usd for r in answered)
    assert budget.spent.cost_usd < cap + worst
    assert budget.spent.cost_usd <= cap + one_call + 1e-12
    assert fake_server.stats.received == len(answered)


async def test_a_failed_call_in_flight_frees_its_place_for_a_waiting_one(fake_server: FakeProvider) -> None:
    fake_server.inject(Fault(kind="400", match="prompt 0"))
    budget = Budget(BudgetLimits(calls=1))
    m = connect(fake_server, budget=budget)
    first = asyncio.ensure_future(m.sample(chat("prompt 0")))
    await asyncio.sleep(0)  # the first call is admitted and in flight
    second = await m.sample(chat("prompt 1"))
    with pytest.raises(ModelRequestError):
        await first
    assert len(second) == 1 and budget.spent.calls == 1


async def test_a_shared_meter_counts_calls_in_flight_of_every_model(fake_server: FakeProvider) -> None:
    meter = CostMeter()
    budget = Budget(BudgetLimits(calls=3), meter=meter)
    a = connect(fake_server, budget=budget, stage="a")
    b = connect(fake_server, "anthropic", budget=budget, stage="b")
    out = await asyncio.gather(sample_all(a, 5), sample_all(b, 5))
    answered = sum(isinstance(r, list) for part in out for r in part)
    assert answered == 3 and meter.total.calls == 3 and fake_server.stats.received == 3


# -- a failed call's answered requests are paid for ---------------------------------------------------
@pytest.mark.parametrize("cache", [False, True])
async def test_a_failed_call_records_the_requests_that_were_answered(
    fake_server: FakeProvider, cache: bool, tmp_path: Any
) -> None:
    """Anthropic's n samples are n requests: when one fails for good, the others were still paid."""
    meter = CostMeter()
    budget = Budget(BudgetLimits(dollars=1.0), meter=meter)
    m = connect(fake_server, "anthropic", budget=budget, cache=cache, cache_path=tmp_path / "c.sqlite")
    fake_server.inject(Fault(kind="400"))
    with pytest.raises(ModelRequestError):
        await m.sample(chat("three samples"), n=3, seed=1)
    assert fake_server.stats.answered == 2
    spent = meter.total
    assert spent.calls == 0 and spent.requests == 2 and spent.completions == 2
    # the fake prices each answer alike: 2 answers of (input + 2 * output) / 1e6 dollars
    ok = await connect(fake_server, "anthropic", cache=False).sample(chat("three samples"), seed=1)
    assert spent.paid_usd == pytest.approx(2 * ok[0].cost_usd) and spent.paid_usd > 0
    assert spent.cost_usd == pytest.approx(spent.paid_usd)
