"""The per-run summary every run kind writes, so report, compare and the viewer work on any run.

``results/<run-id>/outcomes.jsonl``: one :class:`TaskOutcome` per (task, system, seed) unit, appended
as units finish. The last record of a unit wins, so a unit redone with other figures needs no rewrite;
:class:`OutcomeAppender` appends a record only when it differs from its unit's latest, so a rerun of a
finished run writes nothing (older runs whose reruns appended every row again read the same).
``results/<run-id>/stages.json``: a :class:`StageTotals` per stage (tokens, dollars, seconds).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import DataError
from harness.store._atomic import atomic_write_json, drop_torn_tail

OUTCOMES_VERSION = 1


class TaskOutcome(BaseModel):
    """How one system did on one task. ``system`` names the selector, strategy or pipeline config."""

    model_config = ConfigDict(extra="forbid")

    v: int = OUTCOMES_VERSION
    task_id: str
    system: str
    seed: int = 0
    resolved: float
    """Pass@1 of the choice on hidden tests: 1/0, or the exact expectation over a tied group."""
    oracle: bool | None = None
    """Whether any candidate was correct (oracle coverage)."""
    random_pick: float | None = None
    """Expected correctness of a uniformly random candidate."""
    n_candidates: int | None = None
    selected: str | None = None
    """Id of the chosen candidate (or a tie group's first member)."""
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    time_s: float = 0.0
    extra: dict[str, float | int | str | bool | None] = Field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.task_id, self.system, self.seed)


class StageTotals(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    time_s: float = 0.0


def append_outcomes(run_dir: str | Path, outcomes: Iterable[TaskOutcome]) -> None:
    """Append records, each on its own line. A torn last line (a run killed mid-record) is dropped
    first: appended to, it would merge with the first new record into one malformed line."""
    path = Path(run_dir) / "outcomes.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = memoryview("".join(o.model_dump_json() + "\n" for o in outcomes).encode("utf-8"))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        drop_torn_tail(fd)
        while data:  # one write for the batch, so a kill tears at most one record
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


class OutcomeAppender:
    """The one writer of a run's ``outcomes.jsonl`` during a process: :meth:`append` skips a record
    equal to the latest one of its unit, so recomputing a finished unit (a rerun reads its artefacts
    back and rebuilds the same outcome) writes nothing. The file is read once, at construction."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        # Compared as their canonical JSON: a record read back and one just built compare equal
        # exactly when they would be written as the same line.
        self._latest = {o.key: o.model_dump_json() for o in read_outcomes(self.run_dir)}

    def append(self, outcomes: Iterable[TaskOutcome]) -> list[TaskOutcome]:
        """Append the records that are new or changed; returns them."""
        fresh: list[TaskOutcome] = []
        for o in outcomes:
            line = o.model_dump_json()
            if self._latest.get(o.key) != line:
                self._latest[o.key] = line
                fresh.append(o)
        if fresh:
            append_outcomes(self.run_dir, fresh)
        return fresh


def read_outcomes(run_dir: str | Path) -> list[TaskOutcome]:
    """The outcomes of a run, last record per unit winning; a torn last line is ignored."""
    path = Path(run_dir) / "outcomes.jsonl"
    if not path.exists():
        return []
    latest: dict[tuple[str, str, int], TaskOutcome] = {}
    # Split as bytes: a kill can tear the last line inside a multi-byte character.
    lines = path.read_bytes().split(b"\n")
    for lineno, line in enumerate(lines[:-1], 1):  # the part after the last newline is torn or empty
        if not line.strip():
            continue
        try:
            o = TaskOutcome.model_validate(json.loads(line.decode("utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
            raise DataError(f"{path}:{lineno}: malformed outcome record ({exc})") from exc
        latest[o.key] = o
    return list(latest.values())


def write_stages(run_dir: str | Path, stages: Iterable[StageTotals]) -> None:
    atomic_write_json(Path(run_dir) / "stages.json", [s.model_dump() for s in stages])


def read_stages(run_dir: str | Path) -> list[StageTotals]:
    path = Path(run_dir) / "stages.json"
    if not path.exists():
        return []
    return [StageTotals.model_validate(s) for s in json.loads(path.read_text())]
