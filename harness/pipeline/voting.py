"""Voting over candidate patches with the generated reproduction tests, and B4 over the same matrix.

* :func:`dedup` merges candidates whose diffs are equal exactly or after normalisation (only the
  added and removed lines count, per file, with whitespace collapsed, blank lines and comment-only
  lines dropped); the first of each group is kept and the group size becomes its multiplicity.
* :func:`build_patch_matrix` runs every reproduction test (a standalone script: exit 0 = the issue is
  fixed, 2 = not fixed, anything else = it crashed) on every candidate and on the unedited repository,
  each row in a fresh sandbox of the task's instance image (no network). Cells: 0 -> ``PASS``, 2 ->
  ``FAIL``, timeout -> ``TIMEOUT``, anything else -> ``ERROR``; a candidate that does not apply gets
  a row of ``ERROR``. Between two tests the work tree is reset to the candidate's state, so one test
  cannot disturb the next. With ``cache`` (a folder), rows are looked up in and stored to the
  pass-matrix engine's result cache (:mod:`harness.pipeline._matrix_cache`), so a rerun over the same
  image, timeout, tests and patches starts no sandbox.
* :func:`rank_patches` ranks candidates by ``votes`` (CodeMonkeys: tests passed, counting only tests
  that do *not* already pass on the unedited repository, since those cannot tell a fix from no fix)
  or by ``b4`` (``harness.selection.selectors.b4`` over candidates x those same informative tests).
  Votes tie-break on multiplicity (more trajectories wrote the same patch), then stay tied; a test
  written by several trajectories votes as often as it was written.
* :func:`vote` does all three for one task (candidates deduplicated, tests deduplicated exactly) and
  returns a :class:`Vote` whose ``winner()`` indexes the original candidates.

The task is a :class:`PublicRepoTask`: nothing here can read the hidden tests. The image is passed in
(built by the caller with ``harness.tasks.images.TaskImages``, which needs the full task).
"""

from __future__ import annotations

import asyncio
import hashlib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from harness.errors import ConfigError
from harness.evaluation._apply import applied_method, apply_script
from harness.evaluation._diff import changed_lines
from harness.evaluation._instance import SandboxFactory, default_sandbox
from harness.pipeline._matrix_cache import Row, RowCache, runner_digest
from harness.sandbox._container import EvalSandbox
from harness.sandbox._types import ExecResult
from harness.selection._types import Cell, PassMatrix, Ranking
from harness.selection.selectors import select
from harness.tasks._repo import PublicRepoTask
from harness.tasks.images import TESTBED

WORK = "/tmp/harness-votes"
EXIT_FIXED, EXIT_NOT_FIXED = 0, 2
RESET = "git reset -q --hard && git clean -fdq"
"""Restores the candidate's committed state (untracked, non-ignored files removed)."""
COMMIT = (
    "git add -A && git -c user.name=harness -c user.email=harness@harness.invalid -c commit.gpgsign=false "
    "commit -q --no-verify --allow-empty -m candidate"
)
TEST_COMMAND = "python3 {path}"
OUTPUT_LIMIT = 2000
RUNNER = runner_digest(
    apply_script(f"{WORK}/candidate.patch"), COMMIT, RESET, TEST_COMMAND, str(OUTPUT_LIMIT)
)
"""What a cached row depends on besides image, timeout, tests and patch (see ``_matrix_cache``)."""


@dataclass(frozen=True)
class Dedup:
    """Distinct candidates: ``unique[k]`` is ``candidates[groups[k][0]]``; ``groups[k]`` its duplicates."""

    unique: list[str]
    groups: list[list[int]]

    @property
    def counts(self) -> list[int]:
        return [len(g) for g in self.groups]

    def index_of(self, original: int) -> int:
        """The distinct candidate that original candidate ``original`` was merged into."""
        return next(k for k, g in enumerate(self.groups) if original in g)


def normalize_diff(diff: str) -> str:
    """The part of a diff that decides what it does, insensitive to whitespace, comments and context:
    per file (``@path``, in the diff's order), its added and removed lines with whitespace runs
    collapsed, blank and comment-only lines dropped (read by :func:`harness.evaluation._diff.changed_lines`)."""
    out: list[str] = []
    for changes in changed_lines(diff):
        if changes.path:
            out.append(f"@{changes.path}")
        for line in changes.lines:
            body = " ".join(line[1:].split())
            if body and not body.startswith("#"):
                out.append(line[0] + body)
    return "\n".join(out)


def dedup(candidates: Sequence[str]) -> Dedup:
    """Merge candidates equal exactly or after :func:`normalize_diff`; order of first appearance kept."""
    keys: dict[str, int] = {}
    unique: list[str] = []
    groups: list[list[int]] = []
    for i, cand in enumerate(candidates):
        key = hashlib.sha256(normalize_diff(cand).encode()).hexdigest()
        k = keys.get(key)
        if k is None:
            keys[key] = len(unique)
            unique.append(cand)
            groups.append([i])
        else:
            groups[k].append(i)
    return Dedup(unique, groups)


@dataclass
class PatchMatrix:
    """Candidates x reproduction tests, plus the row of the unedited repository.

    ``matrix`` holds the candidates only (ids ``c0..``, tests ``t0..`` unless given); ``baseline[j]``
    is test ``j``'s :class:`Cell` on the unedited repository; ``applied[i]`` whether candidate ``i``
    applied; ``outputs[i][j]`` the tail of what the run printed (``baseline_outputs`` likewise).
    """

    matrix: PassMatrix
    baseline: npt.NDArray[np.int8]
    applied: list[bool]
    outputs: list[list[str]] = field(default_factory=list)
    baseline_outputs: list[str] = field(default_factory=list)

    @property
    def informative(self) -> npt.NDArray[np.bool_]:
        """Tests that do not already pass on the unedited repository."""
        out: npt.NDArray[np.bool_] = self.baseline != Cell.PASS
        return out

    def to_json(self) -> dict[str, Any]:
        m = self.matrix
        return {
            "task_id": m.task_id,
            "candidate_ids": m.candidate_ids,
            "test_ids": m.test_ids,
            "cells": m.cells.tolist(),
            "candidate_counts": m.candidate_counts.tolist(),
            "test_counts": m.test_counts.tolist(),
            "baseline": self.baseline.tolist(),
            "applied": self.applied,
            "outputs": self.outputs,
            "baseline_outputs": self.baseline_outputs,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PatchMatrix:
        matrix = PassMatrix(
            data["task_id"],
            list(data["candidate_ids"]),
            list(data["test_ids"]),
            np.array(data["cells"], dtype=np.int8).reshape(len(data["candidate_ids"]), len(data["test_ids"])),
            candidate_counts=np.array(
                data.get("candidate_counts") or [1] * len(data["candidate_ids"]), dtype=np.int64
            ),
        )
        return cls(
            matrix,
            np.array(data["baseline"], dtype=np.int8),
            list(data["applied"]),
            [list(r) for r in data.get("outputs", [])],
            list(data.get("baseline_outputs", [])),
        )


def cell_of(res: ExecResult) -> Cell:
    """The cell of one reproduction-script run (see the module docstring)."""
    if res.status == "timeout":
        return Cell.TIMEOUT
    if res.exit_code == EXIT_FIXED and res.status == "ok":
        return Cell.PASS
    if res.exit_code == EXIT_NOT_FIXED:
        return Cell.FAIL
    return Cell.ERROR


def _tail(res: ExecResult, limit: int) -> str:
    text = (res.stdout + res.stderr).strip()
    return text if len(text) <= limit else "..." + text[-limit:]


async def run_row(
    sandbox: EvalSandbox,
    patch: str,
    tests: Sequence[str],
    *,
    timeout: float,
    output_limit: int = OUTPUT_LIMIT,
) -> tuple[bool, list[Cell], list[str]]:
    """Apply ``patch`` (empty = unedited) in ``sandbox``, commit it, run each test after a reset."""
    if patch.strip():
        await sandbox.write_file(f"{WORK}/candidate.patch", patch)
        res = await sandbox.run(apply_script(f"{WORK}/candidate.patch"), cwd=TESTBED, timeout=300)
        if applied_method(res.stdout) is None:
            note = "the candidate patch does not apply: " + _tail(res, output_limit)
            return False, [Cell.ERROR] * len(tests), [note] * len(tests)
    # The identity is given here: an image without a git identity would otherwise fail to commit, and
    # the reset between tests would then silently undo the candidate.
    res = await sandbox.run(COMMIT, cwd=TESTBED, timeout=120)
    if not res.ok:
        note = "could not commit the candidate's state: " + _tail(res, output_limit)
        return False, [Cell.ERROR] * len(tests), [note] * len(tests)
    cells: list[Cell] = []
    outputs: list[str] = []
    for j, test in enumerate(tests):
        path = f"{WORK}/test_{j}.py"
        await sandbox.write_file(path, test)
        res = await sandbox.run(
            TEST_COMMAND.format(path=shlex.quote(path)),
            cwd=TESTBED,
            timeout=timeout,
            env={"PYTHONPATH": TESTBED},
        )
        cells.append(cell_of(res))
        outputs.append(f"exit code {res.exit_code} ({res.status})\n{_tail(res, output_limit)}")
        await sandbox.run(RESET, cwd=TESTBED, timeout=120)
    return True, cells, outputs


async def build_patch_matrix(
    task: PublicRepoTask,
    candidates: Sequence[str],
    tests: Sequence[str],
    *,
    image: str,
    sandbox_factory: SandboxFactory = default_sandbox,
    timeout: float = 60.0,
    concurrency: int = 2,
    candidate_ids: Sequence[str] | None = None,
    test_ids: Sequence[str] | None = None,
    candidate_counts: Sequence[int] | None = None,
    test_counts: Sequence[int] | None = None,
    cache: Path | None = None,
) -> PatchMatrix:
    """Run every test on every candidate and on the unedited repository; see the module docstring.

    One sandbox per row that ``cache`` (a folder; None: no cache) does not hold, ``concurrency`` at a
    time, closed when the row is done; each finished row is stored at once. Failures of the sandbox
    backend raise (:class:`harness.errors.SandboxError`) and are not stored; failures of the code are
    cells.
    """
    if not isinstance(task, PublicRepoTask):
        raise ConfigError(
            "build_patch_matrix takes a PublicRepoTask (task.public_view()), never the full task"
        )
    gate = asyncio.Semaphore(max(1, concurrency))
    rows: list[str] = ["", *candidates]
    store = RowCache(cache, image=image, timeout=timeout, tests=tests, runner=RUNNER)

    async def one(patch: str, hit: Row | None) -> Row:
        if hit is not None:
            return hit
        async with gate:
            sandbox = await sandbox_factory(image)
            try:
                row = await run_row(sandbox, patch, tests, timeout=timeout)
            finally:
                await sandbox.close()
        store.put(patch, row)
        return row

    try:
        results = await asyncio.gather(*(one(p, h) for p, h in zip(rows, store.get_many(rows), strict=True)))
    finally:
        store.close()
    base, cand = results[0], results[1:]
    n, m = len(candidates), len(tests)
    cells = np.array([r[1] for r in cand], dtype=np.int8).reshape(n, m)
    matrix = PassMatrix(
        task.instance_id,
        list(candidate_ids) if candidate_ids is not None else [f"c{i}" for i in range(n)],
        list(test_ids) if test_ids is not None else [f"t{j}" for j in range(m)],
        cells,
        candidate_counts=np.array(candidate_counts, dtype=np.int64) if candidate_counts is not None else None,
        test_counts=np.array(test_counts, dtype=np.int64) if test_counts is not None else None,
    )
    return PatchMatrix(
        matrix,
        np.array(base[1], dtype=np.int8).reshape(m),
        [r[0] for r in cand],
        [r[2] for r in cand],
        base[2],
    )


def informative_matrix(pm: PatchMatrix) -> PassMatrix:
    """The candidates x informative-tests sub-matrix (tests passing on the unedited repo dropped)."""
    keep = np.flatnonzero(pm.informative)
    m = pm.matrix
    return PassMatrix(
        m.task_id,
        list(m.candidate_ids),
        [m.test_ids[j] for j in keep],
        m.cells[:, keep],
        candidate_counts=m.candidate_counts,
        test_counts=m.test_counts[keep],
    )


def rank_patches(pm: PatchMatrix, method: Literal["votes", "b4"] = "votes", **params: Any) -> Ranking:
    """Rank candidates by ``votes`` or ``b4`` (``params`` go to the B4 selector); see the module docstring."""
    sub = informative_matrix(pm)
    if method == "b4":
        return select("b4", sub, **params).model_copy(update={"selector": "b4"})
    if method != "votes":
        raise ConfigError(f"unknown ranking method {method!r}: use 'votes' or 'b4'")
    if params:
        raise ConfigError(f"votes takes no parameters (got {sorted(params)})")
    n = sub.shape[0]
    # A test written by several trajectories votes as often as it was written (``test_counts``).
    votes = sub.passed.astype(float) @ sub.test_counts.astype(float) if sub.shape[1] else np.zeros(n)
    counts = sub.candidate_counts
    keyed: dict[tuple[float, int], list[int]] = {}
    for i in range(n):
        keyed.setdefault((float(votes[i]), int(counts[i])), []).append(i)
    groups = [keyed[k] for k in sorted(keyed, reverse=True)]
    return Ranking(
        selector="votes",
        task_id=sub.task_id,
        scores=[float(v) for v in votes],
        groups=groups,
        ranked=bool(sub.shape[1]) and bool(votes.max(initial=0) > 0),
    )


@dataclass
class Vote:
    """Everything voting produced for one task; indices of rankings are into ``dedup.unique``."""

    dedup: Dedup
    tests: list[str]
    matrix: PatchMatrix
    votes: Ranking
    b4: Ranking

    def winner(self, method: Literal["votes", "b4"] = "votes") -> int:
        """Index into the *original* candidates of the first candidate of ``method``'s top group."""
        ranking = self.votes if method == "votes" else self.b4
        return self.dedup.groups[ranking.top[0]][0]


async def vote(
    task: PublicRepoTask,
    candidates: Sequence[str],
    tests: Sequence[str],
    *,
    image: str,
    sandbox_factory: SandboxFactory = default_sandbox,
    timeout: float = 60.0,
    concurrency: int = 2,
    b4_params: dict[str, Any] | None = None,
    cache: Path | None = None,
) -> Vote:
    """Dedup the candidates (normalised) and the tests (exact), build the matrix, rank by votes and B4.

    Empty tests are dropped. Multiplicities go into the matrix (``candidate_counts``, ``test_counts``);
    ``cache`` goes to :func:`build_patch_matrix`.
    """
    if not candidates:
        raise ConfigError("vote needs at least one candidate")
    d = dedup(candidates)
    distinct: dict[str, int] = {}
    for t in tests:
        if t.strip():
            distinct[t] = distinct.get(t, 0) + 1
    pm = await build_patch_matrix(
        task,
        d.unique,
        list(distinct),
        image=image,
        sandbox_factory=sandbox_factory,
        timeout=timeout,
        concurrency=concurrency,
        candidate_counts=d.counts,
        test_counts=list(distinct.values()),
        cache=cache,
    )
    return Vote(d, list(distinct), pm, rank_patches(pm, "votes"), rank_patches(pm, "b4", **(b4_params or {})))
