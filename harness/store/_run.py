"""A run's folder: ``results/<run-id>/`` with its manifest, stage folders and the shared index."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import re
import secrets
import sys
import time
import types
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, Union, get_args, get_origin

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic_core import to_jsonable_python

import harness
from harness.errors import StoreError
from harness.store._atomic import atomic_write_json, atomic_write_text
from harness.store._index import Index, UnitStatus

MANIFEST_VERSION = 1


def default_results_dir() -> Path:
    return Path(os.environ.get("HARNESS_RESULTS", "results"))


def new_run_id(kind: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{secrets.token_hex(3)}"


_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_run_id(run_id: str) -> str:
    """``run_id`` if it can name a run folder: 1-128 letters, digits, ``.``, ``_`` or ``-``, starting with
    a letter or digit. Anything else (a ``/``, ``..``, a space, an empty id) could put the run outside
    the results folder or clash with another's, so it is refused with a :class:`StoreError`."""
    if not _RUN_ID.fullmatch(run_id):
        raise StoreError(
            f"run id {run_id!r} cannot name a run folder: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. 'swe-lite-gpt4o.1')"
        )
    return run_id


def _git_sha() -> str | None:
    """The commit of harness's own checkout (GitPython), or None outside one or without git."""
    try:
        from git.cmd import Git

        status, out, _err = Git(Path(harness.__file__).parent).execute(
            ["git", "rev-parse", "HEAD"],
            with_extended_output=True,
            with_exceptions=False,
            kill_after_timeout=5,
        )
    except (ImportError, OSError):  # GitPython refuses to import when there is no git at all
        return None
    return str(out).strip() or None if status == 0 else None


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


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds: ``M``, or the one model of a union such as ``M | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        models = [m for m in map(_model_in, get_args(annotation)) if m is not None]
        return models[0] if len(models) == 1 else None
    return None


@dataclass(frozen=True)
class ConfigDefaults:
    """What a config's keys mean when they are not given, so a resume can tell an option added by a
    newer harness (absent from an old manifest, at its default now) from a changed setting.

    ``values`` maps each key that has a default to it, in JSON form (as ``model_dump(mode="json")``
    writes it); ``nested`` maps each key whose value is itself a config to that config's defaults, so
    a key added inside it is recognised too. Models inside lists or dicts are compared as they are.
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    nested: Mapping[str, ConfigDefaults] = field(default_factory=dict)
    renamed: Mapping[str, str] = field(default_factory=dict)
    """An old spelling of a key -> the key now (a field's ``validation_alias`` choices, e.g. a budget's
    ``dollars`` -> ``cost_usd``), so a manifest that spells an option the old way, with the same value,
    is no change."""

    @classmethod
    def of(cls, model: type[BaseModel]) -> ConfigDefaults:
        """The defaults a pydantic config model declares, its nested models' included."""
        values: dict[str, Any] = {}
        nested: dict[str, ConfigDefaults] = {}
        renamed: dict[str, str] = {}
        for name, info in model.model_fields.items():
            if isinstance(info.validation_alias, AliasChoices):
                for old in info.validation_alias.choices:
                    if isinstance(old, str) and old != name:
                        renamed[old] = name
            # A factory that reads the other fields has no default of its own: the key must be given.
            if not info.is_required() and not info.default_factory_takes_validated_data:
                # by field name, as ``model_dump`` writes the config (``to_jsonable_python`` uses aliases)
                default = info.get_default(call_default_factory=True)
                values[name] = to_jsonable_python(default, by_alias=False)
            sub = _model_in(info.annotation)
            if sub is not None and sub is not model:
                nested[name] = cls.of(sub)
        return cls(values, nested, renamed)


def config_changes(
    old: Mapping[str, Any], new: Mapping[str, Any], defaults: ConfigDefaults | None = None, prefix: str = ""
) -> list[str]:
    """How ``new`` differs from ``old`` (both in JSON form), one line per key; empty when a run made with
    ``old`` may resume with ``new``. A key absent from ``old`` is no change when ``new`` holds the
    default ``defaults`` declares for it: a newer harness added the option, and its default is what the
    older one did. A key ``old`` spells as an older harness did (``defaults.renamed``) is compared under
    its name now. A key absent from ``new`` (a removed option) is always a change: nothing says the
    run's artefacts match what this harness does without it."""
    defaults = defaults or ConfigDefaults()
    old = {
        (defaults.renamed[k] if k in defaults.renamed and defaults.renamed[k] not in old else k): v
        for k, v in old.items()
    }
    changes: list[str] = []
    for key in sorted(old.keys() | new.keys()):
        name = f"{prefix}{key}"
        if key not in new:
            changes.append(f"{name}: {_show(old[key])} in the manifest, an option this harness no longer has")
        elif key not in old:
            if key not in defaults.values:
                changes.append(f"{name}: absent from the manifest, {_show(new[key])} now (no default)")
            elif new[key] != defaults.values[key]:
                changes.append(
                    f"{name}: absent from the manifest (so its default, {_show(defaults.values[key])}), "
                    f"{_show(new[key])} now"
                )
        elif old[key] != new[key]:
            sub = defaults.nested.get(key)
            if sub is not None and isinstance(old[key], dict) and isinstance(new[key], dict):
                changes.extend(config_changes(old[key], new[key], sub, f"{name}."))
            else:
                changes.append(f"{name}: {_show(old[key])} in the manifest, {_show(new[key])} now")
    return changes


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class Run:
    """One run's folder plus its rows in the index. Re-opening an existing run id resumes it.

    One process at a time holds a run (a lock on ``<run>/.lock``, released when the process ends, even
    by SIGKILL; processes it forks never hold it): a second ``harness`` with the same run id is refused
    instead of writing the same units and outcomes twice.

    Resuming checks that the config matches the one in the manifest, so a rerun with other settings
    cannot silently mix artefacts. Keys a newer harness added are no mismatch while they hold the
    default that ``defaults`` declares (``ConfigDefaults.of(ConfigModel)``); the manifest then takes
    the new config, so the next resume compares with it.
    """

    def __init__(
        self,
        results_dir: str | Path,
        run_id: str,
        kind: str,
        config: dict[str, Any],
        seeds: list[int] | None = None,
        *,
        defaults: ConfigDefaults | None = None,
    ) -> None:
        self.root = Path(results_dir)
        self.run_id = check_run_id(run_id)
        self.dir = self.root / run_id
        self._lock = _hold(self.dir, run_id)
        try:
            self._open(run_id, kind, config, seeds, defaults)
        except BaseException:
            self._lock.close()
            raise

    def _open(
        self,
        run_id: str,
        kind: str,
        config: dict[str, Any],
        seeds: list[int] | None,
        defaults: ConfigDefaults | None,
    ) -> None:
        self.index = Index(self.root / "index.sqlite")
        manifest_path = self.dir / "manifest.json"
        new_config: dict[str, Any] = json.loads(json.dumps(config, default=str))
        if manifest_path.exists():
            old = Manifest.model_validate_json(manifest_path.read_text())
            changes = config_changes(old.config, new_config, defaults)
            if changes:
                raise StoreError(
                    f"run {run_id!r} exists with a different config ({'; '.join(changes)}); use a new "
                    f"--run-id, or rerun with the config in {manifest_path} (written by harness "
                    f"{old.harness_version})"
                )
            if old.config != new_config:  # only options added at their defaults
                old = old.model_copy(update={"config": new_config})
                atomic_write_json(manifest_path, old.model_dump())
            self.manifest = old
            self.resumed = True
        else:
            self.manifest = Manifest(
                run_id=run_id,
                kind=kind,
                created_at=time.time(),
                config=new_config,
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
        self._lock.close()


class _RunLock:
    """The open ``<run>/.lock`` whose ``flock`` is the run's. Only the process that took it holds it: a
    child made by ``os.fork`` (the pool-size curves' workers, anyone's ``multiprocessing``) gets its
    descriptor pointed at ``/dev/null`` right after the fork (:func:`_drop_locks_in_child`). An ``flock``
    belongs to the open file, so a child keeping the descriptor kept the run locked after the parent
    died, and the rerun was refused "in use by another harness process" for a dead pid until the
    orphans were killed by hand. (Exec'd children never get it: Python opens files non-inheritable.)"""

    def __init__(self, fh: TextIO) -> None:
        self.file = fh
        _HELD.add(fh)

    def close(self) -> None:
        _HELD.discard(self.file)
        self.file.close()


_HELD: weakref.WeakSet[TextIO] = weakref.WeakSet()
"""The lock files this process has open (weak: a file collected unclosed is closed, and leaves)."""


def _drop_locks_in_child() -> None:
    """In a freshly forked child: let go of the parent's run locks without releasing them for the parent.

    ``dup2`` of ``/dev/null`` onto each descriptor drops the child's reference to the locked file
    (closing it would leave the file object owning a number a later ``open`` may reuse, and
    ``flock(LOCK_UN)`` would unlock the parent's run too)."""
    held = [fh for fh in list(_HELD) if not fh.closed]
    _HELD.clear()
    if not held:
        return
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        for fh in held:
            os.dup2(null, fh.fileno(), inheritable=False)
    finally:
        os.close(null)


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_drop_locks_in_child)


def _hold(run_dir: Path, run_id: str) -> _RunLock:
    """Lock ``run_dir/.lock`` for this process (the file keeps the holder's pid, for the message)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = _RunLock((run_dir / ".lock").open("a+"))  # registered before it is locked: no fork between
    fh = lock.file
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        lock.close()
        raise StoreError(
            f"run {run_id!r} is in use by another harness process (pid {holder}); wait for it to end, "
            "or give this one another --run-id"
        ) from None
    except BaseException:
        lock.close()
        raise
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return lock
