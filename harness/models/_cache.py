"""A content-addressed response cache in SQLite, so no paid call is ever made twice.

One row per *sample*: the key is a hash of the model, the messages, the sampling parameters (not
``n``) and the seed, and each row has a sample index. A call for ``n=8`` stores rows 0..7; a later
call for ``n=10`` with the same key reuses them and asks the provider for two more.

Each provider response is committed as soon as it arrives (WAL, ``synchronous=NORMAL``: durable when
the process is killed, the OS keeps the WAL), so a run killed with SIGKILL and restarted resends only
the requests whose answers never arrived. Several processes may share one file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

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


def cache_key(model: str, messages: Sequence[Message], params: SampleParams) -> str:
    """The content address of a request, independent of ``n`` (the sample index is stored per row)."""
    payload = {
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
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class ResponseCache:
    """Sample rows by ``(key, index)``. Safe to use from one thread at a time per instance."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
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

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()
