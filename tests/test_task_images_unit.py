"""``checkout_at`` on hostile task records: fields that reach git's command line are never options.

A task record (a SWE-bench JSON file, ``harness eval --suite``) sets ``base_commit`` and ``source``;
``--upload-pack=CMD`` in either would run CMD on the host while the instance image is prepared.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness.errors import DataError
from harness.tasks import RepoSource, RepoTask
from harness.tasks.images import checkout_at


def _repo(path: Path) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=path, env=env, check=True, capture_output=True, text=True
        ).stdout

    path.mkdir()
    git("init", "-q", "-b", "main")
    (path / "a.py").write_text("A = 1\n")
    git("add", "a.py")
    git("commit", "-q", "-m", "base")
    return git("rev-parse", "HEAD").strip()


def _task(base_commit: str, location: str) -> RepoTask:
    return RepoTask(
        instance_id="evil-1",
        repo="o/r",
        base_commit=base_commit,
        problem_statement="p",
        source=RepoSource(kind="path", location=location),
    )


def test_base_commit_that_is_a_git_option_runs_nothing(tmp_path: Path) -> None:
    src, mark = tmp_path / "src", tmp_path / "PWNED"
    _repo(src)
    evil = f"--upload-pack=touch {mark};git-upload-pack"
    with pytest.raises(DataError, match="not a full commit SHA"):
        checkout_at(_task(evil, str(src)), tmp_path / "dest")
    assert not mark.exists(), "a task record's base_commit ran a command on the host"


def test_source_that_is_a_git_option_runs_nothing(tmp_path: Path) -> None:
    src, mark = tmp_path / "src", tmp_path / "PWNED"
    sha = _repo(src)
    evil = f"--upload-pack=touch {mark};git-upload-pack {src}"
    with pytest.raises(DataError):
        checkout_at(_task(sha, evil), tmp_path / "dest")
    assert not mark.exists(), "a task record's source location ran a command on the host"


def test_a_real_sha_checks_out(tmp_path: Path) -> None:
    src = tmp_path / "src"
    sha = _repo(src)
    checkout_at(_task(sha, str(src)), tmp_path / "dest")
    assert (tmp_path / "dest" / "a.py").read_text() == "A = 1\n"
