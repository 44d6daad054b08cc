"""From raw samples to the distinct programs and tests of one task, exactly as CodeT does by default.

CodeT (microsoft/CodeT, ``src/postprocess.py`` and ``src/execution.py``):

* a solution sample is cut at the first of each stop marker in turn (``\\nclass``, ``\\ndef``, ``\\n#``,
  ``\\nif``, ``\\nprint``); the program is ``prompt + completion``;
* a test sample continues ``assert `` : the text ``"assert " + sample`` is split on ``"assert "``; parts
  that name the entry point and are not blank become ``"assert " + part``, stripped, cut at the stop
  markers and stripped again; those that compile inside a ``try`` block are kept, in order;
* the first ``test_limit`` (5) tests of each sample are pooled; the distinct ones are the task's tests
  and their multiplicities in the pooled list are ``test_counts``;
* distinct programs are distinct completion texts, in order of first appearance, with multiplicities
  over the samples (``candidate_counts``).

Improvements are named options of :class:`ExtractionOptions`, all off by default.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from harness.tasks import PublicFunctionTask

STOP_MARKERS: tuple[str, ...] = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
"""CodeT's ``STOP_TOKEN``, applied in this order."""

EMPTY_SOLUTION = "empty solution here, execution will fail"
"""CodeT's stand-in completion for a prompt with no samples."""


class ExtractionOptions(BaseModel):
    """How samples become programs and tests. The defaults reproduce CodeT."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    test_limit: int | None = 5
    """Keep the first K extracted tests of each test-generation sample (CodeT: 5); None keeps all."""
    stop_markers: tuple[str, ...] = STOP_MARKERS
    """Where a sample is cut (solutions and tests alike)."""
    program_key: Literal["text", "ast"] = "text"
    """Improvement, off by default. ``text`` (CodeT): programs are distinct when their completion text
    differs. ``ast``: completions whose syntax trees are equal (differing only in comments, blank lines or
    spacing) are merged into one candidate, the first text standing for the group."""


def truncate(text: str, markers: Sequence[str] = STOP_MARKERS) -> str:
    """Cut ``text`` at the first occurrence of each marker in turn (CodeT's ``solution_extract``)."""
    for marker in markers:
        if marker in text:
            text = text.split(marker)[0]
    return text


def compiles_as_codet(test: str) -> bool:
    """CodeT's validity check: non-blank, contains ``assert``, compiles inside a ``try`` block."""
    if not test.strip() or "assert" not in test:
        return False
    body = test.replace("\n", "\n    ")
    try:
        compile(f"try:\n    {body}\nexcept:\n    pass\n", "", "exec")
    except Exception:  # compile raises SyntaxError, ValueError (null bytes), RecursionError ...
        return False
    return True


def extract_tests(sample: str, entry_point: str, markers: Sequence[str] = STOP_MARKERS) -> list[str]:
    """Every valid test of one test-generation sample, in order (CodeT's ``test_case_extract``)."""
    name = entry_point.strip()
    parts = [p for p in f"assert {sample}".split("assert ") if name in p and p.strip()]
    cut = [truncate(f"assert {p}".strip(), markers).strip() for p in parts]
    return [t for t in cut if compiles_as_codet(t)]


@dataclass(frozen=True)
class TaskInputs:
    """The distinct programs and tests of one task, ready for the engine. Public data only."""

    task_id: str
    completions: list[str]
    """Distinct completions (what the model wrote after the prompt), first appearance first."""
    programs: list[str]
    """``prompt + completion`` for each distinct completion: what runs."""
    candidate_counts: npt.NDArray[np.int64]
    tests: list[str]
    test_counts: npt.NDArray[np.int64]
    n_samples: int
    """How many solution samples the pool held (CodeT counts an empty pool as one failing sample)."""


def distinct_completions(
    samples: Sequence[str], options: ExtractionOptions
) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Truncated completions, deduplicated in order of first appearance, with their counts."""
    cut = [truncate(s, options.stop_markers) for s in samples] or [EMPTY_SOLUTION]
    if options.program_key == "text":
        counts = Counter(cut)
        return list(counts), np.array(list(counts.values()), dtype=np.int64)
    first: dict[str, str] = {}
    keyed: Counter[str] = Counter()
    for text in cut:
        key = _ast_key(text)
        first.setdefault(key, text)
        keyed[key] += 1
    return [first[k] for k in keyed], np.array(list(keyed.values()), dtype=np.int64)


def _ast_key(completion: str) -> str:
    try:
        return ast.dump(ast.parse(completion))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "text:" + completion


def distinct_tests(
    samples: Sequence[str], entry_point: str, options: ExtractionOptions
) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The first ``test_limit`` tests of each sample, pooled, deduplicated with counts."""
    pooled: list[str] = []
    for sample in samples:
        tests = extract_tests(sample, entry_point, options.stop_markers)
        pooled.extend(tests if options.test_limit is None else tests[: options.test_limit])
    counts = Counter(pooled)
    return list(counts), np.array(list(counts.values()), dtype=np.int64)


def prepare_task(
    task: PublicFunctionTask,
    solution_samples: Sequence[str],
    test_samples: Sequence[str],
    options: ExtractionOptions | None = None,
) -> TaskInputs:
    """Distinct programs and tests of ``task`` from its raw samples. Takes the public view only."""
    opts = options or ExtractionOptions()
    completions, c_counts = distinct_completions(solution_samples, opts)
    tests, t_counts = distinct_tests(test_samples, task.entry_point, opts)
    return TaskInputs(
        task_id=task.task_id,
        completions=completions,
        programs=[task.prompt + c for c in completions],
        candidate_counts=c_counts,
        tests=tests,
        test_counts=t_counts,
        n_samples=max(len(solution_samples), 1),
    )
