"""Per-instance evaluation reports in swebench 4.1.0's schema, plus what harness adds.

``report.json`` holds ``{instance_id: {patch_is_None, patch_exists, patch_successfully_applied,
resolved, tests_status: {FAIL_TO_PASS: {success, failure}, PASS_TO_PASS: {...}, FAIL_TO_FAIL: {...},
PASS_TO_FAIL: {...}}}}`` as swebench's ``get_eval_report`` writes it (``tests_status`` only when the
tests ran on an applied patch), and a ``harness`` key inside the instance's object with the outcome
class, the apply method, the resume key (patch hash, environment), whether the instance had network,
timings, the cause of a failure and its log. swebench's readers (``make_run_report``) read
``[instance_id]["resolved"]`` and ignore the rest. ``outcome`` keeps model failures (``empty_patch``,
``patch_failed``, ``unresolved``) apart from infrastructure failures (``error``) and from instances whose
environment cannot be built on this machine (``unsupported``, e.g. ``needs Python 3.6``: nothing was
built or run, the reason is in ``error``).

:meth:`InstanceReport.from_swebench` reads swebench's own ``report.json`` too (no ``harness`` key, maybe
keys newer versions add, such as ``infra_failure``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.evaluation.parsers import PASSING, TestStatus

REPORT_VERSION = 2
Outcome = Literal["resolved", "unresolved", "patch_failed", "empty_patch", "error", "unsupported"]


class TestGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    success: list[str] = Field(default_factory=list)
    failure: list[str] = Field(default_factory=list)


class TestsStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    FAIL_TO_PASS: TestGroup = Field(default_factory=TestGroup)
    PASS_TO_PASS: TestGroup = Field(default_factory=TestGroup)
    FAIL_TO_FAIL: TestGroup = Field(default_factory=TestGroup)
    PASS_TO_FAIL: TestGroup = Field(default_factory=TestGroup)
    """swebench always writes these two, empty unless asked to compute them (``calculate_to_fail``)."""


def patch_sha256(patch: str | None) -> str:
    """The resume key's patch part: sha256 of the patch as run (``""`` for an empty or blank patch)."""
    if not (patch and patch.strip()):
        return ""
    return hashlib.sha256(patch.encode("utf-8", "surrogatepass")).hexdigest()


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
    """Why the instance failed: for ``outcome == "error"`` what failed in the harness or the engine (not
    in the model's patch); for ``patch_failed`` why the apply chain did not apply it; for
    ``unsupported`` why its environment cannot be built here (``unsupported: needs Python 3.6``)."""
    log: str | None = None
    """The log that shows the failure (``apply.log``, ``test_output.txt``, a build log), when kept."""
    patch_sha256: str = ""
    """sha256 of the patch evaluated (see :func:`patch_sha256`): part of the resume key."""
    environment: str = ""
    """The instance image the patch ran in (its tag is a hash of its recipe): part of the resume key."""
    network: bool = False
    """Whether the evaluation container had network (``--eval-network``)."""
    duration_s: float = 0.0
    evaluated_as: str | None = None
    """In a many-systems evaluation, the report this one copies (``<system>/<instance_id>``): another
    system's patch with the same :func:`~harness.evaluation.patch_key`, evaluated once; None when this
    report's own patch was evaluated."""
    version: int = REPORT_VERSION

    @property
    def is_infra_error(self) -> bool:
        return self.outcome == "error"

    def resume_key(self) -> tuple[str, str, str]:
        """``(instance, patch hash, environment)``: a report is reused only for the same three."""
        return (self.instance_id, self.patch_sha256, self.environment)

    def to_swebench(self) -> dict[str, Any]:
        """``{instance_id: {...}}`` as swebench's ``get_eval_report`` writes it, with a ``harness`` key."""
        body = self.model_dump(
            include={"patch_is_None", "patch_exists", "patch_successfully_applied", "resolved"}
        )
        if self.patch_successfully_applied:
            body["tests_status"] = self.tests_status.model_dump()
        body["harness"] = self.model_dump(
            include={
                "model_name_or_path",
                "outcome",
                "apply_method",
                "test_timed_out",
                "error",
                "log",
                "patch_sha256",
                "environment",
                "network",
                "duration_s",
                "version",
            }
        )
        if self.evaluated_as is not None:
            body["harness"]["evaluated_as"] = self.evaluated_as
        return {self.instance_id: body}

    @classmethod
    def from_swebench(cls, data: Mapping[str, Any]) -> InstanceReport:
        """Read a ``report.json``: ours, or swebench's own (its outcome then follows from its flags:
        ``infra_failure`` is an error, a patch that is None or empty is ``empty_patch``, one not applied
        is ``patch_failed``). Keys swebench may add are ignored. Raises ``ValueError`` on other shapes."""
        if len(data) != 1:
            raise ValueError(f"a report holds one instance, this one {len(data)}")
        ((instance_id, body),) = data.items()
        if not isinstance(body, Mapping):
            raise ValueError(f"{instance_id}: the report is not an object")
        known = {"patch_is_None", "patch_exists", "patch_successfully_applied", "resolved", "tests_status"}
        fields: dict[str, Any] = {k: v for k, v in body.items() if k in known}
        ours = body.get("harness")
        if isinstance(ours, Mapping):
            fields.update(ours)
        else:
            fields["outcome"] = _swebench_outcome(body)
        return cls.model_validate({"instance_id": instance_id, **fields})


def _swebench_outcome(body: Mapping[str, Any]) -> Outcome:
    if body.get("infra_failure"):
        return "error"
    if body.get("resolved"):
        return "resolved"
    if body.get("patch_is_None") or not body.get("patch_exists", True):
        return "empty_patch"
    if not body.get("patch_successfully_applied"):
        return "patch_failed"
    return "unresolved"


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
