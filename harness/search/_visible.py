"""Visible tests: parsed from a prompt's docstring examples, or parsed from a model's answer.

Only the prompt (what every model sees anyway) is read here, never a task's hidden tests.
"""

from __future__ import annotations

import ast
import re

from harness.search._executor import VisibleTest

_ARROWS = re.compile(r"^\s*(==>|=>|➞|->|→|==|should return|should be|returns?|gives?)\s*:?\s*", re.I)


def _expr_prefix(text: str, *, literal: bool) -> str | None:
    """The longest prefix of ``text`` that is one Python expression (a literal if ``literal``)."""
    text = text.strip()
    for end in range(len(text), 0, -1):
        chunk = text[:end].strip().rstrip(",;")
        if not chunk:
            continue
        try:
            tree = ast.parse(chunk, mode="eval")
        except SyntaxError:
            continue
        if literal:
            try:
                ast.literal_eval(tree)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
        return chunk
    return None


def _call_at(line: str, entry_point: str) -> tuple[str, str] | None:
    """``(call, rest)`` when ``line`` holds ``entry_point(...)``: the call text and what follows it."""
    m = re.search(rf"(?<![\w.]){re.escape(entry_point)}\s*\(", line)
    if m is None:
        return None
    start = m.start()
    for end in range(m.end(), len(line) + 1):
        if line[end - 1] != ")":
            continue
        call = line[start:end]
        try:
            node = ast.parse(call, mode="eval").body
        except SyntaxError:
            continue
        if isinstance(node, ast.Call) and _literal_args(node):
            return call, line[end:]
    return None


def _literal_args(call: ast.Call) -> bool:
    """True when every argument is a literal (``f(a)`` in prose names no value)."""
    try:
        for arg in [*call.args, *(k.value for k in call.keywords)]:
            ast.literal_eval(arg)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _whole_literal(text: str) -> str | None:
    """``text`` as one literal, ignoring trailing punctuation and a trailing comment; else ``None``."""
    chunk = text.split("#", 1)[0].strip().rstrip(".,;")
    found = _expr_prefix(chunk, literal=True)
    return found if found is not None and found == chunk else None


def _doctest_expr(src: str, entry_point: str) -> str | None:
    """A doctest source line usable as the left side: a literal-argument call of the entry point, or
    an expression around one that names nothing but the entry point and builtins (e.g.
    ``round(find_zero([1, 2]), 2)``)."""
    hit = _call_at(src, entry_point)
    if hit is not None and not hit[1].strip():
        return hit[0]
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError:
        return None
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    if entry_point not in names or not names <= {entry_point, *_SAFE_BUILTINS}:
        return None
    return src


_SAFE_BUILTINS = {
    "round",
    "abs",
    "len",
    "sorted",
    "list",
    "tuple",
    "set",
    "str",
    "int",
    "float",
    "sum",
    "min",
    "max",
    "all",
    "any",
    "True",
    "False",
    "None",
}


def _assert(call: str, expected: str) -> str | None:
    code = f"assert {call} == {expected}"
    try:
        ast.parse(code)
    except SyntaxError:
        return None
    return code


def docstring_tests(prompt: str, entry_point: str) -> list[VisibleTest]:
    """The examples a HumanEval-style prompt gives, as ``assert f(x) == y`` tests (deduplicated).

    Understands doctest blocks (``>>> f(x)`` then the value on the next line) and inline forms such as
    ``f(x) ==> y``, ``f(x) ➞ y``, ``f(x) -> y``, ``f(x) == y`` and ``f(x) should return y``. Anything
    whose expected value is not a Python literal is skipped.
    """
    lines = prompt.splitlines()
    found: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith(">>>"):
            src = line[3:].strip()
            nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
            expr = _doctest_expr(src, entry_point)
            if expr is not None and nxt and not nxt.startswith(">>>"):
                expected = _whole_literal(nxt)
                code = _assert(expr, expected) if expected is not None else None
                if code is not None:
                    found.append(code)
            i += 1
            continue
        hit = _call_at(line, entry_point)
        if hit is not None:
            m = _ARROWS.match(hit[1])
            if m is not None:
                expected = _whole_literal(hit[1][m.end() :])
                code = _assert(hit[0], expected) if expected is not None else None
                if code is not None:
                    found.append(code)
        i += 1
    return [VisibleTest(code=c, source="docstring") for c in dict.fromkeys(found)]


def parse_generated_tests(text: str, entry_point: str, limit: int) -> list[VisibleTest]:
    """``assert`` lines calling ``entry_point`` from a model's answer, valid Python, at most ``limit``."""
    found: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("assert ") or _call_at(line, entry_point) is None:
            continue
        try:
            tree = ast.parse(line)
        except SyntaxError:
            continue
        stmt = tree.body[0]
        if isinstance(stmt, ast.Assert) and stmt.msg is not None:
            # Drop the message: the runner reports the left side, and messages can be long.
            stmt.msg = None
            line = ast.unparse(stmt)
        found.append(line)
    return [VisibleTest(code=c, source="generated") for c in list(dict.fromkeys(found))[:limit]]
