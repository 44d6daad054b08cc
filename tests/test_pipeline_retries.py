"""Units whose sandbox fails are tried again, bounded (``retries``); past the bound the run ends with a
clear error, keeps what it finished and resumes. Sandboxes are host folders (``tests/pipeline_host.py``)
whose factories fail on purpose, as a lost cluster node's would; the model is the scripted policy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pipeline_policy
import pytest
from pipeline_host import host_deps

from harness.errors import SandboxError
from harness.pipeline import parse_config
from harness.pipeline._main import run_pipeline

ROOT = Path(__file__).resolve().parents[1]
TASK = "local__unitconv-1"


def _config(**over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "suite": str(ROOT / "tasks" / "local"),
        "tasks": [TASK],
        "models": {"default": {"spec": "scripted", "policy": "pipeline_policy:policy"}},
        "n_trajectories": 2,
        "testing_turns": 3,
        "editing_turns": 4,
        "selector": "votes",
        "limits": {"trajectories": 2},
    }
    cfg.update(over)
    return cfg


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    pipeline_policy.reset()


def test_selection_and_evaluation_whose_sandbox_fails_are_tried_again(tmp_path: Path) -> None:
    """The first voting container and the first evaluation's test script fail as a lost node would:
    the task's selection and that candidate's evaluation run again, and the summary counts both."""
    deps = host_deps(tmp_path / "sb")
    real = deps.eval_sandbox
    opened: list[str] = []
    failed: list[str] = []

    async def flaky(image: str, **kw: Any) -> Any:
        opened.append(image)
        if len(opened) == 1:  # the patch matrix's first container: selection fails
            failed.append("vote")
            raise SandboxError("sandbox run on node abc: the node was lost (ActorDiedError)")
        sb = await real(image, **kw)
        write = sb.write_file

        async def write_file(path: str, content: Any, **kw2: Any) -> None:
            if path.endswith("eval.sh") and "eval" not in failed:  # the evaluation's test script
                failed.append("eval")
                raise SandboxError("sandbox write_file on node abc: the node was lost (ActorDiedError)")
            await write(path, content, **kw2)

        sb.write_file = write_file
        return sb

    deps.eval_sandbox = flaky
    lines: list[str] = []
    summary = run_pipeline(
        parse_config(_config()),
        ROOT,
        results_dir=tmp_path / "res",
        run_id="r",
        deps=deps,
        progress=lines.append,
    )
    assert failed == ["vote", "eval"]
    assert summary["resolved"] == 1
    assert summary["retries"] == 2
    assert summary["retried_units"] == {f"selection {TASK}": 1, f"evaluation {TASK}/c0": 1}
    assert any(f"selection {TASK}: sandbox failed" in line and "retry 1 of 2" in line for line in lines)
    ev = json.loads((tmp_path / "res" / "r" / "eval" / f"{TASK}.json").read_text())
    assert "error" not in ev["outcomes"]


def test_a_backend_that_stays_lost_ends_the_run_clearly_and_a_rerun_resumes(tmp_path: Path) -> None:
    """Every trajectory sandbox fails (the cluster is gone): a trajectory is tried 1 + retries times,
    then the run fails saying to rerun with the same run id; the context stage's artefact stays, and the
    rerun with a working backend reads it back and finishes."""
    deps = host_deps(tmp_path / "sb")
    real = deps.trajectory_sandbox
    calls: list[str] = []

    async def gone(image: str) -> Any:
        calls.append(image)
        if len(calls) == 1:  # the context stage's read of the repository
            return await real(image)
        raise SandboxError("no node of the Ray cluster offers sandbox slots any more (lost?)")

    deps.trajectory_sandbox = gone
    cfg = parse_config(_config(retries=1))
    with pytest.raises(SandboxError, match=r"failed 2 times, last: no node .*rerun with the same --run-id"):
        run_pipeline(cfg, ROOT, results_dir=tmp_path / "res", run_id="gone", deps=deps)
    assert len(calls) >= 1 + 2  # context, then a trajectory tried 1 + retries times (the run ends there)
    context = tmp_path / "res" / "gone" / "context" / f"{TASK}.json"
    kept = context.read_bytes()
    lines: list[str] = []
    summary = run_pipeline(
        cfg,
        ROOT,
        results_dir=tmp_path / "res",
        run_id="gone",
        deps=host_deps(tmp_path / "sb2"),
        progress=lines.append,
    )
    assert summary["resumed"] and summary["resolved"] == 1 and summary["retries"] == 0
    assert context.read_bytes() == kept
    assert f"{TASK}: context: done earlier, read back" in lines
