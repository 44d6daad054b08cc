"""The local task suite: ``tasks/local/<name>/{repo/, task.json}``, with deterministic git repositories.

A nested ``.git`` cannot be committed, so each task's ``repo/`` is a plain source tree and the loader
turns it into a one-commit git repository with a fixed author, committer, date and message. The
commit's SHA then depends on the tree alone, and ``task.json`` records it as ``base_commit``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from harness.errors import DataError
from harness.tasks._repo import RepoSource, RepoTask
from harness.tasks._swebench import record_to_task

_IDENTITY = {
    "GIT_AUTHOR_NAME": "harness",
    "GIT_AUTHOR_EMAIL": "tasks@harness.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "harness",
    "GIT_COMMITTER_EMAIL": "tasks@harness.invalid",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+0000",
    # The user's and the system's git config must not change the commit (signing, hooks, autocrlf).
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
_IGNORED = ("__pycache__", ".pytest_cache", "*.pyc", ".git")


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harness"


def git(args: list[str], cwd: Path, *, env: dict[str, str] | None = None) -> str:
    """Run git in ``cwd`` through GitPython with the fixed identity; :class:`DataError` with git's
    message when it fails."""
    from git.cmd import Git  # GitPython, imported on first use (about 90 ms)

    status, out, err = Git(cwd).execute(
        ["git", *args],
        env={**_IDENTITY, **(env or {})},
        with_extended_output=True,
        with_exceptions=False,
        strip_newline_in_stdout=False,
    )
    if status != 0:
        raise DataError(f"git {' '.join(args)} failed in {cwd}: {str(err).strip()}")
    return str(out)


def _tree_digest(tree: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(tree.rglob("*")):
        rel = path.relative_to(tree)
        if (
            any(part in {"__pycache__", ".pytest_cache", ".git"} for part in rel.parts)
            or path.suffix == ".pyc"
        ):
            continue
        if path.is_file():
            h.update(f"{rel.as_posix()}\0{os.access(path, os.X_OK)}\0".encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def commit_tree(tree: Path, cache_dir: Path | None = None) -> tuple[Path, str]:
    """A git repository holding ``tree`` as one deterministic commit on ``main``: (its path, its SHA).

    Repositories are cached under ``<cache>/task-repos/`` by a digest of the tree's content, so an
    edited tree gets a new repository and an unchanged one is reused.
    """
    if not tree.is_dir():
        raise DataError(f"task repository tree not found: {tree}")
    root = (cache_dir or default_cache_dir()) / "task-repos"
    dest = root / f"{tree.parent.name}-{_tree_digest(tree)}"
    if (dest / ".git").is_dir():
        return dest, git(["rev-parse", "HEAD"], dest).strip()
    tmp = root / f".{dest.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(tree, tmp, ignore=shutil.ignore_patterns(*_IGNORED))
    git(["init", "-q", "-b", "main"], tmp)
    git(["config", "core.autocrlf", "false"], tmp)
    git(["add", "-A"], tmp)
    git(["commit", "-q", "--no-gpg-sign", "--no-verify", "-m", "base"], tmp)
    sha = git(["rev-parse", "HEAD"], tmp).strip()
    try:
        tmp.rename(dest)
    except OSError:  # another process made it first: theirs is identical
        shutil.rmtree(tmp, ignore_errors=True)
    return dest, sha


def load_local_task(task_dir: Path, *, suite: str = "local", cache_dir: Path | None = None) -> RepoTask:
    """Load ``task_dir/task.json``, build its repository, and check the recorded ``base_commit``."""
    record_path = task_dir / "task.json"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{record_path}: missing (every local task needs a task.json)") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{record_path}: invalid JSON ({exc.msg} at line {exc.lineno})") from exc
    task = record_to_task(record, source=str(record_path), suite=suite)
    repo, sha = commit_tree(task_dir / "repo", cache_dir)
    if sha != task.base_commit:
        raise DataError(
            f"{record_path}: base_commit {task.base_commit} does not match the repository tree "
            f"({sha}); the tree changed: record the new SHA (`harness tasks validate` after fixing)"
        )
    return task.model_copy(update={"source": RepoSource(kind="path", location=str(repo))})


def _task_dirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if (d / "task.json").is_file())


def load_suite(
    path: str | Path, *, cache_dir: Path | None = None, repos: str | Path | None = None
) -> list[RepoTask]:
    """A suite: a folder of local tasks (``*/task.json``), a folder of such suites
    (``*/*/task.json``, as ``tasks/``), or a SWE-bench parquet/JSON/JSONL file.

    Tasks of a folder of suites are named after their own suite folder (``tasks/local/x`` is in suite
    ``local``); sub-folders holding no task (``tasks/tools``) are skipped, and an instance id found in
    two suites is an error, since results are keyed by it. The repositories of a SWE-bench file's
    records are read from ``repos`` (or ``$HARNESS_SWEBENCH_REPOS``) where it has them
    (``harness.tasks.with_repos``).
    """
    from harness.tasks._sources import with_repos
    from harness.tasks._swebench import load_swebench

    p = Path(path)
    if p.is_file():
        return with_repos(load_swebench(p, suite=p.stem), repos)
    if not p.is_dir():
        raise DataError(f"suite not found: {p} (a folder of tasks or a SWE-bench file)")
    dirs = _task_dirs(p)
    if dirs:
        return [load_local_task(d, suite=p.name, cache_dir=cache_dir) for d in dirs]
    suites = [(s, _task_dirs(s)) for s in sorted(d for d in p.iterdir() if d.is_dir())]
    suites = [(s, ds) for s, ds in suites if ds]
    if not suites:
        raise DataError(
            f"{p}: no task folders (expected <name>/task.json and <name>/repo/, or suite folders "
            "holding them: <suite>/<name>/task.json)"
        )
    tasks: list[RepoTask] = []
    where: dict[str, Path] = {}
    for suite, task_dirs in suites:
        for d in task_dirs:
            task = load_local_task(d, suite=suite.name, cache_dir=cache_dir)
            if task.instance_id in where:
                raise DataError(
                    f"{p}: instance id {task.instance_id} is in both {where[task.instance_id]} and {d}; "
                    "rename one (instance ids must be unique over the suites loaded together)"
                )
            where[task.instance_id] = d
            tasks.append(task)
    return tasks
