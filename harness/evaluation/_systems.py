"""Many systems in one evaluation: every (system, instance) pair, identical patches evaluated once.

Layout of a many-systems evaluation folder::

    <out>/systems.json                           every system, instance and cell (below)
    <out>/<system>/<instance_id>/report.json     the same report a single-file ``harness eval`` writes
    <out>/<system>/summary.json                  swebench's final report of that system, as single-file

A system is one predictions file; its name is the file's name without ``.jsonl``/``.json`` and a
trailing ``.all_preds``/``.preds``/``.predictions`` (``20240604_CodeR.lite.all_preds.jsonl`` ->
``20240604_CodeR.lite``), or its folder's name when nothing is left (``CodeR/all_preds.jsonl`` ->
``CodeR``). Not ``model_name_or_path``: in published files it often names the model, not the system
(AutoCodeRover's is ``gpt-4-0125-preview``), and two systems on one model would share it.

Patches of one instance with the same :func:`~harness.evaluation.patch_key` are evaluated once, in the
folder of the first system (in the order given) that has that patch; the others get a copy of its report
with their own patch hash and ``harness.evaluated_as: "<system>/<instance_id>"``. Environment and
instance images are shared by tag across systems. Resume is single-file eval's: a report is reused
while its patch hash and environment match; a kill leaves every report written so far.

A published verdict file beside a predictions file (``X.resolved.json`` or ``X.results.json`` next to
``X.all_preds.jsonl``) is recorded in ``systems.json`` for ``harness report``'s agreement table.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness._progress import Progress, SilentProgress
from harness.errors import DataError
from harness.evaluation._batch import (
    Evaluator,
    Prediction,
    _check_out_dir,
    _report_of_other_patch,
    load_predictions,
    read_report,
    summarize,
)
from harness.evaluation._patchkey import patch_key
from harness.evaluation._report import InstanceReport, Outcome, patch_sha256
from harness.store import atomic_write_json
from harness.tasks._repo import RepoTask

SYSTEMS_VERSION = 1
SYSTEMS_FILE = "systems.json"
_STEM_SUFFIXES = (".all_preds", "_all_preds", "all_preds", ".preds", ".predictions", "predictions", "preds")
VERDICT_SUFFIXES = (".resolved.json", ".results.json")
"""Published verdict files looked for beside ``X<suffix>.jsonl``: ``X.resolved.json``, ``X.results.json``."""


class System(BaseModel):
    """One predictions file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    predictions: str
    """The predictions file, as given (absolute)."""
    model_name_or_path: list[str] = Field(default_factory=list)
    """Its distinct ``model_name_or_path`` values."""
    verdicts: str | None = None
    """A published verdict file found beside the predictions (``X.resolved.json``, ``X.results.json``)."""


class Cell(BaseModel):
    """One (system, instance): its outcome in harness's words, or ``missing`` (no prediction)."""

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome | Literal["missing"] = "missing"
    resolved: bool = False
    """Resolved as swebench counts it (a test run that timed out is not)."""
    applied: bool = False
    timed_out: bool = False
    patch_key: str = ""
    evaluated_as: str | None = None


class SystemsEvaluation(BaseModel):
    """``systems.json``: the systems, the instances and each cell."""

    model_config = ConfigDict(extra="forbid")

    version: int = SYSTEMS_VERSION
    instances: list[str]
    systems: list[System]
    cells: dict[str, dict[str, Cell]]
    """``cells[system][instance_id]``; every system has every instance (``missing`` where it has no
    prediction)."""
    pairs: int = 0
    """(system, instance) pairs with a prediction."""
    evaluations: int = 0
    """Distinct (instance, patch key) pairs with a non-empty patch: what was (or would be) evaluated."""
    shared: int = 0
    """Pairs whose report copies another system's (``evaluated_as``)."""


def system_name(path: Path) -> str:
    """A predictions file's system name (see the module docstring)."""
    name = path.name
    for ext in (".jsonl", ".json"):
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    for suffix in _STEM_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    name = name.rstrip("._-")
    return name or path.resolve().parent.name


def _verdicts_beside(path: Path) -> str | None:
    base = path.name
    for ext in (".jsonl", ".json"):
        base = base.removesuffix(ext)
    for suffix in _STEM_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    base = base.rstrip("._-")
    for suffix in VERDICT_SUFFIXES:
        found = path.parent / f"{base}{suffix}"
        if base and found.is_file():
            return str(found.resolve())
    return None


def predictions_files(paths: Sequence[Path]) -> list[Path]:
    """The predictions files named: files as given; in a folder, its ``*.jsonl`` files whose first
    record has a ``model_patch`` (so ``harness ensemble``'s ``choices.jsonl`` beside its
    ``predictions.jsonl`` is not taken for a system), by name."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = [f for f in sorted(p.glob("*.jsonl")) if _has_model_patch(f)]
            if not found:
                raise DataError(
                    f"{p} holds no predictions file (*.jsonl with model_patch); name the files instead"
                )
            files.extend(found)
        else:
            files.append(p)
    return files


def _has_model_patch(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as f:
            first = next((line for line in f if line.strip()), "")
        row = json.loads(first)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(row, dict) and "model_patch" in row


def load_systems(paths: Sequence[Path]) -> list[tuple[System, list[Prediction]]]:
    """Every system of ``paths`` (files or folders of ``*.jsonl``) with its predictions."""
    out: list[tuple[System, list[Prediction]]] = []
    seen: dict[str, Path] = {}
    for f in predictions_files(paths):
        preds = load_predictions(f)
        name = system_name(f)
        if name in (".", "..") or "/" in name or not name:
            raise DataError(f"{f}: no usable system name from its file name; rename the file")
        if name in seen:
            raise DataError(
                f"two predictions files make the system {name!r}: {seen[name]} and {f}; rename one "
                "(a system is named by its file name without .all_preds.jsonl)"
            )
        seen[name] = f
        models = sorted({p.model_name_or_path for p in preds if p.model_name_or_path})
        system = System(
            name=name, predictions=str(f.resolve()), model_name_or_path=models, verdicts=_verdicts_beside(f)
        )
        out.append((system, preds))
    return out


def _cell(rep: InstanceReport) -> Cell:
    timed_out = rep.test_timed_out and rep.outcome in ("resolved", "unresolved")
    return Cell(
        outcome=rep.outcome,
        resolved=rep.outcome == "resolved" and not timed_out,
        applied=rep.patch_successfully_applied,
        timed_out=timed_out,
        evaluated_as=rep.evaluated_as,
    )


@dataclass(frozen=True)
class SystemsRun:
    """What :func:`run_systems` returns: ``systems.json``'s content and each system's reports."""

    evaluation: SystemsEvaluation
    reports: dict[str, list[InstanceReport]]


@dataclass(frozen=True, eq=False)
class _Member:
    system: str
    pred: Prediction


async def run_systems(
    evaluator: Evaluator,
    tasks: Sequence[RepoTask],
    systems: Sequence[tuple[System, Sequence[Prediction]]],
    out_dir: Path,
    *,
    progress: Progress | None = None,
) -> SystemsRun:
    """Evaluate every system's predictions on ``tasks`` into ``out_dir`` (see the module docstring).

    Predictions for instances outside ``tasks`` are an error, as in single-file eval; filter the suite
    (``-i``) and the predictions together. ``progress`` counts the distinct patches evaluated."""
    _check_out_dir(out_dir)
    by_id = {t.instance_id: t for t in tasks}
    _check_predictions(systems, by_id, out_dir)
    groups = _groups(systems)
    sem = asyncio.Semaphore(evaluator.concurrency)
    reports: dict[tuple[str, str], InstanceReport] = {}
    to_run = sum(1 for (_, key) in groups if not key.startswith("empty:"))
    bar = progress or SilentProgress()
    bar.start(to_run, "distinct patches evaluated")
    done = 0

    async def group(iid: str, members: list[_Member]) -> None:
        nonlocal done
        task = by_id[iid]
        first = _representative(out_dir, iid, members)
        folder = out_dir / first.system / iid
        async with sem:
            t0 = time.monotonic()
            rep, new = await evaluator._resume(task, first.pred, folder)
        if new:
            atomic_write_json(folder / "report.json", rep.to_swebench())
        reports[(first.system, iid)] = rep
        source = rep.evaluated_as or f"{first.system}/{iid}"
        for m in members:
            if m is first:
                continue
            copy = rep.model_copy(
                update={
                    "model_name_or_path": m.pred.model_name_or_path,
                    "patch_is_None": m.pred.model_patch is None,
                    "patch_sha256": patch_sha256(m.pred.model_patch),
                    "evaluated_as": source,
                }
            )
            target = out_dir / m.system / iid / "report.json"
            if _changed(target, copy):
                atomic_write_json(target, copy.to_swebench())
            reports[(m.system, iid)] = copy
        if rep.patch_exists:
            names = ", ".join(m.system for m in members)
            how = "evaluated" if new else "reused"
            done += 1
            bar.advance()
            bar.note(
                f"[{done}/{to_run}] {iid} ({names}): {rep.outcome}, {how} in {time.monotonic() - t0:.0f} s"
            )

    await asyncio.gather(*(group(iid, members) for (iid, _), members in groups.items()))
    evaluator.reports = list(reports.values())
    return _write_results(out_dir, [t.instance_id for t in tasks], systems, reports, evaluations=to_run)


def _write_results(
    out_dir: Path,
    ids: list[str],
    systems: Sequence[tuple[System, Sequence[Prediction]]],
    reports: dict[tuple[str, str], InstanceReport],
    *,
    evaluations: int,
) -> SystemsRun:
    """Each system's ``summary.json`` and the combined ``systems.json``."""
    cells: dict[str, dict[str, Cell]] = {}
    for system, preds in systems:
        mine = [reports[(system.name, p.instance_id)] for p in preds]
        atomic_write_json(out_dir / system.name / "summary.json", summarize(ids, mine))
        row = {iid: Cell() for iid in ids}
        for p, rep in zip(preds, mine, strict=True):
            row[p.instance_id] = _cell(rep).model_copy(update={"patch_key": patch_key(p.model_patch)})
        cells[system.name] = row
    result = SystemsEvaluation(
        instances=ids,
        systems=[s for s, _ in systems],
        cells=cells,
        pairs=sum(len(p) for _, p in systems),
        evaluations=evaluations,
        shared=sum(1 for r in reports.values() if r.evaluated_as is not None),
    )
    atomic_write_json(out_dir / SYSTEMS_FILE, result.model_dump(mode="json"))
    by_system = {s.name: [reports[(s.name, p.instance_id)] for p in preds] for s, preds in systems}
    return SystemsRun(result, by_system)


def _check_predictions(
    systems: Sequence[tuple[System, Sequence[Prediction]]], by_id: dict[str, RepoTask], out_dir: Path
) -> None:
    """Refuse predictions outside the suite and folders holding reports of other patches (as
    single-file eval does)."""
    stale: list[str] = []
    for system, preds in systems:
        unknown = [p.instance_id for p in preds if p.instance_id not in by_id]
        if unknown:
            raise DataError(
                f"{system.name}: predictions for instances not in the suite: {', '.join(unknown[:10])}"
            )
        folder = out_dir / system.name
        stale += [
            f"{system.name}/{p.instance_id}"
            for p in preds
            if _report_of_other_patch(folder / p.instance_id, p)
        ]
    if stale:
        raise DataError(
            f"{out_dir} holds reports of other patches for {len(stale)} of these predictions "
            f"({', '.join(stale[:10])}); evaluate into another --out, or remove those folders"
        )


def _groups(systems: Sequence[tuple[System, Sequence[Prediction]]]) -> dict[tuple[str, str], list[_Member]]:
    """The predictions of each (instance, patch key), in the systems' order. Empty patches are not run:
    each keeps a group of its own (and its own ``empty_patch`` report)."""
    groups: dict[tuple[str, str], list[_Member]] = {}
    for system, preds in systems:
        for p in preds:
            key = patch_key(p.model_patch) or f"empty:{system.name}"
            groups.setdefault((p.instance_id, key), []).append(_Member(system=system.name, pred=p))
    return groups


def _representative(out_dir: Path, iid: str, members: list[_Member]) -> _Member:
    """The member whose folder already holds an evaluation of its own patch (a rerun keeps it), else
    the first."""
    for m in members:
        done = read_report(out_dir / m.system / iid / "report.json")
        if (
            done is not None
            and done.evaluated_as is None
            and not done.is_infra_error
            and done.patch_sha256 == patch_sha256(m.pred.model_patch)
        ):
            return m
    return members[0]


def _changed(path: Path, rep: InstanceReport) -> bool:
    old = read_report(path)
    return old is None or old.to_swebench() != rep.to_swebench()


def read_systems(out_dir: Path) -> SystemsEvaluation | None:
    """``systems.json`` of a many-systems evaluation folder, or None when the folder has none."""
    path = Path(out_dir) / SYSTEMS_FILE
    if not path.is_file():
        return None
    try:
        return SystemsEvaluation.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"{path}: not a systems.json of harness eval ({exc}); rerun harness eval") from exc
