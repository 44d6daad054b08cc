"""Candidates of several systems for one instance, grouped by what their patches do, and the vote.

A candidate's **vote key** is the set of lines its diff adds and removes, per file: context lines, hunk
headers, ``index`` lines, the order of hunks and files, whitespace (runs collapsed, ends stripped), blank
lines and comment-only lines do not count (:func:`harness.pipeline.voting.normalize_diff` decides what a
line is; this key then forgets the order, which that one keeps). Candidates with equal keys form a
group; the largest group wins. **Tie rule**: among groups of equal size, the one whose first member
comes first in system order wins (the order the predictions files were given on the command line), and
a group's representative (the patch written out) is the patch of its first member. No randomness.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from harness.pipeline.voting import normalize_diff


class SystemPatch(BaseModel):
    """One system's patch for one instance; ``rank`` is the system's place in the order given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str
    rank: int
    patch: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.patch.encode("utf-8", "surrogatepass")).hexdigest()


class VoteGroup(BaseModel):
    """Candidates (indices into the instance's candidate list) whose patches have one vote key."""

    model_config = ConfigDict(extra="forbid")

    key: str
    members: list[int]

    @property
    def size(self) -> int:
        return len(self.members)


def vote_key(diff: str) -> str:
    """sha256 of the per-file *set* of added and removed lines (see the module docstring)."""
    files: dict[str, list[str]] = {}
    path = ""
    for line in normalize_diff(diff).splitlines():
        if line.startswith("@"):
            path = line[1:]
            files.setdefault(path, [])
        else:
            files.setdefault(path, []).append(line)
    canon = "\n".join(f"@{p}\n" + "\n".join(sorted(set(lines))) for p, lines in sorted(files.items()))
    return hashlib.sha256(canon.encode("utf-8", "surrogatepass")).hexdigest()


def vote_groups(candidates: Sequence[SystemPatch], among: Sequence[int] | None = None) -> list[VoteGroup]:
    """Groups of ``candidates`` (only the indices in ``among`` when given), best first: larger groups
    first, then by the rank of their first member (the tie rule). Members are in rank order."""
    idx = sorted(range(len(candidates)) if among is None else among, key=lambda i: candidates[i].rank)
    groups: dict[str, list[int]] = {}
    for i in idx:
        groups.setdefault(vote_key(candidates[i].patch), []).append(i)
    out = [VoteGroup(key=k, members=m) for k, m in groups.items()]
    out.sort(key=lambda g: (-g.size, candidates[g.members[0]].rank))
    return out


def vote_winner(candidates: Sequence[SystemPatch], among: Sequence[int] | None = None) -> int | None:
    """Index of the representative of the best group, or ``None`` when there is no candidate."""
    groups = vote_groups(candidates, among)
    return groups[0].members[0] if groups else None
