"""Logging: one ``harness`` logger, its handlers set by the command line only, a file per run and per unit.

Library modules log through ``logging.getLogger(__name__)`` and never configure anything (as httpx).
The CLI calls :func:`configure` once per command and :func:`log_file` around the command's work:

=============  ====================================  ==========================================
where          default level                         with ``-v/--verbose``
=============  ====================================  ==========================================
terminal       WARNING (rich's handler on a          DEBUG
               terminal, plain lines otherwise;
               stderr only: stdout keeps ``--json``)
run's file     INFO (``<run>/harness.log``)           DEBUG
unit's file    DEBUG (``<out>/<instance>/run_instance.log``, :func:`unit_log`)
=============  ====================================  ==========================================

Every handler set here formats through :class:`Redacting`: the value of any environment variable whose
name says it is a secret (``*_API_KEY``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``) is written as
``***``, whatever message or traceback it turns up in.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

ROOT = "harness"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_SECRET_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD)", re.IGNORECASE)
_MIN_SECRET = 8  # shorter values ("1", "true") would blank out ordinary words
_OURS = "_harness_handler"


def secrets() -> list[str]:
    """The values of the environment's secret-looking variables, longest first."""
    found = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= _MIN_SECRET}
    return sorted(found, key=len, reverse=True)


def redact(text: str) -> str:
    for value in secrets():
        text = text.replace(value, "***")
    return text


class Redacting(logging.Formatter):
    """A formatter whose output never holds a secret of the environment (:func:`secrets`)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Plain lines on whatever ``sys.stderr`` is at the time (a test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _not_shown(record: logging.LogRecord) -> bool:
    """Whether the terminal should print ``record``: not when a progress display already did."""
    return not getattr(record, "shown", False)


class _State:
    verbose = False


def configure(*, verbose: bool = False, console: Console | None = None) -> None:
    """Set the terminal handler of the ``harness`` logger (replacing one set before): rich's on a
    terminal ``console`` (stderr), plain lines otherwise; WARNING, or DEBUG when ``verbose``."""
    logger = logging.getLogger(ROOT)
    for old in [h for h in logger.handlers if getattr(h, _OURS, "") == "terminal"]:
        logger.removeHandler(old)
    handler: logging.Handler
    if console is not None and console.is_terminal:
        from rich.logging import RichHandler

        handler = RichHandler(console=console, show_path=False, markup=False, log_time_format="[%X]")
        handler.setFormatter(Redacting("%(name)s: %(message)s"))
    else:
        handler = _Stderr()
        handler.setFormatter(Redacting("%(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    handler.addFilter(_not_shown)
    setattr(handler, _OURS, "terminal")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    _State.verbose = verbose


def verbose() -> bool:
    """Whether the command runs with ``-v``."""
    return _State.verbose


def _file_handler(path: Path, level: int, mode: str) -> logging.FileHandler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode=mode, encoding="utf-8")
    handler.setFormatter(Redacting(FORMAT))
    handler.setLevel(level)
    return handler


@contextmanager
def log_file(path: Path, what: str = "") -> Iterator[Path]:
    """Append everything the ``harness`` logger says at INFO (DEBUG with ``-v``) to ``path`` while the
    block runs: a run's ``harness.log``. Its first line names harness's version, ``what`` runs (``select
    run r1``) and the process's command line."""
    logger = logging.getLogger(ROOT)
    handler = _file_handler(path, logging.DEBUG if _State.verbose else logging.INFO, "a")
    setattr(handler, _OURS, "file")
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > handler.level:
        logger.setLevel(handler.level)
    logger.info("harness %s %s (command line: %s)", _version(), what, " ".join(sys.argv))
    try:
        yield path
    except BaseException as exc:
        logger.error("ended by %s: %s", type(exc).__name__, exc)
        raise
    finally:
        logger.removeHandler(handler)
        handler.close()


@contextmanager
def unit_log(path: Path | None, parent: str, unit: str) -> Iterator[logging.Logger]:
    """A logger ``<parent>.<unit>`` whose records also go, every level, to ``path`` (written afresh),
    as SWE-bench's ``run_instance.log``. ``path`` None: no file of its own.

    The logger is not registered with :mod:`logging` (thousands of instances would stay in its table);
    its records reach ``parent``'s handlers and the ``harness`` ones (the run's log, the terminal)."""
    logger = logging.Logger(f"{parent}.{unit}")
    logger.parent = logging.getLogger(parent)
    handler = _file_handler(path, logging.DEBUG, "w") if path is not None else None
    if handler is not None:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)  # the unit's file has it all; the run's handlers keep to theirs
    try:
        yield logger
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            handler.close()


def _version() -> str:
    import harness

    return harness.__version__
