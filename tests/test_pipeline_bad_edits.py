"""Bad model output in the editing loop is data: a message back to the model, never a crash or a write
outside the repository (host-folder sandboxes, ``tests/pipeline_host.py``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pipeline_host import ROOTS, HostSandbox

from harness.models import load
from harness.pipeline import editing_loop
from harness.pipeline.edits import EditBlock, apply_edits
from harness.tasks import PublicRepoTask

TASK = PublicRepoTask(instance_id="t-1", repo="o/r", base_commit="0" * 40, problem_statement="Fix it.")
TEST = "import sys\nfrom pkg.mod import X\nprint(X)\nsys.exit(0 if X == 2 else 2)\n"


def _block(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def _model(answers: list[str]) -> Any:
    def policy(messages: list[object], index: int) -> str:
        return answers[index] if index < len(answers) else "<done/>"

    return load("scripted", policy=policy)


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "mod.py").write_text("X = 1\n")
    env = {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    for cmd in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "base"],
    ):
        subprocess.run(["git", *cmd], cwd=repo, env=env, check=True)
    return repo


BAD_PATHS = [
    "../../escaped.py",
    "pkg/../../escaped.py",
    "/etc/escaped.py",
    ".git/hooks/pre-commit",
    "pkg",
    "pkg/mod.py/inner.py",
    "a\0b.py",
    "x" * 300 + ".py",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_new_files_outside_the_repository_or_on_its_folders_are_refused(path: str) -> None:
    sources = {"pkg/mod.py": "X = 1\n", "pkg/__init__.py": ""}
    out = apply_edits(
        sources, [EditBlock(path, "", "EVIL = 1\n"), EditBlock("pkg/mod.py", "X = 1\n", "X = 2\n")]
    )
    assert [e.kind for e in out.errors] == [
        "bad_path"
    ] and "relative to the repository root" in out.feedback()
    assert out.changed == ["pkg/mod.py"] and set(out.sources) == set(sources)


def test_the_sandbox_workspace_prefix_is_dropped_like_testbed() -> None:
    out = apply_edits({"pkg/mod.py": "X = 1\n"}, [EditBlock("/workspace/pkg/new.py", "", "Y = 1\n")])
    assert out.ok and out.changed == ["pkg/new.py"]


async def test_an_edit_escaping_the_repository_is_feedback_not_a_write_or_a_crash(tmp_path: Path) -> None:
    (tmp_path / "sb").mkdir()
    sb = HostSandbox(str(_repo(tmp_path)), tmp_path / "sb")
    escaped = sb.dir.parent / "escaped.py"  # where /workspace/../../escaped.py lands in a host sandbox
    answers = [
        _block("../../escaped.py", "", "EVIL = 1\n") + _block("pkg", "", "EVIL = 1\n"),
        _block("pkg/mod.py", "X = 1\n", "X = 2\n") + "<done/>",
    ]
    model = _model(answers)
    sources = {"pkg/__init__.py": "", "pkg/mod.py": "X = 1\n"}
    res = await editing_loop(TASK, model, sb, {}, sources, TEST, roots=ROOTS, max_turns=3)
    assert not escaped.exists()
    assert res.done and res.edits_failed == 2 and res.edits_applied == 1
    assert res.edited is not None and res.edited.exit_code == 0
    assert "+X = 2" in res.patch and "EVIL" not in res.patch
    shown = model.backend.seen[1][-1].content
    assert "../../escaped.py" in shown and "not a plain path" in shown and "is a folder" in shown
