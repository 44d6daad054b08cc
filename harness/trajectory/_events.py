"""Trajectory events: the append-only JSONL record of one agent or search trajectory.

One line per event, written and flushed at every step, so after a crash the file *is* the truth. A
torn last line (the process died mid-write) is ignored by the reader. Every line carries the format
version ``v``.
"""

from __future__ import annotations

import time
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1

EventType = Literal[
    "start",
    "model_request",
    "model_response",
    "tool_call",
    "command",
    "edit",
    "test_run",
    "error",
    "note",
    "end",
]
EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))


class Usage(BaseModel):
    model_config = ConfigDict(extra="allow")

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


class TrajectoryEvent(BaseModel):
    """One step. ``data`` holds the type-specific payload:

    - ``model_request``: ``messages`` (list of {role, content}), ``params``
    - ``model_response``: ``text``, ``finish_reason``, ``usage``, ``cost_usd``, ``model``; ``cached``
      (true) when harness's response cache served it, e.g. replayed to an attempt tried again
    - ``tool_call``: ``name``, ``arguments``
    - ``command``: ``cmd``, ``status``, ``exit_code``, ``stdout``, ``stderr``, ``duration_ms``
    - ``edit``: ``path``, ``diff``
    - ``test_run``: ``test_id``, ``status``, ``output``, ``passed``/``failed`` counts
    - ``error``: ``message``, ``kind``
    - ``start`` / ``end``: ``task_id``, ``outcome``, totals
    """

    model_config = ConfigDict(extra="forbid")

    v: int = FORMAT_VERSION
    seq: int
    ts: float = Field(default_factory=time.time)
    type: EventType
    data: dict[str, Any] = Field(default_factory=dict)
    cost_usd: float = 0.0
    usage: Usage | None = None


class UnknownEvent(BaseModel):
    """A complete log line a reader cannot show as a :class:`TrajectoryEvent`, kept in its place so the
    rest of the log stays readable: ``type`` is ``unknown`` for a JSON line that is no event this
    harness knows (an unknown type, from a newer harness or garbage; a newer format version; a
    payload of the wrong shape) and ``unreadable`` for a line that is not JSON text at all. ``raw`` is
    the line as text (bytes that are not UTF-8 replaced); ``seq``, ``ts`` and ``cost_usd`` are the
    line's own when it has them in the right type."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["unknown", "unreadable"]
    raw: str
    reason: str
    seq: int | None = None
    ts: float | None = None
    cost_usd: float = 0.0
