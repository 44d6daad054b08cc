"""Helpers shared by the CLI modules: printing errors the user can act on, and the checks of option values
(:mod:`harness.cli._values`, re-exported here)."""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from harness import _log, _progress
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
    "log_file",
    "print_json",
    "progress_bar",
    "seconds",
]

P = ParamSpec("P")
R = TypeVar("R")

console = Console(stderr=True)


VERBOSE = typer.Option(
    False,
    "--verbose",
    "-v",
    help="Log DEBUG lines to stderr and to the log file (default: warnings on stderr, INFO in the file).",
)


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`HarnessError` into a one-paragraph message and exit code 2 (no traceback).

    Also gives the command ``-v/--verbose`` (every command is wrapped so): the option is added to the
    signature Typer reads, and sets the ``harness`` logger's terminal handler before the command runs
    (:func:`harness._log.configure`)."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if "verbose" in kwargs:  # called by Typer (a test calling the function itself configures nothing)
            _log.configure(verbose=bool(kwargs.pop("verbose")), console=console)
        try:
            return fn(*args, **kwargs)
        except HarnessError as exc:
            # soft_wrap: a one-line message stays one line when stderr is not a terminal (80 columns).
            console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(2) from exc

    sig = inspect.signature(fn, eval_str=True)
    if "verbose" not in sig.parameters:
        flag = inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, default=VERBOSE, annotation=bool)
        wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), flag])  # type: ignore[attr-defined]
    return wrapper


def progress_bar(show: bool = True) -> _progress.Progress:
    """The progress of a long command on stderr (a bar on a terminal, lines otherwise), or nothing at
    all when not ``show`` (e.g. ``--json`` where the command kept stderr quiet before)."""
    return _progress.for_stderr(console) if show else _progress.SilentProgress()


def log_file(path: Path, what: str) -> Any:
    """``with log_file(run_dir / "harness.log", "select run r1"):`` the command's log (INFO, DEBUG with
    ``-v``; :func:`harness._log.log_file`)."""
    return _log.log_file(path, what)


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
