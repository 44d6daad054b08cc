"""Who owns a sandbox container, and removing them: on exit, on SIGINT/SIGTERM, and ``gc`` afterwards.

Every container harness starts carries labels (:func:`owner_labels`): ``harness.managed=1``,
``harness.run_id``, ``harness.pid`` and ``harness.pid_start`` (the owner's start time, so a reused pid
is not taken for the owner) and ``harness.host``. Cleanup only ever selects on ``harness.managed=1``,
so containers harness did not start are never touched.

- :func:`track`/:func:`untrack`: the containers this process has alive. They are removed at interpreter
  exit (``atexit``) and on SIGINT/SIGTERM (handlers installed by the first sandbox, chained to the
  handlers that were there before).
- :func:`gc`: what a SIGKILL left behind. By default the containers whose owner process is gone on this
  host; ``run_id=`` every container of that run; ``everything=True`` every harness-managed one.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import threading
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import Any

MANAGED = "harness.managed"
_process_run_id = f"adhoc-{uuid.uuid4().hex[:12]}"
_live: dict[str, None] = {}
_lock = threading.Lock()
_atexit_done = False
_signals_done = False
_previous: dict[int, Any] = {}


def resolve_run_id(run_id: str | None = None) -> str:
    """The run id: the argument, else ``$HARNESS_RUN_ID``, else one id for this whole process."""
    return run_id or os.environ.get("HARNESS_RUN_ID") or _process_run_id


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); empty if unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _start_time(pid: int) -> str:
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""


def owner_labels(run_id: str) -> dict[str, str]:
    pid = os.getpid()
    return {
        MANAGED: "1",
        "harness.run_id": run_id,
        "harness.pid": str(pid),
        "harness.pid_start": _start_time(pid),
        "harness.host": socket.gethostname(),
    }


def track(container_id: str) -> None:
    with _lock:
        _live[container_id] = None
    install()


def untrack(container_id: str) -> None:
    with _lock:
        _live.pop(container_id, None)


def install() -> None:
    """Register the exit hook once, and the SIGINT/SIGTERM handlers once from the main thread.

    Sandboxes call this from their event loop's thread before starting a container (``track`` runs in
    a worker thread, where signal handlers cannot be installed).
    """
    global _atexit_done, _signals_done
    main = threading.current_thread() is threading.main_thread()
    with _lock:
        do_atexit, _atexit_done = not _atexit_done, True
        do_signals = main and not _signals_done
        _signals_done = _signals_done or main
    if do_atexit:
        atexit.register(remove_tracked)
    if do_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            _previous[sig] = signal.getsignal(sig)
            signal.signal(sig, _on_signal)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    remove_tracked()
    prev = _previous.get(signum)
    if callable(prev):
        prev(signum, frame)
    elif prev == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def remove_tracked() -> None:
    """Remove every container this process still has (a fresh client: we may be inside a handler)."""
    with _lock:
        ids = list(_live)
        _live.clear()
    if ids:
        remove_ids(_client(), ids)


def _client() -> Any:
    import docker

    return docker.from_env(timeout=60, max_pool_size=16)


def remove_ids(client: Any, ids: Iterable[str]) -> list[str]:
    """Force-remove containers by id (in parallel); return the ids that existed."""
    import docker.errors

    def one(cid: str) -> str | None:
        try:
            client.api.remove_container(cid, force=True)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            if exc.status_code == 409:  # removal already in progress (auto-remove)
                return cid
            raise
        return cid

    ids = list(ids)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            return [cid for cid in pool.map(one, ids) if cid is not None]
    except RuntimeError:  # at interpreter exit no new futures can be scheduled: one by one
        return [cid for cid in map(one, ids) if cid is not None]


def _owner_alive(labels: dict[str, str]) -> bool:
    try:
        pid = int(labels.get("harness.pid", ""))
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _stat(pid)
    if fields and fields[0] in ("Z", "X"):  # killed, not yet reaped by its parent: it owns nothing
        return False
    started = labels.get("harness.pid_start", "")
    return not started or (fields[19] if len(fields) > 19 else "") == started


def gc(*, run_id: str | None = None, everything: bool = False, client: Any = None) -> list[str]:
    """Remove leaked harness containers; return the names removed. Never touches unlabelled ones.

    Default: containers of this host whose owner process is gone. ``run_id``: every container of that
    run (alive owner or not). ``everything``: every harness-managed container.
    """
    client = client or _client()
    filters = {"label": [f"{MANAGED}=1"] + ([f"harness.run_id={run_id}"] if run_id else [])}
    host = socket.gethostname()
    doomed: dict[str, str] = {}
    for c in client.api.containers(all=True, filters=filters):
        labels: dict[str, str] = c.get("Labels") or {}
        if labels.get(MANAGED) != "1":
            continue
        orphan = labels.get("harness.host") == host and not _owner_alive(labels)
        if not (everything or run_id or orphan):
            continue
        names = c.get("Names") or [c["Id"][:12]]
        doomed[c["Id"]] = str(names[0]).lstrip("/")
    removed = set(remove_ids(client, doomed))
    return sorted(name for cid, name in doomed.items() if cid in removed)
