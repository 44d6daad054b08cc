"""Candidate pools: sampled solutions or sampled test generations per task.

Two formats:

* CodeT's (``{"prompt", "samples"}`` per line, no task id): :func:`load_codet_pool` matches each record to
  a task by its *exact* prompt (the task's prompt for solutions, :func:`codet_test_prompt` for tests).
* Ours, versioned JSONL, one :class:`PoolRecord` per line (``version, task_id, kind, samples,
  provenance``): :func:`write_pool` / :func:`read_pool`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import DataError
from harness.store import atomic_write_text
from harness.tasks._function import FunctionTask, PublicFunctionTask
from harness.tasks._loaders import codet_test_prompt, read_jsonl

POOL_VERSION = 1
PoolKind = Literal["solutions", "tests"]
AnyFunctionTask = FunctionTask | PublicFunctionTask


class PoolProvenance(BaseModel):
    """Where a pool's samples came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = ""
    """The file or run the samples were read from."""
    model: str = ""
    """The model that sampled them, when known (e.g. ``codegen-16B-mono``)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Sampling parameters when known (temperature, top_p, max_tokens, n)."""


class PoolRecord(BaseModel):
    """The samples of one kind for one task. For ``solutions`` a sample completes the task's prompt;
    for ``tests`` it continues the test-generation prompt (text after a first ``assert ``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = POOL_VERSION
    task_id: str
    kind: PoolKind
    samples: list[str]
    provenance: PoolProvenance = Field(default_factory=PoolProvenance)


class Pool:
    """All records of one kind, at most one per task, in the order read."""

    def __init__(self, kind: PoolKind, records: Iterable[PoolRecord]) -> None:
        self.kind = kind
        self._records: dict[str, PoolRecord] = {}
        for rec in records:
            if rec.kind != kind:
                raise DataError(f"pool of {kind} holds a {rec.kind} record for {rec.task_id}")
            if rec.task_id in self._records:
                raise DataError(f"pool of {kind} holds two records for task {rec.task_id}")
            self._records[rec.task_id] = rec

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._records

    def __iter__(self) -> Iterator[PoolRecord]:
        return iter(self._records.values())

    def __len__(self) -> int:
        return len(self._records)

    def samples(self, task_id: str) -> list[str]:
        """The samples of ``task_id``; :class:`DataError` if the pool has none for it."""
        rec = self._records.get(task_id)
        if rec is None:
            raise DataError(f"the pool of {self.kind} has no record for task {task_id}")
        return rec.samples


def load_codet_pool(
    path: str | Path,
    tasks: Sequence[AnyFunctionTask],
    kind: PoolKind,
    *,
    model: str = "",
) -> Pool:
    """Read a CodeT-format pool, matching every record to one of ``tasks`` by exact prompt.

    Raises :class:`DataError` for a record whose prompt matches no task (naming the record and the
    start of its prompt) or for two records of the same task.
    """
    p = Path(path)
    by_prompt = {_expected_prompt(t, kind): t.task_id for t in tasks}
    records = []
    for i, rec in enumerate(read_jsonl(p)):
        prompt, samples = rec.get("prompt"), rec.get("samples")
        if not isinstance(prompt, str) or not isinstance(samples, list):
            raise DataError(f"{p} record {i}: expected fields 'prompt' (string) and 'samples' (list)")
        task_id = by_prompt.get(prompt)
        if task_id is None:
            raise DataError(
                f"{p} record {i}: its prompt matches no task's {kind} prompt exactly "
                f"(prompt starts {prompt[:60]!r}); is this pool for another suite or prompt format?"
            )
        prov = PoolProvenance(source=str(p), model=model)
        records.append(
            PoolRecord(task_id=task_id, kind=kind, samples=[str(s) for s in samples], provenance=prov)
        )
    return Pool(kind, records)


def _expected_prompt(task: AnyFunctionTask, kind: PoolKind) -> str:
    return task.prompt if kind == "solutions" else codet_test_prompt(task)


def write_pool(path: str | Path, pool: Pool) -> None:
    """Write ``pool`` in our JSONL format, atomically."""
    lines = [rec.model_dump_json() for rec in pool]
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def read_pool(path: str | Path) -> Pool:
    """Read a pool written by :func:`write_pool`; :class:`DataError` on a malformed or newer record."""
    p = Path(path)
    records = []
    for i, raw in enumerate(read_jsonl(p)):
        if raw.get("version", POOL_VERSION) > POOL_VERSION:
            raise DataError(f"{p} record {i}: pool version {raw['version']} is newer than {POOL_VERSION}")
        try:
            records.append(PoolRecord.model_validate(raw))
        except ValidationError as exc:
            raise DataError(f"{p} record {i}: not a pool record ({exc.error_count()} errors: {exc})") from exc
    if not records:
        raise DataError(f"{p}: empty pool")
    return Pool(records[0].kind, records)


def is_codet_pool(path: str | Path) -> bool:
    """True when the first record of ``path`` looks like CodeT's format (``prompt`` + ``samples``)."""
    with Path(path).open(encoding="utf-8") as fh:
        first = fh.readline()
    try:
        rec = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(rec, dict) and "prompt" in rec and "task_id" not in rec
