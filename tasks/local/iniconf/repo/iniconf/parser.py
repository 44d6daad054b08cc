"""Build the section -> {key: raw value} mapping from tokens."""

from iniconf.errors import ParseError
from iniconf.lexer import tokenize

DEFAULT_SECTION = "default"


def normalize(name):
    """Section names and keys are compared case-insensitively."""
    return name.strip().lower()


def parse(text):
    sections = {DEFAULT_SECTION: {}}
    current = None
    for lineno, kind, payload in tokenize(text):
        if kind == "section":
            current = normalize(payload)
            sections.setdefault(current, {})
        elif kind == "option":
            if current is None:
                raise ParseError("option outside of a section", lineno)
            key, value = payload
            sections[current][normalize(key)] = value
        else:
            raise ParseError(f"cannot parse {payload!r}", lineno)
    return sections
