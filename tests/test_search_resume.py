"""``harness search`` killed with SIGKILL midway and rerun with the same ``--run-id``.

The run (five strategies, three HumanEval tasks, three seeds; programs run by the local executor, or
in Docker sandboxes for the docker tier) is a real process whose model is the scripted policy of
``test_search_cli`` behind the model layer's wrapper and response cache (as ``openai:`` models are). A thin wrapper logs every request the
search makes (task, search seed, call position) and every answer the policy generates (cache misses),
one flushed line each. With ``SEARCH_HOLD=TASK|SEED|POSITION`` that request never returns (it blocks
the event loop), so the run is killed at a known point whatever the machine's speed: in the middle of
HumanEval/1's best-of-N search of seed 1, after every unit of seed 0 and of HumanEval/0 seed 1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
HARNESS = str(Path(sys.executable).parent / "harness")
_SUFFIX = uuid.uuid4().hex[:8]
WHOLE, KILLED = f"whole-{_SUFFIX}", f"killed-{_SUFFIX}"
"""The two runs' ids; ``harness search`` labels its sandboxes with its run id, so unique ids let the
test find and collect exactly its own."""

DRIVER = """
import hashlib, json, os, sys, threading
from random import Random
sys.path.insert(0, {tests!r})
import harness.cli.search as cli_search
from harness.cli import app
from harness.models import load
from test_search_cli import TASKS, _policy

LOG = open(os.environ["SEARCH_LOG"], "a", buffering=1, encoding="utf-8")
HOLD = os.environ.get("SEARCH_HOLD")
# The request being answered (one at a time: --concurrency 1): what its cache key holds besides the
# prompt (search seed, call position, temperature, log-probs), and the sample index within it.
CURRENT = [None, None, None, None, 0]


def task_of(messages):
    return next(t.task_id for t in TASKS if f"def {{t.entry_point}}(" in messages[-1].content)


def policy(chat, index):
    digest = hashlib.sha256(json.dumps([[m.role, m.content] for m in chat]).encode()).hexdigest()
    CURRENT[-1] += 1
    key = [digest, *CURRENT]
    LOG.write(json.dumps({{"kind": "generate", "task": task_of(chat), "key": key}}) + "\\n")
    return _policy(chat, Random(0))


class Logged:
    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name

    async def sample(self, messages, **kw):
        search_seed, position = divmod(kw["seed"], 100_003)
        task = task_of(messages)
        LOG.write(json.dumps({{"kind": "request", "task": task, "seed": search_seed, "pos": position}}) + "\\n")
        if HOLD == f"{{task}}|{{search_seed}}|{{position}}":
            LOG.write(json.dumps({{"kind": "held"}}) + "\\n")
            threading.Event().wait()  # a model that never answers; the test kills the process here
        CURRENT[:] = [search_seed, position, kw["temperature"], kw["logprobs"], 0]
        return await self.inner.sample(messages, **kw)


def make_model(spec, base_url, max_dollars):
    return Logged(load(policy, cache=True, cache_path=os.environ["SEARCH_CACHE"], stage="search"))


cli_search._make_model = make_model
app()
"""

STRATEGIES = ["best_of_n", "line", "mcts", "best_first", "sfs"]
TASK_IDS = ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
SEEDS = 3
HOLD = "HumanEval/1|1|2"


def _cmd(driver: Path, results: Path, run_id: str, executor: str) -> list[str]:
    return [
        sys.executable, str(driver), "search", "--model", "scripted", "--suite", "humaneval-pypi",
        "--limit-tasks", "3", "--strategies", ",".join(STRATEGIES), "--budget", "programs=7",
        "--seeds", str(SEEDS), "--executor", executor, "--results-dir", str(results), "--run-id", run_id,
        "--json", "--no-plot",
        # One unit at a time: the kill point and the cache's answers do not depend on scheduling.
        "--concurrency", "1",
    ]  # fmt: skip


def _env(log: Path, cache: Path, hold: str | None = None) -> dict[str, str]:
    env = {**os.environ, "SEARCH_LOG": str(log), "SEARCH_CACHE": str(cache)}
    env.pop("SEARCH_HOLD", None)
    if hold is not None:
        env["SEARCH_HOLD"] = hold
    return env


def _log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _units(results: Path, run_id: str) -> dict[str, str]:
    with sqlite3.connect(results / "index.sqlite", timeout=30) as db:
        rows = db.execute("SELECT unit_id, status FROM units WHERE run_id=? AND stage='search'", (run_id,))
        return {str(u): str(s) for u, s in rows.fetchall()}


def _paid_requests(path: Path) -> int:
    """Requests of a log that the model answered itself (one or more samples generated), not the
    response cache."""
    events = _log(path)
    return sum(
        1
        for k, e in enumerate(events)
        if e["kind"] == "request" and k + 1 < len(events) and events[k + 1]["kind"] == "generate"
    )


def _uid(task: str, system: str, seed: int) -> str:
    return f"{task}|{system}|s{seed}"


def _records(run_dir: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for p in (run_dir / "search" / "units").glob("*.json"):
        rec = json.loads(p.read_text())
        out[_uid(rec["task_id"], rec["system"], rec["seed"])] = rec
    return out


def _artefacts(run_dir: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(run_dir)): (p.read_bytes(), p.stat().st_mtime_ns)
        for kind in ("units", "trees")
        for p in (run_dir / "search" / kind).glob("*.json")
    }


def _sandboxes(run_id: str) -> list[Any]:
    from harness.sandbox._docker import shared_client

    filters = {"label": [f"harness.run_id={run_id}"]}
    return list(shared_client().containers.list(all=True, filters=filters, ignore_removed=True))


def _owned_by(pid: int) -> list[Any]:
    from harness.sandbox._docker import shared_client

    filters = {"label": ["harness.managed=1", f"harness.pid={pid}", f"harness.host={socket.gethostname()}"]}
    return list(shared_client().containers.list(all=True, filters=filters, ignore_removed=True))


@pytest.fixture
def executor(request: pytest.FixtureRequest) -> Iterator[str]:
    """The executor under test; after a docker run, whatever sandboxes of this test remain (a failed
    assertion midway) are collected."""
    kind = str(request.param)
    yield kind
    if kind == "docker":
        for run_id in (WHOLE, KILLED):
            subprocess.run([HARNESS, "sandbox", "gc", "--run-id", run_id], capture_output=True, check=False)


@pytest.fixture
def killed() -> Iterator[list[int]]:
    """Pids of the processes the test kills: whatever sandboxes they own afterwards (labelled with a
    wrong run id, if labelling regressed) are removed."""
    pids: list[int] = []
    yield pids
    for c in (c for pid in pids for c in _owned_by(pid)):
        c.remove(force=True)


@pytest.mark.parametrize(
    "executor", ["local", pytest.param("docker", marks=pytest.mark.docker)], indirect=True
)
def test_a_killed_search_resumes_without_redoing_finished_units(
    tmp_path: Path, executor: str, killed: list[int]
) -> None:
    """With ``docker``, every program runs in a sandbox; the killed process's sandbox is left behind
    and ``harness sandbox gc`` removes it before the rerun."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(tests=str(ROOT / "tests")))
    results = tmp_path / "results"
    every = {_uid(t, s, k) for t in TASK_IDS for s in STRATEGIES for k in range(SEEDS)}

    # The reference: the same comparison, never interrupted (its own cache and log).
    whole = subprocess.run(
        _cmd(driver, results, WHOLE, executor),
        env=_env(tmp_path / "whole.log", tmp_path / "whole.sqlite"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert whole.returncode == 0, whole.stderr
    if executor == "docker":
        assert _sandboxes(WHOLE) == []  # a finished run closes its own

    # The victim: held at the second request of HumanEval/1's first unit of seed 1, then SIGKILLed.
    cmd, killed_log = _cmd(driver, results, KILLED, executor), tmp_path / "killed.log"
    cache = tmp_path / "killed.sqlite"
    victim = subprocess.Popen(
        cmd, env=_env(killed_log, cache, HOLD), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if executor == "docker":
        killed.append(victim.pid)
    try:
        deadline = time.monotonic() + 300  # a give-up guard, not a measurement
        while not any(e["kind"] == "held" for e in _log(killed_log)):
            assert victim.poll() is None, victim.stderr.read().decode() if victim.stderr else ""
            assert time.monotonic() < deadline, "the run never reached the held request"
            time.sleep(0.05)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        if victim.stderr is not None:
            victim.stderr.close()
    assert victim.returncode == -signal.SIGKILL
    if executor == "docker":
        assert _sandboxes(KILLED), "SIGKILL leaves the run's sandbox behind, labelled with --run-id"
        gc = subprocess.run([HARNESS, "sandbox", "gc", "--run-id", KILLED], capture_output=True, text=True)
        assert gc.returncode == 0 and _sandboxes(KILLED) == [], gc.stderr
    run_dir = results / KILLED
    assert not (run_dir / "search" / "summary.json").exists()
    at_kill = _units(results, KILLED)
    done = {u for u, s in at_kill.items() if s == "done"}
    # Seed-major, then task by task: all of seed 0 and HumanEval/0 of seed 1 were finished; the
    # held unit was running; nothing else had started.
    assert done == {_uid(t, s, 0) for t in TASK_IDS for s in STRATEGIES} | {
        _uid("HumanEval/0", s, 1) for s in STRATEGIES
    }
    assert {u for u, s in at_kill.items() if s != "done"} == {_uid("HumanEval/1", "best_of_n", 1)}
    assert at_kill[_uid("HumanEval/1", "best_of_n", 1)] == "running"
    before = _artefacts(run_dir)
    assert len(before) == 2 * len(done)  # a unit record and a tree per finished unit, no more

    # The same command again, without the hold.
    resumed_log = tmp_path / "resumed.log"
    again = subprocess.run(cmd, env=_env(resumed_log, cache), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr

    # Finished units were not redone: their artefacts are untouched, and the resumed process asked the
    # model nothing about a (task, seed) whose units were all finished.
    after = _artefacts(run_dir)
    assert {k: v for k, v in after.items() if k in before} == before
    assert len(after) == 2 * len(every)
    requests = [e for e in _log(resumed_log) if e["kind"] == "request"]
    finished_groups = {
        (t, k) for t in TASK_IDS for k in range(SEEDS) if all(_uid(t, s, k) in done for s in STRATEGIES)
    }
    assert len(finished_groups) == 4
    assert not [e for e in requests if (e["task"], e["seed"]) in finished_groups]
    assert (requests[0]["task"], requests[0]["seed"], requests[0]["pos"]) == ("HumanEval/1", 1, 1)
    # It made exactly the requests of the units that were not finished (the held one from scratch) ...
    final = _records(run_dir)
    assert len(requests) == sum(r["spent"]["calls"] for u, r in final.items() if u not in done)
    # ... and, with the response cache, no answer was generated twice across the kill: the two
    # processes together generated exactly what the uninterrupted run generated.
    # (A generation is keyed as the cache keys it, plus its sample index.)
    generated = [
        tuple(e["key"]) for log in (killed_log, resumed_log) for e in _log(log) if e["kind"] == "generate"
    ]
    reference = [tuple(e["key"]) for e in _log(tmp_path / "whole.log") if e["kind"] == "generate"]
    assert Counter(generated) == Counter(reference)
    assert max(Counter(generated).values()) == 1

    # The results equal the uninterrupted run's: every unit record, the summary, one outcome per unit.
    assert final == _records(results / WHOLE)
    assert _units(results, KILLED) == dict.fromkeys(every, "done")

    def summary(run_id: str) -> dict[str, Any]:
        data = json.loads((results / run_id / "search" / "summary.json").read_text())
        return {k: v for k, v in data.items() if k not in ("run_id", "run_dir")}

    # ... except for how the spend splits: the killed attempt's answered request was paid for and is
    # counted with it, labelled as a failed attempt; the finished search that replayed it from the
    # response cache does not count it again. So the run paid what the uninterrupted run paid, and
    # the totals say so: every request the model answered, once.
    killed_summary, whole_summary = summary(KILLED), summary(WHOLE)
    killed_spend, whole_spend = killed_summary.pop("spend"), whole_summary.pop("spend")
    assert killed_summary == whole_summary
    assert whole_spend["failed_attempts"]["attempts"] == 0
    answered = len([e for e in _log(killed_log) if e["kind"] == "request"]) - 1  # all but the held one
    lost = answered - sum(r["spent"]["calls"] for u, r in final.items() if u in done)
    assert lost == 1
    assert killed_spend["failed_attempts"]["units"] == {_uid("HumanEval/1", "best_of_n", 1): 1}
    assert killed_spend["failed_attempts"]["spent"]["calls"] == lost
    assert killed_spend["finished"]["calls"] == whole_spend["finished"]["calls"] - lost
    assert killed_spend["from_cache"]["calls"] == whole_spend["from_cache"]["calls"] + lost
    assert killed_spend["total"] == whole_spend["total"]
    assert whole_spend["total"]["calls"] == _paid_requests(tmp_path / "whole.log")
    assert killed_spend["total"]["calls"] == _paid_requests(killed_log) + _paid_requests(resumed_log)
    stages = {s["stage"]: s for s in json.loads((run_dir / "stages.json").read_text())}
    assert stages["search.failed_attempts"]["calls"] == lost
    assert sum(s["calls"] for s in stages.values()) == killed_spend["total"]["calls"]
    assert {s["system"] for s in killed_summary["systems"]} == set(STRATEGIES)
    lines = (run_dir / "outcomes.jsonl").read_text().splitlines()
    keys = [(o["task_id"], o["system"], o["seed"]) for o in map(json.loads, lines)]
    assert len(keys) == len(set(keys)) == len(every)
    assert json.loads(again.stdout.strip().splitlines()[-1])["failed_units"] == {}
    if executor == "docker":
        assert _sandboxes(KILLED) == []  # the rerun closed its own
