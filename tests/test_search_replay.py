"""Every search strategy on CodeT's recorded CodeGen-16B pool: ``replay:FILE`` with ``match="contains"``
serves a refinement, reflection, directions or insights prompt the samples of the task prompt it embeds
(as if the model ignored the feedback), so feedback-driven strategies replay recorded pools too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_search_cli import STRATEGIES, _safe_uid, _units
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import ConfigError, ModelRequestError
from harness.models import Message, load

POOL = "codet/HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_code_solution.jsonl"
BUDGET = 4


def ask(text: str) -> list[Message]:
    return [Message(role="system", content="Improve the function."), Message(role="user", content=text)]


@pytest.fixture
def small_pool(tmp_path: Path) -> Path:
    path = tmp_path / "pool.jsonl"
    records = [
        {"prompt": "def add(a, b):\n", "samples": [f"    return a + b  # short {i}\n" for i in range(3)]},
        {
            "prompt": "import math\n\ndef add(a, b):\n",
            "samples": [f"    return a + b  # long {i}\n" for i in range(3)],
        },
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


async def test_contains_serves_the_longest_embedded_prompt_without_replacement(small_pool: Path) -> None:
    refine = "Task:\n```python\nimport math\n\ndef add(a, b):\n```\n\nTests failed:\nassert add(1, 2) == 3\n"
    m = load(f"replay:{small_pool}", match="contains")
    first = [c.text for c in await m.sample(ask(refine), n=2, seed=None)]
    assert first == ["    return a + b  # long 0\n", "    return a + b  # long 1\n"]
    # The exact prompt and a message embedding it draw down the same (prompt, seed) pool.
    (third,) = await m.sample(ask("import math\n\ndef add(a, b):\n"), n=1, seed=None)
    assert third.text == "    return a + b  # long 2\n"
    with pytest.raises(ModelRequestError, match=r"3 samples and seed None has drawn 3"):
        await m.sample(ask(refine), n=1, seed=None)
    # Only the shorter prompt occurs here: its own pool, untouched so far.
    (short,) = await m.sample(ask("Task:\ndef add(a, b):\n  ...feedback"), n=1, seed=None)
    assert short.text == "    return a + b  # short 0\n"
    with pytest.raises(ModelRequestError, match=r"exact text, else a contained prompt"):
        await m.sample(ask("def mul(a, b):\n"), n=1)


async def test_exact_stays_the_default(small_pool: Path) -> None:
    m = load(f"replay:{small_pool}")
    (c,) = await m.sample(ask("  def add(a, b):\n\n"), n=1, seed=None)  # surrounding whitespace only
    assert c.text == "    return a + b  # short 0\n"
    with pytest.raises(ModelRequestError, match=r"matched by exact text$"):
        await m.sample(ask("Task:\ndef add(a, b):\n  ...feedback"), n=1)
    with pytest.raises(ConfigError, match=r"match"):
        load(f"replay:{small_pool}", match="fuzzy")


def test_every_strategy_replays_codet_pools_end_to_end(shared_data: Path, tmp_path: Path) -> None:
    """``harness search --model replay:FILE --model-option match=contains``: all five strategies on the
    first three HumanEval tasks x two seeds, programs run locally, under one program budget. Every
    completion of every call (programs, reflections, directions, insights) is a recorded sample of the
    unit's task, and the budget is accounted the same way for every strategy."""
    pool_path = shared_data / POOL
    pool = {
        r["prompt"]: set(r["samples"])
        for r in (json.loads(line) for line in pool_path.read_text().splitlines() if line.strip())
    }
    args = [
        "search", "--model", f"replay:{pool_path}", "--model-option", "match=contains",
        "--suite", "humaneval", "--limit-tasks", "3", "--strategies", ",".join(STRATEGIES),
        "--budget", f"programs={BUDGET}", "--seeds", "2", "--set", "sfs.seeds=1", "--executor", "local",
        "--concurrency", "2", "--results-dir", str(tmp_path), "--run-id", "replay", "--json", "--no-plot",
    ]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["failed_units"] == {}
    systems = {s["system"]: s for s in summary["systems"]}
    assert list(systems) == STRATEGIES and all(s["units"] == 6 for s in systems.values())
    assert all(s["pass_at_1"] > 0 for s in systems.values())  # HumanEval/0 is easy for CodeGen-16B
    run_dir = tmp_path / "replay"
    assert json.loads((run_dir / "manifest.json").read_text())["config"]["model_options"] == {
        "match": "contains"
    }
    units = _units(run_dir)
    assert sorted((u["system"], u["task_id"], u["seed"]) for u in units) == sorted(
        (s, f"HumanEval/{t}", seed) for s in STRATEGIES for t in range(3) for seed in range(2)
    )
    prompts = {u["task_id"]: "" for u in units}
    purposes: set[str] = set()
    kinds: set[str] = set()
    for u in units:
        tree = json.loads((run_dir / "search" / "trees" / f"{_safe_uid(u)}.json").read_text())
        _assert_budget_accounting(u, tree)
        purposes |= set(u["calls_by_purpose"])
        kinds |= {n["kind"] for n in u["nodes"]}
        # The unit's task prompt is the recorded prompt every request embeds; each output is one of its
        # recorded samples, whatever the request asked for.
        for call in tree["calls"]:
            user = call["messages"][-1]["content"]
            matched = max((p for p in pool if p.strip() and p.strip() in user), key=len)
            prompts[u["task_id"]] = prompts[u["task_id"]] or matched
            assert matched == prompts[u["task_id"]], (u["task_id"], call["purpose"])
            assert set(call["outputs"]) <= pool[matched], (u["task_id"], u["system"], call["purpose"])
    assert len(set(prompts.values())) == 3
    # Feedback-driven prompts were replayed too: reflections (line), directions and insights (SFS).
    assert {"program", "reflection", "directions", "insights"} <= purposes
    assert {"seed", "refine", "direction"} <= kinds
    outcomes = [json.loads(line) for line in (run_dir / "outcomes.jsonl").read_text().splitlines()]
    assert sorted((o["task_id"], o["system"], o["seed"]) for o in outcomes) == sorted(
        (u["task_id"], u["system"], u["seed"]) for u in units
    )
    assert set(json.loads((run_dir / "search" / "summary.json").read_text())["curves"]) == set(STRATEGIES)


def _assert_budget_accounting(u: dict[str, Any], tree: dict[str, Any]) -> None:
    """One rule for every strategy: a unit's spend is the sum of its recorded calls (any purpose),
    programs are the tree's nodes, never above the limit, and a search stopped by the budget spent it."""
    spent, where = u["spent"], (u["task_id"], u["system"], u["seed"])
    calls = tree["calls"]
    assert spent["calls"] == len(calls) == sum(u["calls_by_purpose"].values()) >= 1, where
    assert spent["programs"] == len(u["nodes"]) == len(tree["tree"]["nodes"]) <= BUDGET, where
    assert spent["programs"] == sum(len(c["outputs"]) for c in calls if c["purpose"] == "program"), where
    assert spent["input_tokens"] == sum(c["input_tokens"] for c in calls) > 0, where
    assert spent["output_tokens"] == sum(c["output_tokens"] for c in calls) > 0, where
    assert u["limits"]["programs"] == BUDGET, where
    assert u["stopped"] in ("solved_visible", "budget"), where
    if u["stopped"] == "budget":
        assert spent["programs"] == BUDGET, where
    else:
        assert u["resolved"] or any(n["score"] == 1.0 for n in u["nodes"]), where
    costs = [n["cost"]["calls"] for n in u["nodes"]]
    assert costs == sorted(costs) and costs[-1] <= spent["calls"], where
