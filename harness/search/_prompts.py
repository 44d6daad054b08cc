"""Every prompt the search layer sends, as templates that fail on undefined variables.

Written for harness (not copied from any paper's code); the *structure* follows the methods they
implement: Reflexion (reflect on test feedback, then refine) and SFS (numbered improvement directions,
a direction implemented per child, a global insights text updated after every expansion).
"""

from __future__ import annotations

import re
import string

from harness.errors import ConfigError
from harness.models._types import Message


class Prompt:
    """A system and a user template (``string.Template``, ``$name``). Rendering with a missing or an
    unexpected variable raises :class:`ConfigError`, so a template and its caller cannot drift apart."""

    def __init__(self, name: str, system: str, user: str) -> None:
        self.name = name
        self.system = string.Template(system)
        self.user = string.Template(user)
        self.variables = {
            *self.system.get_identifiers(),
            *self.user.get_identifiers(),
        }

    def render(self, **variables: object) -> list[Message]:
        given = set(variables)
        if given != self.variables:
            missing, extra = self.variables - given, given - self.variables
            raise ConfigError(
                f"prompt {self.name!r}: missing variables {sorted(missing)}, unexpected {sorted(extra)}"
            )
        values = {k: str(v) for k, v in variables.items()}
        try:
            system = self.system.substitute(values)
            user = self.user.substitute(values)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"prompt {self.name!r} failed to render: {exc}") from exc
        return [Message(role="system", content=system), Message(role="user", content=user)]


_CODER = (
    "You are an expert Python programmer. Answer with the complete implementation of the requested "
    "function (with any imports and helper functions it needs) in a single ```python code block."
)

SEED = Prompt(
    "seed",
    _CODER + "$style",
    "Implement this function:\n\n```python\n$prompt```",
)

REFINE = Prompt(
    "refine",
    _CODER,
    "Task:\n```python\n$prompt```\n\nPrevious implementation:\n```python\n$program```\n\n"
    "Results of the previous implementation on the unit tests:\n$feedback\n\n"
    "Write an improved implementation that passes all the tests.",
)

REFLECT = Prompt(
    "reflect",
    "You are an expert Python programmer reviewing a failed implementation. In a few sentences, explain "
    "why the implementation is wrong, as the test results show, and what must change. Do not write code.",
    "Task:\n```python\n$prompt```\n\nImplementation:\n```python\n$program```\n\n"
    "Results on the unit tests:\n$feedback\n\nYour reflection:",
)

REFINE_WITH_REFLECTION = Prompt(
    "refine_with_reflection",
    _CODER,
    "Task:\n```python\n$prompt```\n\nPrevious implementation:\n```python\n$program```\n\n"
    "Results of the previous implementation on the unit tests:\n$feedback\n\n"
    "Reflection on the previous implementation:\n$reflection\n\n"
    "Write an improved implementation that passes all the tests.",
)

DIRECTIONS = Prompt(
    "directions",
    "You are an expert Python programmer planning how to improve an implementation. Reflect on the "
    "test results and the insights gathered so far, then propose distinct, concrete improvement "
    "directions. Number them exactly as `Idea 1:`, `Idea 2:`, ... Do not write the full code.",
    "Task:\n```python\n$prompt```\n\nCurrent implementation:\n```python\n$program```\n\n"
    "Results on the unit tests:\n$feedback\n\nGeneral insights so far:\n$insights\n\n"
    "Give a short reflection, then $n different ways to change the implementation so that it passes "
    "all the tests. Be specific: name the code you would change.",
)

IMPLEMENT = Prompt(
    "implement",
    _CODER,
    "Task:\n```python\n$prompt```\n\nPrevious implementation:\n```python\n$program```\n\n"
    "Results of the previous implementation on the unit tests:\n$feedback\n\n"
    "Improvement direction:\n$direction\n\n"
    "Apply this direction to the previous implementation as well as you can.",
)

INSIGHTS = Prompt(
    "insights",
    "You keep a short list of general insights about what works and what does not for one programming "
    "task, learned from attempts to improve implementations. Keep it under 10 bullet points. Answer "
    "with the header `Updated insights:` followed by the bullet points.",
    "Task:\n```python\n$prompt```\n\nPrevious implementation:\n```python\n$parent_program```\n\n"
    "Its test results:\n$parent_feedback\n\nImprovement direction tried:\n$direction\n\n"
    "New implementation:\n```python\n$program```\n\nIts test results:\n$feedback\n\n"
    "Change in the fraction of tests passed: $delta\n\nPrevious insights:\n$insights\n\n"
    "Reflect on how the direction changed the results and update the insights.",
)

TESTS = Prompt(
    "tests",
    "You write unit tests for Python functions from their description. Answer with one `assert` per "
    "line, each calling the function on small inputs whose expected output you can verify by hand, "
    "for example:\n```python\nassert add(1, 2) == 3\n```\nDo not use pytest or unittest.",
    "Function `$entry_point`:\n```python\n$prompt```\n\nWrite $n diverse unit tests.",
)

STYLES: tuple[str, ...] = (
    "Write straightforward code that follows the description step by step.",
    "Break the work into small helper functions, each with one job.",
    "Prefer a functional style: pure functions, comprehensions and built-ins, no mutable state.",
    "Be brief: use Python idioms and the standard library wherever they fit.",
    "Think about edge cases first (empty inputs, zero, negatives, duplicates) and handle each one.",
    "Aim for an efficient algorithm; avoid needless passes over the data.",
    "Write the code as if for a test-driven review: every branch should be justified by an example.",
    "Use clear, descriptive names and keep each expression simple.",
    "Solve the problem by first restating the examples as rules, then code exactly those rules.",
    "Write the simplest working version, without optimisation.",
)
"""Style instructions that vary the seeds of a forest (our own wording of SFS's idea)."""


def style_suffix(style: str) -> str:
    return f"\n\nStyle: {style}" if style else ""


_IDEA = re.compile(r"Idea\s*(\d+)\s*[:.)\-]\s*(.*?)(?=\n\s*\**\s*Idea\s*\d+\s*[:.)\-]|\Z)", re.S | re.I)
_NUMBERED = re.compile(r"^\s*(\d+)[.)]\s+(.*?)(?=^\s*\d+[.)]\s+|\Z)", re.S | re.M)


def parse_directions(text: str, n: int) -> list[str]:
    """The numbered directions of a ``DIRECTIONS`` answer (``Idea k:``, else ``k.``), at most ``n``."""
    found = [m.group(2) for m in _IDEA.finditer(text)] or [m.group(2) for m in _NUMBERED.finditer(text)]
    cleaned = [" ".join(d.replace("*", " ").split()) for d in found]
    return list(dict.fromkeys(d for d in cleaned if d))[:n]


def parse_insights(text: str, limit_chars: int = 2000) -> str:
    """The body after ``Updated insights:`` (or the whole answer), trimmed to ``limit_chars``."""
    m = re.search(r"updated insights\s*\**\s*:?\s*\**", text, re.I)
    body = text[m.end() :] if m else text
    return body.strip()[:limit_chars]
