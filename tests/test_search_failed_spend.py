"""What a failed unit already spent is paid money: it is in the run's totals (``stages.json``, the
summary, ``harness report``), labelled as failed attempts, across a resume, and the unit is retried.

The model is the scripted fake of ``test_search_fakes``; programs run in the local executor. The fake
keeps every completion it returned, so "what the user paid" is counted on the model's side, not by
the code under test.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from test_search_fakes import ScriptedModel, ladder_policy, make_task

from harness.errors import ModelRequestError
from harness.models._types import Completion, Message
from harness.report import build_report, load_run
from harness.search import BudgetLimits, LocalExecutor
from harness.search._compare import CompareConfig
from harness.search._run import run_comparison
from harness.store import read_outcomes, read_stages


class PaidModel(ScriptedModel):
    """The scripted model, keeping what it returned (one entry per request that came back) and
    failing the requests numbered in ``fail`` (1-based, over this model's requests) with ``error``."""

    def __init__(self, fail: Sequence[int] = (), error: type[Exception] = ModelRequestError) -> None:
        super().__init__(ladder_policy())
        self.fail, self.error = set(fail), error
        self.requests = 0
        self.returned: list[list[Completion]] = []

    async def sample(self, messages: Sequence[Message], **kw: Any) -> list[Completion]:
        self.requests += 1
        if self.requests in self.fail:
            raise self.error(f"scripted failure of request {self.requests}")
        out = await super().sample(messages, **kw)
        self.returned.append(out)
        return out

    def paid(self) -> dict[str, float]:
        done = [c for req in self.returned for c in req]
        return {
            "calls": len(self.returned),
            "input_tokens": sum(c.usage.input_tokens for c in done),
            "output_tokens": sum(c.usage.output_tokens for c in done),
            "cost_usd": round(sum(c.cost_usd for c in done), 9),
        }


def _sum(*paid: dict[str, float]) -> dict[str, float]:
    return {k: round(sum(p[k] for p in paid), 9) for k in paid[0]}


def _stage_totals(run_dir: Path) -> dict[str, float]:
    stages = read_stages(run_dir)
    return {
        "calls": sum(s.calls for s in stages),
        "input_tokens": sum(s.input_tokens for s in stages),
        "output_tokens": sum(s.output_tokens for s in stages),
        "cost_usd": round(sum(s.cost_usd for s in stages), 9),
    }


def _failed_row(run_dir: Path) -> dict[str, float]:
    rows = [s for s in read_stages(run_dir) if "failed_attempts" in s.stage]
    assert len(rows) == 1, read_stages(run_dir)
    return {"calls": rows[0].calls, "cost_usd": round(rows[0].cost_usd, 9)}


@asynccontextmanager
async def _local() -> AsyncIterator[LocalExecutor]:
    yield LocalExecutor()


async def _run(
    tmp: Path, model: PaidModel, *, concurrency: int = 1, allocation: str = "uniform"
) -> dict[str, Any]:
    cfg = CompareConfig.model_validate(
        {
            "suite": "toy",
            "model": "scripted",
            "strategies": ["line"],
            "budget": BudgetLimits.parse("programs=3"),
            "task_ids": ["Toy/0", "Toy/1"],
            "allocation": allocation,
        }
    )
    tasks = [make_task().model_copy(update={"task_id": t}) for t in cfg.task_ids]
    return await run_comparison(
        cfg, tasks, model, _local, results_dir=tmp, run_id="r", plot_png=False, concurrency=concurrency
    )


async def test_a_failed_units_spend_is_in_the_totals_and_a_resume_adds_the_retry(tmp_path: Path) -> None:
    # Line search on Toy/0: seed program, reflection, then the refinement request fails. Two requests
    # came back and were paid; Toy/1 then runs whole (5 requests: 3 programs, 2 reflections).
    first = PaidModel(fail=[3])
    summary = await _run(tmp_path, first)
    run_dir = tmp_path / "r"
    assert list(summary["failed_units"]) == ["Toy/0|line|s0"]
    assert first.paid()["calls"] == 7
    assert _stage_totals(run_dir) == first.paid()
    assert _failed_row(run_dir) == {"calls": 2, "cost_usd": 0.002}
    failed = summary["spend"]["failed_attempts"]
    assert failed["attempts"] == 1 and failed["units"] == {"Toy/0|line|s0": 1}
    assert failed["spent"]["calls"] == 2 and failed["by_purpose"]["reflection"]["calls"] == 1
    assert summary["spend"]["total"]["calls"] == 7
    report = build_report(load_run("r", tmp_path))
    assert report.total.calls == 7 and report.total.cost_usd == pytest.approx(first.paid()["cost_usd"])

    # Resume: the failed unit is retried (and only it: the finished one is not paid again); the totals
    # are every attempt's spend, the one before the resume included.
    second = PaidModel()
    summary = await _run(tmp_path, second)
    assert summary["failed_units"] == {}
    assert second.paid()["calls"] == 5
    units = {u["task_id"]: u for u in map(json.loads, map(Path.read_text, run_dir.glob("search/units/*")))}
    assert second.paid()["calls"] == units["Toy/0"]["spent"]["calls"]
    assert _stage_totals(run_dir) == _sum(first.paid(), second.paid())
    assert _failed_row(run_dir) == {"calls": 2, "cost_usd": 0.002}
    assert summary["spend"]["failed_attempts"]["attempts"] == 1
    assert summary["spend"]["total"]["calls"] == 12
    assert summary["spend"]["finished"]["calls"] == 10
    report = build_report(load_run("r", tmp_path))
    assert report.total.calls == 12
    outcomes = {o.task_id: o for o in read_outcomes(run_dir)}
    assert outcomes["Toy/0"].extra["failed_attempts"] == 1
    assert outcomes["Toy/0"].extra["failed_attempts_cost_usd"] == pytest.approx(0.002)
    assert outcomes["Toy/1"].extra["failed_attempts"] == 0


async def test_a_crash_aborts_the_run_with_its_spend_recorded(tmp_path: Path) -> None:
    """A crash (an error that is no harness error) ends the run; the units running at that moment,
    the crashed one and its concurrent sibling, have their spend in the totals, and nothing is spent
    after them. The resumed run's totals hold both processes' spend."""
    first = PaidModel(fail=[4], error=RuntimeError)
    with pytest.raises(RuntimeError, match="scripted failure"):
        await _run(tmp_path, first, concurrency=2)
    run_dir = tmp_path / "r"
    assert first.paid()["calls"] == 3
    assert _stage_totals(run_dir) == first.paid()
    assert _failed_row(run_dir)["calls"] == 3

    second = PaidModel()
    summary = await _run(tmp_path, second, concurrency=2)
    assert summary["failed_units"] == {}
    assert _stage_totals(run_dir) == _sum(first.paid(), second.paid())
    assert _failed_row(run_dir)["calls"] == 3
    assert summary["spend"]["failed_attempts"]["attempts"] == 2


async def test_a_probe_that_finished_before_its_sibling_failed_is_counted(tmp_path: Path) -> None:
    """The adaptive split: the uniform units take requests 1-10, Toy/0's probe (one program) request
    11, and Toy/1's probe fails at request 12, so no split is combined this time; the finished probe
    was paid for all the same (it is reused on resume, not run again)."""
    first = PaidModel(fail=[12])
    summary = await _run(tmp_path, first, allocation="adaptive")
    assert list(summary["failed_units"]) == ["Toy/1|line+probe|s0"]
    assert first.paid()["calls"] == 11
    assert _stage_totals(tmp_path / "r") == first.paid()
    assert _failed_row(tmp_path / "r") == {"calls": 0, "cost_usd": 0.0}

    second = PaidModel()
    summary = await _run(tmp_path, second, allocation="adaptive")
    assert summary["failed_units"] == {}
    assert _stage_totals(tmp_path / "r") == _sum(first.paid(), second.paid())


def test_paid_model_counts_what_came_back() -> None:
    import asyncio

    model = PaidModel(fail=[2])
    msgs = [Message(role="user", content="write it")]
    asyncio.run(model.sample(msgs, seed=1))
    with pytest.raises(ModelRequestError):
        asyncio.run(model.sample(msgs, seed=2))
    assert model.paid()["calls"] == 1 and model.paid()["cost_usd"] == 0.001
