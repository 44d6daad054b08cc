"""Applying a patch the way the SWE-bench harness (swebench 4.1.0, ``run_instance``) does, as one script.

The chain: ``git apply --verbose``, then ``git apply --verbose --reject``, then ``patch --batch
--fuzz=5 -p1 -i``, each on the tree the previous try left (swebench does not reset between tries), the
first that exits 0 wins. One rule is ours: a ``patch`` run that printed ``Assuming -R`` applied the
patch (or some of its hunks) *in reverse* (``--batch`` answers yes to "Reversed (or previously
applied) patch detected!"), and such a run is never counted as applied; swebench counts it (CodeR's
psf__requests-1963, officially ``no_apply``, deletes a ``.coveragerc`` that does not exist, and
``patch`` created it). Nor is a ``patch`` run on a diff holding a binary part, which ``patch`` cannot
apply: it makes an empty file and exits 0 (CodeR's pytest-dev__pytest-11148, officially ``no_apply``).

The script merges each command's stderr into stdout, prints ``HARNESS_TRY=<method>`` before each try
and one ``HARNESS_APPLY=<method>`` or ``HARNESS_APPLY=FAILED`` line at the end, and never exits
non-zero, so the outcome is data. :func:`applied_method` reads the verdict from its output.
"""

from __future__ import annotations

import re
import shlex

APPLY_METHODS = ("git apply --verbose", "git apply --verbose --reject", "patch --batch --fuzz=5 -p1 -i")
_PATCH = APPLY_METHODS[2]
_MARK = re.compile(r"^HARNESS_APPLY=(.+)$", re.MULTILINE)
_TRY = "HARNESS_TRY="
REVERSED = "Assuming -R"
"""What GNU ``patch --batch`` prints when it applies a patch or some of its hunks in reverse."""
_BINARY = re.compile(r"^(Binary files .* differ|GIT binary patch)$", re.MULTILINE)


def apply_script(patch_path: str) -> str:
    """A POSIX shell script that applies ``patch_path`` in the current git work tree."""
    p = shlex.quote(patch_path)
    lines = ["set +e"]
    for method in APPLY_METHODS:
        mark = shlex.quote(method)
        lines.append(f"echo {_TRY}{mark}")
        lines.append(f"if {method} {p} 2>&1; then echo HARNESS_APPLY={mark}; exit 0; fi")
    lines.append("echo HARNESS_APPLY=FAILED")
    return "\n".join(lines) + "\n"


def applied_method(output: str, patch: str | None = None) -> str | None:
    """The method that applied the patch, or ``None`` when none did, the mark is missing, or the one
    that exited 0 was ``patch`` applying hunks in reverse (or, given ``patch``, a diff with binary parts).
    """
    marks = _MARK.findall(output)
    if not marks or marks[-1] == "FAILED":
        return None
    method = str(marks[-1])
    if method == _PATCH:
        tried = output.rfind(f"{_TRY}{_PATCH}")
        if REVERSED in output[tried if tried >= 0 else 0 :]:
            return None
        if patch is not None and _BINARY.search(patch):
            return None
    return method


def apply_failure(output: str, patch: str | None = None) -> str:
    """Why the chain did not apply the patch, in one line (for reports and ``harness eval``)."""
    if not _MARK.findall(output):
        return "the apply script did not finish"
    marks = _MARK.findall(output)
    if marks[-1] == _PATCH:
        if REVERSED in output[output.rfind(f"{_TRY}{_PATCH}") :]:
            return f"{_PATCH} applied it in reverse ({REVERSED}); not counted as applied"
        if patch is not None and _BINARY.search(patch):
            return f"{_PATCH} exited 0 on a diff with binary parts it cannot apply"
    return "no method of the chain applied it (" + ", ".join(APPLY_METHODS) + ")"
