"""The search budget against real backends and edge cases of the meter's rules.

Searches here talk to the ``openai:`` backend through :class:`harness.models.testing.FakeProvider` on
127.0.0.1, which speaks OpenAI's wire format and caches repeated prompt prefixes as OpenAI does
(``prompt_tokens_details.cached_tokens``).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hosted_fakes import load_on
from test_search_fakes import make_task

from harness.models._types import Message
from harness.models.testing import FakeProvider
from harness.search import BudgetLimits, BudgetMeter, LocalExecutor, make_strategy

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
