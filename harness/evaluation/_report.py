"""Per-instance evaluation reports in the swebench shape, plus what harness adds.

``report.json`` holds ``{instance_id: {patch_is_None, patch_exists, patch_successfully_applied,
resolved, tests_status: {FAIL_TO_PASS: {success, failure}, PASS_TO_PASS: {...}}}}`` exactly as the
swebench harness writes it, and a ``harness`` key with the outcome class, the apply method, timings and
the error of an infrastructure failure. ``outcome`` keeps model failures (``empty_patch``,
``patch_failed``, ``unresolved``) apart from infrastructure failures (``error``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.evaluation.parsers import PASSING, TestStatus

REPORT_VERSION = 1
Outcome = Literal["resolved", "unresolved", "patch_failed", "empty_patch", "error"]


class TestGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    success: list[str] = Field(default_factory=list)
    failure: list[str] = Field(default_factory=list)


class TestsStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    FAIL_TO_PASS: TestGroup = Field(default_factory=TestGroup)
    PASS_TO_PASS: TestGroup = Field(default_factory=TestGroup)


class InstanceReport(BaseModel):
    """The evaluation of one prediction against one task's hidden tests."""

    model_config = ConfigDict(extra="forbid")

    instance_id: str
    model_name_or_path: str = ""
    patch_is_None: bool = False
    patch_exists: bool = False
    patch_successfully_applied: bool = False
    resolved: bool = False
    tests_status: TestsStatus = Field(default_factory=TestsStatus)
    outcome: Outcome = "unresolved"
    apply_method: str | None = None
    test_timed_out: bool = False
    error: str | None = None
    """For ``outcome == "error"``: what failed in the harness or the engine (not in the model's patch)."""
    duration_s: float = 0.0
    version: int = REPORT_VERSION

    @property
    def is_infra_error(self) -> bool:
        return self.outcome == "error"

    def to_swebench(self) -> dict[str, Any]:
        """``{instance_id: {...}}`` as the swebench harness writes it, with a ``harness`` key."""
        body = self.model_dump(
            include={
                "patch_is_None",
                "patch_exists",
                "patch_successfully_applied",
                "resolved",
                "tests_status",
            }
        )
        body["harness"] = self.model_dump(
            include={
                "model_name_or_path",
                "outcome",
                "apply_method",
                "test_timed_out",
                "error",
                "duration_s",
                "version",
            }
        )
        return {self.instance_id: body}

    @classmethod
    def from_swebench(cls, data: Mapping[str, Any]) -> InstanceReport:
        ((instance_id, body),) = data.items()
        fields = {k: v for k, v in body.items() if k != "harness"}
        return cls.model_validate({"instance_id": instance_id, **fields, **body.get("harness", {})})


def grade(
    fail_to_pass: Sequence[str], pass_to_pass: Sequence[str], status: Mapping[str, TestStatus]
) -> tuple[TestsStatus, bool]:
    """Sort each hidden test into success or failure; resolved when every one of them passed.

    A test that the output does not name counts as a failure (it did not run).
    """

    def group(ids: Sequence[str]) -> TestGroup:
        ok = [t for t in ids if status.get(t) in PASSING]
        return TestGroup(success=ok, failure=[t for t in ids if status.get(t) not in PASSING])

    tests = TestsStatus(FAIL_TO_PASS=group(fail_to_pass), PASS_TO_PASS=group(pass_to_pass))
    resolved = not tests.FAIL_TO_PASS.failure and not tests.PASS_TO_PASS.failure
    return tests, resolved
