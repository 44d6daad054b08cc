"""The model layer without a network: specs, pricing, budget and meter, the response cache, scripted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import BudgetExceeded, ConfigError, ModelRequestError
from harness.models import (
    Budget,
    BudgetLimits,
    Completion,
    CostMeter,
    HarnessModel,
    Message,
    Price,
    Usage,
    default_pricing,
    load,
)

USER = [Message(role="user", content="write a function")]


def echo(messages: list[Message], index: int) -> str:
    return f"sample {index}: {messages[-1].content}"


def scripted(tmp_path: Path, **options: object) -> HarnessModel:
    return load(echo, cache_path=tmp_path / "cache.sqlite", **options)


# -- specs ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("gpt-4o", "use PROVIDER:MODEL"),
        ("azure:gpt-4o", "use PROVIDER:MODEL"),
        ("openai:", "names no model"),
        ("replay:/no/such/file.jsonl", "does not exist"),
    ],
)
def test_bad_specs_name_the_fix(spec: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load(spec)


def test_unknown_option_is_rejected_with_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"tensor_paralel_size.*valid options: .*base_url"):
        load("openai:gpt-4o-mini", tensor_paralel_size=2)


def test_spec_builds_the_right_backend_and_price(tmp_path: Path) -> None:
    m = load(
        "openai:gpt-4o-mini-2024-07-18", base_url="http://127.0.0.1:9/v1", cache_path=tmp_path / "c.sqlite"
    )
    assert m.name == "openai:gpt-4o-mini-2024-07-18"
    assert m.price == Price(input=0.15, output=0.60, cache_read=0.075)
    assert m.cache is not None and m.cache.path == tmp_path / "c.sqlite"
    a = load("anthropic:claude-sonnet-4-5-20250929", cache=False)
    assert a.cache is None and a.price.cache_write == 3.75
    s = load(echo)
    assert s.cache is None and s.price == Price()


def test_cache_dir_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "hc"))
    m = load("openai:gpt-4o", base_url="http://127.0.0.1:9/v1")
    assert m.cache is not None and m.cache.path == tmp_path / "hc" / "responses.sqlite"


# -- pricing -------------------------------------------------------------------------------------------
def test_price_of_usage_counts_all_four_kinds() -> None:
    price = default_pricing().lookup("anthropic", "claude-sonnet-4-5")
    usage = Usage(
        input_tokens=1_000_000, output_tokens=100_000, cache_read_tokens=2_000_000, cache_write_tokens=10
    )
    assert price.cost(usage) == pytest.approx(3.0 + 1.5 + 0.6 + 10 * 3.75 / 1e6)


def test_pricing_file_overrides_and_extends(tmp_path: Path) -> None:
    f = tmp_path / "prices.toml"
    f.write_text('[openai."gpt-4o"]\ninput = 1.0\noutput = 2.0\n[openai."my-model"]\ninput = 9.0\n')
    table = default_pricing().with_file(f)
    assert table.lookup("openai", "gpt-4o").input == 1.0
    assert table.lookup("openai", "my-model-v2").input == 9.0
    assert table.lookup("openai", "gpt-4o-mini").input == 0.15  # untouched
    assert table.lookup("openai", "unknown-model") == Price()


# -- meter and budget ----------------------------------------------------------------------------------
def _c(inp: int, out: int, cost: float, cached: bool = False) -> Completion:
    return Completion(
        text="x", usage=Usage(input_tokens=inp, output_tokens=out), cost_usd=cost, cached=cached
    )


def test_meter_sums_per_stage_and_run() -> None:
    meter = CostMeter()
    meter.record("tests", [_c(10, 5, 0.01), _c(10, 7, 0.02)], requests=1)
    meter.record("edits", [_c(100, 50, 0.5, cached=True)], requests=0)
    meter.count("programs", 3, stage="search")
    s = meter.summary()
    assert s["tests"]["calls"] == 1 and s["tests"]["output_tokens"] == 12
    assert s["tests"]["cost_usd"] == pytest.approx(0.03)
    assert s["edits"]["cached_completions"] == 1 and s["edits"]["paid_usd"] == 0
    assert s["total"]["cost_usd"] == pytest.approx(0.53) and s["total"]["paid_usd"] == pytest.approx(0.03)
    assert s["total"]["programs"] == 3 and s["total"]["tokens"] == 182


async def test_budget_stops_the_call_after_the_limit(tmp_path: Path) -> None:
    budget = Budget(BudgetLimits(calls=3))
    m = scripted(tmp_path, budget=budget)
    for _ in range(3):
        await m.sample(USER)
    with pytest.raises(BudgetExceeded, match="calls limit 3") as info:
        await m.sample(USER)
    assert info.value.spent["calls"] == 3
    assert m.backend.index == 3  # type: ignore[attr-defined]  # the refused call reached no backend


async def test_token_budget_overshoots_by_at_most_one_call(tmp_path: Path) -> None:
    budget = Budget(BudgetLimits(output_tokens=10))
    m = scripted(tmp_path, budget=budget)
    with pytest.raises(BudgetExceeded) as info:
        for _ in range(100):
            await m.sample(USER)
    spent = info.value.spent["output_tokens"]
    assert 10 <= spent < 10 + 6  # one reply is about five tokens


async def test_one_meter_shared_by_models_and_budgets_with_programs(tmp_path: Path) -> None:
    meter = CostMeter()
    a = load(echo, meter=meter, stage="tests")
    b = load(echo, meter=meter).for_stage("search")
    await a.sample(USER, n=2)
    await b.sample(USER, n=3)
    search_budget = Budget(BudgetLimits(programs=4), meter=meter, stage="search")
    meter.count("programs", 3, stage="search")
    search_budget.check(programs=1)
    with pytest.raises(BudgetExceeded, match="programs"):
        search_budget.check(programs=2)
    assert meter.total.completions == 5 and meter.total.calls == 2
    assert meter.stage("tests").completions == 2 and meter.stage("search").programs == 3


# -- the response cache --------------------------------------------------------------------------------
async def test_cache_serves_a_rerun_without_calling_the_backend(tmp_path: Path) -> None:
    first = scripted(tmp_path, cache=True)
    out1 = await first.sample(USER, n=4, seed=7, temperature=0.8)
    second = scripted(tmp_path, cache=True)
    out2 = await second.sample(USER, n=4, seed=7, temperature=0.8)
    assert [c.text for c in out2] == [c.text for c in out1]
    assert all(c.cached for c in out2) and not any(c.cached for c in out1)
    assert second.backend.index == 0  # type: ignore[attr-defined]
    assert second.meter.total.requests == 0 and second.meter.total.cached_completions == 4


async def test_cache_tops_up_a_larger_n(tmp_path: Path) -> None:
    await scripted(tmp_path, cache=True).sample(USER, n=8, seed=1)
    again = scripted(tmp_path, cache=True)
    out = await again.sample(USER, n=10, seed=1)
    assert len(out) == 10 and sum(c.cached for c in out) == 8
    assert again.backend.index == 2  # type: ignore[attr-defined]  # two new samples, one request
    assert again.meter.total.requests == 1


async def test_cache_key_includes_parameters(tmp_path: Path) -> None:
    await scripted(tmp_path, cache=True).sample(USER, n=2, seed=1, temperature=0.2)
    again = scripted(tmp_path, cache=True)
    await again.sample(USER, n=2, seed=1, temperature=0.3)
    await again.sample(USER, n=2, seed=2, temperature=0.2)
    await again.sample([*USER, Message(role="user", content="more")], n=2, seed=1, temperature=0.2)
    assert again.backend.index == 6  # type: ignore[attr-defined]


async def test_unseeded_calls_draw_fresh_samples_and_rerun_replays_them(tmp_path: Path) -> None:
    first = scripted(tmp_path, cache=True)
    a = [c.text for c in await first.sample(USER, n=2)]
    b = [c.text for c in await first.sample(USER, n=2)]
    assert set(a).isdisjoint(b)  # a second identical call is not served the first call's samples
    rerun = scripted(tmp_path, cache=True)
    assert [c.text for c in await rerun.sample(USER, n=2)] == a
    assert [c.text for c in await rerun.sample(USER, n=2)] == b
    assert rerun.backend.index == 0  # type: ignore[attr-defined]


async def test_no_cache_option_always_calls(tmp_path: Path) -> None:
    m = scripted(tmp_path, cache=False)
    await m.sample(USER, seed=1)
    await m.sample(USER, seed=1)
    assert m.backend.index == 2  # type: ignore[attr-defined]
    assert not (tmp_path / "cache.sqlite").exists()


# -- scripted ------------------------------------------------------------------------------------------
def test_rules_file_needs_one_reply_kind(tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"rules": [{"contains": "x"}]}))
    with pytest.raises(ConfigError, match="exactly one of reply"):
        load(f"scripted:{f}")


async def test_scripted_rules_react_to_the_latest_message_with_turn_counters(tmp_path: Path) -> None:
    f = tmp_path / "rules.json"
    rules = {
        "default": "I do not follow.",
        "rules": [
            {"contains": "tests failed", "replies": ["fix one", "fix two"], "times": 2},
            {"regex": r"def \w+\(", "reply": "def f(x):\n    return x\n"},
        ],
    }
    f.write_text(json.dumps(rules))
    m = load(f"scripted:{f}")
    chat = [Message(role="user", content="implement def add(a, b):")]
    turn1 = (await m.sample(chat))[0].text
    assert turn1.startswith("def f(x)")
    chat += [Message(role="assistant", content=turn1), Message(role="user", content="2 tests failed")]
    assert (await m.sample(chat))[0].text == "fix one"
    assert (await m.sample(chat))[0].text == "fix two"
    assert (await m.sample(chat))[0].text == "I do not follow."  # the rule is used up


async def test_scripted_without_default_raises_on_unmatched(tmp_path: Path) -> None:
    f = tmp_path / "rules.json"
    f.write_text(json.dumps({"rules": [{"contains": "hello", "reply": "hi"}]}))
    with pytest.raises(ModelRequestError, match="no rule matches"):
        await load(f"scripted:{f}").sample([Message(role="user", content="bye")])


async def test_scripted_policy_sees_the_whole_chat_and_the_index() -> None:
    seen: list[tuple[int, int]] = []

    def policy(messages: list[Message], index: int) -> str:
        seen.append((len(messages), index))
        feedback = [m.content for m in messages if m.role == "user" and "failed" in m.content]
        return f"attempt {len(feedback)}"

    m = load(policy)
    chat = [Message(role="user", content="solve")]
    first = await m.sample(chat, n=2)
    chat += [Message(role="assistant", content=first[0].text), Message(role="user", content="test failed")]
    second = await m.sample(chat)
    assert [c.text for c in first] == ["attempt 0", "attempt 0"] and second[0].text == "attempt 1"
    assert seen == [(1, 0), (1, 1), (3, 2)]


async def test_scripted_reports_usage_logprobs_stop_and_length() -> None:
    m = load(lambda msgs, i: "alpha beta gamma STOP delta " * 3)
    full = (await m.sample(USER, logprobs=True))[0]
    assert full.logprobs is not None and len(full.logprobs) == 15 and all(lp < 0 for lp in full.logprobs)
    assert full.usage.input_tokens > 0 and full.usage.output_tokens > 0
    cut = (await m.sample(USER, stop=["STOP"]))[0]
    assert cut.text == "alpha beta gamma " and cut.finish_reason == "stop" and cut.logprobs is None
    short = (await m.sample(USER, max_tokens=2))[0]
    assert short.finish_reason == "length" and len(short.text) == 8
