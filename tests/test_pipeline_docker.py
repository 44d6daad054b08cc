"""The whole pipeline in Docker with the scripted model (``tests/pipeline_policy.py``).

Three local tasks end to end: context, four trajectories each in its own sandbox of the task's
instance image (one recovering from a SEARCH text that matches nothing, one from a syntax error, one
giving up with a wrong patch, an off-format answer in the testing loop), voting and B4 in fresh
containers, the selection loop running a test in candidate containers, then hidden-test evaluation.
And ``harness run`` from a YAML config, SIGKILLed after some trajectories and rerun.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pipeline_policy
import pytest

from harness.pipeline import parse_config
from harness.pipeline._main import run_pipeline
from harness.store import read_outcomes, read_stages
from harness.tasks import load_local_task
from harness.trajectory import iter_events

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[1]
TASKS = ["local__unitconv-1", "local__globmatch-1", "local__money-1"]
PRICE = {"input": 3.0, "output": 15.0}


def _cfg(**over: object) -> dict[str, object]:
    cfg: dict[str, object] = {
        "suite": str(ROOT / "tasks" / "local"),
        "tasks": TASKS,
        "models": {
            "default": {"spec": "scripted", "policy": "pipeline_policy:policy", "options": {"price": PRICE}}
        },
        "n_trajectories": 4,
        "testing_turns": 3,
        "editing_turns": 4,
        "selection_turns": 3,
        "limits": {"trajectories": 2, "vote_sandboxes": 2},
        "test_timeout": 60,
    }
    cfg.update(over)
    return cfg


def test_pipeline_resolves_three_local_tasks_in_docker(tmp_path: Path) -> None:
    pipeline_policy.reset()
    cfg = parse_config(_cfg())
    results = tmp_path / "results"
    lines: list[str] = []
    summary = run_pipeline(cfg, ROOT, results_dir=results, run_id="docker-e2e", progress=lines.append)
    assert summary["resolved"] == 3 and summary["n_tasks"] == 3
    assert summary["oracle"] == 1.0 and summary["random_pick"] == 0.75 and summary["cost_usd"] > 0
    run_dir = results / "docker-e2e"
    outcomes = {o.task_id: o for o in read_outcomes(run_dir)}
    assert set(outcomes) == set(TASKS)
    for tid in TASKS:
        o = outcomes[tid]
        assert o.resolved == 1.0 and o.oracle and o.n_candidates == 4 and o.extra["distinct_candidates"] == 2
        sel = json.loads((run_dir / "selection" / f"{tid}.json").read_text())
        assert sel["method"] == "agent" and not sel["fell_back"] and sel["groups"] == [[0, 1, 2], [3]]
        assert sel["votes"]["scores"] == [4.0, 0.0] and sel["votes"]["groups"][0] == [0]
        assert sel["b4"]["groups"][0] == [0]
        # The unedited repository fails the reproduction test, the fix passes it, the wrong patch does not.
        assert sel["matrix"]["baseline"] == [0] and sel["matrix"]["cells"] == [[1], [0]]  # FAIL, PASS, FAIL
        ev = json.loads((run_dir / "eval" / f"{tid}.json").read_text())
        assert ev["candidate_resolved"] == [True, False] and ev["outcomes"] == ["resolved", "unresolved"]
        report = json.loads((run_dir / "eval" / tid / "c0" / "report.json").read_text())
        assert report[tid]["resolved"] is True
        traj_dir = run_dir / "trajectories" / tid
        kinds: set[str] = set()
        verdicts: list[str] = []
        for n in range(4):
            events = list(iter_events(traj_dir / f"t{n}.jsonl"))
            kinds |= {e.type for e in events}
            verdicts += [e.data["verdict"] for e in events if e.type == "test_run"]
            assert events[-1].type == "end"
        assert {"start", "model_request", "model_response", "test_run", "edit", "note", "end"} <= kinds
        assert "crashed" in verdicts and "fixed" in verdicts and "not fixed" in verdicts
        sel_events = list(iter_events(traj_dir / "selection.jsonl"))
        assert any(e.type == "command" and e.data["kind"] == "test" for e in sel_events)
    stages = {s.stage: s for s in read_stages(run_dir)}
    assert {"context", "testing", "editing", "selection", "evaluation"} <= set(stages)
    assert all(stages[s].cost_usd > 0 for s in ("context", "testing", "editing", "selection"))
    assert any("evaluation: RESOLVED" in line for line in lines)
    # No hidden test reached a model.
    prompts = "\n".join(pipeline_policy.SEEN)
    for tid in TASKS:
        task = load_local_task(ROOT / "tasks" / "local" / tid.split("__")[1].split("-")[0])
        repo = Path(task.repo_source().location)
        known = "\n".join(p.read_text() for p in repo.rglob("*.py"))
        added = [
            ln[1:].strip()
            for ln in task.test_patch.splitlines()
            if ln.startswith("+") and not ln.startswith("+++")
        ]
        # Lines the issue itself shows (or our reproduction script repeats) are public, not hidden.
        public = known + task.problem_statement + "\n".join(pipeline_policy.REPRO.values())
        hidden = [a for a in added if len(a) >= 20 and a not in public]
        assert hidden and not [h for h in hidden if h in prompts]


async def test_a_trajectory_sandbox_holds_no_hidden_test() -> None:
    from harness.pipeline.run import docker_deps

    cfg = parse_config(_cfg(tasks=["local__money-1"]))
    deps = docker_deps(cfg, "pipeline-hidden-check")
    task = load_local_task(ROOT / "tasks" / "local" / "money")
    image = deps.image(task)
    sb = await deps.trajectory_sandbox(image)
    try:
        names = [n.split("::")[-1].split("[")[0] for n in task.FAIL_TO_PASS]
        for root in (deps.roots.workdir, deps.roots.unedited):
            for name in names:
                res = await sb.run(["grep", "-rl", name, root], timeout=30)
                assert res.exit_code == 1, res.stdout  # grep: no match
        log = await sb.run("git log --all --oneline | wc -l", cwd=deps.roots.unedited, timeout=30)
        assert log.stdout.strip() == "1"
    finally:
        await sb.close()


def test_harness_run_killed_and_rerun_resumes(tmp_path: Path) -> None:
    policy_file = ROOT / "tests" / "pipeline_policy.py"
    cfg = _cfg(tasks=["local__unitconv-1"], n_trajectories=5, first_alone=True, limits={"trajectories": 1})
    cfg["models"] = {
        "default": {"spec": "scripted", "policy": f"{policy_file}:policy", "options": {"price": PRICE}}
    }
    yaml = pytest.importorskip("yaml")
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(cfg))
    results = tmp_path / "results"
    cmd = [
        sys.executable,
        "-c",
        "from harness.cli import main; main()",
        "run",
        str(config),
        "--run-id",
        "killme",
        "--results",
        str(results),
        "--json",
    ]
    out_dir = results / "killme" / "trajectories_out" / "local__unitconv-1"
    # The third trajectory's editing model hangs: the run is killed there, whatever the machine's speed.
    hold = {**os.environ, "PIPELINE_POLICY_HOLD_EDITING": "2"}
    victim = subprocess.Popen(cmd, env=hold, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 600
        while len(list(out_dir.glob("*.json"))) < 2:
            assert victim.poll() is None, victim.stderr.read().decode() if victim.stderr else ""
            assert time.monotonic() < deadline, "no trajectory finished"
            time.sleep(0.05)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        if victim.stderr is not None:
            victim.stderr.close()
    gc = subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; main()", "sandbox", "gc", "--run-id", "killme"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gc.returncode == 0, gc.stderr
    finished = {p.name: p.read_bytes() for p in out_dir.glob("*.json")}
    assert len(finished) == 2
    assert (results / "killme" / "context" / "local__unitconv-1.json").exists()
    context_before = (results / "killme" / "context" / "local__unitconv-1.json").read_bytes()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ})
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["resolved"] == 1 and summary["resumed"] is True
    for name, data in finished.items():
        assert (out_dir / name).read_bytes() == data
    assert (results / "killme" / "context" / "local__unitconv-1.json").read_bytes() == context_before
    assert len(list(out_dir.glob("*.json"))) == 5
