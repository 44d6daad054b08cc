"""Trajectory logs: append-only, versioned JSONL events, flushed at every step."""

from harness.trajectory._events import FORMAT_VERSION, EventType, TrajectoryEvent, UnknownEvent
from harness.trajectory._log import TrajectoryLog, iter_events
from harness.trajectory._paging import TrajectoryPager, read_line

__all__ = [
    "FORMAT_VERSION",
    "EventType",
    "TrajectoryEvent",
    "TrajectoryLog",
    "TrajectoryPager",
    "UnknownEvent",
    "iter_events",
    "read_line",
]
