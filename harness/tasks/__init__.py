"""Tasks: function-level (HumanEval, MBPP) and repository-level (SWE-bench records, local suites)."""

from harness.tasks._function import FunctionTask, HiddenTests, PublicFunctionTask

__all__ = ["FunctionTask", "HiddenTests", "PublicFunctionTask"]
