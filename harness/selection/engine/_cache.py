"""The engine's result cache: one SQLite row per (program, test set, settings), keyed by content hash.

A rerun of the same experiment (same pools, same settings, same worker source) reads every cell from
here and starts no sandbox. Rows are written per finished batch, so a killed run keeps what it finished.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from harness.selection.engine._types import ProgramResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    cells BLOB NOT NULL,
    ms BLOB NOT NULL,
    out BLOB NOT NULL,
    ran INTEGER NOT NULL
)
"""


def tests_digest(tests: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in tests:
        h.update(hashlib.sha256(t.encode("utf-8", "surrogatepass")).digest())
    return h.hexdigest()


def result_key(settings: str, tests_hash: str, program: str) -> str:
    """``settings`` is everything else that changes cells: worker source, kind, timeouts, options."""
    h = hashlib.sha256()
    for part in (settings, tests_hash, program):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def settings_key(**fields: object) -> str:
    return json.dumps(fields, sort_keys=True)


class ResultCache:
    """A content-addressed store of :class:`ProgramResult`; ``path=None`` keeps nothing."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=60.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(SCHEMA)
            self._db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, ProgramResult]:
        if self._db is None or not keys:
            return {}
        found: dict[str, ProgramResult] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, cells, ms, out, ran FROM results WHERE key IN ({marks})", chunk
            ).fetchall()
            for key, cells, ms, out, ran in rows:
                found[key] = ProgramResult(
                    cells=np.frombuffer(cells, dtype=np.int8).copy(),
                    ms=np.frombuffer(ms, dtype=np.float32).copy(),
                    out=np.frombuffer(out, dtype=np.int64).copy(),
                    ran=bool(ran),
                )
        return found

    def put_many(self, items: Iterable[tuple[str, ProgramResult]]) -> None:
        if self._db is None:
            return
        rows = [
            (
                key,
                r.cells.astype(np.int8).tobytes(),
                r.ms.astype(np.float32).tobytes(),
                r.out.astype(np.int64).tobytes(),
                int(r.ran),
            )
            for key, r in items
        ]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?)", rows)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
