"""Tasks: function-level (HumanEval, MBPP) and repository-level (SWE-bench records, local suites)."""

from harness.tasks._function import FunctionTask, HiddenTests, PublicFunctionTask
from harness.tasks._local import commit_tree, load_local_task, load_suite
from harness.tasks._repo import EnvironmentSpec, PublicRepoTask, RepoSource, RepoTask
from harness.tasks._swebench import load_swebench, record_to_task

__all__ = [
    "EnvironmentSpec",
    "FunctionTask",
    "HiddenTests",
    "PublicFunctionTask",
    "PublicRepoTask",
    "RepoSource",
    "RepoTask",
    "commit_tree",
    "load_local_task",
    "load_suite",
    "load_swebench",
    "record_to_task",
]
