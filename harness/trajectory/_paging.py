"""Random access into a (possibly still growing) trajectory log, for viewers.

:class:`TrajectoryPager` keeps the byte offset of every complete line, so a page of events is one seek
and one read however long the log is, and :meth:`TrajectoryPager.refresh` only scans the bytes appended
since the last call, which is what following a live run needs. A torn last line is not an event until
its newline lands, exactly as :func:`harness.trajectory.iter_events` reads it.

Unlike :func:`~harness.trajectory.iter_events`, a viewer must show what it can: a complete line that is
no event this harness knows (a newer harness's event type, garbage, a line that is not JSON) is an
:class:`~harness.trajectory.UnknownEvent` in its place, never an error hiding the whole log.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import DataError
from harness.trajectory._events import EVENT_TYPES, FORMAT_VERSION, TrajectoryEvent, UnknownEvent


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) else None


def _unknown(raw: dict[str, Any], text: str, reason: str) -> UnknownEvent:
    seq = raw.get("seq")
    return UnknownEvent(
        type="unknown",
        raw=text,
        reason=reason,
        seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        ts=_number(raw.get("ts")),
        cost_usd=_number(raw.get("cost_usd")) or 0.0,
    )


def read_line(line: bytes) -> TrajectoryEvent | UnknownEvent:
    """One complete log line as an event, or as an :class:`UnknownEvent` saying why it is none."""
    try:
        event = TrajectoryEvent.model_validate_json(line)  # the usual case, parsed once
    except ValidationError:
        event = None
    if event is not None and event.v <= FORMAT_VERSION:
        return event
    text = line.decode("utf-8", "replace")
    try:
        raw = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return UnknownEvent(
            type="unreadable", raw=text, reason=f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        )
    except json.JSONDecodeError as exc:
        return UnknownEvent(type="unreadable", raw=text, reason=f"not a JSON line ({exc.msg})")
    if not isinstance(raw, dict):
        return UnknownEvent(type="unknown", raw=text, reason=f"not an event (a JSON {type(raw).__name__})")
    version, kind = raw.get("v", 0), raw.get("type")
    if isinstance(version, int) and version > FORMAT_VERSION:
        return _unknown(
            raw, text, f"written by a newer harness (format v{version}); upgrade harness to read it"
        )
    if not isinstance(kind, str) or kind not in EVENT_TYPES:
        return _unknown(raw, text, f"unknown event type {kind!r} (a newer harness's, or not an event)")
    try:
        event = TrajectoryEvent.model_validate(raw)  # e.g. a NaN, which only Python's parser takes
    except ValidationError as exc:
        why = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        return _unknown(raw, text, f"not an event this harness knows ({why})")
    if event.v > FORMAT_VERSION:  # a version such as "2", which validation made a number
        return _unknown(
            raw, text, f"written by a newer harness (format v{event.v}); upgrade harness to read it"
        )
    return event


class TrajectoryPager:
    """A byte-offset index over one JSONL trajectory log. Not thread-safe; one per reader."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._identity: tuple[int, int] | None = None
        self._reset()

    def _reset(self) -> None:
        self._offsets: list[int] = []
        self._cum_cost: list[float] = []
        self._types: Counter[str] = Counter()
        self._scanned = 0

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def type_counts(self) -> dict[str, int]:
        return dict(self._types)

    @property
    def total_cost(self) -> float:
        return self._cum_cost[-1] if self._cum_cost else 0.0

    def cost_before(self, index: int) -> float:
        """Dollars spent by the events before event ``index``."""
        return self._cum_cost[index - 1] if index > 0 else 0.0

    def refresh(self) -> int:
        """Index the lines appended since the last call; returns the number of events now known.
        A file that shrank or was replaced is re-indexed from the start."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError as exc:
            raise DataError(f"{self.path}: trajectory log is gone") from exc
        identity = (st.st_dev, st.st_ino)
        if identity != self._identity or st.st_size < self._scanned:
            self._reset()
            self._identity = identity
        if st.st_size == self._scanned:
            return len(self._offsets)
        with open(self.path, "rb") as fh:
            fh.seek(self._scanned)
            chunk = fh.read(st.st_size - self._scanned)
        pos = self._scanned
        for line in chunk.split(b"\n")[:-1]:  # the rest after the last newline is torn or empty
            self._index_line(pos, line)
            pos += len(line) + 1
        self._scanned = pos
        return len(self._offsets)

    def _index_line(self, pos: int, line: bytes) -> None:
        if not line.strip():
            return
        # Counted as the page will show it: an unknown or unreadable line under that type.
        event = read_line(line)
        self._offsets.append(pos)
        self._types[event.type] += 1
        self._cum_cost.append(self.total_cost + event.cost_usd)

    def page(self, offset: int, limit: int) -> list[TrajectoryEvent | UnknownEvent]:
        """Events ``offset .. offset+limit-1`` of what :meth:`refresh` has indexed; a line that is no
        event is an :class:`UnknownEvent` in its place."""
        offset = max(0, offset)
        end = min(len(self._offsets), offset + max(0, limit))
        if offset >= end:
            return []
        stop = self._offsets[end] if end < len(self._offsets) else self._scanned
        with open(self.path, "rb") as fh:
            fh.seek(self._offsets[offset])
            blob = fh.read(stop - self._offsets[offset])
        return [read_line(line) for line in blob.split(b"\n") if line.strip()]
