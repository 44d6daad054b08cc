"""Which of the repository's own tests relate to the files the candidates patch.

The rule (measured in docs/ensembles.md), over the repository at ``base_commit`` as a user has it:

* a **test file** is a ``.py`` file named ``test_*.py`` or ``*_test.py`` (``conftest.py`` and
  ``__init__.py`` never are);
* each patched ``.py`` file that is not a test file is a **module**: its path without a leading
  ``src/`` or ``lib/`` gives its dotted name (``src/flask/blueprints.py`` -> ``flask.blueprints``, a
  package's ``__init__.py`` its package) and its **stems**: its own name and, below the top-level
  package, its package's name (``src/_pytest/mark/evaluate.py``: ``evaluate``, ``mark``), each also
  without a leading ``_``;
* **by name**: a test file named ``test_<stem>.py`` or ``<stem>_test.py``, or any ``.py`` file but
  ``conftest.py``/``__init__.py`` in a folder named ``<stem>`` right below a folder named ``test``,
  ``tests`` or ``testing`` (pytest's own ``testing/python/*.py`` for ``_pytest/python.py``, not its
  ``testing/example_scripts/fixtures/``);
* **by import**: a test file with a line ``import <dotted>``, ``from <dotted> import`` or ``from <parent>
  import ... <stem>`` (``git grep``, one line; a module at the top of its package is not looked up this
  way: ``from flask import`` is in every test of flask);
* selected: ranked by the number of patched files they match by name, then by the number they import
  (more first), then by path; at most ``max_files``. The rest are listed as left out.

Candidates' own edits to test files are not discovered from (the files are read at base) and are undone
before the tests run (``harness.ensemble._runs``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

TEST_DIRS = frozenset({"test", "tests", "testing"})
MAX_FILES = 4


class RepoView(Protocol):
    """The repository at base, read-only: its tracked files and which of some files match patterns."""

    async def files(self) -> list[str]: ...

    async def grep(self, patterns: Sequence[str], paths: Sequence[str]) -> list[str]: ...


class Module(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    dotted: str
    stems: list[str]


class Discovery(BaseModel):
    """What :func:`discover_tests` found, and why."""

    model_config = ConfigDict(extra="forbid")

    modules: list[Module] = Field(default_factory=list)
    test_files: int = 0
    """Test files in the repository."""
    by_name: dict[str, list[str]] = Field(default_factory=dict)
    """Test file -> the patched files it matches by name."""
    by_import: dict[str, list[str]] = Field(default_factory=dict)
    """Test file -> the patched files it imports."""
    selected: list[str] = Field(default_factory=list)
    left_out: list[str] = Field(default_factory=list)
    """Related test files beyond ``max_files``."""


def is_test_file(path: str) -> bool:
    p = PurePosixPath(path)
    if p.suffix != ".py" or p.name in ("conftest.py", "__init__.py"):
        return False
    return p.name.startswith("test_") or p.name.endswith("_test.py")


def module_of(path: str) -> Module | None:
    """The module a patched file is, or ``None`` for a test file or a file that is not Python."""
    p = PurePosixPath(path)
    if p.suffix != ".py" or is_test_file(path) or any(part in TEST_DIRS for part in p.parts[:-1]):
        return None
    parts = list(p.parts)
    if len(parts) > 1 and parts[0] in ("src", "lib"):
        parts = parts[1:]
    parts[-1] = p.stem
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    stems: list[str] = []
    # The module's own name, then its package's unless that is the top-level one (every test's).
    for name in parts[-1:] + (parts[-2:-1] if len(parts) > 2 else []):
        stems += [name] + ([name.lstrip("_")] if name.startswith("_") and name.lstrip("_") else [])
    return Module(path=path, dotted=".".join(parts), stems=stems)


def _name_match(test: str, stems: Iterable[str]) -> bool:
    p = PurePosixPath(test)
    for s in stems:
        if p.name in (f"test_{s}.py", f"{s}_test.py"):
            return True
        parents = p.parts[:-1]
        if len(parents) >= 2 and parents[-1] == s and parents[-2] in TEST_DIRS:
            return True
    return False


def _dir_member(path: str, stems: Iterable[str]) -> bool:
    """A non-test-named file in a ``<stem>`` folder of a test folder (pytest's testing/python/*.py)."""
    p = PurePosixPath(path)
    if p.suffix != ".py" or p.name in ("conftest.py", "__init__.py"):
        return False
    return _name_match(path, stems) and not is_test_file(path)


def import_patterns(module: Module) -> list[str]:
    """POSIX extended regexes (``git grep -E``) of a line importing ``module``; none for a top-level one."""
    if "." not in module.dotted:
        return []
    end = "([^A-Za-z0-9_]|$)"
    dotted = re.escape(module.dotted)
    parent, _, stem = module.dotted.rpartition(".")
    return [
        rf"^[[:space:]]*(from|import)[[:space:]]+{dotted}{end}",
        rf"^[[:space:]]*from[[:space:]]+{re.escape(parent)}[[:space:]]+import[[:space:]].*[^A-Za-z0-9_]{stem}{end}",
    ]


async def discover_tests(repo: RepoView, patched: Iterable[str], *, max_files: int = MAX_FILES) -> Discovery:
    """The test files related to ``patched`` (paths of the candidates' diffs); see the module docstring."""
    files = await repo.files()
    tests = [f for f in files if is_test_file(f)]
    modules = [m for m in (module_of(p) for p in dict.fromkeys(patched)) if m is not None]
    found = Discovery(modules=modules, test_files=len(tests))
    for m in modules:
        for f in files:
            if (f in tests and _name_match(f, m.stems)) or _dir_member(f, m.stems):
                found.by_name.setdefault(f, []).append(m.path)
        patterns = import_patterns(m)
        if patterns and tests:
            for f in await repo.grep(patterns, tests):
                found.by_import.setdefault(f, []).append(m.path)

    def score(f: str) -> tuple[int, int, str]:
        return (-len(found.by_name.get(f, [])), -len(found.by_import.get(f, [])), f)

    ranked = sorted(set(found.by_name) | set(found.by_import), key=score)
    found.selected, found.left_out = ranked[:max_files], ranked[max_files:]
    return found


class GitRepoView:
    """A :class:`RepoView` of ``commit`` in a git directory on this machine (bare or not), read-only."""

    def __init__(self, git_dir: Path, commit: str) -> None:
        self.git_dir, self.commit = git_dir, commit

    def _git(self, *args: str) -> str:
        from git.cmd import Git  # GitPython, imported on first use

        cmd = ["git", f"--git-dir={self.git_dir}", *args]
        status, out, err = Git().execute(
            cmd, with_extended_output=True, with_exceptions=False, strip_newline_in_stdout=False
        )
        if status not in (0, 1):  # git grep exits 1 when nothing matches
            raise RuntimeError(f"{' '.join(cmd[:4])} failed: {str(err).strip()}")
        return str(out)

    async def files(self) -> list[str]:
        out = await asyncio.to_thread(self._git, "ls-tree", "-r", "--name-only", self.commit)
        return out.splitlines()

    async def grep(self, patterns: Sequence[str], paths: Sequence[str]) -> list[str]:
        args = ["grep", "-l", "-E"] + [a for p in patterns for a in ("-e", p)] + [self.commit, "--", *paths]
        out = await asyncio.to_thread(self._git, *args)
        prefix = f"{self.commit}:"
        return [line.removeprefix(prefix) for line in out.splitlines()]
