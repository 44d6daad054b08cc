"""One trajectory (testing loop, then editing loop) in its own sandbox, and the repository's files.

The record a finished trajectory leaves (:class:`TrajectoryRecord`) is the resume artefact: a
trajectory whose record exists is never redone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import SandboxError
from harness.models import Spend
from harness.models._types import Model
from harness.pipeline.loops import REPRO_DIR, LoopSandbox, Roots, editing_loop, testing_loop
from harness.tasks._repo import PublicRepoTask
from harness.trajectory import TrajectoryLog

_DUMP = """
import json, os, subprocess, sys
limit = int(sys.argv[1])
names = subprocess.run(["git", "ls-files", "-z"], capture_output=True, check=True).stdout.decode().split("\\0")
out = {}
for name in filter(None, names):
    try:
        with open(name, "rb") as fh:
            data = fh.read(limit + 1)
        if len(data) <= limit and b"\\0" not in data:
            out[name] = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        pass
os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
with open(sys.argv[2], "w", encoding="utf-8") as fh:
    json.dump(out, fh)
"""


class FileSandbox(LoopSandbox, Protocol):
    async def read_file(self, path: str) -> bytes: ...


async def read_sources(sandbox: FileSandbox, roots: Roots, max_chars: int) -> dict[str, str]:
    """Every git-tracked UTF-8 text file of the workspace up to ``max_chars``: path -> text."""
    out_path = f"{REPRO_DIR}/sources.json"
    res = await sandbox.run(
        ["python3", "-c", _DUMP, str(max_chars), out_path], cwd=roots.workdir, timeout=120
    )
    if not res.ok:
        raise SandboxError(f"could not list the repository's files: {res.stderr.strip()[-500:]}")
    data = json.loads((await sandbox.read_file(out_path)).decode("utf-8"))
    return {str(k): str(v) for k, v in data.items()}


class TrajectoryRecord(BaseModel):
    """What one trajectory produced: its reproduction test and its candidate patch."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    task_id: str
    index: int
    test: str = ""
    patch: str = ""
    testing_turns: int = 0
    testing_done: bool = False
    testing_stopped: str = ""
    unedited_exit: int | None = None
    editing_turns: int = 0
    editing_done: bool = False
    editing_stopped: str = ""
    edited_exit: int | None = None
    edits_applied: int = 0
    edits_failed: int = 0
    testing: Spend = Field(default_factory=Spend)
    editing: Spend = Field(default_factory=Spend)
    time_s: float = 0.0


async def run_trajectory(
    task: PublicRepoTask,
    index: int,
    sandbox: FileSandbox,
    context_files: list[str],
    *,
    testing_model: Model,
    editing_model: Model,
    log: TrajectoryLog,
    roots: Roots,
    testing_turns: int,
    editing_turns: int,
    timeout: float,
    temperature: float,
    max_file_chars: int,
) -> TrajectoryRecord:
    """Testing loop then editing loop in ``sandbox``; the record of what they produced."""
    start = time.monotonic()
    log.append("start", {"task_id": task.instance_id, "stage": "trajectory", "index": index})
    sources = await read_sources(sandbox, roots, max_file_chars)
    files: Mapping[str, str] = {p: sources[p] for p in context_files if p in sources}
    testing = await testing_loop(
        task,
        testing_model,
        sandbox,
        files,
        roots=roots,
        max_turns=testing_turns,
        timeout=timeout,
        temperature=temperature,
        log=log,
    )
    editing = await editing_loop(
        task,
        editing_model,
        sandbox,
        files,
        sources,
        testing.test,
        unedited_run=testing.unedited,
        roots=roots,
        max_turns=editing_turns,
        timeout=timeout,
        temperature=temperature,
        log=log,
    )
    record = TrajectoryRecord(
        task_id=task.instance_id,
        index=index,
        test=editing.test,
        patch=editing.patch,
        testing_turns=testing.turns,
        testing_done=testing.done,
        testing_stopped=testing.stopped,
        unedited_exit=testing.unedited.exit_code if testing.unedited else None,
        editing_turns=editing.turns,
        editing_done=editing.done,
        editing_stopped=editing.stopped,
        edited_exit=editing.edited.exit_code if editing.edited else None,
        edits_applied=editing.edits_applied,
        edits_failed=editing.edits_failed,
        testing=testing.spent,
        editing=editing.spent,
        time_s=round(time.monotonic() - start, 3),
    )
    log.append(
        "end",
        {
            "outcome": "patch" if record.patch.strip() else "no_patch",
            "task_id": task.instance_id,
            "index": index,
            "patch": record.patch,
            "test": record.test,
            "edited_exit": record.edited_exit,
        },
        cost_usd=0.0,
    )
    return record
