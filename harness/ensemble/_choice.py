"""One instance's choice: discovery, runs, the selector's verdict, and the record that says why.

:func:`choose_instance` takes a :class:`PublicRepoTask` and refuses anything else, so the hidden tests
(``test_patch``, ``FAIL_TO_PASS``, ``PASS_TO_PASS``) cannot reach a selector or a sandbox from here.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.ensemble._discover import MAX_FILES, Discovery, discover_tests
from harness.ensemble._runs import RUNS_VERSION, Run, Runner, RunSandboxFactory, strict_sandbox
from harness.ensemble._select import SelectorName, choose
from harness.ensemble._votes import SystemPatch, vote_groups
from harness.errors import ConfigError
from harness.evaluation import patch_key
from harness.evaluation._diff import patch_files
from harness.store import atomic_write_json
from harness.tasks._repo import EnvironmentSpec, PublicRepoTask

CHOICE_VERSION: Literal[1] = 1


class Settings(BaseModel):
    """What decides a choice besides the candidates and the image (part of the resume key)."""

    model_config = ConfigDict(extra="forbid")

    selector: SelectorName = "votes"
    max_test_files: int = MAX_FILES
    """At most this many related test files are run (see ``harness.ensemble._discover``)."""
    test_timeout: float = 600.0
    """Seconds for one test run (the base or one candidate); past it the run's missing tests fail."""


class CandidateEntry(BaseModel):
    """One system's candidate in a choice record; the run fields are set when tests ran."""

    model_config = ConfigDict(extra="forbid")

    system: str
    patch_sha256: str
    files: list[str]
    applied: bool | None = None
    apply_method: str | None = None
    timed_out: bool | None = None
    passed: int | None = None
    tests: int | None = None
    broke: list[str] | None = None
    """Tests passing at base that do not pass with this candidate."""
    run_s: float | None = None
    cached: bool | None = None
    dropped: str | None = None
    """Why the selector dropped it (``None``: kept)."""


class BaseRun(BaseModel):
    model_config = ConfigDict(extra="forbid")

    passed: int
    tests: int
    timed_out: bool
    run_s: float
    cached: bool


class Winner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: str
    patch_sha256: str
    index: int


class Cost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sandbox_s: float = 0.0
    """Seconds a sandbox of this instance was open (0 when every run came from the cache)."""
    runs: int = 0
    """Test runs done now (base and distinct patches)."""
    cached_runs: int = 0


class Choice(BaseModel):
    """``<out>/<instance_id>/choice.json``: what was chosen and why (versioned)."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = CHOICE_VERSION
    instance_id: str
    selector: SelectorName
    candidates: list[CandidateEntry]
    groups: list[list[str]]
    """Vote groups, best first, by system."""
    discovery: Discovery | None = None
    base: BaseRun | None = None
    winner: Winner | None = None
    fallback: str | None = None
    reason: str = ""
    b4_scores: list[float] | None = None
    note: str | None = None
    cost: Cost = Field(default_factory=Cost)
    duration_s: float = 0.0
    key: str = ""
    """The resume key (see :func:`harness.ensemble._ensemble.resume_key`)."""
    patch: str = ""
    """The winner's patch (left out of ``choices.jsonl``)."""


async def choose_instance(
    task: PublicRepoTask,
    env: EnvironmentSpec,
    image: str | None,
    cands: Sequence[SystemPatch],
    settings: Settings,
    *,
    factory: RunSandboxFactory = strict_sandbox,
    cache: Path | None = None,
    log_dir: Path | None = None,
    log: Callable[[str], None] = lambda _line: None,
) -> Choice:
    """The choice of one instance; ``image`` (its instance image) is needed unless the selector is votes.

    Tests run only when there are at least two distinct patches."""
    if not isinstance(task, PublicRepoTask):
        raise ConfigError("choose_instance takes a PublicRepoTask (task.public_view()), never the full task")
    t0 = time.monotonic()
    choice = Choice(
        instance_id=task.instance_id,
        selector=settings.selector,
        candidates=[
            CandidateEntry(system=c.system, patch_sha256=c.sha256, files=patch_files(c.patch)) for c in cands
        ],
        groups=[[cands[i].system for i in g.members] for g in vote_groups(cands)],
    )
    base: Run | None = None
    runs: dict[int, Run] = {}
    runner: Runner | None = None
    if settings.selector != "votes" and len({patch_key(c.patch) for c in cands}) > 1:
        if image is None:
            raise ConfigError(
                f"{task.instance_id}: the {settings.selector} selector needs the instance image"
            )
        runner = Runner(
            task, env, image, factory=factory, timeout=settings.test_timeout, cache=cache, log_dir=log_dir
        )
        try:
            base = await _run_all(runner, image, cands, settings, cache, choice, runs, log)
        finally:
            await runner.close()
    elif settings.selector != "votes":
        choice.note = "a single distinct patch: nothing to compare, no test run"
    verdict = choose(settings.selector, cands, base, runs)
    for i, entry in enumerate(choice.candidates):
        if i in runs:
            r = runs[i]
            entry.applied, entry.apply_method, entry.timed_out = r.applied, r.apply_method, r.timed_out
            entry.passed, entry.tests, entry.run_s, entry.cached = (
                len(r.passing),
                len(r.statuses),
                r.duration_s,
                r.cached,
            )
            if base is not None and r.applied:
                entry.broke = sorted(base.passing - r.passing)
        entry.dropped = verdict.dropped.get(i)
    if base is not None:
        choice.base = BaseRun(passed=len(base.passing), tests=len(base.statuses), timed_out=base.timed_out,
                              run_s=base.duration_s, cached=base.cached)  # fmt: skip
    w = verdict.winner
    if w is not None:
        choice.winner = Winner(system=cands[w].system, patch_sha256=cands[w].sha256, index=w)
        choice.patch = cands[w].patch
    choice.fallback, choice.reason, choice.b4_scores = verdict.fallback, verdict.reason, verdict.b4_scores
    every = [r for r in [base, *runs.values()] if r is not None]
    choice.cost = Cost(
        sandbox_s=round(runner.sandbox_s, 1) if runner is not None else 0.0,
        runs=len({r.patch_sha256 for r in every if not r.cached}),
        cached_runs=len({r.patch_sha256 for r in every if r.cached}),
    )
    choice.duration_s = round(time.monotonic() - t0, 1)
    return choice


async def _run_all(
    runner: Runner,
    image: str,
    cands: Sequence[SystemPatch],
    settings: Settings,
    cache: Path | None,
    choice: Choice,
    runs: dict[int, Run],
    log: Callable[[str], None],
) -> Run:
    """Discovery, the base run and one run per distinct patch (``runs`` filled per candidate)."""
    patched = [f for c in cands for f in patch_files(c.patch)]
    found = choice.discovery = await _discover(runner, image, patched, settings.max_test_files, cache)
    log(f"tests: {len(found.selected)} of {found.test_files} test files: {', '.join(found.selected) or '-'}")
    base = await runner.run("", found.selected, label="base")
    log(f"base: {len(base.passing)} of {len(base.statuses)} tests pass ({base.duration_s:.0f} s)")
    # One run per patch_key (harness.evaluation's: patches that must apply the same way share it).
    by_key: dict[str, Run] = {}
    for i, c in enumerate(cands):
        key = patch_key(c.patch)
        if key not in by_key:
            by_key[key] = await runner.run(c.patch, found.selected, label=f"c{i}-{_safe(c.system)}")
        r = runs[i] = by_key[key]
        what = f"{len(r.passing)} of {len(r.statuses)} pass" if r.applied else "does not apply"
        log(f"{c.system}: {what} ({r.duration_s:.0f} s{', cached' if r.cached else ''})")
    return base


async def _discover(
    runner: Runner, image: str, patched: list[str], max_files: int, cache: Path | None
) -> Discovery:
    """:func:`discover_tests` in the runner's sandbox, cached by image, patched files and limit."""
    body = [RUNS_VERSION, image, sorted(set(patched)), max_files]
    key = hashlib.sha256(json.dumps(body).encode()).hexdigest()
    path = cache / "discovery" / f"{key}.json" if cache is not None else None
    if path is not None and path.is_file():
        try:
            return Discovery.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError:
            pass  # a torn entry: discover again
    found = await discover_tests(runner.view(), patched, max_files=max_files)
    if path is not None:
        atomic_write_json(path, found.model_dump())
    return found


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:60]
