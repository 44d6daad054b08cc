"""Writing and reading trajectory logs (append-only JSONL)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from harness.errors import DataError
from harness.store._atomic import drop_torn_tail
from harness.trajectory._events import FORMAT_VERSION, EventType, TrajectoryEvent, Usage


class TrajectoryLog:
    """Appends events to ``path``, one JSON line each, flushed immediately.

    Re-opening an existing log continues its sequence numbers, so a resumed trajectory keeps one file.
    ``fsync=True`` also survives a machine crash (slower); a process crash loses nothing either way.
    """

    def __init__(self, path: str | Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._seq = _last_seq(self.path) + 1
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            drop_torn_tail(fd)
        except OSError:
            os.close(fd)
            raise
        self._fh = os.fdopen(fd, "a", encoding="utf-8")
        self.cost_usd = 0.0

    def append(
        self,
        type: EventType,
        data: dict[str, Any] | None = None,
        *,
        cost_usd: float = 0.0,
        usage: dict[str, int] | None = None,
    ) -> TrajectoryEvent:
        event = TrajectoryEvent(
            seq=self._seq,
            type=type,
            data=data or {},
            cost_usd=cost_usd,
            usage=Usage.model_validate(usage) if usage is not None else None,
        )
        self._fh.write(event.model_dump_json(exclude_none=True) + "\n")
        self._fh.flush()
        if self._fsync:
            os.fsync(self._fh.fileno())
        self._seq += 1
        self.cost_usd += cost_usd
        return event

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> TrajectoryLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None and not isinstance(exc, KeyboardInterrupt):
            self.append("error", {"message": str(exc), "kind": type(exc).__name__})
        self.close()


def _last_seq(path: Path) -> int:
    last = -1
    if path.exists():
        for event in iter_events(path):
            last = event.seq
    return last


def iter_events(path: str | Path, *, offset: int = 0, limit: int | None = None) -> Iterator[TrajectoryEvent]:
    """Events of a log, in order, skipping the first ``offset``. A torn last line is ignored; a
    malformed line elsewhere, or a newer format version, raises :class:`DataError` naming the line."""
    p = Path(path)
    # Split bytes, not text: a crash tears the last line at a byte, possibly inside a character, and
    # the part after the last newline (torn or empty) is no event.
    lines = p.read_bytes().split(b"\n")[:-1]
    count = 0
    for lineno, line in enumerate(lines, 1):
        if lineno <= offset:
            continue
        try:
            raw = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise DataError(f"{p}:{lineno}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except json.JSONDecodeError as exc:
            raise DataError(f"{p}:{lineno}: not a JSON line ({exc.msg})") from exc
        if not isinstance(raw, dict):
            raise DataError(f"{p}:{lineno}: not an event (a JSON {type(raw).__name__})")
        version = raw.get("v", 0)
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise DataError(f"{p}:{lineno}: written by a newer harness (format v{version}); upgrade harness")
        try:
            event = TrajectoryEvent.model_validate(raw)
        except ValidationError as exc:
            why = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
            raise DataError(f"{p}:{lineno}: not an event ({why})") from exc
        if event.v > FORMAT_VERSION:
            raise DataError(f"{p}:{lineno}: written by a newer harness (format v{event.v}); upgrade harness")
        yield event
        count += 1
        if limit is not None and count >= limit:
            return
