"""A content-addressed response cache in SQLite, so no paid call is ever made twice.

One row per *sample*: the key is a hash of the model, the messages, the sampling parameters (not
``n``) and the seed, and each row has a sample index. A call for ``n=8`` stores rows 0..7; a later
call for ``n=10`` with the same key reuses them and asks the provider for two more.

Each provider response is committed as soon as it arrives (WAL, ``synchronous=NORMAL``: durable when
the process is killed, the OS keeps the WAL), so a run killed with SIGKILL and restarted resends only
the requests whose answers never arrived. Several processes may share one file.

Rows being fetched right now are the cache's too: :meth:`ResponseCache.in_flight` gives the
:class:`InFlight` table of the file (one per event loop, shared by every ``ResponseCache`` on the same
file in the process), where a caller that misses a row either leads its request or awaits the request
already in flight for the same ``(key, index)``, so identical concurrent requests reach the provider once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import StoreError
from harness.models._types import Completion, Message, SampleParams

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT NOT NULL,
    idx INTEGER NOT NULL,
    model TEXT NOT NULL,
    completion TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (key, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def default_cache_path() -> Path:
    """``$HARNESS_CACHE_DIR/responses.sqlite``, else ``~/.cache/harness/responses.sqlite``."""
    base = os.environ.get("HARNESS_CACHE_DIR")
    root = Path(base) if base else Path.home() / ".cache" / "harness"
    return root / "responses.sqlite"


def cache_key(
    model: str, messages: Sequence[Message], params: SampleParams, options: Mapping[str, Any] | None = None
) -> str:
    """The content address of a request, independent of ``n`` (the sample index is stored per row).

    ``options``: the backend's settings that change its answers (``extra_body``, a vLLM chat template,
    ...); only non-empty ones enter the key, so a model without them keeps the key it always had."""
    payload: dict[str, Any] = {
        "v": SCHEMA_VERSION,
        "model": model,
        "messages": [[m.role, m.content] for m in messages],
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
        "stop": list(params.stop) if params.stop else None,
        "seed": params.seed,
        "logprobs": params.logprobs,
    }
    if options:
        payload["options"] = dict(options)
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class FlightAbandoned(Exception):
    """The request a caller was waiting for ended without an answer (its leader was cancelled)."""


class InFlight:
    """The samples of one cache file being fetched right now in one event loop, by ``(key, index)``.

    A caller that misses rows claims them (:meth:`claim`): the indices nobody is fetching become its own (it
    must send their request and then :meth:`land` or :meth:`release` every one), the others come back as
    futures of the requests in flight. Claiming, landing and releasing never await, so between a cache
    lookup and a claim no other task can slip in.
    """

    def __init__(self) -> None:
        self._futures: dict[tuple[str, int], asyncio.Future[Completion]] = {}

    def claim(
        self, key: str, indices: Iterable[int]
    ) -> tuple[dict[int, asyncio.Future[Completion]], dict[int, asyncio.Future[Completion]]]:
        """``(joined, own)``: futures of requests already in flight, and of the ones the caller now leads."""
        loop = asyncio.get_running_loop()
        joined: dict[int, asyncio.Future[Completion]] = {}
        own: dict[int, asyncio.Future[Completion]] = {}
        for i in indices:
            fut = self._futures.get((key, i))
            if fut is None:
                fut = self._futures[(key, i)] = loop.create_future()
                own[i] = fut
            else:
                joined[i] = fut
        return joined, own

    def land(
        self, key: str, own: dict[int, asyncio.Future[Completion]], samples: dict[int, Completion]
    ) -> None:
        """Hand the leader's answers to its followers (call after the rows are in the cache)."""
        for i, c in samples.items():
            fut = own.get(i)
            if fut is not None:
                self._drop(key, i, fut)
                if not fut.done():
                    fut.set_result(c)

    def release(self, key: str, own: dict[int, asyncio.Future[Completion]], error: BaseException) -> None:
        """End the leader's unanswered futures with ``error`` (settled ones are left alone)."""
        for i, fut in own.items():
            self._drop(key, i, fut)
            if not fut.done():
                fut.set_exception(error)
                fut.exception()  # mark it retrieved: with no follower asyncio would log it at collection

    def _drop(self, key: str, i: int, fut: asyncio.Future[Completion]) -> None:
        # Only the leader's own entry: after a release, another caller may already lead this index.
        if self._futures.get((key, i)) is fut:
            del self._futures[(key, i)]

    def __len__(self) -> int:
        return len(self._futures)


_IN_FLIGHT: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, InFlight]] = (
    weakref.WeakKeyDictionary()
)


class ResponseCache:
    """Sample rows by ``(key, index)``. Safe to use from one thread at a time per instance."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        # Caches on one file share their requests in flight; ":memory:" is a database per connection.
        memory = str(self.path) == ":memory:"
        self._scope = f":memory:{id(self)}" if memory else os.path.realpath(self.path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta(name, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open the response cache {self.path}: {exc}; "
                "set HARNESS_CACHE_DIR to a writable folder or pass cache=False / --no-cache"
            ) from exc

    def get(self, key: str, indices: Iterable[int]) -> dict[int, Completion]:
        """The stored samples of ``key`` among ``indices`` (missing ones are absent)."""
        wanted = list(indices)
        if not wanted:
            return {}
        lo, hi = min(wanted), max(wanted)
        with self._lock:
            rows = self._db.execute(
                "SELECT idx, completion FROM responses WHERE key = ? AND idx BETWEEN ? AND ?", (key, lo, hi)
            ).fetchall()
        want = set(wanted)
        out: dict[int, Completion] = {}
        for idx, blob in rows:
            if idx in want:
                out[idx] = Completion.model_validate_json(blob).model_copy(update={"cached": True})
        return out

    def put(self, key: str, model: str, samples: dict[int, Completion]) -> None:
        """Store one response's samples in one committed transaction."""
        now = time.time()
        rows = [(key, i, model, c.model_dump_json(exclude={"cached"}), now) for i, c in samples.items()]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO responses(key, idx, model, completion, created) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def in_flight(self) -> InFlight:
        """This file's table of requests in flight in the running event loop."""
        tables = _IN_FLIGHT.get(asyncio.get_running_loop())
        if tables is None:
            tables = _IN_FLIGHT[asyncio.get_running_loop()] = {}
        table = tables.get(self._scope)
        if table is None:
            table = tables[self._scope] = InFlight()
        return table

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()
