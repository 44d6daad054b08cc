"""The eval script: swebench 4.1.0's ``make_eval_script_list_py`` steps, without conda.

In the repository, after the candidate is applied: the environment's ``eval_commands``, the
informational ``git status``/``git show``/``git diff``, the environment's ``install`` again (swebench
re-runs it so a non-editable install sees the patch), reset the test files to ``base_commit``, apply the
test patch, run the test command on the test directives between swebench's markers, and reset the test
files again. Like swebench's it runs under ``set -uxo pipefail`` without ``-e`` (a failing step does not
stop the tests) with stderr merged into stdout, so the bash trace of ``: '>>>>> Start Test Output'``
marks the test output as swebench's log readers expect.

In SWE-bench's own prebuilt images (``--images swebench``) the repository's Python is the conda
environment ``testbed``, which nothing on ``PATH`` reaches until it is activated; the script activates it
as swebench's does (``source /opt/miniconda3/bin/activate``, ``conda activate testbed``) when the image
has that layout, and does nothing in harness's images, whose venv is first on ``PATH``.

One step is stricter than swebench's: files the test patch *creates* are removed before it is applied.
swebench only resets the files it modifies, so a candidate that created a file of the test patch made
the test patch fail and had its own version of that test file run.
"""

from __future__ import annotations

import shlex

from harness.evaluation import _swebench
from harness.evaluation._diff import old_files, patch_files
from harness.evaluation._swebench import END_TEST_OUTPUT, START_TEST_OUTPUT
from harness.tasks._repo import RepoTask

CONDA_ACTIVATE = "/opt/miniconda3/bin/activate"
"""Miniconda's activation script in SWE-bench's images (``swebench.harness.dockerfiles``)."""
ACTIVATE = f"if [ -f {CONDA_ACTIVATE} ]; then source {CONDA_ACTIVATE}; conda activate testbed; fi"
TEST_PATCH_FAILED = "HARNESS_TEST_PATCH=FAILED"
"""Printed when the test patch does not apply after the reset: the task's record is broken."""


def _files(task: RepoTask) -> tuple[list[str], list[str], list[str]]:
    """``(modified, created, directives)`` of the test patch: swebench's for SWE-bench records."""
    touched = patch_files(task.test_patch)
    if _swebench.knows(task):
        modified = _swebench.modified_files(task.test_patch)
        directives = _swebench.test_directives(task)
    else:
        created_or_deleted = set(touched) - set(old_files(task.test_patch))
        modified = [f for f in touched if f not in created_or_deleted]
        directives = touched
    created = [f for f in touched if f not in modified]
    return modified, created, directives


def eval_script(task: RepoTask) -> str:
    """The bash script that tests the tree against ``task``'s hidden tests.

    Run it in the repository (``/testbed``) as ``bash eval.sh TEST_PATCH``: it names no absolute path
    of its own, so the same script runs wherever the repository is."""
    env = task.environment
    base = shlex.quote(task.base_commit)
    modified, created, _ = _files(task)
    reset = f"git checkout {base} -- {' '.join(map(shlex.quote, modified))}" if modified else ":"
    lines = ["#!/bin/bash", "set -uxo pipefail", 'TEST_PATCH="$1"', 'REPO="$PWD"', ACTIVATE]
    lines += list(getattr(env, "eval_commands", ()))
    lines += [
        'git config --global --add safe.directory "$REPO"',
        'cd "$REPO"',
        "git status",
        "git show",
        f"git -c core.fileMode=false diff {base}",
    ]
    lines += list(env.install)
    lines.append(reset)
    if created:
        lines.append(f"rm -rf -- {' '.join(map(shlex.quote, created))}")
    lines.append(f'git apply -v "$TEST_PATCH" || echo {TEST_PATCH_FAILED}')
    lines.append(f": '{START_TEST_OUTPUT}'")
    lines.append(test_command(task))
    lines.append(f": '{END_TEST_OUTPUT}'")
    lines.append(reset)
    return "\n".join(lines) + "\n"


def test_command(task: RepoTask) -> str:
    """The command :func:`eval_script` runs the hidden tests with: the test command on the directives."""
    return " ".join([task.environment.test_cmd, *map(shlex.quote, _files(task)[2])])


def test_output(log: str) -> str:
    """The part of an eval log between swebench's markers (the whole log when they are missing)."""
    start = log.find(START_TEST_OUTPUT)
    if start < 0:
        return log
    end = log.find(END_TEST_OUTPUT, start)
    return log[start + len(START_TEST_OUTPUT) : end if end >= 0 else len(log)]
