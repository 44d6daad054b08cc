"""Evaluation of patches on repository tasks, as the SWE-bench harness does it.

``evaluate_patch`` runs one candidate in a fresh sandbox of the task's instance image; ``Evaluator``
runs predictions files resumably; ``validate_tasks`` checks that gold patches resolve and empty ones
do not; ``read_verdicts`` reads SWE-bench's own verdict files; ``patch_key`` tells which patches
must get the same verdict. Hidden tests are read here and nowhere
else.
"""

from harness.evaluation._apply import APPLY_METHODS, applied_method, apply_failure, apply_script
from harness.evaluation._batch import (
    Evaluator,
    Prediction,
    failures,
    load_predictions,
    read_report,
    summarize,
)
from harness.evaluation._diff import patch_files
from harness.evaluation._instance import SandboxFactory, evaluate_patch
from harness.evaluation._official import OfficialVerdicts, differences, read_verdicts
from harness.evaluation._patchkey import patch_key
from harness.evaluation._report import InstanceReport, TestGroup, TestsStatus, grade, patch_sha256
from harness.evaluation._script import eval_script
from harness.evaluation._systems import (
    Cell,
    System,
    SystemsEvaluation,
    SystemsRun,
    load_systems,
    read_systems,
    run_systems,
    system_name,
)
from harness.evaluation._validate import ValidationRow, validate_tasks
from harness.evaluation.parsers import PARSERS, get_parser, parse_pytest
from harness.sandbox._container import EvalContainer, EvalSandbox

__all__ = [
    "APPLY_METHODS",
    "PARSERS",
    "Cell",
    "EvalContainer",
    "EvalSandbox",
    "Evaluator",
    "InstanceReport",
    "OfficialVerdicts",
    "Prediction",
    "SandboxFactory",
    "System",
    "SystemsEvaluation",
    "SystemsRun",
    "TestGroup",
    "TestsStatus",
    "ValidationRow",
    "applied_method",
    "apply_failure",
    "apply_script",
    "differences",
    "eval_script",
    "evaluate_patch",
    "failures",
    "get_parser",
    "grade",
    "load_predictions",
    "load_systems",
    "parse_pytest",
    "patch_files",
    "patch_key",
    "patch_sha256",
    "read_report",
    "read_systems",
    "read_verdicts",
    "run_systems",
    "summarize",
    "system_name",
    "validate_tasks",
]
