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
from harness.pipeline import editing_loop, loops
from harness.pipeline._trajectory import read_sources
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
    _commit(repo, tmp_path)
    return repo


def _commit(repo: Path, tmp_path: Path) -> None:
    env = {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    for cmd in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "base"],
    ):
        subprocess.run(["git", *cmd], cwd=repo, env=env, check=True)


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


async def test_new_files_over_unreadable_files_folders_and_symlinks_are_refused(tmp_path: Path) -> None:
    """The loop edits only the files it could read as text; a "new file" onto one it could not (binary,
    not UTF-8), onto a folder that git does not track, or through a symbolic link out of the repository
    is refused in the sandbox, not written (a clobbered file, an escape or a failed write)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "mod.py").write_text("X = 1\n")
    (repo / "pkg" / "legacy.py").write_bytes(b"# caf\xe9\nY = 1\n")
    (repo / "pkg" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    (repo / "pkg" / "link").symlink_to(outside)
    _commit(repo, tmp_path)
    (repo / "build").mkdir()  # untracked, as a build leaves it
    (tmp_path / "sb").mkdir()
    sb = HostSandbox(str(repo), tmp_path / "sb")
    sources = await read_sources(sb, ROOTS, 100_000)
    assert set(sources) == {"pkg/__init__.py", "pkg/mod.py"}
    answers = [
        _block("pkg/legacy.py", "", "Y = 2\n")
        + _block("pkg/logo.png", "", "not an image\n")
        + _block("pkg/link/evil.py", "", "EVIL = 1\n")
        + _block("build", "", "EVIL = 1\n")
        + _block("pkg/mod.py", "X = 1\n", "X = 2\n"),
        "<done/>",
    ]
    model = _model(answers)
    res = await editing_loop(TASK, model, sb, {}, sources, TEST, roots=ROOTS, max_turns=3)
    ws = sb.dir / "workspace"
    assert (ws / "pkg" / "legacy.py").read_bytes() == b"# caf\xe9\nY = 1\n"
    assert (ws / "pkg" / "logo.png").read_bytes() == b"\x89PNG\r\n\x1a\n\0\0"
    assert list(outside.iterdir()) == [] and (ws / "build").is_dir()
    assert res.done and res.edits_failed == 4 and res.edits_applied == 1
    assert res.edited is not None and res.edited.exit_code == 0
    assert "+X = 2" in res.patch and "legacy" not in res.patch and "EVIL" not in res.patch
    shown = model.backend.seen[1][-1].content
    assert shown.count("already exists") == 2 and "outside the repository" in shown and "is a folder" in shown


@pytest.mark.docker
async def test_the_path_check_runs_in_a_strict_docker_sandbox() -> None:
    from harness.sandbox import DockerSandbox

    async with DockerSandbox() as sb:
        await sb.write_file("pkg/mod.py", "X = 1\n")
        await sb.write_file("pkg/legacy.py", b"# caf\xe9\n")
        res = await sb.run(
            "mkdir build && ln -s /tmp pkg/link && ln -s mod.py pkg/alias.py", cwd="/workspace"
        )
        assert res.ok, res.stderr
        paths = ["pkg/mod.py", "pkg/new.py", "pkg/legacy.py", "build", "pkg/link/x.py", "pkg/mod.py/x.py"]
        refused = await loops.unwritable(
            sb, "/workspace", [*paths, "pkg/alias.py"], {"pkg/mod.py": "X = 1\n", "pkg/alias.py": "X = 1\n"}
        )
        assert sorted(refused) == ["build", "pkg/legacy.py", "pkg/link/x.py", "pkg/mod.py/x.py"]
        assert (
            "already exists" in refused["pkg/legacy.py"]
            and "outside the repository" in refused["pkg/link/x.py"]
        )
        assert "is a folder" in refused["build"] and "pkg/mod.py is a file" in refused["pkg/mod.py/x.py"]


def test_an_exact_match_starts_at_a_line_so_an_unindented_search_is_reindented() -> None:
    src = "class A:\n    def f(self):\n        return self.x\n"
    block = EditBlock("a.py", "return self.x\n", "if self.x is None:\n    return 0\nreturn self.x\n")
    out = apply_edits({"a.py": src}, [block])
    assert out.ok and out.applied[0].method == "whitespace" and out.applied[0].line == 3
    want = "class A:\n    def f(self):\n        if self.x is None:\n            return 0\n        return self.x\n"
    assert out.sources["a.py"] == want
    compile(out.sources["a.py"], "a.py", "exec")


def test_a_search_text_inside_another_line_is_neither_a_match_nor_ambiguous() -> None:
    out = apply_edits({"a.py": "key = 1\ny = 1\n"}, [EditBlock("a.py", "y = 1\n", "y = 2\n")])
    assert out.ok and out.sources["a.py"] == "key = 1\ny = 2\n"
    out = apply_edits({"a.py": "monkey = 1\n"}, [EditBlock("a.py", "key = 1\n", "key = 2\n")])
    assert [e.kind for e in out.errors] == ["no_match"] and out.changed == []
    out = apply_edits({"a.py": "y = 1\nkey = 1\ny = 1\n"}, [EditBlock("a.py", "y = 1\n", "y = 2\n")])
    assert out.errors[0].kind == "ambiguous" and "2 places exactly, at lines 1, 3." in out.errors[0].message
