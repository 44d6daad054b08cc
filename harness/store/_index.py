"""The SQLite index of runs and units (``results/index.sqlite``, WAL), used to resume and to query."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

UnitStatus = Literal["pending", "running", "done", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id     TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    status     TEXT NOT NULL,
    config     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS units (
    run_id     TEXT NOT NULL REFERENCES runs(run_id),
    stage      TEXT NOT NULL,
    unit_id    TEXT NOT NULL,
    status     TEXT NOT NULL,
    updated_at REAL NOT NULL,
    artefact   TEXT,
    error      TEXT,
    PRIMARY KEY (run_id, stage, unit_id)
);
CREATE INDEX IF NOT EXISTS units_status ON units(run_id, stage, status);
"""


class Index:
    """A small, process-safe index. Every write is its own transaction, so a SIGKILL loses nothing
    that was committed; a unit left ``running`` by a killed process is simply redone on resume."""

    SCHEMA_VERSION = 1

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._conn.execute(f"PRAGMA user_version={self.SCHEMA_VERSION}")

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def upsert_run(self, run_id: str, kind: str, config_json: str, status: str = "running") -> None:
        now = time.time()
        with self._tx() as c:
            c.execute(
                "INSERT INTO runs(run_id, kind, created_at, updated_at, status, config) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(run_id) DO UPDATE SET updated_at=excluded.updated_at, status=excluded.status",
                (run_id, kind, now, now, status, config_json),
            )

    def set_run_status(self, run_id: str, status: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE runs SET status=?, updated_at=? WHERE run_id=?", (status, time.time(), run_id))

    def set_unit(
        self,
        run_id: str,
        stage: str,
        unit_id: str,
        status: UnitStatus,
        *,
        artefact: str | None = None,
        error: str | None = None,
    ) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO units(run_id, stage, unit_id, status, updated_at, artefact, error) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT(run_id, stage, unit_id) DO UPDATE SET "
                "status=excluded.status, updated_at=excluded.updated_at, artefact=excluded.artefact, "
                "error=excluded.error",
                (run_id, stage, unit_id, status, time.time(), artefact, error),
            )

    def unit_status(self, run_id: str, stage: str, unit_id: str) -> UnitStatus | None:
        row = self._conn.execute(
            "SELECT status FROM units WHERE run_id=? AND stage=? AND unit_id=?", (run_id, stage, unit_id)
        ).fetchone()
        return None if row is None else row[0]

    def units(self, run_id: str, stage: str | None = None) -> list[tuple[str, str, str]]:
        """``(stage, unit_id, status)`` rows of a run."""
        if stage is None:
            rows = self._conn.execute(
                "SELECT stage, unit_id, status FROM units WHERE run_id=? ORDER BY stage, unit_id", (run_id,)
            )
        else:
            rows = self._conn.execute(
                "SELECT stage, unit_id, status FROM units WHERE run_id=? AND stage=? ORDER BY unit_id",
                (run_id, stage),
            )
        return [(str(a), str(b), str(s)) for a, b, s in rows.fetchall()]

    def runs(self) -> list[tuple[str, str, str, float]]:
        """``(run_id, kind, status, created_at)`` rows, newest first."""
        rows = self._conn.execute(
            "SELECT run_id, kind, status, created_at FROM runs ORDER BY created_at DESC"
        )
        return [(str(r), str(k), str(s), float(t)) for r, k, s, t in rows.fetchall()]
