"""Load SWE-bench records (parquet, JSON or JSONL) into :class:`RepoTask` objects."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness._extras import require
from harness.errors import DataError
from harness.tasks._repo import PublicRepoTask, RepoTask

_FIELDS = frozenset(RepoTask.model_fields)
_TEST_LISTS = ("FAIL_TO_PASS", "PASS_TO_PASS")


def load_swebench(path: str | Path, *, suite: str = "") -> list[RepoTask]:
    """Read every record of a SWE-bench file (``.parquet``, ``.json`` or ``.jsonl``).

    ``FAIL_TO_PASS``/``PASS_TO_PASS`` may be lists or JSON-encoded strings (as in the published
    parquet files). Columns ``RepoTask`` does not know (``image``, ``eval_script`` ...) are dropped.
    Raises :class:`DataError` naming the file and the record on malformed input.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"SWE-bench file not found: {p}")
    records = list(_read_records(p))
    return [record_to_task(r, source=f"{p} record {i}", suite=suite) for i, r in enumerate(records)]


def _read_records(p: Path) -> Iterable[Mapping[str, Any]]:
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        pq = require("pyarrow.parquet", "report")
        try:
            rows: list[Mapping[str, Any]] = pq.read_table(p).to_pylist()
        except Exception as exc:  # pyarrow raises its own hierarchy
            raise DataError(f"{p}: not a readable parquet file ({exc})") from exc
        return rows
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {p} as UTF-8 text ({exc})") from exc
    if suffix == ".jsonl":
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{p} line {n}: invalid JSON ({exc.msg})") from exc
        return out
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{p}: invalid JSON ({exc.msg} at line {exc.lineno})") from exc
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise DataError(f"{p}: expected a record or a list of records, got {type(data).__name__}")
    return data


def record_to_task(record: Mapping[str, Any], *, source: str = "record", suite: str = "") -> RepoTask:
    """Turn one SWE-bench record into a :class:`RepoTask`; ``source`` names it in errors."""
    if not isinstance(record, Mapping):
        raise DataError(f"{source}: expected an object, got {type(record).__name__}")
    rid = record.get("instance_id", "?")
    fields = {k: v for k, v in record.items() if k in _FIELDS and v is not None}
    for key in _TEST_LISTS:
        value = fields.get(key)
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else []
            except json.JSONDecodeError as exc:
                raise DataError(f"{source} ({rid}): {key} is not a JSON list ({exc.msg})") from exc
        if value is not None and not (
            isinstance(value, list | tuple) and all(isinstance(x, str) for x in value)
        ):
            raise DataError(f"{source} ({rid}): {key} must be a list of test ids")
        if value is not None:
            fields[key] = tuple(value)
    if suite and "suite" not in fields:
        fields["suite"] = suite
    try:
        return RepoTask.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise DataError(f"{source} ({rid}): not a valid SWE-bench record: {problems}") from exc


def swebench_test_spec(
    task: RepoTask | PublicRepoTask,
    *,
    fail_to_pass: Iterable[str] = (),
    pass_to_pass: Iterable[str] = (),
    namespace: str | None = None,
) -> Any:
    """swebench's ``TestSpec`` of a record, carrying what its log parsers, grading and image names read.

    Made directly, not by ``make_test_spec``: that one also writes the environment scripts, which read
    requirements files from GitHub; the script lists are left empty, nothing here reads them. The
    hidden test names are given only by evaluation (``fail_to_pass``, ``pass_to_pass``); a selector's
    parser gets none."""
    import platform

    ts = require("swebench.harness.test_spec.test_spec", "swebench")
    consts = require("swebench.harness.constants", "swebench")
    return ts.TestSpec(
        instance_id=task.instance_id,
        repo=task.repo,
        version=task.version,
        repo_script_list=[],
        eval_script_list=[],
        env_script_list=[],
        arch="arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64",
        FAIL_TO_PASS=list(fail_to_pass),
        PASS_TO_PASS=list(pass_to_pass),
        language=consts.MAP_REPO_TO_EXT.get(task.repo, "py"),
        docker_specs={},
        namespace=namespace,
    )
