"""swebench 4.1.0's own evaluation code, used for SWE-bench records (the ``swebench`` extra).

A task is a SWE-bench record here when swebench's specs know its repository and version. For such a
task the test files to reset (``get_modified_files``), the test directives (``get_test_directives``:
the test patch's files without non-test extensions, so flask-4992's ``tests/static/config.toml`` is not
passed to pytest), the log parser (``MAP_REPO_TO_PARSER[repo]``: flask-5063's ids with spaces are split
as the leaderboard splits them) and the grading (``get_logs_eval``, ``get_eval_tests_report``,
``get_resolution_status``) are swebench's, called, never copied. swebench is imported lazily (its
package ``__init__`` pulls in much of it: 1.6-3.8 s measured here) and only when it is installed;
local tasks never need it.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from harness._extras import require
from harness.tasks._repo import RepoTask
from harness.tasks._swebench import swebench_test_spec

EXTRA = "swebench"
START_TEST_OUTPUT = ">>>>> Start Test Output"
END_TEST_OUTPUT = ">>>>> End Test Output"
"""swebench's markers around the test command's output in an eval log (``constants``)."""


@cache
def installed() -> bool:
    """Whether swebench can be imported (without importing it)."""
    return importlib.util.find_spec("swebench") is not None


@cache
def _modules() -> dict[str, ModuleType]:
    return {
        name: require(f"swebench.harness.{name}", EXTRA)
        for name in (
            "constants",
            "grading",
            "log_parsers",
            "utils",
            "test_spec.python",
            "test_spec.test_spec",
        )
    }


def knows(task: RepoTask) -> bool:
    """Whether ``task`` is a SWE-bench record swebench's specs know (repository and version)."""
    if not installed():
        return False
    specs = _modules()["constants"].MAP_REPO_VERSION_TO_SPECS
    return task.repo in specs and task.version in specs[task.repo]


def _instance(task: RepoTask) -> dict[str, Any]:
    return {
        "instance_id": task.instance_id,
        "repo": task.repo,
        "version": task.version,
        "base_commit": task.base_commit,
        "test_patch": task.test_patch,
        "FAIL_TO_PASS": list(task.FAIL_TO_PASS),
        "PASS_TO_PASS": list(task.PASS_TO_PASS),
    }


def test_directives(task: RepoTask) -> list[str]:
    """swebench's test directives of ``task`` (what its eval script appends to the test command)."""
    return list(_modules()["test_spec.python"].get_test_directives(_instance(task)))


def modified_files(test_patch: str) -> list[str]:
    """The files the test patch changes that exist before it (swebench resets them with ``git checkout``)."""
    return list(_modules()["utils"].get_modified_files(test_patch))


def test_spec(task: RepoTask) -> Any:
    """A swebench ``TestSpec`` carrying what its log parsers and grading read, the hidden test names
    included (:func:`harness.tasks.swebench_test_spec`)."""
    return swebench_test_spec(task, fail_to_pass=task.FAIL_TO_PASS, pass_to_pass=task.PASS_TO_PASS)


def parse_log(task: RepoTask, text: str) -> dict[str, str]:
    """swebench's log parser of ``task``'s repository applied to ``text`` (test-command output)."""
    parser = _modules()["log_parsers"].MAP_REPO_TO_PARSER[task.repo]
    return dict(parser(text, test_spec(task)))


def eval_report(task: RepoTask, patch: str | None, log_path: Path) -> dict[str, Any]:
    """swebench's ``get_eval_report`` of an eval log: ``{patch_is_None, patch_exists,
    patch_successfully_applied, resolved, tests_status}`` for ``task``, exactly as it writes it.

    ``patch_successfully_applied`` is False (and ``tests_status`` absent) when the log holds one of its
    failure codes or lacks the test-output markers (``get_logs_eval``)."""
    grading = _modules()["grading"]
    prediction = {"instance_id": task.instance_id, "model_patch": patch}
    report = grading.get_eval_report(test_spec(task), prediction, str(log_path), include_tests_status=True)
    return dict(report[task.instance_id])
