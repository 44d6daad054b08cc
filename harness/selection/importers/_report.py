"""What an import read and skipped (:class:`ImportReport`), and the formats' names."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.tasks import Pool
from harness.tasks._pools import PoolKind

Format = Literal["ours", "codet", "human-eval", "evalplus", "bigcode", "tests-jsonl"]
FORMATS: tuple[str, ...] = ("auto", "ours", "codet", "human-eval", "evalplus", "bigcode", "tests-jsonl")


@dataclass
class ImportReport:
    """What was read and what was skipped, with reasons: printed by the CLI, never silent."""

    path: str
    format: Format
    kind: PoolKind
    records: int = 0
    samples: int = 0
    tasks: int = 0
    matched_by: Counter[str] = field(default_factory=Counter)
    """How records found their task: ``task_id``, ``position``, ``prompt`` (exact), ``standard prompt``,
    ``signature``."""
    tests_kept: int = 0
    unfenced: int = 0
    """Solution samples that were a markdown code block (with or without prose around it): the code
    inside was kept (:func:`unfence`)."""
    skipped: Counter[str] = field(default_factory=Counter)
    """Skipped items by reason (blank lines, statements that are not asserts, ...)."""

    def lines(self) -> list[str]:
        """Human-readable summary, one line per fact."""
        how = ", ".join(f"{n} by {k}" for k, n in self.matched_by.items())
        out = [
            f"{self.path}: {self.format} pool of {self.kind}: {self.records} records, {self.samples} "
            f"samples, {self.tasks} tasks (matched {how})"
        ]
        if self.kind == "tests" and self.format not in ("ours", "codet"):
            out.append(f"  {self.tests_kept} asserts kept")
        if self.unfenced:
            out.append(f"  {self.unfenced} samples were markdown code blocks: the code inside was kept")
        out += [f"  skipped {n}: {reason}" for reason, n in self.skipped.items()]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "kind": self.kind,
            "records": self.records,
            "samples": self.samples,
            "tasks": self.tasks,
            "matched_by": dict(self.matched_by),
            "tests_kept": self.tests_kept,
            "unfenced": self.unfenced,
            "skipped": dict(self.skipped),
        }


@dataclass
class Imported:
    pool: Pool
    report: ImportReport
