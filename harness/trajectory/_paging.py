"""Random access into a (possibly still growing) trajectory log, for viewers.

:class:`TrajectoryPager` keeps the byte offset of every complete line, so a page of events is one seek
and one read however long the log is, and :meth:`TrajectoryPager.refresh` only scans the bytes appended
since the last call, which is what following a live run needs. A torn last line is not an event until
its newline lands, exactly as :func:`harness.trajectory.iter_events` reads it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from pydantic import ValidationError

from harness.errors import DataError
from harness.trajectory._events import FORMAT_VERSION, TrajectoryEvent


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
        try:
            raw = json.loads(line)
            kind, cost = str(raw.get("type", "?")), float(raw.get("cost_usd", 0.0) or 0.0)
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
            kind, cost = "malformed", 0.0
        self._offsets.append(pos)
        self._types[kind] += 1
        self._cum_cost.append(self.total_cost + cost)

    def page(self, offset: int, limit: int) -> list[TrajectoryEvent]:
        """Events ``offset .. offset+limit-1`` of what :meth:`refresh` has indexed.

        A malformed line, or one from a newer format, raises :class:`DataError` naming the event."""
        offset = max(0, offset)
        end = min(len(self._offsets), offset + max(0, limit))
        if offset >= end:
            return []
        stop = self._offsets[end] if end < len(self._offsets) else self._scanned
        with open(self.path, "rb") as fh:
            fh.seek(self._offsets[offset])
            blob = fh.read(stop - self._offsets[offset])
        events = []
        lines = [ln for ln in blob.split(b"\n") if ln.strip()]
        for i, line in enumerate(lines, offset):
            try:
                raw = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise DataError(f"{self.path}: event {i} is not UTF-8 text ({exc.reason})") from exc
            except json.JSONDecodeError as exc:
                raise DataError(f"{self.path}: event {i} is not a JSON line ({exc.msg})") from exc
            if not isinstance(raw, dict):
                raise DataError(f"{self.path}: event {i} is not an event (a JSON {type(raw).__name__})")
            version = raw.get("v", 0)
            if isinstance(version, int) and version > FORMAT_VERSION:
                raise DataError(f"{self.path}: event {i} is from a newer harness (v{version}); upgrade")
            try:
                events.append(TrajectoryEvent.model_validate(raw))
            except ValidationError as exc:
                why = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
                raise DataError(f"{self.path}: event {i} is not an event ({why})") from exc
        return events
