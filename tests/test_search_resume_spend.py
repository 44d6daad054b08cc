"""A killed and resumed ``harness search`` reports what the provider answered: every request once.

Real ``harness search`` processes talk to the fake OpenAI server (:class:`FakeProvider`, real HTTP
on 127.0.0.1) through the ``openai:`` backend and its response cache; the server counts the requests
it answered and the usage it returned, and that is what the user paid. One run goes uninterrupted
(the reference); the other is SIGKILLed while the server holds a request in the middle of a line
search (two of its calls answered), then resumed with the same run id. The resumed unit replays the
two answered calls from the response cache: they are counted once, with the killed attempt that paid
for them, not again with the replay; and the run's results equal the uninterrupted run's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from random import Random
from typing import Any

import pytest
from test_search_cli import _policy

from harness.models import Spend
from harness.models._fake_wire import openai_completion
from harness.models._pricing import default_pricing
from harness.models._types import Message, Usage
from harness.models.testing import FakeProvider
from harness.search._attempts import Attempt, read_attempts
from harness.search._compare import unit_path
from harness.store import read_stages

HARNESS = str(Path(sys.executable).parent / "harness")
STRATEGIES = ["best_of_n", "line", "mcts", "best_first", "sfs"]
TASKS = ["HumanEval/0", "HumanEval/1"]
VICTIM = "HumanEval/1|line|s0"
"""Line search on the task that needs feedback: seed, reflection, then the refinement, which is held."""


def _reply(body: dict[str, Any], index: int) -> str:
    messages = [Message(role=m["role"], content=m["content"]) for m in body["messages"]]
    return _policy(messages, Random(0))


class Paid:
    """What the fake servers answered, from the bodies they sent: one usage per answered request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.usages: list[dict[str, Any]] = []

    def wrap(self, make: Any) -> Any:
        def recorded(body: dict[str, Any], *args: Any) -> dict[str, Any]:
            out: dict[str, Any] = make(body, *args)
            self.requests.append(body)
            self.usages.append(out["usage"])
            return out

        return recorded

    def totals(self, start: int = 0) -> dict[str, float]:
        price = default_pricing().lookup("openai", "gpt-4o-mini")
        used = self.usages[start:]
        cost = 0.0
        for u in used:
            cached = u["prompt_tokens_details"]["cached_tokens"]
            cost += price.cost(
                Usage(
                    input_tokens=u["prompt_tokens"] - cached,
                    output_tokens=u["completion_tokens"],
                    cache_read_tokens=cached,
                )
            )
        return {
            "calls": len(used),
            "input_tokens": sum(u["prompt_tokens"] for u in used),
            "output_tokens": sum(u["completion_tokens"] for u in used),
            "cost_usd": cost,
        }


@pytest.fixture
def paid(monkeypatch: pytest.MonkeyPatch) -> Iterator[Paid]:
    """Every answered OpenAI request's usage, as the fake server returned it."""
    ledger = Paid()
    # The server builds each answer with this function, looked up in its module at every request.
    monkeypatch.setattr("harness.models.testing.openai_completion", ledger.wrap(openai_completion))
    yield ledger


def _cmd(url: str, results: Path, run_id: str) -> list[str]:
    return [
        HARNESS, "search", "--model", "openai:gpt-4o-mini", "--base-url", url, "--suite", "humaneval-pypi",
        "--tasks", ",".join(TASKS), "--strategies", ",".join(STRATEGIES), "--budget", "programs=5",
        "--executor", "local", "--results-dir", str(results), "--run-id", run_id, "--json", "--no-plot",
        # One unit at a time: the request the server holds is a known one.
        "--concurrency", "1",
    ]  # fmt: skip


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "OPENAI_API_KEY": "sk-test", "HARNESS_CACHE_DIR": str(cache)}


def _reported(results: Path, run_id: str, summary: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The run's total three ways: the summary, ``stages.json`` and ``harness report``."""
    total = summary["spend"]["total"]
    stages = read_stages(results / run_id)
    rep = subprocess.run(
        [HARNESS, "report", run_id, "--results", str(results), "--json", "--no-plots"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rep.returncode == 0, rep.stderr
    report = json.loads(rep.stdout)["report"]["total"]
    return {
        "summary.json": {k: total[k] for k in ("calls", "input_tokens", "output_tokens", "cost_usd")},
        "stages.json": {
            "calls": sum(s.calls for s in stages),
            "input_tokens": sum(s.input_tokens for s in stages),
            "output_tokens": sum(s.output_tokens for s in stages),
            "cost_usd": sum(s.cost_usd for s in stages),
        },
        "harness report": {
            "calls": report["calls"],
            "input_tokens": report["input_tokens"],
            "output_tokens": report["output_tokens"],
            "cost_usd": report["cost_usd"],
        },
    }


def _assert_counted_once(reported: dict[str, dict[str, float]], answered: dict[str, float]) -> None:
    for where, got in reported.items():
        assert {k: got[k] for k in ("calls", "input_tokens", "output_tokens")} == {
            k: answered[k] for k in ("calls", "input_tokens", "output_tokens")
        }, where
        assert got["cost_usd"] == pytest.approx(answered["cost_usd"], rel=1e-9), where


def _summary(stdout: str) -> dict[str, Any]:
    return dict(json.loads(stdout.strip().splitlines()[-1]))


def _records(run_dir: Path) -> dict[str, Any]:
    return {p.name: json.loads(p.read_text()) for p in (run_dir / "search" / "units").glob("*.json")}


def test_a_resumed_search_counts_each_answered_request_once(tmp_path: Path, paid: Paid) -> None:
    results = tmp_path / "results"

    # The reference, uninterrupted. Line search and MCTS ask for the same seed program (same prompt,
    # call seed and temperature), so even this run gets answers from the response cache; the totals
    # are what the server answered all the same.
    with FakeProvider(reply=_reply) as server:
        whole = subprocess.run(
            _cmd(server.openai_base_url, results, "whole"),
            env=_env(tmp_path / "cache-whole"),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert whole.returncode == 0, whole.stderr
        whole_answered = server.stats.answered
    whole_summary = _summary(whole.stdout)
    whole_paid = paid.totals()
    assert whole_paid["calls"] == whole_answered
    _assert_counted_once(_reported(results, "whole", whole_summary), whole_paid)
    assert whole_summary["spend"]["from_cache"]["calls"] >= 1  # the shared seed program

    # Hold the victim's third request: every unit before it answered, and two calls of the victim
    # (its seed program, then its reflection: the first reflection on HumanEval/1 of the run).
    reflection = next(
        k
        for k, body in enumerate(paid.requests)
        if "Your reflection:" in body["messages"][-1]["content"]
        and "def separate_paren_groups(" in body["messages"][-1]["content"]
    )
    start = len(paid.usages)
    with FakeProvider(reply=_reply) as server:
        server.hold_after(reflection + 1)
        cmd, env = _cmd(server.openai_base_url, results, "killed"), _env(tmp_path / "cache-killed")
        victim = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 300  # a give-up guard, not a measurement
            while server.stats.held == 0:
                assert victim.poll() is None, victim.stderr.read().decode() if victim.stderr else ""
                assert time.monotonic() < deadline, "the run never reached the held request"
                time.sleep(0.05)
        finally:
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            if victim.stderr is not None:
                victim.stderr.close()
        assert victim.returncode == -signal.SIGKILL
        journal = read_attempts(results / "killed" / unit_path("attempts", VICTIM))
        assert journal is not None and [a.status for a in journal.attempts] == ["running"]
        assert journal.attempts[0].spent.calls == 2  # the seed program and the reflection came back
        server.drop_held()

        again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr
        answered = server.stats.answered
    killed_paid = paid.totals(start)
    assert killed_paid["calls"] == answered

    # Across the kill the server answered what it answered to the uninterrupted run, and the
    # report says exactly that: the two replayed calls are not counted twice ...
    assert answered == whole_answered
    summary = _summary(again.stdout)
    _assert_counted_once(_reported(results, "killed", summary), killed_paid)
    # ... nor dropped: they are the killed attempt's, labelled as a failed attempt's spend, and the
    # finished search that replayed them got them from the cache.
    spend, whole_spend = summary["spend"], whole_summary["spend"]
    assert spend["failed_attempts"]["units"] == {VICTIM: 1}
    assert spend["failed_attempts"]["spent"]["calls"] == 2
    assert spend["failed_attempts"]["by_purpose"]["program"]["calls"] == 1
    assert spend["failed_attempts"]["by_purpose"]["reflection"]["calls"] == 1
    assert spend["finished"]["calls"] == whole_spend["finished"]["calls"] - 2
    assert spend["from_cache"]["calls"] == whole_spend["from_cache"]["calls"] + 2
    stages = {s.stage: s for s in read_stages(results / "killed")}
    assert stages["search.failed_attempts"].calls == 2
    outcome = next(
        o
        for o in map(json.loads, (results / "killed" / "outcomes.jsonl").read_text().splitlines())
        if f"{o['task_id']}|{o['system']}|s{o['seed']}" == VICTIM
    )
    assert outcome["extra"]["failed_attempts_calls"] == 2

    # The budgets saw the replayed calls as an uninterrupted run does: identical results.
    assert _records(results / "killed") == _records(results / "whole")
    drop = ("run_id", "run_dir", "spend")
    assert {k: v for k, v in summary.items() if k not in drop} == {
        k: v for k, v in whole_summary.items() if k not in drop
    }


def test_an_attempt_journaled_before_paid_was_kept_counts_its_spend_as_paid() -> None:
    """Version-1 journals (a run killed before this accounting, resumed after it) have no ``paid``:
    what such an attempt spent is what it paid, as those runs counted it."""
    old = Attempt.model_validate(
        {
            "number": 1,
            "status": "killed",
            "spent": {"programs": 1, "calls": 2, "input_tokens": 30, "output_tokens": 9, "dollars": 0.5},
            "by_purpose": {"program": {"programs": 1, "calls": 1}, "reflection": {"calls": 1}},
            "started_at": 0.0,
        }
    )
    assert old.cost == old.spent and old.cost_by_purpose == old.by_purpose
    new = old.model_copy(update={"paid": Spend(calls=1), "paid_by_purpose": {"reflection": Spend(calls=1)}})
    assert new.cost == Spend(calls=1) and new.cost_by_purpose == {"reflection": Spend(calls=1)}
