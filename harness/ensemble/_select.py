"""The three selectors over one instance's candidates, as pure functions of what was run.

* ``votes``: :func:`harness.ensemble._votes.vote_winner` over every candidate.
* ``regression``: a candidate that does not apply is dropped; one that breaks a test passing at base (a
  test passing at base that does not pass with it, missing from its output included: a collection error
  or a timeout breaks every test) is dropped, as Agentless does; votes among the rest. When every
  candidate that applies breaks some test, the fallback is votes among the applying candidates that
  break the fewest; when none applies, votes among all (the choice will not apply either).
* ``b4``: ``harness.selection.selectors`` B4 over the candidates that apply (distinct exact patches,
  ``candidate_counts`` = how many systems wrote each) x every test id seen at base or with a candidate
  (``PASS`` when its status passes, else ``FAIL``; tests passing at base are kept: here they are the
  signal). The top group of B4 is broken by votes (the largest vote group, then the tie rule). When B4
  has nothing to go on (no test, or every candidate passes the same tests) or nothing applies, votes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.ensemble._runs import Run
from harness.ensemble._votes import SystemPatch, vote_groups, vote_winner
from harness.selection._types import Cell, PassMatrix
from harness.selection.selectors import select

SelectorName = Literal["votes", "regression", "b4"]
SELECTORS: tuple[SelectorName, ...] = ("votes", "regression", "b4")


class Verdict(BaseModel):
    """A selector's answer: the winner (index into the candidates) and why."""

    model_config = ConfigDict(extra="forbid")

    winner: int | None
    dropped: dict[int, str] = Field(default_factory=dict)
    """Candidate index -> why it was dropped."""
    fallback: str | None = None
    b4_scores: list[float] | None = None
    reason: str = ""


def by_votes(cands: Sequence[SystemPatch]) -> Verdict:
    w = vote_winner(cands)
    groups = vote_groups(cands)
    size = groups[0].size if groups else 0
    return Verdict(winner=w, reason=f"largest vote group ({size} of {len(cands)} candidates)")


def broken_tests(base: Run, run: Run) -> list[str]:
    """Tests passing at base that do not pass with ``run`` (missing ones included), sorted."""
    return sorted(base.passing - run.passing)


def by_regression(cands: Sequence[SystemPatch], base: Run, runs: Mapping[int, Run]) -> Verdict:
    dropped: dict[int, str] = {}
    broke: dict[int, int] = {}
    for i in range(len(cands)):
        run = runs[i]
        if not run.applied:
            dropped[i] = f"does not apply ({run.apply_error})"
            continue
        bad = broken_tests(base, run)
        broke[i] = len(bad)
        if bad:
            more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
            dropped[i] = f"breaks {len(bad)} test(s) passing at base: {', '.join(bad[:3])}{more}"
    kept = [i for i in range(len(cands)) if i not in dropped]
    if kept:
        w = vote_winner(cands, kept)
        size = vote_groups(cands, kept)[0].size
        return Verdict(
            winner=w, dropped=dropped, reason=f"largest vote group ({size}) of the {len(kept)} kept"
        )
    if broke:
        least = min(broke.values())
        among = [i for i, n in broke.items() if n == least]
        return Verdict(
            winner=vote_winner(cands, among),
            dropped=dropped,
            fallback=f"every applying candidate breaks a test: votes among those breaking the fewest ({least})",
            reason="fallback",
        )
    return Verdict(
        winner=vote_winner(cands),
        dropped=dropped,
        fallback="no candidate applies: votes among all",
        reason="fallback",
    )


def by_b4(cands: Sequence[SystemPatch], base: Run, runs: Mapping[int, Run]) -> Verdict:
    applying = [i for i in range(len(cands)) if runs[i].applied]
    dropped = {i: f"does not apply ({runs[i].apply_error})" for i in range(len(cands)) if not runs[i].applied}
    if not applying:
        return Verdict(
            winner=vote_winner(cands), dropped=dropped, fallback="no candidate applies: votes among all"
        )
    rows: dict[str, list[int]] = {}
    for i in applying:
        rows.setdefault(runs[i].patch_sha256, []).append(i)
    reps = list(rows.values())
    tests = sorted(set(base.statuses).union(*(runs[i].statuses for i in applying)))
    cells = np.array(
        [[Cell.PASS if t in runs[g[0]].passing else Cell.FAIL for t in tests] for g in reps], dtype=np.int8
    ).reshape(len(reps), len(tests))
    matrix = PassMatrix(
        "instance",
        [f"r{k}" for k in range(len(reps))],
        tests,
        cells,
        candidate_counts=np.array([len(g) for g in reps], dtype=np.int64),
    )
    ranking = select("b4", matrix)
    scores = [float(s) for s in ranking.scores]
    if not ranking.ranked:
        w = vote_winner(cands, applying)
        return Verdict(
            winner=w,
            dropped=dropped,
            fallback="B4 has nothing to go on: votes among the applying",
            b4_scores=scores,
        )
    top = [i for k in ranking.groups[0] for i in reps[k]]
    # Ties inside B4's top group: the candidate of the largest vote group (over all applying), then rank.
    groups = vote_groups(cands, applying)
    size_of = {i: g.size for g in groups for i in g.members}
    best = min(top, key=lambda i: (-size_of[i], cands[i].rank))
    tied = len(ranking.groups[0]) > 1
    reason = "B4's top" + (
        f" group of {len(ranking.groups[0])} rows, tie broken by votes" if tied else " row"
    )
    return Verdict(winner=best, dropped=dropped, b4_scores=scores, reason=reason)


def choose(
    name: SelectorName, cands: Sequence[SystemPatch], base: Run | None, runs: Mapping[int, Run]
) -> Verdict:
    if name == "votes" or base is None:
        return by_votes(cands)
    if name == "regression":
        return by_regression(cands, base, runs)
    return by_b4(cands, base, runs)
