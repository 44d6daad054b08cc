"""The one reader of unified diffs: what files a patch touches and what lines it adds and removes.

Diffs are read with ``unidiff`` (the library SWE-bench reads patches with), which checks every hunk
against its header's counts, knows git's extended headers (renames, binary parts, new and deleted files
without hunks) and paths with spaces. A patch it cannot read (a model's hunk with miscounted lines,
which ``patch --fuzz`` may still apply) is read line by line instead (:func:`_scan_files`,
:func:`_scan_changes`), as the parsers this module replaces read every patch, so such a patch still
names its files and still votes.

:func:`harness.evaluation._patchkey.patch_key` does not read through here: its key keeps what a diff
reader drops (the bytes of every hunk line with its ``\\r``, ``\\ No newline`` markers, the base85 body
of a binary part, text outside any hunk that reads like a hunk line), and a patch it cannot read keys
on its bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchSet

DEV_NULL = "/dev/null"


@dataclass(frozen=True)
class FileChanges:
    """One file of a diff: its path after the patch (``/dev/null`` for a deleted file, as the ``+++``
    line says) and its added and removed lines in order, each with its ``+`` or ``-`` and without its
    line ending."""

    path: str
    lines: list[str]


def read_diff(patch: str) -> PatchSet | None:
    """The diff as unidiff reads it, or ``None`` when it cannot (a hunk whose lines do not match its
    header's counts, a hunk outside any file)."""
    try:
        return PatchSet(patch)
    except UnidiffParseError:
        return None


def patch_files(patch: str) -> list[str]:
    """Paths a unified diff touches on its ``b/`` side, in order, each once (files it deletes are left
    out). Only files with a ``diff --git`` header count."""
    diff = read_diff(patch)
    if diff is None:
        return _scan_files(patch)
    files: list[str] = []
    for pf in diff:
        if pf.patch_info is None or not any(line.startswith("diff --git ") for line in pf.patch_info):
            continue  # a plain diff (no git header)
        if pf.is_removed_file or pf.path in files:
            continue
        files.append(pf.path)
    return files


def old_files(patch: str) -> list[str]:
    """Paths a unified diff changes that exist before it (its ``--- a/`` side), as swebench's
    ``get_modified_files`` reads them (files it creates are left out)."""
    diff = read_diff(patch)
    if diff is None:
        return [line[6:] for line in patch.splitlines() if line.startswith("--- a/")]
    return [pf.source_file[2:] for pf in diff if pf.source_file.startswith("a/")]


def changed_lines(patch: str) -> list[FileChanges]:
    """Each file's added and removed lines, in the diff's order (context lines, headers and markers
    left out); files without hunks (renames, mode changes, binary parts) are not listed."""
    diff = read_diff(patch)
    if diff is None:
        return _scan_changes(patch)
    out: list[FileChanges] = []
    for pf in diff:
        if not len(pf):
            continue
        path = pf.target_file[2:] if pf.target_file.startswith("b/") else pf.target_file
        lines = [f"{line.line_type}{line.value.rstrip(chr(10))}" for hunk in pf for line in hunk]
        out.append(FileChanges(path, [line for line in lines if line[:1] in "+-"]))
    return out


# Line by line, for the diffs unidiff cannot read: the rules of the parsers this module replaced.
_GIT_FILE = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.MULTILINE)
_DELETED = re.compile(r"^--- a/(\S+)\n\+\+\+ /dev/null$", re.MULTILINE)
_PLUS_FILE = re.compile(r"^\+\+\+ (?:b/)?(\S+)")
_NOT_A_CHANGE = ("---", "diff ", "index ", "@@", "new file", "deleted file", "\\")


def _scan_files(patch: str) -> list[str]:
    files: list[str] = []
    for m in _GIT_FILE.finditer(patch):
        if m.group(2) not in files:
            files.append(m.group(2))
    deleted = set(_DELETED.findall(patch))
    return [f for f in files if f not in deleted]


def _scan_changes(patch: str) -> list[FileChanges]:
    out: list[FileChanges] = []
    for line in patch.splitlines():
        m = _PLUS_FILE.match(line)
        if m:
            out.append(FileChanges(m.group(1), []))
        elif line[:1] in ("+", "-") and not line.startswith(_NOT_A_CHANGE):
            if not out:
                out.append(FileChanges("", []))
            out[-1].lines.append(line)
    return out
