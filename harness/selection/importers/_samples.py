"""Samples as other tools write them, read as ours are: test samples of any shape as CodeT's test text,
solutions in a markdown block as the code inside. What is left out is counted in the report."""

from __future__ import annotations

import ast
import re

from harness.selection.importers._report import ImportReport


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


def unfence_counted(sample: str, report: ImportReport) -> str:
    code = unfence(sample)
    if code is None:
        return sample
    report.unfenced += 1
    return code
