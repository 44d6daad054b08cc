"""Function-level tasks (HumanEval, MBPP)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class HiddenTests(BaseModel):
    """Ground truth. Only the evaluation path (``harness.selection.ground_truth``) may run these.

    Selectors, search strategies and agents receive candidates, generated tests and pass matrices,
    never a task's hidden tests.
    """

    model_config = ConfigDict(frozen=True)

    code: str
    """Test code that defines ``check(candidate)`` (HumanEval style) or plain asserts (MBPP)."""
    entry_point: str


class FunctionTask(BaseModel):
    model_config = ConfigDict(frozen=True)

    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str = ""
    hidden: HiddenTests
    suite: str = ""

    def public_view(self) -> PublicFunctionTask:
        """What a model, selector or search strategy may see: the task without its hidden tests."""
        return PublicFunctionTask(
            task_id=self.task_id, prompt=self.prompt, entry_point=self.entry_point, suite=self.suite
        )


class PublicFunctionTask(BaseModel):
    model_config = ConfigDict(frozen=True)

    task_id: str
    prompt: str
    entry_point: str
    suite: str = ""
