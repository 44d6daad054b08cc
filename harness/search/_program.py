"""Turning a model's text into a runnable program for a function task."""

from __future__ import annotations

import ast
import re

from harness.tasks._function import PublicFunctionTask

_FENCE = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


def _defines(code: str, name: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return re.search(rf"^\s*def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None
    return any(
        isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name for n in ast.walk(tree)
    )


def extract_program(text: str, task: PublicFunctionTask) -> str:
    """The full program (imports, helpers and the entry point) a completion stands for.

    A fenced code block wins (the longest one that defines the entry point, else the first). Text
    that does not define the entry point is taken as a *continuation* of the prompt (a completion
    model's body, as in CodeT's pools) and appended to it.
    """
    blocks: list[str] = [str(b).strip("\n") for b in _FENCE.findall(text)]
    defining = [b for b in blocks if _defines(b, task.entry_point)]
    if defining:
        code = max(defining, key=len)
    elif blocks:
        code = blocks[0]
    else:
        code = text
    if _defines(code, task.entry_point):
        # The prompt goes first: its imports and helper functions (HumanEval/10 calls one) stay
        # available, and its docstring-only definition of the entry point is a valid function that the
        # answer's definition then replaces.
        return task.prompt.rstrip("\n") + "\n\n\n" + code.rstrip("\n") + "\n"
    return task.prompt + code.rstrip("\n") + "\n"
