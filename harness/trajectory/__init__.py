"""Trajectory logs: append-only, versioned JSONL events, flushed at every step."""

from harness.trajectory._events import FORMAT_VERSION, EventType, TrajectoryEvent
from harness.trajectory._log import TrajectoryLog, iter_events
from harness.trajectory._paging import TrajectoryPager

__all__ = [
    "FORMAT_VERSION",
    "EventType",
    "TrajectoryEvent",
    "TrajectoryLog",
    "TrajectoryPager",
    "iter_events",
]
