"""The search budget: what the meter counts from a real backend, and what it lets through.

The hosted model is the ``openai:`` backend talking to :class:`harness.models.testing.FakeProvider` on
127.0.0.1, which speaks OpenAI's wire format and caches repeated prompt prefixes as OpenAI does
(``prompt_tokens_details.cached_tokens``); the other searches use the scripted ladder model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from hosted_fakes import load_on
from test_search_fakes import ScriptedModel, ladder_policy, make_task

from harness.errors import BudgetExceeded
from harness.models._types import Message
from harness.models.testing import FakeProvider
from harness.search import BudgetLimits, BudgetMeter, LocalExecutor, Spend, make_strategy

pytestmark = pytest.mark.usefixtures("close_models")

TASK = make_task().public_view()


def _prompt_tokens(messages: Sequence[Message]) -> int:
    """What the fake server counts for a prompt: words plus 3 per message."""
    return sum(len(m.content.split()) + 3 for m in messages)


async def test_prompt_tokens_served_from_the_providers_cache_are_counted(fake_server: FakeProvider) -> None:
    """Every request of best-of-N repeats the system prompt, which the provider serves from its prompt
    cache from the second request on: those tokens are still input tokens of the search (the model
    read them), so the meter counts them and a token limit stops the search where it should."""
    model = load_on(fake_server, cache=False)
    meter = BudgetMeter(BudgetLimits(programs=3))
    result = await make_strategy("best_of_n").search(TASK, model, LocalExecutor(), meter, seed=0)
    per_call = _prompt_tokens(meter.records[0].messages)
    assert meter.spent.calls == 3 and len(result.tree) == 3
    assert [r.input_tokens for r in meter.records] == [per_call] * 3
    assert meter.spent.input_tokens == 3 * per_call == model.meter.total.flat()["input_tokens"]

    # A token limit two prompts wide is reached after two calls, cached prefix or not.
    model2 = load_on(fake_server, cache=False)
    meter2 = BudgetMeter(BudgetLimits(tokens=2 * per_call))
    result2 = await make_strategy("best_of_n").search(TASK, model2, LocalExecutor(), meter2, seed=1)
    assert result2.stopped == "budget" and meter2.spent.calls == 2


async def test_under_a_calls_limit_no_call_is_spent_that_no_program_can_follow() -> None:
    """A reflection (or directions, insights, tests) call is only sent when a program call still fits
    after it: under ``calls=B`` the last call is never a reflection that can never be implemented."""
    meter = BudgetMeter(BudgetLimits(calls=3))
    model = ScriptedModel(ladder_policy(p=0.0))
    msgs = [Message(role="user", content="hi")]
    await meter.sample(model, msgs, purpose="reflection")  # 1 of 3: a program can still follow
    await meter.sample(model, msgs, purpose="program")
    with pytest.raises(BudgetExceeded):
        await meter.sample(model, msgs, purpose="reflection")  # 3 of 3 would leave no program call
    await meter.sample(model, msgs, purpose="program")  # the last call goes to a program
    assert meter.spent.calls == 3 and meter.spent.programs == 2

    for limit in (6, 7):
        line = BudgetMeter(BudgetLimits(calls=limit))
        result = await make_strategy("line").search(
            TASK, ScriptedModel(ladder_policy(p=0.0)), LocalExecutor(), line, seed=0
        )
        assert result.stopped == "budget"
        # seed, then (reflection, refinement) pairs: 3 programs in 5 calls at 6 as at 5, 4 in 7 at 7
        assert line.calls_by_purpose() == {"program": (limit + 1) // 2, "reflection": (limit - 1) // 2}
        assert line.records[-1].purpose == "program"


async def test_answers_from_the_response_cache_are_spent_but_not_paid(
    fake_server: FakeProvider, tmp_path: Path
) -> None:
    """A search repeated over the response cache (as a resumed unit replays its killed attempt):
    its budget sees every call, as the first search's did, so it stops at the same place; what it paid
    leaves out the answers the cache served and holds exactly the requests the server answered."""
    model = load_on(fake_server, cache=True, cache_path=tmp_path / "responses.sqlite")
    first = BudgetMeter(BudgetLimits(programs=2))
    await make_strategy("best_of_n").search(TASK, model, LocalExecutor(), first, seed=0)
    assert first.paid == first.spent and fake_server.stats.answered == 2

    again = BudgetMeter(BudgetLimits(programs=3))
    await make_strategy("best_of_n").search(TASK, model, LocalExecutor(), again, seed=0)
    assert fake_server.stats.answered == 3  # the first two programs came from the cache
    assert [r.cached for r in again.records] == [1, 1, 0]
    assert again.spent.calls == 3 and again.spent.programs == 3
    third = again.records[2]
    assert again.paid == Spend(
        programs=1,
        calls=1,
        input_tokens=third.input_tokens,
        output_tokens=third.output_tokens,
        cost_usd=third.cost_usd,
    )
    assert again.paid_by_purpose() == {"program": again.paid}
    rest, was = again.spent - again.paid, first.spent
    assert (rest.calls, rest.programs, rest.input_tokens, rest.output_tokens) == (
        was.calls,
        was.programs,
        was.input_tokens,
        was.output_tokens,
    )
    assert rest.cost_usd == pytest.approx(was.cost_usd)
