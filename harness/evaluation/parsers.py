"""Parsers of test-command output into per-test results, as the swebench log parsers do.

A parser maps the combined output of the test command to ``{test id: status}``. Only tests the output
names appear; a test missing from the map did not run (evaluation counts it as failed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from harness.errors import ConfigError

TestStatus = Literal["PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS"]
PASSING: frozenset[str] = frozenset({"PASSED", "XFAIL"})
"""Statuses that count as a pass (swebench counts an expected failure as a pass)."""

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_STATUSES: tuple[TestStatus, ...] = ("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS")
_RANK = {"PASSED": 0, "XFAIL": 0, "SKIPPED": 1, "XPASS": 2, "FAILED": 3, "ERROR": 4}


def _node_id(rest: str) -> str:
    """The node id at the start of a summary line, up to the ``" - message"`` that may follow.

    Brackets are tracked so that a parametrized id such as ``t[a - b]`` or ``t[x y]`` stays whole.
    """
    depth = 0
    for i, ch in enumerate(rest):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        elif depth == 0 and rest.startswith(" - ", i):
            return rest[:i]
    return rest.rstrip()


def parse_pytest(output: str) -> dict[str, TestStatus]:
    """Read pytest's ``-rA`` short summary: ``PASSED id``, ``FAILED id - msg``, ``ERROR id - msg``.

    When a test is named twice (a pass and then an error at teardown), the worse status wins.
    ``SKIPPED [n] file:line: reason`` lines carry no node id and are left out.
    """
    results: dict[str, TestStatus] = {}
    for raw in output.splitlines():
        line = _ANSI.sub("", raw).strip()
        for status in _STATUSES:
            if not line.startswith(status + " "):
                continue
            rest = line[len(status) + 1 :].lstrip()
            if not rest or rest.startswith("["):
                break
            node = _node_id(rest)
            old = results.get(node)
            if old is None or _RANK[status] >= _RANK[old]:
                results[node] = status
            break
    return results


Parser = Callable[[str], dict[str, TestStatus]]
PARSERS: dict[str, Parser] = {"pytest": parse_pytest}


def get_parser(name: str) -> Parser:
    """The parser registered under ``name``; :class:`ConfigError` lists the known ones otherwise."""
    try:
        return PARSERS[name]
    except KeyError:
        raise ConfigError(
            f"unknown test-output parser {name!r}; known parsers: {', '.join(sorted(PARSERS))}"
        ) from None
