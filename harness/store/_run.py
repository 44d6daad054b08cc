"""A run's folder: ``results/<run-id>/`` with its manifest, stage folders and the shared index."""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import harness
from harness.errors import StoreError
from harness.store._atomic import atomic_write_json, atomic_write_text
from harness.store._index import Index, UnitStatus

MANIFEST_VERSION = 1


def default_results_dir() -> Path:
    return Path(os.environ.get("HARNESS_RESULTS", "results"))


def new_run_id(kind: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{secrets.token_hex(3)}"


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(harness.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = MANIFEST_VERSION
    run_id: str
    kind: str
    created_at: float
    config: dict[str, Any]
    seeds: list[int] = Field(default_factory=list)
    harness_version: str = harness.__version__
    python: str = platform.python_version()
    platform: str = platform.platform()
    git_sha: str | None = None
    argv: list[str] = Field(default_factory=list)


class Run:
    """One run's folder plus its rows in the index. Re-opening an existing run id resumes it.

    Resuming checks that the config matches the one in the manifest, so a rerun with other settings
    cannot silently mix artefacts.
    """

    def __init__(
        self,
        results_dir: str | Path,
        run_id: str,
        kind: str,
        config: dict[str, Any],
        seeds: list[int] | None = None,
    ) -> None:
        self.root = Path(results_dir)
        self.run_id = run_id
        self.dir = self.root / run_id
        self.index = Index(self.root / "index.sqlite")
        manifest_path = self.dir / "manifest.json"
        if manifest_path.exists():
            old = Manifest.model_validate_json(manifest_path.read_text())
            if old.config != json.loads(json.dumps(config, default=str)):
                raise StoreError(
                    f"run {run_id!r} exists with a different config; use a new --run-id, or rerun with the "
                    f"config in {manifest_path}"
                )
            self.manifest = old
            self.resumed = True
        else:
            self.manifest = Manifest(
                run_id=run_id,
                kind=kind,
                created_at=time.time(),
                config=json.loads(json.dumps(config, default=str)),
                seeds=list(seeds or []),
                git_sha=_git_sha(),
                argv=list(sys.argv),
            )
            atomic_write_json(manifest_path, self.manifest.model_dump())
            self.resumed = False
        self.index.upsert_run(run_id, kind, json.dumps(self.manifest.config, sort_keys=True))

    def path(self, *parts: str) -> Path:
        p = self.dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write_json(self, rel: str, obj: Any) -> Path:
        p = self.path(rel)
        atomic_write_json(p, obj)
        return p

    def write_text(self, rel: str, text: str) -> Path:
        p = self.path(rel)
        atomic_write_text(p, text)
        return p

    def unit_done(self, stage: str, unit_id: str) -> bool:
        return self.index.unit_status(self.run_id, stage, unit_id) == "done"

    def mark(self, stage: str, unit_id: str, status: UnitStatus, **kw: str | None) -> None:
        self.index.set_unit(self.run_id, stage, unit_id, status, **kw)

    def finish(self, status: str = "done") -> None:
        self.index.set_run_status(self.run_id, status)

    def close(self) -> None:
        self.index.close()
