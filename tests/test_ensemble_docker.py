"""harness ensemble in real strict sandboxes, on a local task where the right answer is known.

tasks/local/daterange: ``merge`` must merge ranges that touch. Six systems: four write the same wrong
patch (merge everything: it breaks ``test_merge_disjoint_sorted``, which passes at base) in four forms
(plain; one context line and other whitespace; hunks in the other order; other index lines), one writes
the fix (the gold patch), one a patch that does not apply. Votes pick the wrong group; regression drops it and picks the
fix. The task's hidden parts are poisoned and never reach a sandbox; a rerun does no sandbox work.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from patch_fixtures import not_applying

import harness.ensemble._ensemble as ens_mod
from harness.ensemble import Ensemble, Settings, SystemPatch, choose_instance, strict_sandbox
from harness.evaluation import Evaluator
from harness.sandbox._types import ExecResult
from harness.tasks import PublicRepoTask, RepoTask, load_local_task
from harness.tasks.images import TaskImages

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[1]
TASK = ROOT / "tasks" / "local" / "daterange"
POISON = "POISONED-HIDDEN-7f3a"
NOT_APPLYING = not_applying("daterange/merge.py")


@pytest.fixture(scope="module")
def task() -> RepoTask:
    return load_local_task(TASK)


def _diff(tmp: Path, edit: dict[str, str], context: int) -> str:
    """``git diff -U<context>`` of the repository after replacing each key of ``edit`` by its value."""
    repo = tmp / f"repo-{context}-{len(os.listdir(tmp))}"
    shutil.copytree(TASK / "repo", repo)
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
        ).stdout

    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    path = repo / "daterange" / "merge.py"
    text = path.read_text()
    for old, new in edit.items():
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    return git("diff", f"-U{context}")


def _reversed_hunks(diff: str) -> str:
    i = diff.index("\n@@")
    head, parts = diff[: i + 1], diff[i + 1 :].split("\n@@")
    hunks = [parts[0]] + ["@@" + p for p in parts[1:]]
    assert len(hunks) == 2
    return head + "\n".join(h.rstrip("\n") for h in reversed(hunks)) + "\n"


def _systems(task: RepoTask, tmp: Path) -> dict[str, list[SystemPatch]]:
    doc = '"""The days of `within` that no range covers, as ranges."""'
    wrong = {
        "if out and out[-1].overlaps(r):": "if out:",
        doc: '"""The uncovered days of `within`, as ranges."""',
    }
    alpha = _diff(tmp, wrong, 3)
    beta = _diff(tmp, {**wrong, "if out and out[-1].overlaps(r):": "if  out:   "}, 1)
    gamma = _reversed_hunks(alpha)
    assert len({alpha, beta, gamma}) == 3
    # zeta: alpha with other blob ids on its index line; harness.evaluation.patch_key says it applies the same way.
    zeta = re.sub(r"(?m)^index \S+", "index 0000000..1111111", alpha)
    assert zeta != alpha
    patches = [
        ("alpha", alpha),
        ("beta", beta),
        ("gamma", gamma),
        ("delta", task.patch),
        ("epsilon", NOT_APPLYING),
    ]
    patches.append(("zeta", zeta))
    return {task.instance_id: [SystemPatch(system=s, rank=i, patch=p) for i, (s, p) in enumerate(patches)]}


class Recorder:
    """A sandbox factory that starts real strict sandboxes and keeps every command and file written."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.opened = 0

    async def __call__(self, image: str) -> Any:
        self.opened += 1
        box = await strict_sandbox(image)
        seen = self.seen

        class Box:
            async def run(self, cmd: Any, **kw: Any) -> ExecResult:
                seen.append(json.dumps([cmd, kw.get("env")]))
                return await box.run(cmd, **kw)

            async def write_file(self, path: str, content: str | bytes, **kw: Any) -> None:
                seen.append(f"{path}\n{content if isinstance(content, str) else content.decode()}")
                await box.write_file(path, content, **kw)

            async def reset(self) -> None:
                await box.reset()

            async def close(self) -> None:
                await box.close()

        return Box()


async def _no_sandbox(image: str) -> Any:
    raise AssertionError(f"a sandbox was asked for ({image}): the rerun should do no sandbox work")


def _run(
    task: RepoTask,
    cands: dict[str, list[SystemPatch]],
    base_image: str,
    out: Path,
    cache: Path,
    selector: str,
    factory: Any,
) -> Any:
    ens = Ensemble(
        Settings(selector=selector, test_timeout=120),  # type: ignore[arg-type]
        Evaluator(TaskImages(base_image=base_image)),
        out,
        factory=factory,
        cache=cache,
    )
    return asyncio.run(ens.run([task], ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"], cands))


def _choice(out: Path, task: RepoTask) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / task.instance_id / "choice.json").read_text())
    return data


def test_votes_regression_b4_hidden_tests_and_resume(
    task: RepoTask, base_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cands = _systems(task, tmp_path)
    seen_types: list[type] = []
    real_choose = choose_instance

    async def spy(t: Any, *a: Any, **kw: Any) -> Any:
        seen_types.append(type(t))
        return await real_choose(t, *a, **kw)

    monkeypatch.setattr(ens_mod, "choose_instance", spy)

    # votes: the three forms of the wrong patch are one group and beat every other candidate.
    _run(task, cands, base_image, tmp_path / "votes", tmp_path / "c0", "votes", _no_sandbox)
    votes = _choice(tmp_path / "votes", task)
    assert votes["groups"][0] == ["alpha", "beta", "gamma", "zeta"] and votes["winner"]["system"] == "alpha"

    # regression, with the hidden parts poisoned: the breaking group and the non-applying patch are dropped.
    poisoned = task.model_copy(
        update={"test_patch": POISON, "FAIL_TO_PASS": (POISON + "-f2p",), "PASS_TO_PASS": (POISON + "-p2p",)}
    )
    images = TaskImages(base_image=base_image)
    assert images.instance_image(poisoned) == images.instance_image(task)  # the image holds none of them
    rec = Recorder()
    summary = _run(poisoned, cands, base_image, tmp_path / "reg", tmp_path / "c1", "regression", rec)
    reg = _choice(tmp_path / "reg", task)
    assert summary.chosen == 1 and not summary.errors
    assert reg["winner"]["system"] == "delta" and reg["fallback"] is None
    assert reg["discovery"]["selected"] == ["tests/test_merge.py"]
    dropped = {c["system"]: c["dropped"] for c in reg["candidates"]}
    for s in ("alpha", "beta", "gamma", "zeta"):
        assert (
            dropped[s].startswith("breaks")
            and "tests/test_merge.py::test_merge_disjoint_sorted" in dropped[s]
        )
    assert dropped["epsilon"].startswith("does not apply") and dropped["delta"] is None
    assert reg["base"]["passed"] == reg["base"]["tests"] >= 2 and reg["cost"]["sandbox_s"] > 0
    # base and five runs: zeta shares alpha's.
    assert (
        reg["cost"]["runs"] == 6
        and not (tmp_path / "reg" / task.instance_id / "runs" / "c5-zeta.log").exists()
    )
    # Nothing of the hidden parts reached a sandbox, and no hidden test ran (the file is at base).
    assert rec.opened == 1 and rec.seen and not any(POISON in s for s in rec.seen)
    assert not any("test_merge_back_to_back_ranges" in s for s in rec.seen)
    assert all("test_merge_back_to_back_ranges" not in json.dumps(c) for c in reg["candidates"])
    assert seen_types and all(t is PublicRepoTask for t in seen_types)
    preds = [json.loads(line) for line in (tmp_path / "reg" / "predictions.jsonl").read_text().splitlines()]
    assert preds == [{"instance_id": task.instance_id, "model_name_or_path": "ensemble-regression",
                      "model_patch": task.patch}]  # fmt: skip

    # The same choice with the true task (a fresh cache: everything runs again).
    _run(task, cands, base_image, tmp_path / "reg-true", tmp_path / "c2", "regression", strict_sandbox)
    true = _choice(tmp_path / "reg-true", task)
    assert true["winner"] == reg["winner"] and [c["dropped"] for c in true["candidates"]] == list(
        dropped.values()
    )

    # Resume: a rerun into the same folder reuses the choice; b4 into another folder reuses the runs.
    again = _run(poisoned, cands, base_image, tmp_path / "reg", tmp_path / "c1", "regression", _no_sandbox)
    assert again.reused == 1 and _choice(tmp_path / "reg", task) == reg
    _run(task, cands, base_image, tmp_path / "b4", tmp_path / "c1", "b4", _no_sandbox)
    b4 = _choice(tmp_path / "b4", task)
    assert b4["cost"] == {"sandbox_s": 0.0, "runs": 0, "cached_runs": 6}
    assert b4["winner"]["system"] == "delta" and b4["b4_scores"] is not None


def test_cli_writes_predictions_that_the_final_evaluation_resolves(
    task: RepoTask, base_image: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    files = []
    for c in _systems(task, tmp_path)[task.instance_id]:
        f = tmp_path / f"{c.system}.jsonl"
        row = {"instance_id": task.instance_id, "model_name_or_path": c.system, "model_patch": c.patch}
        f.write_text(json.dumps(row) + "\n")
        files.append(str(f))
    out = tmp_path / "out"
    args = ["ensemble", *files, "--suite", str(ROOT / "tasks" / "local"), "-i", task.instance_id]
    args += ["--selector", "regression", "--out", str(out), "--cache", str(tmp_path / "cache")]
    res = CliRunner().invoke(app, args, env={"HARNESS_TASK_BASE_IMAGE": base_image})
    assert res.exit_code == 0, res.output
    assert "chose 1/1" in res.output
    log = (out / task.instance_id / "ensemble.log").read_text()
    assert "tests: 1 of 2 test files: tests/test_merge.py" in log and "chose delta" in log
    # The run's log has the counted step over the instances, and each instance's lines as its notes.
    run_log = (out / "harness.log").read_text()
    assert f"ensemble of {len(files)} systems: 1/1 done in" in run_log
    assert f"{task.instance_id}: chose delta" in run_log
    assert {p.name for p in (out / task.instance_id / "runs").iterdir()} >= {"base.log", "c3-delta.log"}
    choices = [json.loads(line) for line in (out / "choices.jsonl").read_text().splitlines()]
    assert [c["winner"]["system"] for c in choices] == ["delta"] and "patch" not in choices[0]
    # Only now do the hidden tests run: harness eval of the written predictions.
    evaluator = Evaluator(TaskImages(base_image=base_image))
    from harness.evaluation import load_predictions

    summary = asyncio.run(
        evaluator.run_predictions([task], load_predictions(out / "predictions.jsonl"), tmp_path / "eval")
    )
    assert summary["resolved_ids"] == [task.instance_id]


def test_a_fault_mid_instance_loses_nothing_and_the_rerun_continues(
    task: RepoTask, base_image: str, tmp_path: Path
) -> None:
    from harness.errors import SandboxError

    cands = _systems(task, tmp_path)
    test_runs = 0

    async def failing(image: str) -> Any:
        box = await strict_sandbox(image)

        class Box:
            async def run(self, cmd: Any, **kw: Any) -> ExecResult:
                nonlocal test_runs
                if isinstance(cmd, str) and "run.sh" in cmd:
                    test_runs += 1
                    if test_runs == 3:  # base and alpha ran; the engine fails during beta's tests
                        raise SandboxError("the engine went away (injected)")
                return await box.run(cmd, **kw)

            async def write_file(self, path: str, content: str | bytes, **kw: Any) -> None:
                await box.write_file(path, content, **kw)

            async def reset(self) -> None:
                await box.reset()

            async def close(self) -> None:
                await box.close()

        return Box()

    out, cache = tmp_path / "out", tmp_path / "cache"
    first = _run(task, cands, base_image, out, cache, "regression", failing)
    assert [e.instance_id for e in first.errors] == [task.instance_id] and "injected" in first.errors[0].error
    assert not (out / task.instance_id / "choice.json").exists()
    assert (out / "predictions.jsonl").read_text() == ""  # no choice, no prediction
    assert "error: SandboxError" in (out / task.instance_id / "ensemble.log").read_text()
    second = _run(task, cands, base_image, out, cache, "regression", strict_sandbox)
    assert not second.errors and second.chosen == 1
    choice = _choice(out, task)
    assert choice["cost"]["cached_runs"] == 2 and choice["cost"]["runs"] == 4  # base and alpha kept
    assert choice["winner"]["system"] == "delta"
