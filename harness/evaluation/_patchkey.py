"""A key for patches that must get the same verdict: equal keys, same evaluation.

:func:`patch_key` drops only what neither ``git apply`` nor GNU ``patch`` reads, so that two patches
with equal keys apply (or fail) the same way on the same tree and make the same files:

* the ``index <sha>..<sha>`` lines;
* text before the first file header (blank lines, ``From``/``Subject``, a commit message) and text
  between files or after the last hunk's counted lines, unless it reads like a hunk line (starts with
  ``+``, ``-``, a space or ``\\``: kept, although ``git apply`` skips it too);
* the section heading after a hunk's ``@@ ... @@`` (a function name).

Everything else is kept, in order: file headers (``diff --git``, ``---``/``+++`` paths, modes, renames,
new and deleted files, binary parts), each hunk's line numbers and counts, and every context, removed
and added line byte for byte, with ``\\ No newline at end of file`` markers. Context lines and hunk line
numbers decide where (and whether) a hunk applies; hunk order too. Two things that look like noise are
kept on purpose, because the apply chain (``_apply``) treats them differently (checked on a two-file
patch): CRLF line endings (``git apply`` rejects such a patch, ``git apply --reject`` then creates its new
files with ``\\r`` in them and ``patch`` refuses the rest: not applied, where the LF patch applies) and a
missing final newline (``git apply`` calls the patch corrupt; not applied either).

A patch this parser cannot read hunk by hunk (counts that do not match its lines, a hunk outside any
file) gets the sha256 of its bytes: it shares a key only with the same bytes.
"""

from __future__ import annotations

import hashlib
import re

KEY_VERSION = 2
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_FILE_HEADER = (
    "diff --git ",
    "--- ",
    "+++ ",
    "old mode ",
    "new mode ",
    "deleted file mode ",
    "new file mode ",
    "similarity index ",
    "dissimilarity index ",
    "rename from ",
    "rename to ",
    "copy from ",
    "copy to ",
    "Binary files ",
    "GIT binary patch",
)


class _Unreadable(ValueError):
    pass


def _lines(patch: str) -> list[str]:
    lines = patch.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline; its absence is marked in the key (see patch_key)
    return lines


def _canonical(lines: list[str]) -> list[str]:
    """The lines that decide how the patch applies, in order (see the module docstring)."""
    out: list[str] = []
    i, n = 0, len(lines)
    in_file = False
    binary = False
    while i < n:
        line = lines[i]
        m = _HUNK.match(line)
        if m and in_file and not binary:
            old = int(m.group(2)) if m.group(2) is not None else 1
            new = int(m.group(4)) if m.group(4) is not None else 1
            out.append(f"@@ -{m.group(1)},{old} +{m.group(3)},{new} @@")
            i += 1
            while old > 0 or new > 0:
                if i >= n:
                    raise _Unreadable("a hunk ends before its counted lines")
                body = lines[i]
                kind = body[:1]
                if kind in (" ", ""):
                    old, new = old - 1, new - 1
                elif kind == "-":
                    old -= 1
                elif kind == "+":
                    new -= 1
                elif kind != "\\":
                    raise _Unreadable(f"unexpected line in a hunk: {body[:40]!r}")
                if old < 0 or new < 0:
                    raise _Unreadable("a hunk holds more lines than its header counts")
                out.append(body)
                i += 1
            while i < n and lines[i].startswith("\\"):
                out.append(lines[i])  # "\ No newline at end of file" after the last counted line
                i += 1
            continue
        if m:
            raise _Unreadable("a hunk outside any file")
        if line.startswith("diff --git ") or (
            line.startswith("--- ") and i + 1 < n and lines[i + 1].startswith("+++ ")
        ):
            in_file, binary = True, False
        if in_file and line.startswith(_FILE_HEADER):
            binary = binary or line.startswith(("Binary files ", "GIT binary patch"))
            out.append(line)
        elif in_file and binary and line:
            out.append(line)  # the base85 body of a binary part
        elif in_file and line.startswith(("+", "-", " ", "\\")):
            # Beyond a hunk's counts: git apply skips it, but it reads like a hunk line, and a
            # tool that recounts (patch on a malformed hunk) might not: kept.
            out.append(f"outside: {line}")
        i += 1
    if not any(_HUNK.match(line) or line.startswith(("Binary files ", "GIT binary patch")) for line in out):
        if any(
            line.startswith(("rename from ", "new file mode ", "deleted file mode ", "old mode "))
            for line in out
        ):
            return out  # a pure rename, mode change or empty new file
        raise _Unreadable("no hunk")
    return out


def patch_key(patch: str | None) -> str:
    """A hex key equal for two patches only when they apply the same way (see the module docstring);
    ``""`` for an empty or blank patch (not evaluated)."""
    if not (patch and patch.strip()):
        return ""
    lines = _lines(patch)
    try:
        canon, tag = "\n".join(_canonical(lines)) + "\n", "diff"
    except _Unreadable:
        canon, tag = patch, "raw"
    if not patch.endswith("\n"):
        tag += "/no-final-newline"  # git apply refuses such a patch where it takes the same with one
    data = f"harness-patch-key/{KEY_VERSION}/{tag}\n{canon}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()
