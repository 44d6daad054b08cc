"""What a run paid for is what its totals say, also when attempts were killed or redone.

A trajectory (or context, or selection) cut short by a kill or a sandbox failure is started afresh,
but the model calls it made before were answered, and paid: the resumed run's stage totals, the task's
cost and the summary count them. The scripted policy keeps a ledger of every answer it gave
(``PIPELINE_POLICY_LEDGER``), across the processes of a killed and resumed run; it is the truth the
totals are checked against. Sandboxes are host folders (``tests/pipeline_host.py``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pipeline_policy
import pytest
from pipeline_host import host_deps

from harness.errors import SandboxError
from harness.pipeline import parse_config
from harness.pipeline._main import run_pipeline
from harness.store import read_outcomes, read_stages
from harness.trajectory import iter_events

ROOT = Path(__file__).resolve().parents[1]
TASK = "local__unitconv-1"
RUNNER = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from pipeline_host import host_deps
from harness.pipeline import load_config
from harness.pipeline._main import run_pipeline
cfg, base = load_config(sys.argv[1])
run_pipeline(cfg, base, results_dir=Path(sys.argv[2]), run_id="k", deps=host_deps(Path(sys.argv[3])))
"""


@pytest.fixture(autouse=True)
def _fresh_policy() -> None:
    pipeline_policy.reset()


def _config(**over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "suite": str(ROOT / "tasks" / "local"),
        "tasks": [TASK],
        "models": {
            "default": {
                "spec": "scripted",
                "policy": "pipeline_policy:policy",
                "options": {"price": {"input": 3.0, "output": 15.0}},
            }
        },
        "n_trajectories": 4,
        "first_alone": False,
        "testing_turns": 3,
        "editing_turns": 4,
        "limits": {"trajectories": 1},
    }
    cfg.update(over)
    return cfg


def _ledger(path: Path) -> Counter[str]:
    """Answered calls per pipeline stage (relevance and ranking are the context stage)."""
    stages = [json.loads(line)["stage"] for line in path.read_text().splitlines()]
    return Counter("context" if s in ("relevance", "ranking") else s for s in stages)


def _log_cost(path: Path) -> float:
    return sum(e.cost_usd for e in iter_events(path))


def _check_totals(run_dir: Path, ledger: Counter[str], summary: dict[str, Any]) -> dict[str, Any]:
    stages = {s.stage: s for s in read_stages(run_dir)}
    assert {k: stages[k].calls for k in ledger} == dict(ledger)
    total = sum(s.cost_usd for s in stages.values())
    (outcome,) = read_outcomes(run_dir)
    assert abs(outcome.cost_usd - total) < 1e-6 and abs(summary["cost_usd"] - total) < 1e-6
    return {s: v.cost_usd for s, v in stages.items()}


def test_money_spent_before_a_kill_stays_in_the_resumed_totals(tmp_path: Path) -> None:
    (tmp_path / "cfg.json").write_text(json.dumps(_config()))
    script = tmp_path / "run.py"
    script.write_text(RUNNER.format(tests=str(ROOT / "tests")))
    results, ledger = tmp_path / "results", tmp_path / "ledger.jsonl"
    logs = results / "k" / "trajectories" / TASK
    cmd = [sys.executable, str(script), str(tmp_path / "cfg.json"), str(results), str(tmp_path / "sb")]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "PIPELINE_POLICY_LEDGER": str(ledger)}
    # The third trajectory's first editing call hangs (the whole process waits on it), after its
    # testing loop was answered and paid for: the run is killed exactly there.
    victim = subprocess.Popen(
        cmd,
        env={**env, "PIPELINE_POLICY_HOLD_EDITING": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 300
        while "by editing its files" not in (
            (logs / "t2.jsonl").read_text() if (logs / "t2.jsonl").exists() else ""
        ):
            assert victim.poll() is None, victim.stderr.read().decode() if victim.stderr else ""
            assert time.monotonic() < deadline, "the run did not get to its third trajectory's editing"
            time.sleep(0.02)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        if victim.stderr is not None:
            victim.stderr.close()
    half_done = (logs / "t2.jsonl").read_bytes()
    half_cost = _log_cost(logs / "t2.jsonl")
    paid_before = _ledger(ledger)
    assert half_cost > 0 and paid_before["testing"] > 0

    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    run_dir = results / "k"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumed"] is True and summary["resolved"] == 1
    paid = _ledger(ledger)
    costs = _check_totals(run_dir, paid, summary)
    # Dollars: every answer logged by the finished attempts, plus the killed attempt's.
    finished = sum(_log_cost(p) for p in logs.glob("*.jsonl"))
    assert abs(sum(costs.values()) - (finished + half_cost)) < 1e-6
    # The killed attempt's log survives, set aside from the trajectories the viewer lists.
    (kept,) = (run_dir / "abandoned" / TASK).glob("t2*.jsonl")
    assert kept.read_bytes() == half_done
    assert json.loads((run_dir / "outcomes.jsonl").read_text().splitlines()[-1])["extra"][
        "cost_abandoned"
    ] == pytest.approx(half_cost, abs=1e-6)
    # A rerun of the finished run pays nothing more and reports the same.
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert _ledger(ledger) == paid
    assert _check_totals(run_dir, paid, json.loads((run_dir / "summary.json").read_text())) == costs


def _first_trajectory_dies_in_editing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, list[Any], Path]:
    """Host deps whose first trajectory's sandbox dies when its first edit is tested (after the testing
    loop and one editing turn were answered); the sandboxes made, and the policy's ledger."""
    ledger = tmp_path / "ledger.jsonl"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("PIPELINE_POLICY_LEDGER", str(ledger))
    deps = host_deps(tmp_path / "sb")
    real, made = deps.trajectory_sandbox, []

    async def flaky(image: str) -> Any:
        sandbox = await real(image)
        made.append(sandbox)
        if len(made) == 2:  # the first trajectory's (the first sandbox serves the context stage)
            run = sandbox.run

            async def dies_in_editing(cmd: Any, **kw: Any) -> Any:
                if "editing_1_edited" in str(cmd):
                    raise SandboxError("container vanished")
                return await run(cmd, **kw)

            sandbox.run = dies_in_editing
        return sandbox

    deps.trajectory_sandbox = flaky
    return deps, made, ledger


def test_a_trajectory_redone_after_a_sandbox_failure_keeps_the_first_attempts_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps, made, ledger = _first_trajectory_dies_in_editing(tmp_path, monkeypatch)
    cfg = parse_config(_config(n_trajectories=1))
    summary = run_pipeline(cfg, ROOT, results_dir=tmp_path / "res", run_id="f", deps=deps)
    assert summary["resolved"] == 1 and len(made) == 3
    paid = _ledger(ledger)
    # The first attempt answered its testing loop (3 calls) and one editing turn (plan 0) before its
    # sandbox died; the second, 2 and 4 (plan 1).
    assert paid["testing"] == 3 + 2 and paid["editing"] == 1 + 4
    _check_totals(tmp_path / "res" / "f", paid, summary)


def test_calls_a_redone_trajectory_replays_from_the_response_cache_are_counted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the response cache on (the default for hosted models), the attempt after a sandbox failure
    sends its predecessor's requests again and the cache answers them: the finished attempt's record
    counts those calls, and the abandoned log's copies of them are not counted a second time."""
    deps, made, ledger = _first_trajectory_dies_in_editing(tmp_path, monkeypatch)
    cfg = _config(n_trajectories=1)
    cfg["models"]["default"]["options"].update(cache=True, cache_path=str(tmp_path / "responses.sqlite"))
    summary = run_pipeline(parse_config(cfg), ROOT, results_dir=tmp_path / "res", run_id="c", deps=deps)
    assert summary["resolved"] == 1 and len(made) == 3
    run_dir = tmp_path / "res" / "c"
    (kept,) = (run_dir / "abandoned" / TASK).glob("t0*.jsonl")
    finished = run_dir / "trajectories" / TASK / "t0.jsonl"
    replays = [e for e in iter_events(finished) if e.type == "model_response" and e.data.get("cached")]
    # The first attempt's testing loop and editing turn were answered (and paid) once; the second
    # attempt got them from the cache and went on from there.
    paid = _ledger(ledger)
    assert paid["testing"] == 3 and paid["editing"] >= 1
    assert len(replays) == 4 and sum(1 for e in iter_events(kept) if e.type == "model_response") == 4
    costs = _check_totals(run_dir, paid, summary)
    # Dollars: the finished logs' (context's included), nothing of the abandoned one (all replayed).
    assert abs(sum(costs.values()) - sum(_log_cost(p) for p in finished.parent.glob("*.jsonl"))) < 1e-6
    (outcome,) = read_outcomes(run_dir)
    assert outcome.extra["cost_abandoned"] == 0.0
