"""Progress of a long command: one small protocol, shown on stderr or not at all.

A stage takes a :class:`Progress` and says, in steps, how far it is:

* ``start(total, label)`` begins a step of ``total`` units (``None``: a count nobody knows yet, shown
  as a spinner); it ends the step before it.
* ``advance(n=1)`` counts ``n`` units of the current step done.
* ``note(message)`` says one event in a line of its own ("HumanEval/3: trajectory 0: test fixed").
* ``close()`` ends the display (``with progress:`` does it too).

Implementations: :class:`RichProgress` (a rich bar on a terminal), :class:`LineProgress` (plain lines
on a file or a pipe, where a bar would print nothing until the end) and :class:`SilentProgress`
(``--json`` runs, library calls). :func:`for_stderr` picks one of the first two.

Every step's start and end and every note also go to the ``harness.progress`` logger at INFO, so the run's
``harness.log`` holds them whatever is shown. Records a display already printed carry ``shown=True``
(:data:`SHOWN`): the terminal's log handler skips them, so nothing is printed twice.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger("harness.progress")

SHOWN = "shown"
"""The attribute a log record carries (true) when a progress display already showed its message."""


@runtime_checkable
class Progress(Protocol):
    """How far a long stage is; see the module docstring."""

    def start(self, total: int | None, label: str) -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def note(self, message: str) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Progress: ...

    def __exit__(self, *exc: object) -> None: ...


class _Steps:
    """The bookkeeping every implementation shares: the current step, its count, its log lines."""

    shown = False

    def __init__(self) -> None:
        self.label: str | None = None
        self.total: int | None = None
        self.done = 0
        self.t0 = time.monotonic()

    def start(self, total: int | None, label: str) -> None:
        self._end_step()
        self.label, self.total, self.done, self.t0 = label, total, 0, time.monotonic()
        log.info("%s: started%s", label, "" if total is None else f" ({total} to do)")

    def advance(self, n: int = 1) -> None:
        self.done += n

    def note(self, message: str) -> None:
        log.info("%s", message, extra={SHOWN: self.shown})

    def close(self) -> None:
        self._end_step()

    def _end_step(self) -> None:
        if self.label is not None:
            count = f"{self.done}" if self.total is None else f"{self.done}/{self.total}"
            count = "" if count == "0" else f"{count} "
            log.info("%s: %sdone in %.1f s", self.label, count, time.monotonic() - self.t0)
        self.label = None

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SilentProgress(_Steps):
    """Shows nothing; steps and notes still reach the log."""


class NoteProgress(_Steps):
    """Notes to a callable (a test's ``lines.append``, another stage's line printer); counts shown nowhere."""

    def __init__(self, say: Callable[[str], None]) -> None:
        super().__init__()
        self._say = say

    def note(self, message: str) -> None:
        self._say(message)
        super().note(message)


class LineProgress(_Steps):
    """Plain lines on ``stream`` (stderr by default): a step's start, then its count every tenth of the
    total or every ``every_s`` seconds, and its end; each note on a line."""

    shown = True

    def __init__(self, stream: IO[str] | None = None, every_s: float = 15.0) -> None:
        super().__init__()
        self._stream, self._every = stream, every_s
        self._share, self._last = -1, 0.0

    def _print(self, text: str) -> None:
        print(text, file=self._stream or sys.stderr, flush=True)

    def _count(self, end: bool = False) -> None:
        elapsed = f"{time.monotonic() - self.t0:.0f} s"
        if self.total is not None:
            self._print(f"{self.label}: {self.done}/{self.total}, {elapsed}")
        elif end:  # a step of unknown size: its label when it starts, its end and count when it ends
            self._print(f"{self.label}: done" + (f", {self.done}" if self.done else "") + f", {elapsed}")
        elif self.done == 0:
            self._print(f"{self.label} ...")
        else:
            self._print(f"{self.label}: {self.done}, {elapsed}")
        self._last = time.monotonic()

    def start(self, total: int | None, label: str) -> None:
        super().start(total, label)
        self._share = 0
        self._count()

    def advance(self, n: int = 1) -> None:
        super().advance(n)
        if self.label is None:
            return
        share = 10 * self.done // self.total if self.total else self._share
        if share > self._share or time.monotonic() - self._last >= self._every:
            self._share = share
            self._count()

    def note(self, message: str) -> None:
        self._print(message)
        super().note(message)

    def _end_step(self) -> None:
        if self.label is not None and (self.total is None or self.done < self.total or self._share < 10):
            self._count(end=True)  # the final count, unless the last tenth already printed it
        super()._end_step()


class RichProgress(_Steps):
    """A rich bar per step on ``console`` (stderr); finished steps stay on screen, notes print above."""

    shown = True

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        super().__init__()
        self._bar = Progress(
            SpinnerColumn(finished_text="✓"),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
        )
        self._task: Any = None
        self._live = False

    def start(self, total: int | None, label: str) -> None:
        super().start(total, label)
        if not self._live:
            self._bar.start()
            self._live = True
        self._task = self._bar.add_task(label, total=total)

    def advance(self, n: int = 1) -> None:
        super().advance(n)
        if self._task is not None:
            self._bar.advance(self._task, n)

    def note(self, message: str) -> None:
        self._bar.console.print(message, markup=False, highlight=False, soft_wrap=True)
        super().note(message)

    def _end_step(self) -> None:
        if self._task is not None:
            # A step of unknown size is complete at what it counted; the spinner becomes a tick.
            self._bar.update(
                self._task, total=self.done if self.total is None else self.total, completed=self.done
            )
            self._bar.stop_task(self._task)
            self._task = None
        super()._end_step()

    def close(self) -> None:
        super().close()
        if self._live:
            self._bar.stop()
            self._live = False


def for_stderr(console: Console | None = None) -> Progress:
    """A bar when stderr is a terminal, plain lines otherwise (a file, a pipe, a test's capture)."""
    if console.is_terminal if console is not None else sys.stderr.isatty():
        return RichProgress(console)
    return LineProgress()


def as_progress(progress: Progress | Callable[[str], None] | None) -> Progress:
    """``progress`` as a :class:`Progress`: a callable gets the notes (:class:`NoteProgress`), ``None``
    shows nothing. For entry functions whose callers pass a line printer."""
    if progress is None:
        return SilentProgress()
    if isinstance(progress, Progress):
        return progress
    return NoteProgress(progress)
