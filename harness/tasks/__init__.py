"""Tasks: function-level (HumanEval, MBPP) and repository-level (SWE-bench records, local suites)."""

from harness.tasks._function import FunctionTask, HiddenTests, PublicFunctionTask
from harness.tasks._loaders import (
    FUNCTION_SUITES,
    codet_file,
    codet_test_prompt,
    default_data_dir,
    download_codet_data,
    load_function_suite,
    load_humaneval_pypi,
)
from harness.tasks._local import commit_tree, load_local_task, load_suite
from harness.tasks._pipbuild import UnsupportedEnvironment
from harness.tasks._pools import (
    Pool,
    PoolProvenance,
    PoolRecord,
    is_codet_pool,
    load_codet_pool,
    read_pool,
    write_pool,
)
from harness.tasks._repo import EnvironmentSpec, PublicRepoTask, RepoSource, RepoTask
from harness.tasks._sources import REPOS_ENV, local_repo, with_repos
from harness.tasks._specs import prepare_tasks, swebench_environment, swebench_test_directives
from harness.tasks._swebench import load_swebench, record_to_task, swebench_test_spec

__all__ = [
    "FUNCTION_SUITES",
    "REPOS_ENV",
    "EnvironmentSpec",
    "FunctionTask",
    "HiddenTests",
    "Pool",
    "PoolProvenance",
    "PoolRecord",
    "PublicFunctionTask",
    "PublicRepoTask",
    "RepoSource",
    "RepoTask",
    "UnsupportedEnvironment",
    "codet_file",
    "codet_test_prompt",
    "commit_tree",
    "default_data_dir",
    "download_codet_data",
    "is_codet_pool",
    "load_codet_pool",
    "load_function_suite",
    "load_humaneval_pypi",
    "load_local_task",
    "load_suite",
    "load_swebench",
    "local_repo",
    "prepare_tasks",
    "read_pool",
    "record_to_task",
    "swebench_environment",
    "swebench_test_directives",
    "swebench_test_spec",
    "with_repos",
    "write_pool",
]
