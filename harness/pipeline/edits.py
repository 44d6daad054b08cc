"""Search/replace edits written by a model: parse them, apply them to sources, diff the result.

The format (fences optional; the path is the last non-blank line before the ``SEARCH`` marker, or
the last path-looking token of that line when it is a sentence such as ``In `pkg/mod.py`:``)::

    path/to/file.py
    <<<<<<< SEARCH
    lines copied from the file
    =======
    the lines that replace them
    >>>>>>> REPLACE

An empty ``SEARCH`` part creates a new file (an error if the file exists). Paths are relative to the
repository; ``./``, ``/testbed/``, ``/workspace/`` and other prefixes of a known path are resolved to
it. A new file may not be absolute, hold ``..``, sit in ``.git``, be a folder of the repository or lie
under one of its files (``bad_path``: such a write would escape the repository or fail). Each block is matched in
three steps, the first that finds exactly one place wins:

* ``exact``: the search text occurs verbatim once, starting at a line;
* ``whitespace``: line by line, ignoring indentation and trailing whitespace (blank lines at the edges
  of the search text are dropped); the replacement is re-indented by the difference between the
  file's indentation and the search text's at the first line;
* ``fuzzy``: the window of as many lines as the search text whose ``difflib`` ratio (over the
  stripped lines) is highest (every window of small files; in larger ones the windows anchored by
  identical or most similar lines, see ``_starts``), when it reaches :data:`FUZZY_THRESHOLD` (0.9) and no other
  non-overlapping window comes within 0.02 of it.

Two places at one step is an *ambiguous* error (the model must add lines to make the search text
unique); nothing found gives the closest lines of the file with their line numbers. Blocks apply in
order, each on the result of the previous ones; a failing block is skipped and reported, the others
still apply (``EditOutcome.ok`` is False). Errors are written for the model to read.
"""

from __future__ import annotations

import difflib
import heapq
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from harness.errors import HarnessError

FUZZY_THRESHOLD = 0.9
"""Least ``difflib.SequenceMatcher.ratio`` of a fuzzy match (over the stripped lines of the window)."""
FUZZY_MARGIN = 0.02
"""A second window within this margin of the best one makes a fuzzy match ambiguous."""

MatchMethod = Literal["exact", "whitespace", "fuzzy", "create"]

_SEARCH = re.compile(r"^\s*<{5,9} ?SEARCH\s*$")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9} ?REPLACE\s*$")
_FENCE = re.compile(r"^\s*```")

FORMAT_HELP = """Write each edit as a block like this (the file path alone on the line before the markers):

path/to/file.py
<<<<<<< SEARCH
exact lines copied from the current file
=======
the new lines
>>>>>>> REPLACE"""


class EditFormatError(HarnessError):
    """The answer holds no well-formed edit block; the message tells the model how to fix it."""


@dataclass(frozen=True)
class EditBlock:
    """Replace ``search`` by ``replace`` in the file ``path`` (relative to the repository root)."""

    path: str
    search: str
    replace: str


@dataclass(frozen=True)
class AppliedEdit:
    index: int
    path: str
    method: MatchMethod
    line: int
    """1-based line of the file where the replaced text started."""


@dataclass(frozen=True)
class EditError:
    index: int
    path: str
    kind: Literal["missing_file", "no_match", "ambiguous", "file_exists", "bad_path"]
    message: str


@dataclass
class EditOutcome:
    """New sources (every file given, with the edits), what applied and how, and what failed.

    ``changed`` lists the paths some block touched (sorted), ``changed_sources`` their new text: what
    to write back into a sandbox, and what :func:`to_diff` needs.
    """

    sources: dict[str, str]
    changed: list[str] = field(default_factory=list)
    applied: list[AppliedEdit] = field(default_factory=list)
    errors: list[EditError] = field(default_factory=list)

    @property
    def changed_sources(self) -> dict[str, str]:
        return {p: self.sources[p] for p in self.changed}

    @property
    def ok(self) -> bool:
        return not self.errors

    def feedback(self) -> str:
        """A message for the model: every failed block and why, and which ones applied."""
        if self.ok:
            return f"All {len(self.applied)} edit(s) applied."
        lines = [f"{len(self.errors)} edit block(s) failed; the other {len(self.applied)} applied."]
        for err in self.errors:
            lines.append(f"\nBlock {err.index + 1} ({err.path}): {err.message}")
        return "\n".join(lines)


def parse_edits(text: str) -> list[EditBlock]:
    """The edit blocks of ``text`` in order; :class:`EditFormatError` when there is none or one is broken."""
    lines = text.splitlines()
    blocks: list[EditBlock] = []
    i = 0
    while i < len(lines):
        if not _SEARCH.match(lines[i]):
            if _DIVIDER.match(lines[i]) or _REPLACE.match(lines[i]):
                raise EditFormatError(
                    f"line {i + 1}: {lines[i].strip()!r} appears outside an edit block (a block starts "
                    f"with `<<<<<<< SEARCH`).\n{FORMAT_HELP}"
                )
            i += 1
            continue
        path = _path_before(lines, i)
        if path is None:
            raise EditFormatError(
                f"line {i + 1}: the edit block has no file path; put the path alone on the line before "
                f"`<<<<<<< SEARCH`.\n{FORMAT_HELP}"
            )
        j = i + 1
        while j < len(lines) and not _DIVIDER.match(lines[j]):
            if _SEARCH.match(lines[j]) or _REPLACE.match(lines[j]):
                raise EditFormatError(
                    f"the block for {path} (line {i + 1}) has no `=======` line between SEARCH and "
                    f"REPLACE.\n{FORMAT_HELP}"
                )
            j += 1
        k = j + 1
        while k < len(lines) and not _REPLACE.match(lines[k]):
            if _SEARCH.match(lines[k]) or _DIVIDER.match(lines[k]):
                raise EditFormatError(
                    f"the block for {path} (line {i + 1}) is not closed by `>>>>>>> REPLACE`.\n{FORMAT_HELP}"
                )
            k += 1
        if j >= len(lines) or k >= len(lines):
            raise EditFormatError(
                f"the block for {path} (line {i + 1}) is not closed: it needs `=======` and then "
                f"`>>>>>>> REPLACE`.\n{FORMAT_HELP}"
            )
        blocks.append(EditBlock(path, _join(lines[i + 1 : j]), _join(lines[j + 1 : k])))
        i = k + 1
    if not blocks:
        raise EditFormatError(f"the answer holds no edit block.\n{FORMAT_HELP}")
    return blocks


def _path_before(lines: list[str], i: int) -> str | None:
    for back in range(i - 1, max(-1, i - 4), -1):
        cand = lines[back].strip()
        if not cand or _FENCE.match(cand):
            continue
        cand = cand.strip("`*").strip()
        cand = re.sub(r"^(?:file|path)\s*:\s*", "", cand, flags=re.IGNORECASE)
        if cand.startswith("./"):
            cand = cand[2:]
        if cand and " " not in cand and not _REPLACE.match(cand):
            return cand
        # A sentence naming the file ("In `pkg/mod.py`:"): take its last path-looking token.
        tokens = re.findall(r"[\w.-]*(?:/[\w.-]+)+|[\w-]+\.[A-Za-z]\w*", cand)
        return tokens[-1] if tokens else None
    return None


def _join(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def _resolve(path: str, current: Mapping[str, str]) -> str:
    """``path`` as a key of ``current``: ``./`` and the sandbox's ``/testbed/`` and ``/workspace/`` prefixes are dropped, and
    any other prefixed path is matched to the one known path it ends with."""
    if path in current:
        return path
    for prefix in ("./", "/testbed/", "/workspace/"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
    if path in current:
        return path
    hits = [p for p in current if path.endswith("/" + p)]
    return hits[0] if len(hits) == 1 else path


def _bad_path(path: str, current: Mapping[str, str]) -> str | None:
    """Why a new file may not be created at ``path`` (relative to the repository root), or None.

    The loops write ``<workdir>/<path>``: an absolute path, ``..``, ``.git``, a folder of the repository
    or a path under one of its files would escape the repository or fail the write (a sandbox error
    that would end the trajectory), so such a block is an error for the model instead.
    """
    how = "Use a path relative to the repository root, such as pkg/module.py."
    parts = path.split("/")
    if path.startswith("/"):
        return f"{path} is an absolute path outside the repository. {how}"
    if "\0" in path or any(part in ("", ".", "..") for part in parts):
        return f"{path!r} is not a plain path inside the repository. {how}"
    if ".git" in parts:
        return f"{path} is inside .git, which edits may not touch. {how}"
    if any(len(part.encode()) > 255 for part in parts):
        return f"{path} has a name longer than 255 bytes. {how}"
    for k in range(1, len(parts)):
        if "/".join(parts[:k]) in current:
            return f"{'/'.join(parts[:k])} is a file, not a folder. {how}"
    if any(p.startswith(path + "/") for p in current):
        return f"{path} is a folder of the repository, not a file. {how}"
    return None


def apply_edits(
    sources: Mapping[str, str], blocks: Sequence[EditBlock], *, refused: Mapping[str, str] | None = None
) -> EditOutcome:
    """Apply ``blocks`` in order to ``sources`` (path -> text); see the module docstring.

    ``refused`` maps paths that may not be written to why (the editing loop's check in the sandbox):
    a block on one is a ``bad_path`` error with that reason.
    """
    current = dict(sources)
    outcome = EditOutcome(sources={})
    touched: set[str] = set()
    for index, block in enumerate(blocks):
        path = _resolve(block.path, current)
        if refused and path in refused:
            outcome.errors.append(EditError(index, path, "bad_path", refused[path]))
            continue
        if path not in current:
            if block.search.strip():
                close = difflib.get_close_matches(path, list(current), n=3, cutoff=0.5)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                outcome.errors.append(
                    EditError(
                        index,
                        path,
                        "missing_file",
                        f"there is no file {path}.{hint} To create a new file, leave the SEARCH part empty.",
                    )
                )
                continue
            bad = _bad_path(path, current)
            if bad is not None:
                outcome.errors.append(EditError(index, path, "bad_path", bad))
                continue
            current[path] = block.replace
            touched.add(path)
            outcome.applied.append(AppliedEdit(index, path, "create", 1))
            continue
        if not block.search.strip():
            outcome.errors.append(
                EditError(
                    index,
                    path,
                    "file_exists",
                    f"{path} exists, so the SEARCH part may not be "
                    "empty: copy the lines you want to change (or the lines after which to add).",
                )
            )
            continue
        result = _apply_one(current[path], block)
        if isinstance(result, EditError):
            outcome.errors.append(EditError(index, path, result.kind, result.message))
            continue
        current[path], method, line = result
        touched.add(path)
        outcome.applied.append(AppliedEdit(index, path, method, line))
    outcome.sources = current
    outcome.changed = sorted(touched)
    return outcome


def _exact_hits(text: str, search: str) -> list[int]:
    """Offsets where ``search`` occurs verbatim starting at a line: one inside a line is no match (a
    search text without its indentation, or ``key = 1`` inside ``monkey = 1``, goes to the later steps)."""
    hits: list[int] = []
    pos = text.find(search)
    while pos != -1:
        if pos == 0 or text[pos - 1] == "\n":
            hits.append(pos)
        pos = text.find(search, pos + 1)
    return hits


def _apply_one(text: str, block: EditBlock) -> tuple[str, MatchMethod, int] | EditError:
    exact = _exact_hits(text, block.search)
    if len(exact) == 1:
        at = exact[0]
        line = text.count("\n", 0, at) + 1
        return text[:at] + block.replace + text[at + len(block.search) :], "exact", line
    if len(exact) > 1:
        return _ambiguous(text, exact, "exactly")
    file_lines = text.splitlines(keepends=True)
    search = _trim_blank(block.search.splitlines())
    replace = block.replace.splitlines()
    if not search:
        return EditError(0, block.path, "no_match", "the SEARCH part holds only blank lines.")
    stripped = [ln.strip() for ln in file_lines]
    want = [ln.strip() for ln in search]
    n = len(want)
    hits = [s for s in range(len(file_lines) - n + 1) if stripped[s : s + n] == want]
    if len(hits) > 1:
        lines = ", ".join(str(h + 1) for h in hits[:5])
        return EditError(
            0,
            block.path,
            "ambiguous",
            f"the SEARCH text matches {len(hits)} places (ignoring "
            f"whitespace), at lines {lines}. Add surrounding lines so that it matches one place.",
        )
    if hits:
        return _splice(file_lines, hits[0], n, search, replace), "whitespace", hits[0] + 1
    scored = _windows(stripped, want)
    if not scored:
        return EditError(0, block.path, "no_match", "the file is shorter than the SEARCH text.")
    best_score, best = scored[0]
    if best_score >= FUZZY_THRESHOLD:
        rivals = [s for r, s in scored[1:] if r >= best_score - FUZZY_MARGIN and abs(s - best) >= n]
        if rivals:
            return EditError(
                0,
                block.path,
                "ambiguous",
                f"the SEARCH text is close to several places (lines "
                f"{best + 1} and {rivals[0] + 1}). Copy the lines exactly and add context.",
            )
        return _splice(file_lines, best, n, search, replace), "fuzzy", best + 1
    shown = "".join(
        f"{best + 1 + k:>5} | {file_lines[best + k]}" for k in range(min(n, len(file_lines) - best))
    )
    return EditError(
        0,
        block.path,
        "no_match",
        f"the SEARCH text was not found. The closest lines "
        f"(similarity {best_score:.2f}) are:\n{shown.rstrip()}\nCopy the lines exactly as they "
        "are in the file (or re-read the file first).",
    )


def _trim_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _windows(stripped: list[str], want: list[str]) -> list[tuple[float, int]]:
    """(ratio, start) for the candidate windows of ``len(want)`` lines (:func:`_starts`), best first."""
    n = len(want)
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2("\n".join(want))  # the matcher caches its analysis of seq2: keep it fixed
    out: list[tuple[float, int]] = []
    best = -1.0
    for s in _starts(stripped, want):
        matcher.set_seq1("\n".join(stripped[s : s + n]))
        # quick_ratio bounds ratio from above: a window below both the best so far and any rival's
        # least score can be neither the best nor a rival.
        if matcher.quick_ratio() < min(best, FUZZY_THRESHOLD - FUZZY_MARGIN):
            continue
        r = matcher.ratio()
        best = max(best, r)
        out.append((r, s))
    out.sort(key=lambda t: (-t[0], t[1]))
    return out


FULL_SCAN_WORK = 3000
"""Every window is scored when file lines x search lines is at most this (300 lines for a 10-line
search text); otherwise only candidate windows."""


def _starts(stripped: list[str], want: list[str]) -> list[int]:
    """Window starts worth a full ``difflib`` ratio.

    Small files: all of them. Larger ones (a full scan costs about 5 ms a window for a 20-line search
    text): the 100 starts where most search lines sit exactly at their place (lines of 4 characters or
    more, each counted at 50 places at most), plus the 10 best starts by similarity of the first and of
    the last such line alone, which finds windows where every line was changed a little.
    """
    last = len(stripped) - len(want)
    if last < 0:
        return []
    if len(stripped) * len(want) <= FULL_SCAN_WORK:
        return list(range(last + 1))
    where: dict[str, list[int]] = {}
    for i, line in enumerate(stripped):
        if len(line) >= 4:
            where.setdefault(line, []).append(i)
    votes: dict[int, int] = {}
    for k, w in enumerate(want):
        for i in where.get(w, [])[:50]:
            if 0 <= i - k <= last:
                votes[i - k] = votes.get(i - k, 0) + 1
    starts = set(sorted(votes, key=lambda s: (-votes[s], s))[:100])
    significant = [k for k, w in enumerate(want) if len(w) >= 4] or [0]
    matcher = difflib.SequenceMatcher(autojunk=False)
    for k in {significant[0], significant[-1]}:
        matcher.set_seq2(want[k])
        scored: list[tuple[float, int]] = []
        for i in range(k, k + last + 1):
            matcher.set_seq1(stripped[i])
            if matcher.real_quick_ratio() >= 0.5:
                scored.append((matcher.ratio(), i - k))
        starts.update(s for _, s in heapq.nlargest(10, scored))
    return sorted(starts)


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _splice(file_lines: list[str], start: int, n: int, search: list[str], replace: list[str]) -> str:
    """Replace ``file_lines[start:start+n]`` by ``replace`` re-indented to the file's indentation."""
    first = next(k for k, ln in enumerate(search) if ln.strip())
    have, had = _indent(file_lines[start + first]), _indent(search[first])
    out: list[str] = []
    for ln in replace:
        if not ln.strip():
            out.append("\n")
        elif ln.startswith(had):
            out.append(have + ln[len(had) :] + "\n")
        else:
            out.append(ln + "\n")
    tail = file_lines[start + n :]
    if not tail and file_lines and not file_lines[-1].endswith("\n") and out:
        out[-1] = out[-1].rstrip("\n")
    return "".join(file_lines[:start] + out + tail)


def _ambiguous(text: str, hits: list[int], how: str) -> EditError:
    lines = ", ".join(str(text.count("\n", 0, pos) + 1) for pos in hits[:5])
    return EditError(
        0,
        "",
        "ambiguous",
        f"the SEARCH text matches {len(hits)} places {how}, at lines {lines}. "
        "Add surrounding lines so that it matches one place.",
    )


def to_diff(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    """A git-style unified diff from ``old`` to ``new`` (path -> text) that ``git apply`` accepts.

    Only paths in ``new`` are compared (so ``new`` may hold just the files an edit touched); a path
    in ``new`` but not in ``old`` is a new file. Files are ordered by path; unchanged files give nothing.
    """
    parts: list[str] = []
    for path in sorted(new):
        before, after = old.get(path), new[path]
        if before == after:
            continue
        a = (before or "").splitlines(keepends=True)
        b = after.splitlines(keepends=True)
        head = [f"diff --git a/{path} b/{path}\n"]
        if before is None:
            head += ["new file mode 100644\n", "--- /dev/null\n"]
        else:
            head.append(f"--- a/{path}\n")
        head.append(f"+++ b/{path}\n")
        body = list(difflib.unified_diff(a, b, n=3))[2:]
        parts.extend(head)
        for line in body:
            parts.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(parts)
