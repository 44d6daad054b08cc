"""Repositories from anywhere: ``--repos DIR`` maps a record's ``owner/name`` to a local git directory.

SWE-bench records name a GitHub repository; without a mapping the source is
``https://github.com/<owner>/<name>.git``. With one (``--repos DIR``, ``repos:`` in a run config, or
``$HARNESS_SWEBENCH_REPOS``), ``DIR/<name>.git`` or ``DIR/<owner>__<name>.git`` (bare or not; also the
same without ``.git``) is read in place: commits are fetched from it by SHA, nothing is written into it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from harness.errors import ConfigError
from harness.tasks._repo import RepoSource, RepoTask

REPOS_ENV = "HARNESS_SWEBENCH_REPOS"


def repos_dir(given: str | Path | None = None) -> Path | None:
    """The folder of local repositories: ``given``, else ``$HARNESS_SWEBENCH_REPOS``, else ``None``.

    :class:`ConfigError` when the folder named does not exist."""
    value = given if given not in (None, "") else os.environ.get(REPOS_ENV) or None
    if value is None:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        where = "--repos" if given not in (None, "") else f"${REPOS_ENV}"
        raise ConfigError(f"{where} {path}: not a folder (it should hold <name>.git or <owner>__<name>.git)")
    return path


def local_repo(folder: Path, repo: str) -> Path | None:
    """The git directory for ``owner/name`` in ``folder``, or ``None`` when it has none."""
    owner, _, name = repo.rpartition("/")
    candidates = [name, f"{owner}__{name}"] if owner else [name]
    for stem in candidates:
        for cand in (folder / f"{stem}.git", folder / stem):
            if (cand / "HEAD").is_file() or (cand / ".git").exists():
                return cand
    return None


def with_repos(tasks: Sequence[RepoTask], repos: str | Path | None = None) -> list[RepoTask]:
    """``tasks`` whose repository is in the folder of local repositories read from there.

    Tasks that already name a source (local suites) keep it; tasks whose repository is not in the
    folder keep the GitHub default."""
    folder = repos_dir(repos)
    if folder is None:
        return list(tasks)
    out: list[RepoTask] = []
    for task in tasks:
        found = local_repo(folder, task.repo) if task.source is None else None
        if found is not None:
            task = task.model_copy(update={"source": RepoSource(kind="path", location=str(found))})
        out.append(task)
    return out


_REACHED: dict[str, str] = {}


def unreachable(location: str, *, timeout: float = 30.0) -> str:
    """Why the git repository at ``location`` cannot be read (``git ls-remote``), or ``""`` when it can.

    Asked once per location and process, so an evaluation learns before building anything that an
    instance's repository is out of reach (no local copy, GitHub unreachable)."""
    if location not in _REACHED:
        from git.cmd import Git  # GitPython, imported on first use

        status, _out, err = Git().execute(
            ["git", "ls-remote", "--exit-code", "--", location, "HEAD"],
            env={"GIT_TERMINAL_PROMPT": "0"},
            kill_after_timeout=timeout,
            with_extended_output=True,
            with_exceptions=False,
        )
        lines = str(err).strip().splitlines()
        if status == 0:
            why = ""
        elif any("did not complete in" in line for line in lines):  # GitPython killed it
            why = f"no answer in {timeout:.0f} s"
        else:
            why = (lines or ["no HEAD"])[-1]
        _REACHED[location] = (
            f"the repository {location} cannot be read ({why}); give a local copy with --repos DIR "
            f"(DIR/<name>.git or DIR/<owner>__<name>.git) or ${REPOS_ENV}"
            if why
            else ""
        )
    return _REACHED[location]
