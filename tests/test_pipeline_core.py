"""The pipeline core with the scripted model: context parsing, the loops, the whole run and its resume.

Sandboxes here are host folders (``tests/pipeline_host.py``); ``test_pipeline_docker.py`` runs the
same pipeline in Docker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pipeline_policy
import pytest
from pipeline_host import ROOTS, HostSandbox, host_deps
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import ConfigError
from harness.models import load
from harness.pipeline import (
    FileVerdict,
    build_context,
    editing_loop,
    fit_budget,
    is_test_path,
    loops,
    parse_config,
    parse_ranking,
    parse_relevance,
    source_files,
)
from harness.pipeline._main import run_pipeline
from harness.pipeline.context import average_order, rank_files
from harness.store import read_outcomes, read_stages
from harness.tasks import RepoTask, load_local_task
from harness.trajectory import iter_events

ROOT = Path(__file__).resolve().parents[1]
PRICE = {"input": 3.0, "output": 15.0}


@pytest.fixture(autouse=True)
def _fresh_policy() -> None:
    pipeline_policy.reset()


def _task(name: str, tmp_path: Path) -> RepoTask:
    return load_local_task(ROOT / "tasks" / "local" / name, cache_dir=tmp_path / "cache")


def _sources(task: RepoTask) -> dict[str, str]:
    repo = Path(task.repo_source().location)
    return {p.relative_to(repo).as_posix(): p.read_text() for p in repo.rglob("*.py")}


def _model(stage: str = "default") -> Any:
    return load("scripted", policy=pipeline_policy.policy, price=PRICE, stage=stage)


# -- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("<verdict>relevant</verdict>\n<summary>Parses units.</summary>", (True, "Parses units.")),
        ("<VERDICT> Not relevant. </VERDICT><summary>CLI glue</summary>", (False, "CLI glue")),
        ("Verdict: yes\nSummary: the converter", (True, "the converter")),
        ("**Verdict**: irrelevant", (False, "")),
        ("<verdict>relevant</verdict>", (True, "")),
    ],
)
def test_relevance_answers_are_read_leniently(text: str, want: tuple[bool, str]) -> None:
    assert parse_relevance(text) == want


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("This file looks important to me.", "no verdict"),
        ("<verdict>maybe</verdict>", "unreadable verdict"),
        ("<verdict>relevant</verdict> ... <verdict>not relevant</verdict>", "contradicting"),
    ],
)
def test_unreadable_relevance_answers_say_why(text: str, why: str) -> None:
    got = parse_relevance(text)
    assert isinstance(got, str) and why in got


def test_ranking_parsing_averaging_and_budget() -> None:
    known = ["pkg/a.py", "pkg/b.py", "pkg/c.py"]
    text = "<ranking>\n1. `pkg/c.py`\n- ./pkg/a.py\n* pkg/zzz.py\n</ranking>"
    assert parse_ranking(text, known) == ["pkg/c.py", "pkg/a.py"]
    assert isinstance(parse_ranking("I would read the parser first.", known), str)
    # b is left out of both rankings, so it sits after their last entries.
    order = average_order(known, [["pkg/c.py", "pkg/a.py"], ["pkg/a.py", "pkg/c.py"]])
    assert order == ["pkg/a.py", "pkg/c.py", "pkg/b.py"]
    sources = {"pkg/a.py": "x" * 400, "pkg/b.py": "y" * 40, "pkg/c.py": "z" * 4000}
    included, tokens = fit_budget(["pkg/c.py", "pkg/a.py", "pkg/b.py"], sources, 200)
    assert included == ["pkg/a.py", "pkg/b.py"] and 100 < tokens <= 200


def test_test_files_are_not_sources() -> None:
    paths = [
        "pkg/mod.py",
        "tests/test_mod.py",
        "pkg/tests/helpers.py",
        "test_x.py",
        "pkg/x_test.py",
        "conftest.py",
        "README.md",
        "pkg/util.py",
    ]
    assert [p for p in paths if not is_test_path(p)] == ["pkg/mod.py", "README.md", "pkg/util.py"]
    assert source_files(paths) == ["pkg/mod.py", "pkg/util.py"]


# -- context --------------------------------------------------------------------------------------


async def test_context_marks_gold_files_relevant_and_logs_off_format_answers(tmp_path: Path) -> None:
    from harness.trajectory import TrajectoryLog

    task = _task("money", tmp_path)
    sources = _sources(task)
    log = TrajectoryLog(tmp_path / "context.jsonl")
    model = _model()
    ctx = await build_context(
        task.public_view(), sources, relevance_model=model, ranking_model=model, token_budget=50_000, log=log
    )
    log.close()
    by_path = {v.path: v for v in ctx.verdicts}
    assert set(by_path) == {"money/__init__.py", "money/amount.py", "money/currency.py", "money/fmt.py"}
    assert ctx.relevant == ["money/amount.py"] and ctx.included == ["money/amount.py"]
    assert not by_path["money/__init__.py"].relevant
    assert "off-format" in by_path["money/__init__.py"].reason
    events = list(iter_events(tmp_path / "context.jsonl"))
    notes = [e.data for e in events if e.type == "note"]
    assert abs(sum(e.cost_usd for e in events) - ctx.spent.cost_usd) < 1e-9  # ranking: no call (1 file)
    assert any(n["path"] == "money/__init__.py" and "no verdict" in n["reason"] for n in notes)
    assert ctx.spent.calls == 4 and ctx.spent.cost_usd > 0


async def test_ranking_with_an_off_format_answer_keeps_relevance_order() -> None:
    verdicts = [FileVerdict(path=p, relevant=True, summary="s") for p in ("a.py", "b.py")]
    model = load("scripted", policy=lambda _m, _i: "I cannot rank these.")
    task = RepoTask(instance_id="x", repo="r", base_commit="c", problem_statement="p").public_view()
    rankings, order, spent = await rank_files(task, model, verdicts, n_rankings=3)
    assert rankings == [] and order == ["a.py", "b.py"] and spent.calls == 3


# -- loops ----------------------------------------------------------------------------------------


async def test_testing_loop_recovers_from_an_off_format_answer(tmp_path: Path) -> None:
    task = _task("unitconv", tmp_path)
    sb = HostSandbox(task.repo_source().location, tmp_path)
    res = await loops.testing_loop(task.public_view(), _model(), sb, {}, roots=ROOTS, max_turns=4)
    assert res.done and res.turns == 3 and res.test == pipeline_policy.REPRO[task.instance_id]
    assert res.unedited is not None and res.unedited.exit_code == 2 and "1000.0" in res.unedited.output
    assert res.spent.calls == 3


@pytest.mark.parametrize(("plan", "turns", "exit_code"), [(0, 2, 0), (1, 4, 0), (2, 3, 0), (3, 2, 2)])
async def test_editing_loop_plans(tmp_path: Path, plan: int, turns: int, exit_code: int) -> None:
    task = _task("unitconv", tmp_path)
    sb = HostSandbox(task.repo_source().location, tmp_path)
    pipeline_policy._counters[(task.instance_id, "editing")] = plan
    sources = _sources(task)
    res = await editing_loop(
        task.public_view(),
        _model(),
        sb,
        {},
        sources,
        pipeline_policy.REPRO[task.instance_id],
        roots=ROOTS,
        max_turns=5,
    )
    assert res.done and res.turns == turns
    assert res.edited is not None and res.edited.exit_code == exit_code
    if exit_code == 0:
        assert "self.factor**n" in res.patch and "@@@" not in res.patch
    else:
        assert "# see issue" in res.patch
    if plan == 1:  # the malformed block, then the SEARCH text that matched nothing
        assert res.edits_failed == 2


async def test_editing_loop_turn_limit_still_returns_the_diff(tmp_path: Path) -> None:
    task = _task("unitconv", tmp_path)
    sb = HostSandbox(task.repo_source().location, tmp_path)
    pipeline_policy._counters[(task.instance_id, "editing")] = 2
    sources = _sources(task)
    res = await editing_loop(
        task.public_view(),
        _model(),
        sb,
        {},
        sources,
        pipeline_policy.REPRO[task.instance_id],
        roots=ROOTS,
        max_turns=1,
    )
    assert not res.done and res.stopped == "turn limit (1)"
    assert res.edited is not None and res.edited.verdict == "crashed" and "@@@ oops" in res.patch


# -- the whole pipeline ---------------------------------------------------------------------------


def _config(tmp_path: Path, **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "suite": str(ROOT / "tasks" / "local"),
        "tasks": ["local__unitconv-1", "local__globmatch-1"],
        "models": {
            "default": {
                "spec": "scripted",
                "policy": "pipeline_policy:policy",
                "options": {"price": PRICE},
            }
        },
        "n_trajectories": 4,
        "testing_turns": 3,
        "editing_turns": 4,
        "limits": {"trajectories": 2},
    }
    cfg.update(over)
    return cfg


def _hidden_lines(task: RepoTask) -> list[str]:
    repo = Path(task.repo_source().location)
    known = "\n".join(p.read_text() for p in repo.rglob("*.py"))
    added = [
        ln[1:].strip()
        for ln in task.test_patch.splitlines()
        if ln.startswith("+") and not ln.startswith("+++")
    ]
    public = known + task.problem_statement + "\n".join(pipeline_policy.REPRO.values())
    return [a for a in added if len(a) >= 20 and a not in public]


def test_pipeline_resolves_tasks_votes_selects_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cfg = parse_config(_config(tmp_path))
    results = tmp_path / "results"
    seen: list[str] = []
    summary = run_pipeline(
        cfg, ROOT, results_dir=results, run_id="r1", deps=host_deps(tmp_path / "sb"), progress=seen.append
    )
    assert summary["n_tasks"] == 2 and summary["resolved"] == 2
    run_dir = results / "r1"
    for t in summary["tasks"]:
        assert t["oracle"] is True and t["random_pick"] == 0.75 and t["n_candidates"] == 4
        assert t["cost_usd"] > 0 and t["extra"]["distinct_candidates"] == 2 and not t["extra"]["fell_back"]
        key = t["task_id"]
        sel = json.loads((run_dir / "selection" / f"{key}.json").read_text())
        assert sel["groups"] == [[0, 1, 2], [3]] and sel["chosen"] == 0 and len(sel["tests"]) == 1
        assert sel["votes"]["scores"] == [4.0, 0.0]
        logs = sorted(p.name for p in (run_dir / "trajectories" / key).glob("*.jsonl"))
        assert logs == ["context.jsonl", "selection.jsonl", "t0.jsonl", "t1.jsonl", "t2.jsonl", "t3.jsonl"]
        events = list(iter_events(run_dir / "trajectories" / key / "t0.jsonl"))
        assert events[0].type == "start" and events[-1].type == "end"
        assert {"model_request", "model_response", "test_run", "edit"} <= {e.type for e in events}
        ev = json.loads((run_dir / "eval" / f"{key}.json").read_text())
        assert ev["candidate_resolved"] == [True, False]
        assert (run_dir / "eval" / key / "c0" / "report.json").exists()
    stages = {s.stage: s for s in read_stages(run_dir)}
    assert stages["testing"].calls > 0 and stages["editing"].cost_usd > 0
    total = sum(s.cost_usd for s in stages.values())
    assert abs(total - summary["cost_usd"]) < 1e-6
    preds = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert [p["instance_id"] for p in preds] == ["local__globmatch-1", "local__unitconv-1"]
    assert any("context" in line for line in seen)
    # Hidden tests never reach a model.
    prompts = "\n".join(pipeline_policy.SEEN)
    assert prompts
    for tid in cfg.tasks or []:
        task = _task(tid.split("__")[1].split("-")[0], tmp_path)
        hidden = _hidden_lines(task)
        assert hidden and not [h for h in hidden if h in prompts]
        assert not [name for name in task.FAIL_TO_PASS if name.split("::")[-1].split("[")[0] in prompts]
    # A rerun of the finished run calls no model and redoes nothing.
    pipeline_policy.reset()
    again = run_pipeline(cfg, ROOT, results_dir=results, run_id="r1", deps=host_deps(tmp_path / "sb2"))
    assert pipeline_policy.SEEN == [] and again["resumed"] and again["resolved"] == 2
    assert len(read_outcomes(run_dir)) == 2
    assert [t["time_s"] for t in again["tasks"]] == [t["time_s"] for t in summary["tasks"]]
    assert [t["cost_usd"] for t in again["tasks"]] == [t["cost_usd"] for t in summary["tasks"]]


def test_votes_selector_and_no_evaluation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cfg = parse_config(
        _config(
            tmp_path,
            tasks=["local__unitconv-1"],
            selector="b4",
            evaluate=False,
            n_trajectories=2,
            first_alone=False,
        )
    )
    summary = run_pipeline(
        cfg, ROOT, results_dir=tmp_path / "res", run_id="r", deps=host_deps(tmp_path / "sb")
    )
    (t,) = summary["tasks"]
    assert t["oracle"] is None and t["resolved"] == 0.0 and t["n_candidates"] == 2
    assert not (tmp_path / "res" / "r" / "trajectories" / "local__unitconv-1" / "selection.jsonl").exists()


def test_evaluating_only_the_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cfg = parse_config(_config(tmp_path, tasks=["local__unitconv-1"], evaluate_all=False))
    summary = run_pipeline(
        cfg, ROOT, results_dir=tmp_path / "res", run_id="c", deps=host_deps(tmp_path / "sb")
    )
    (t,) = summary["tasks"]
    assert t["resolved"] == 1.0 and t["oracle"] is True and t["random_pick"] is None
    ev = json.loads((tmp_path / "res" / "c" / "eval" / "local__unitconv-1.json").read_text())
    assert ev["outcomes"] == ["resolved", "not_evaluated"] and ev["candidate_resolved"] == [True, None]


def test_an_exhausted_budget_ends_every_stage_gracefully(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cfg = parse_config(_config(tmp_path, tasks=["local__unitconv-1"], n_trajectories=2, budget_usd=0.004))
    summary = run_pipeline(
        cfg, ROOT, results_dir=tmp_path / "res", run_id="b", deps=host_deps(tmp_path / "sb")
    )
    (t,) = summary["tasks"]
    run_dir = tmp_path / "res" / "b"
    ctx = json.loads((run_dir / "context" / "local__unitconv-1.json").read_text())
    reasons = [v["reason"] for v in ctx["verdicts"]]
    assert any("BudgetExceeded" in r for r in reasons)
    for n in range(2):
        rec = json.loads((run_dir / "trajectories_out" / "local__unitconv-1" / f"{n}.json").read_text())
        assert "BudgetExceeded" in rec["testing_stopped"] and "BudgetExceeded" in rec["editing_stopped"]
        assert rec["patch"] == ""
    assert t["resolved"] == 0.0 and t["oracle"] is False and 0.004 <= t["cost_usd"] < 0.02


def test_a_sandbox_failure_redoes_the_trajectory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.errors import SandboxError

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    deps = host_deps(tmp_path / "sb")
    real, calls = deps.trajectory_sandbox, []

    async def flaky(image: str) -> Any:
        calls.append(image)
        if len(calls) == 2:  # the first trajectory's sandbox (the first one serves the context stage)
            raise SandboxError("container vanished")
        return await real(image)

    deps.trajectory_sandbox = flaky
    cfg = parse_config(_config(tmp_path, tasks=["local__unitconv-1"], n_trajectories=1))
    lines: list[str] = []
    summary = run_pipeline(
        cfg, ROOT, results_dir=tmp_path / "res", run_id="f", deps=deps, progress=lines.append
    )
    assert summary["resolved"] == 1 and len(calls) == 3
    assert any("sandbox failed (container vanished); retry 1 of 2" in line for line in lines)
    assert summary["retries"] == 1 and summary["retried_units"] == {"trajectory local__unitconv-1#0": 1}
    events = list(iter_events(tmp_path / "res" / "f" / "trajectories" / "local__unitconv-1" / "t0.jsonl"))
    assert events[0].type == "note" and "container vanished" in events[0].data["message"]


def test_config_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"n_trajectory: Extra inputs are not permitted"):
        parse_config({**_config(tmp_path), "n_trajectory": 3})
    with pytest.raises(ConfigError, match=r"models.default.spec: Field required"):
        parse_config({**_config(tmp_path), "models": {"default": {}}})
    with pytest.raises(ConfigError, match=r"selector: Input should be 'agent', 'votes' or 'b4'"):
        parse_config({**_config(tmp_path), "selector": "best"})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**_config(tmp_path), "limits": {"sandboxes": 3}}))
    res = CliRunner().invoke(app, ["run", str(bad), "--results", str(tmp_path / "r")])
    assert res.exit_code == 2 and "limits.sandboxes" in res.output
    missing = tmp_path / "missing.yaml"
    res = CliRunner().invoke(app, ["run", str(missing)])
    assert res.exit_code == 2 and "cannot read config" in res.output
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("suite: caf\xe9\n".encode("latin-1"))  # saved by an editor in another encoding
    res = CliRunner().invoke(app, ["run", str(latin1)])
    assert res.exit_code == 2 and "cannot read config" in res.output and "UTF-8" in res.output
    assert "Traceback" not in res.output


KILLABLE = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from pipeline_host import host_deps
from harness.pipeline import load_config
from harness.pipeline._main import run_pipeline
cfg, base = load_config(sys.argv[1])
run_pipeline(cfg, base, results_dir=Path(sys.argv[2]), run_id="killed", deps=host_deps(Path(sys.argv[3])))
"""


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_a_killed_run_resumes_without_redoing_finished_trajectories(tmp_path: Path) -> None:
    cfg = _config(
        tmp_path, tasks=["local__unitconv-1"], n_trajectories=6, first_alone=False, limits={"trajectories": 1}
    )
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    script = tmp_path / "run.py"
    script.write_text(KILLABLE.format(tests=str(ROOT / "tests")))
    results = tmp_path / "results"
    out_dir = results / "killed" / "trajectories_out" / "local__unitconv-1"
    cmd = [sys.executable, str(script), str(tmp_path / "cfg.json"), str(results), str(tmp_path / "sb")]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    # The third trajectory's editing model hangs: the run is killed there, whatever the machine's speed.
    hold = {**env, "PIPELINE_POLICY_HOLD_EDITING": "2"}
    victim = subprocess.Popen(cmd, env=hold, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        half_done = results / "killed" / "trajectories" / "local__unitconv-1" / "t2.jsonl"
        while len(list(out_dir.glob("*.json"))) < 2 or "test_run" not in _text(half_done):
            assert victim.poll() is None, victim.stderr.read().decode() if victim.stderr else ""
            assert time.monotonic() < deadline, "the run did not get to its third trajectory"
            time.sleep(0.02)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        if victim.stderr is not None:
            victim.stderr.close()
    assert victim.returncode == -signal.SIGKILL
    finished = {p.name: p.read_bytes() for p in out_dir.glob("*.json")}
    assert len(finished) == 2 and not (results / "killed" / "summary.json").exists()
    logs = {
        n: (
            results / "killed" / "trajectories" / "local__unitconv-1" / f"t{n.split('.')[0]}.jsonl"
        ).read_bytes()
        for n in finished
    }
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for name, data in finished.items():
        assert (out_dir / name).read_bytes() == data  # not redone
        log = results / "killed" / "trajectories" / "local__unitconv-1" / f"t{name.split('.')[0]}.jsonl"
        assert log.read_bytes() == logs[name]
    assert len(list(out_dir.glob("*.json"))) == 6
    summary = json.loads((results / "killed" / "summary.json").read_text())
    assert summary["resolved"] == 1 and summary["resumed"] is True
    for path in (results / "killed" / "trajectories" / "local__unitconv-1").glob("t*.jsonl"):
        events = list(iter_events(path))
        assert [e.type for e in events].count("start") == 1, path  # a half-done log was started afresh
