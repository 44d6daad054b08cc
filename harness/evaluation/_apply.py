"""Applying a patch inside a sandbox the way the SWE-bench harness does, as one shell script.

The chain: ``git apply -v``, then ``git apply -v --reject``, then ``patch --batch --fuzz=5 -p1``. Each
try starts from a clean tree (a failed try may leave half its hunks behind). The script prints one
``HARNESS_APPLY=<method>`` or ``HARNESS_APPLY=FAILED`` line and never exits non-zero, so the
outcome is data.
"""

from __future__ import annotations

import re
import shlex

APPLY_METHODS = ("git apply -v", "git apply -v --reject", "patch --batch --fuzz=5 -p1 -i")
_MARK = re.compile(r"^HARNESS_APPLY=(.+)$", re.MULTILINE)


def apply_script(patch_path: str) -> str:
    """A POSIX shell script that applies ``patch_path`` in the current git work tree."""
    p = shlex.quote(patch_path)
    # Only tracked changes and files the patch created are undone: untracked files the image holds
    # (none in our images) would survive, and `git clean` keeps ignored build products.
    restore = "git checkout -q -- . && git clean -fdq"
    lines = ["set +e"]
    for method in APPLY_METHODS:
        lines.append(f"if {method} {p}; then echo HARNESS_APPLY={shlex.quote(method)}; exit 0; fi; {restore}")
    lines.append("echo HARNESS_APPLY=FAILED")
    return "\n".join(lines) + "\n"


def applied_method(output: str) -> str | None:
    """The method that applied the patch, or ``None`` when every method failed or the mark is missing."""
    marks = _MARK.findall(output)
    if not marks or marks[-1] == "FAILED":
        return None
    return str(marks[-1])


def patch_files(patch: str) -> list[str]:
    """Paths a unified diff touches on its ``b/`` side (files it deletes are left out)."""
    files: list[str] = []
    for m in re.finditer(r"^diff --git a/(\S+) b/(\S+)$", patch, re.MULTILINE):
        if m.group(2) not in files:
            files.append(m.group(2))
    deleted = set(re.findall(r"^--- a/(\S+)\n\+\+\+ /dev/null$", patch, re.MULTILINE))
    return [f for f in files if f not in deleted]
