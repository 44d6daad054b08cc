"""Helpers shared by the CLI modules: printing errors the user can act on, and the checks of option values
(:mod:`harness.cli._values`, re-exported here)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from harness.cli._values import (
    SEED,
    SELECTOR_LIST,
    STRATEGY_LIST,
    Budget,
    Check,
    Host,
    ImageRef,
    InputDir,
    InputFile,
    Int,
    KeyValue,
    MemorySize,
    ModelSpec,
    Number,
    OneOf,
    OutputDir,
    OutputFile,
    Port,
    RunId,
    Url,
    seconds,
)
from harness.errors import HarnessError

__all__ = [
    "SEED",
    "SELECTOR_LIST",
    "STRATEGY_LIST",
    "Budget",
    "Check",
    "Host",
    "ImageRef",
    "InputDir",
    "InputFile",
    "Int",
    "KeyValue",
    "MemorySize",
    "ModelSpec",
    "Number",
    "OneLineErrors",
    "OneOf",
    "OutputDir",
    "OutputFile",
    "Port",
    "RunId",
    "Url",
    "console",
    "friendly_errors",
    "print_json",
    "seconds",
]

P = ParamSpec("P")
R = TypeVar("R")

console = Console(stderr=True)


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`HarnessError` into a one-paragraph message and exit code 2 (no traceback)."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except HarnessError as exc:
            # soft_wrap: a one-line message stays one line when stderr is not a terminal (80 columns).
            console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(2) from exc

    return wrapper


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


@contextmanager
def _usage_errors_on_one_line() -> Iterator[None]:
    try:
        yield
    except typer.TyperException as exc:  # Click's usage errors (a bad value, an unknown option, ...)
        if type(exc).__name__ == "NoArgsIsHelpError":  # `harness` alone prints the help, as it should
            raise
        message = " ".join(exc.format_message().split())
        typer.echo(f"Error: {message}", err=True)
        raise typer.Exit(getattr(exc, "exit_code", 2)) from exc


class OneLineErrors(TyperGroup):
    """The ``harness`` group: a usage error, e.g. ``Error: Invalid value for '--port': 99999 is not in
    0..65535``, is one line on stderr with exit code 2 (Typer would draw a box under the usage text).
    Values are checked while the command line is parsed (:mod:`harness.cli._values`), so a refused
    value never starts anything."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        with _usage_errors_on_one_line():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _usage_errors_on_one_line():
            return super().invoke(ctx)
