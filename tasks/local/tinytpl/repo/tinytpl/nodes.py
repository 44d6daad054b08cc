"""Syntax tree nodes."""

from dataclasses import dataclass, field


@dataclass
class Text:
    text: str


@dataclass
class Var:
    expr: str
    filters: list = field(default_factory=list)


@dataclass
class For:
    name: str
    iterable: str
    body: list = field(default_factory=list)
    empty: list = field(default_factory=list)


@dataclass
class If:
    expr: str
    body: list = field(default_factory=list)
    orelse: list = field(default_factory=list)
