"""The patch matrix's row cache: the pass-matrix engine's :class:`ResultCache`, keyed by content.

A row (one candidate patch, or the unedited repository as the empty patch, run against the generated
tests) is stored under ``result_key(settings, tests_digest(tests), patch)``, with ``settings`` naming
the kind ``repo-tests``, the task image, the per-test timeout and :data:`RUNNER_VERSION` plus a digest
of the runner's shell commands. It lives in the engine's own file (``<cache>/pass_matrix.sqlite``; the
kind keeps the keys apart): cells, ``ran`` = the patch applied and was committed. The output tails,
which a :class:`ProgramResult` cannot hold, go to ``<cache>/repo-tests/<key>.json`` (written first,
atomically); a row is a hit only when both are there, so a rerun over the same candidates and tests
starts no sandbox and returns the same cells and outputs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.selection._types import Cell
from harness.selection.engine._cache import ResultCache, result_key, settings_key, tests_digest
from harness.selection.engine._types import ProgramResult
from harness.store import atomic_write_text

CACHE_FILE = "pass_matrix.sqlite"
"""The engine's file name (``harness.selection.engine.Engine`` opens ``<cache>/pass_matrix.sqlite``)."""
RUNNER_VERSION = 1
"""Bump when what a row's cells mean changes without any of the runner's commands changing."""

Row = tuple[bool, list[Cell], list[str]]
"""(applied, cells, output tails), as :func:`harness.pipeline.voting.run_row` returns it."""


def runner_digest(*parts: str) -> str:
    """A digest of the commands the rows are run with (apply script, commit, reset, test command)."""
    h = hashlib.sha256(str(RUNNER_VERSION).encode())
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:16]


class RowCache:
    """Rows of one matrix build (one image, timeout and list of tests); ``folder=None`` keeps nothing."""

    def __init__(
        self, folder: Path | None, *, image: str, timeout: float, tests: Sequence[str], runner: str
    ) -> None:
        self._results = ResultCache(folder / CACHE_FILE if folder is not None else None)
        self._outputs = folder / "repo-tests" if folder is not None else None
        self._settings = settings_key(kind="repo-tests", image=image, timeout=timeout, runner=runner)
        self._tests = tests_digest(tests)
        self._n = len(tests)

    def key(self, patch: str) -> str:
        return result_key(self._settings, self._tests, patch)

    def get_many(self, patches: Sequence[str]) -> list[Row | None]:
        """The cached row of each patch, or ``None`` where it must be run."""
        if self._outputs is None:
            return [None] * len(patches)
        keys = [self.key(p) for p in patches]
        hits = self._results.get_many(sorted(set(keys)))
        out: list[Row | None] = []
        for key in keys:
            res, path = hits.get(key), self._outputs / f"{key}.json"
            if res is None or len(res.cells) != self._n or not path.is_file():
                out.append(None)
                continue
            outputs = json.loads(path.read_text(encoding="utf-8"))
            out.append((res.ran, [Cell(int(c)) for c in res.cells], [str(o) for o in outputs]))
        return out

    def put(self, patch: str, row: Row) -> None:
        if self._outputs is None:
            return
        key = self.key(patch)
        applied, cells, outputs = row
        atomic_write_text(self._outputs / f"{key}.json", json.dumps(outputs))
        result = ProgramResult(
            cells=np.array(cells, dtype=np.int8).reshape(self._n),
            ms=np.zeros(self._n, dtype=np.float32),
            out=np.zeros(self._n, dtype=np.int64),
            ran=applied,
        )
        self._results.put_many([(key, result)])

    def close(self) -> None:
        """Rows finished after this (siblings of a row that raised) are not stored."""
        self._results.close()
        self._outputs = None
