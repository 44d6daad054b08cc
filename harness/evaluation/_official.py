"""Reading SWE-bench's own verdict files, to compare harness's verdicts with the official ones.

:func:`read_verdicts` takes any of:

* a run's final report, as swebench 4.1.0's ``make_run_report`` writes it (``resolved_ids``,
  ``unresolved_ids``, ``empty_patch_ids``, ``error_ids``, ``schema_version`` ...);
* a ``results.json`` of the 2024 harness, as published beside leaderboard submissions (lists
  ``no_generation``, ``generated``, ``with_logs``, ``install_fail``, ``reset_failed``, ``no_apply``,
  ``applied``, ``test_errored``, ``test_timeout``, ``resolved``), like CodeR's;
* per-instance ``report.json`` objects (``{instance_id: {patch_is_None, ..., resolved}}``, one or many
  merged), swebench's or ours;
* a ``{"resolved": [...], "evaluated": [...]}`` list as kept beside the other systems' predictions.

Outcomes use harness's words: ``resolved``, ``unresolved``, ``patch_failed``, ``empty_patch``,
``error``. A final report of swebench 4.1.0 cannot tell a patch that does not apply from other errors
(it writes no report for either): both are ``error`` there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import DataError
from harness.evaluation._report import InstanceReport, Outcome

Kind = Literal["final_report", "results", "reports", "resolved_list"]
_RESULTS_KEYS = frozenset({"no_generation", "generated", "no_apply", "applied", "resolved"})


class OfficialVerdicts(BaseModel):
    """Per-instance outcomes read from one SWE-bench verdict file."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    outcomes: dict[str, Outcome] = Field(default_factory=dict)
    applied: dict[str, bool] = Field(default_factory=dict)
    """Whether the patch applied, where the file says (``results.json``, reports)."""
    timed_out: list[str] = Field(default_factory=list)

    def outcome(self, instance_id: str) -> Outcome | None:
        return self.outcomes.get(instance_id)


def read_verdicts(path: str | Path) -> OfficialVerdicts:
    """Read a SWE-bench verdict file (see the module docstring); :class:`DataError` if it is none."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"verdict file not found: {p}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{p}: not a JSON verdict file ({exc})") from exc
    if not isinstance(data, Mapping):
        raise DataError(f"{p}: expected a JSON object, got {type(data).__name__}")
    try:
        if "resolved_ids" in data and "schema_version" in data:
            return _final_report(data)
        if set(data) >= _RESULTS_KEYS:
            return _results(data)
        if set(data) >= {"resolved", "evaluated"}:
            return _resolved_list(data)
        return _reports(data)
    except (ValueError, ValidationError, TypeError) as exc:
        raise DataError(f"{p}: not a SWE-bench final report, results.json or report.json ({exc})") from exc


def _ids(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ValueError(f"{key} is not a list of instance ids")
    return value


def _final_report(data: Mapping[str, Any]) -> OfficialVerdicts:
    outcomes: dict[str, Outcome] = {}
    for key, outcome in (
        ("error_ids", "error"),
        ("empty_patch_ids", "empty_patch"),
        ("unresolved_ids", "unresolved"),
        ("resolved_ids", "resolved"),
    ):
        for iid in _ids(data, key):
            outcomes[iid] = outcome  # type: ignore[assignment]
    return OfficialVerdicts(kind="final_report", outcomes=outcomes)


def _results(data: Mapping[str, Any]) -> OfficialVerdicts:
    outcomes: dict[str, Outcome] = {}
    applied = {i: True for i in _ids(data, "applied")} | {i: False for i in _ids(data, "no_apply")}
    for iid in _ids(data, "generated"):
        outcomes[iid] = "error"  # generated, never got to a test log
    for iid in _ids(data, "with_logs"):
        outcomes[iid] = "unresolved"
    for key in ("install_fail", "reset_failed", "test_errored"):
        for iid in _ids(data, key):
            outcomes[iid] = "error"
    for iid, ok in applied.items():
        if not ok:
            outcomes[iid] = "patch_failed"
    for iid in _ids(data, "no_generation"):
        outcomes[iid] = "empty_patch"
    for iid in _ids(data, "resolved"):
        outcomes[iid] = "resolved"
    return OfficialVerdicts(
        kind="results", outcomes=outcomes, applied=applied, timed_out=_ids(data, "test_timeout")
    )


def _resolved_list(data: Mapping[str, Any]) -> OfficialVerdicts:
    resolved = set(_ids(data, "resolved"))
    outcomes: dict[str, Outcome] = {i: "unresolved" for i in _ids(data, "evaluated")}
    outcomes.update({i: "resolved" for i in resolved})
    return OfficialVerdicts(kind="resolved_list", outcomes=outcomes)


def _reports(data: Mapping[str, Any]) -> OfficialVerdicts:
    if not data:
        raise ValueError("empty object")
    outcomes: dict[str, Outcome] = {}
    applied: dict[str, bool] = {}
    for iid, body in data.items():
        rep = InstanceReport.from_swebench({iid: body})
        outcomes[iid] = rep.outcome
        if rep.patch_exists:
            applied[iid] = rep.patch_successfully_applied
    return OfficialVerdicts(kind="reports", outcomes=outcomes, applied=applied)


def differences(
    reports: Sequence[InstanceReport], official: OfficialVerdicts
) -> list[tuple[str, Outcome, Outcome | None]]:
    """``(instance, ours, official)`` for every report whose outcome differs from the official one.

    Against a swebench 4.1.0 final report, our ``patch_failed`` and timed-out instances are its
    ``error`` (it writes no report for them), so they count as equal there."""
    out = []
    for r in reports:
        theirs = official.outcome(r.instance_id)
        ours: Outcome = r.outcome
        if official.kind == "final_report" and (ours == "patch_failed" or r.test_timed_out):
            ours = "error"
        if ours != theirs:
            out.append((r.instance_id, r.outcome, theirs))
    return sorted(out)
