"""``replay:`` over CodeT's real HumanEval pool: without replacement per seed, clear errors."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from harness.errors import ModelRequestError
from harness.models import Message, Usage, load

POOL = "codet/HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_code_solution.jsonl"


@pytest.fixture(scope="module")
def pool(shared_data: Path) -> tuple[Path, list[dict[str, object]]]:
    path = shared_data / POOL
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return path, records


def ask(prompt: str) -> list[Message]:
    return [Message(role="system", content="Complete the function."), Message(role="user", content=prompt)]


async def test_draws_every_sample_once_per_seed_then_says_so(
    pool: tuple[Path, list[dict[str, object]]],
) -> None:
    path, records = pool
    prompt, samples = str(records[0]["prompt"]), list(records[0]["samples"])  # type: ignore[call-overload]
    m = load(f"replay:{path}")
    drawn: list[str] = []
    for _ in range(10):
        drawn += [c.text for c in await m.sample(ask(prompt), n=10, seed=3)]
    assert collections.Counter(drawn) == collections.Counter(samples)
    assert drawn != samples  # a seeded permutation, not the recorded order
    with pytest.raises(ModelRequestError, match=r"100 samples and seed 3 has drawn 100"):
        await m.sample(ask(prompt), n=1, seed=3)
    other = [c.text for c in await m.sample(ask(prompt), n=10, seed=4)]
    assert other != drawn[:10]  # each seed has its own permutation and cursor


async def test_same_seed_same_draws_across_instances_and_none_keeps_order(
    pool: tuple[Path, list[dict[str, object]]],
) -> None:
    path, records = pool
    prompt, samples = str(records[5]["prompt"]), list(records[5]["samples"])  # type: ignore[call-overload]
    a = [c.text for c in await load(f"replay:{path}").sample(ask(prompt), n=7, seed=11)]
    b = [c.text for c in await load(f"replay:{path}").sample(ask(prompt), n=7, seed=11)]
    assert a == b
    m = load(f"replay:{path}")
    assert [c.text for c in await m.sample(ask(prompt), n=3)] == samples[:3]
    assert [c.text for c in await m.sample(ask(prompt), n=3)] == samples[3:6]


async def test_matches_by_last_user_message_and_estimates_usage(
    pool: tuple[Path, list[dict[str, object]]],
) -> None:
    path, records = pool
    prompt = str(records[1]["prompt"])
    m = load(f"replay:{path}")
    out = await m.sample(ask("\n" + prompt + "  \n"), n=4, seed=0)  # surrounding whitespace is ignored
    assert all(c.usage.input_tokens > 0 and c.usage.output_tokens > 0 for c in out)
    assert all(c.cost_usd == 0 and c.finish_reason == "stop" for c in out)
    assert m.meter.total.completions == 4
    with pytest.raises(ModelRequestError, match="no recorded prompt matches"):
        await m.sample(ask("def not_in_the_pool():\n"))


async def test_recorded_usage_is_served(tmp_path: Path) -> None:
    f = tmp_path / "pool.jsonl"
    rec = {"prompt": "p", "samples": ["a", "b"], "usage": [{"input_tokens": 5, "output_tokens": 1}] * 2}
    f.write_text(json.dumps(rec) + "\n")
    out = await load(f"replay:{f}").sample([Message(role="user", content="p")], n=2)
    assert [c.usage for c in out] == [Usage(input_tokens=5, output_tokens=1)] * 2
