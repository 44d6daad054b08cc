"""The command server that runs *inside* a sandbox container (stdlib only, Python >= 3.8).

The host never imports this module: :mod:`harness.sandbox._client` starts
``python3 -I -c BOOT WORKSPACE BASE`` through a single ``docker exec`` and sends this file's source on
stdin, where BOOT reads and runs it; so any image with ``python3`` works and nothing is baked into images. It serves one request at a time over stdin/stdout.

Wire format, both directions: a 4-byte big-endian length, a JSON header of that length, then the raw
bytes of the header's ``blobs`` (a list of lengths) back to back. Payloads (stdin, file contents,
output) travel as blobs, never as JSON strings, so megabytes cost one copy.

Requests (``op``): ``hello``, ``run``, ``write``, ``read``, ``diff``, ``reset``, ``killall``. A reply
carries ``error`` (a message) when the request itself failed. While a command runs, ``run`` may send
``partial`` frames ahead of its reply: output the server has read so far, so that the host keeps it if
the command kills the server before the reply.

The server runs as the commands' uid (or as root like them, in compat), so it makes itself non-dumpable
at start: a command cannot ptrace it, write ``/proc/<server>/mem`` or open ``/proc/<server>/fd/*`` (the
pipes its replies travel on). What it starts is dumpable again (``execve`` resets the flag).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import time
from typing import Any

WORKSPACE = "/workspace"
BASE = "/base"
PRIVATE = "/tmp/.harness"
GIT_EXCLUDES = "__pycache__/\n*.pyc\n.pytest_cache/\n"
CHUNK = 1 << 16
PARTIAL_EVERY_S = 0.02
"""At most one ``partial`` frame per this interval (the first one at once), so a chatty command costs few."""
PR_GET_DUMPABLE, PR_SET_DUMPABLE = 3, 4
IPC_RMID = 0
KEEPER = -1
ARMED = False
"""Set by :func:`main` only: :func:`kill_all` refuses to run anywhere but inside a sandbox."""
EXPOSED: str | None = None
"""Why this server is still dumpable (commands could reach its memory), or None: see :func:`harden`."""

_IN: Any = None
_OUT: Any = None


def read_msg() -> tuple[dict[str, Any], list[bytes]] | None:
    raw = _IN.read(4)
    if len(raw) < 4:
        return None
    (n,) = struct.unpack(">I", raw)
    header = json.loads(_IN.read(n))
    blobs = [_IN.read(size) for size in header.get("blobs", [])]
    return header, blobs


def send_msg(header: dict[str, Any], blobs: list[bytes] | None = None) -> None:
    blobs = blobs or []
    header["blobs"] = [len(b) for b in blobs]
    data = json.dumps(header).encode()
    _OUT.write(struct.pack(">I", len(data)) + data)
    for b in blobs:
        _OUT.write(b)
    _OUT.flush()


class Capped:
    """One output stream: the first half of ``cap`` bytes and the last half, and the total seen."""

    def __init__(self, cap: int) -> None:
        self.head_cap = cap // 2
        self.tail_cap = cap - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.tail_cap:
                del self.tail[: len(self.tail) - self.tail_cap]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def value(self) -> bytes:
        if not self.truncated:
            return bytes(self.head + self.tail)
        cut = self.total - len(self.head) - len(self.tail)
        return bytes(self.head) + b"\n[... %d bytes truncated ...]\n" % cut + bytes(self.tail)


class Relay:
    """Sends the head of a command's output to the host while the command runs (``partial`` frames).

    If the command kills the server, the host keeps what was sent; the reply carries only the rest. Only
    heads go out early, so an output flood is still capped here, not shipped to the host.
    """

    def __init__(self, sinks: tuple[Capped, Capped]) -> None:
        self.sinks = sinks
        self.sent = [0, 0]
        self.last = float("-inf")

    def due(self, now: float) -> float | None:
        """Seconds until the next frame may go, or None when there is nothing new to send."""
        if all(len(self.sinks[i].head) == self.sent[i] for i in (0, 1)):
            return None
        return max(0.0, self.last + PARTIAL_EVERY_S - now)

    def send(self, now: float) -> None:
        chunks = [bytes(self.sinks[i].head[self.sent[i] :]) for i in (0, 1)]
        self.sent = [len(s.head) for s in self.sinks]
        self.last = now
        send_msg({"partial": True, "total": [s.total for s in self.sinks]}, chunks)

    def rest(self) -> list[bytes]:
        """Each stream's (capped) output without the part already sent."""
        return [self.sinks[i].value()[self.sent[i] :] for i in (0, 1)]


def oom_count() -> int | None:
    """The memory cgroup's ``oom_kill`` counter (cgroup v1 ``memory.oom_control``, v2 ``memory.events``)."""
    for path in ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"):
        try:
            with open(path) as fh:
                for line in fh:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except OSError:
            continue
    return None


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time) of ``pid``, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[19])


def _keeper() -> int:
    """The container's main process (started with pid 1), which must outlive every kill."""
    first = _stat(1)
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in (1, os.getpid()):
            st = _stat(int(name))
            if st and first and st[1] - first[1] < 200:
                return int(name)
    return -1


def _others() -> list[int]:
    """Live (not zombie) processes this server may kill: not pid 1, the keeper or itself."""
    me, uid, out = os.getpid(), os.getuid(), []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (1, me, KEEPER):
            continue
        st = _stat(int(name))
        if st is None or st[0] in "ZX":
            continue
        if uid != 0:
            try:
                if os.stat("/proc/" + name).st_uid != uid:
                    continue
            except OSError:
                continue
        out.append(int(name))
    return out


def kill_all() -> None:
    """SIGKILL every process the commands started, including those that left their session."""
    if not ARMED:
        return
    for _ in range(200):
        if os.getuid() != 0:
            with contextlib.suppress(OSError):  # every process of this uid but the caller, atomically
                os.kill(-1, signal.SIGKILL)
        victims = _others()
        if not victims:
            return
        for pid in victims:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def _kill_group(pgid: int) -> None:
    """Kill what is left of the command's process group (its background jobs), however it ended.

    Only processes that left the group (``setsid`` daemons) outlive a command; a timeout, ``reset`` or
    ``killall`` ends those too.
    """
    for _ in range(500):  # until the group is gone (killed members linger as zombies until reaped)
        if not _signal_group(pgid):
            return
        time.sleep(0.001)


def _signal_group(pgid: int) -> bool:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        return False
    return True


def _drain(fd: int, sink: Capped) -> None:
    os.set_blocking(fd, False)
    try:
        while True:
            data = os.read(fd, CHUNK)
            if not data:
                return
            sink.add(data)
    except (BlockingIOError, OSError):
        return


def run(req: dict[str, Any], stdin: bytes) -> tuple[dict[str, Any], list[bytes]]:
    cwd = os.path.join(WORKSPACE, req.get("cwd") or ".")
    if not os.path.isdir(cwd):
        return {"error": f"working directory {cwd} does not exist"}, []
    argv = req["argv"] if req.get("argv") is not None else ["/bin/sh", "-c", req["shell"]]
    out, err = Capped(req["cap"]), Capped(req["cap"])
    oom0 = oom_count()
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=req["env"],
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        code = 127 if isinstance(exc, FileNotFoundError) else 126
        msg = (f"{argv[0]}: {exc.strerror}\n").encode()
        return _result("nonzero", code, t0, out, err), [b"", msg]
    try:
        with open(f"/proc/{proc.pid}/oom_score_adj", "w") as fh:
            fh.write("1000")  # the memory hog dies before this server does
    except OSError:
        pass
    relay = Relay((out, err))
    timed_out = _pump(proc, stdin, relay, t0 + float(req["timeout"]))
    if timed_out:
        _signal_group(proc.pid)
    code = proc.wait()
    _kill_group(proc.pid)
    if timed_out:
        kill_all()
    assert proc.stdout is not None and proc.stderr is not None
    _drain(proc.stdout.fileno(), out)
    _drain(proc.stderr.fileno(), err)
    for f in (proc.stdin, proc.stdout, proc.stderr):
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()
    oom = oom0 is not None and (oom_count() or 0) > oom0
    if timed_out:
        status = "timeout"
    elif code != 0 and oom:
        status = "oom"
    elif code < 0:
        status = "killed"
    else:
        status = "ok" if code == 0 else "nonzero"
    res = _result(status, code, t0, out, err)
    return res, relay.rest()


def _result(status: str, code: int, t0: float, out: Capped, err: Capped) -> dict[str, Any]:
    ms = (time.monotonic() - t0) * 1000
    trunc = out.truncated or err.truncated
    return {"status": status, "exit_code": code, "duration_ms": ms, "truncated": trunc}


def _pump(proc: subprocess.Popen[bytes], stdin: bytes, relay: Relay, deadline: float) -> bool:
    """Feed stdin and collect output until the process exits (not until EOF); True on timeout."""
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    sinks = {proc.stdout.fileno(): relay.sinks[0], proc.stderr.fileno(): relay.sinks[1]}
    for fd in sinks:
        sel.register(fd, selectors.EVENT_READ)
    pidfd = -1
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(proc.pid)
            sel.register(pidfd, selectors.EVENT_READ)
        except OSError:
            pidfd = -1
    view, sent = memoryview(stdin), 0
    if stdin and proc.stdin is not None:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE)
    try:
        while True:
            now = time.monotonic()
            left = deadline - now
            if left <= 0:
                return True
            if pidfd < 0 and proc.poll() is not None:
                return False
            wait = left if pidfd >= 0 else min(left, 0.002)
            due = relay.due(now)
            if due == 0.0:
                relay.send(now)
            elif due is not None:
                wait = min(wait, due)
            events = sel.select(wait)
            for key, _ in events:
                fd = int(key.fd)
                if fd == pidfd:
                    return False
                if fd in sinks:
                    data = os.read(fd, CHUNK)
                    if data:
                        sinks[fd].add(data)
                    else:
                        sel.unregister(fd)
                else:
                    try:
                        sent += os.write(fd, view[sent : sent + CHUNK])
                    except BlockingIOError:
                        continue
                    except OSError:  # the command stopped reading (EPIPE): drop the rest
                        sent = len(view)
                    if sent >= len(view):
                        sel.unregister(fd)
                        assert proc.stdin is not None
                        proc.stdin.close()
    finally:
        sel.close()
        if pidfd >= 0:
            os.close(pidfd)


def _target(path: str) -> str:
    return os.path.join(WORKSPACE, path)


def _clear(folder: str) -> None:
    def unlock(func: Any, path: str, _exc: Any) -> None:
        os.chmod(os.path.dirname(path), 0o700)
        func(path)

    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                os.chmod(entry.path, 0o700)
                shutil.rmtree(entry.path, onerror=unlock)
            else:
                os.unlink(entry.path)
        except OSError:
            continue


_SYSV = {"shm": "shmid", "msg": "msqid", "sem": "semid"}


def _sysv(kind: str) -> list[tuple[int, int]]:
    """(id, creator uid) of every System V IPC object of ``kind`` (shm, msg, sem) in this IPC namespace."""
    try:
        with open(f"/proc/sysvipc/{kind}") as fh:
            header, *rows = fh.read().splitlines()
    except (OSError, ValueError):  # no System V IPC in this kernel: nothing to remove
        return []
    cols = header.split()
    at_id, at_cuid = cols.index(_SYSV[kind]), cols.index("cuid")
    return [(int(f[at_id]), int(f[at_cuid])) for f in (row.split() for row in rows) if len(f) == len(cols)]


def _rmid(libc: Any, kind: str, ident: int, owner: int) -> bool:
    """IPC_RMID one object; True when it is gone."""
    import ctypes

    def once() -> int:
        if kind == "shm":
            rc = libc.shmctl(ident, IPC_RMID, None)
        elif kind == "msg":
            rc = libc.msgctl(ident, IPC_RMID, None)
        else:
            rc = libc.semctl(ident, 0, IPC_RMID)
        return 0 if rc == 0 else ctypes.get_errno()

    err = once()
    if err == errno.EPERM and os.geteuid() == 0 and owner != 0:
        # compat: a root command (CAP_SETUID) can create objects as another uid, and this root server
        # has no CAP_SYS_ADMIN to remove them; as their creator it may.
        os.seteuid(owner)
        try:
            err = once()
        finally:
            os.seteuid(0)
    return err in (0, errno.EINVAL, errno.EIDRM)


def clear_ipc() -> None:
    """Remove every System V IPC object (shared memory, message queues, semaphore sets) and POSIX message
    queue of the container's IPC namespace.

    Commands leave them and they outlive processes and files: they would pass data to the next user of a
    pooled sandbox, and a shared memory segment keeps counting against the memory limit. Run after
    :func:`kill_all`: a segment marked for removal lives on while a process has it attached. Raises when
    something is left, so that the reset fails rather than hand out a sandbox that is not clean.
    """
    if not ARMED:  # the IPC namespace of a host is not ours to empty
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for kind in _SYSV:
        for ident, owner in _sysv(kind):
            _rmid(libc, kind, ident, owner)
    _clear("/dev/mqueue")  # POSIX message queues (POSIX shared memory and semaphores live in /dev/shm)
    left = [f"{kind} {ident}" for kind in _SYSV for ident, _ in _sysv(kind)]
    with contextlib.suppress(OSError):
        left += ["/dev/mqueue/" + name for name in os.listdir("/dev/mqueue")]
    if left:
        raise RuntimeError("reset could not remove these IPC objects: " + ", ".join(left))


def reset() -> dict[str, Any]:
    kill_all()  # first: shared memory a process still has attached is not freed by IPC_RMID
    clear_ipc()
    _clear(WORKSPACE)
    # The diff cache (PRIVATE) goes too: commands could write it (git config hooks, excludes, objects),
    # and the next user of this sandbox must get a diff nothing planted. The next diff re-indexes BASE.
    _clear("/tmp")
    _clear("/dev/shm")
    if os.path.isdir(BASE):
        shutil.copytree(BASE, WORKSPACE, symlinks=True, dirs_exist_ok=True)
    return {}


def _git(args: list[str], index: str, cwd: str = "/") -> bytes:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": PRIVATE,
        "GIT_DIR": PRIVATE + "/git",
        "GIT_INDEX_FILE": index,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
    }
    cmd = ["git", "-c", "safe.directory=*", "-c", "core.quotePath=false", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError("git {} failed: {}".format(args[0], proc.stderr.decode(errors="replace")))
    return proc.stdout


def diff() -> bytes:
    """``git diff`` of the workspace against the base tree, which is indexed once and cached."""
    if shutil.which("git") is None:
        raise RuntimeError("diff needs git in the sandbox image")
    gitdir, base_index = PRIVATE + "/git", PRIVATE + "/base.index"
    if not os.path.exists(PRIVATE + "/base.tree"):
        os.makedirs(PRIVATE, exist_ok=True)
        _git(["init", "-q"], base_index)
        os.makedirs(gitdir + "/info", exist_ok=True)
        with open(gitdir + "/info/exclude", "w") as fh:
            fh.write(GIT_EXCLUDES)
        if os.path.isdir(BASE):
            _git(["--work-tree=" + BASE, "add", "-A", "."], base_index, BASE)
        with open(PRIVATE + "/base.tree", "wb") as fh:
            fh.write(_git(["write-tree"], base_index).strip())
    with open(PRIVATE + "/base.tree", "rb") as fh:
        tree = fh.read().decode().strip()
    ws_index = PRIVATE + "/ws.index"
    if os.path.exists(base_index):
        shutil.copyfile(base_index, ws_index)
    _git(["--work-tree=" + WORKSPACE, "add", "-A", "."], ws_index, WORKSPACE)
    flags = ["--cached", "--binary", "--no-color", "--no-ext-diff", "--no-renames"]
    return _git(["--work-tree=" + WORKSPACE, "diff", *flags, tree, "--"], ws_index, WORKSPACE)


def handle(req: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytes]]:
    op = req.get("op")
    if op == "run":
        return run(req, blobs[0] if blobs else b"")
    if op == "write":
        path = _target(req["path"])
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(blobs[0])
        os.chmod(path, int(req.get("mode", 0o644)))
        return {}, []
    if op == "read":
        with open(_target(req["path"]), "rb") as fh:
            return {}, [fh.read()]
    if op == "diff":
        return {}, [diff()]
    if op == "reset":
        return reset(), []
    if op == "killall":
        kill_all()
        return {}, []
    if op == "hello":
        info = {"pid": os.getpid(), "uid": os.getuid(), "python": sys.version.split()[0], "exposed": EXPOSED}
        return {"info": info, "oom": oom_count() is not None}, []
    return {"error": f"unknown request {op!r}"}, []


def harden() -> str | None:
    """Make this process non-dumpable; None when it is, else why not.

    Commands run as this server's uid (or as root without CAP_SYS_PTRACE, in compat). Non-dumpable, its
    ``/proc/<pid>`` files belong to root and ptrace access is refused, so a command cannot write its
    memory or open its descriptors (e.g. inject a forged reply into its stdout). ``execve`` makes the
    commands it starts dumpable again. BOOT (harness/sandbox/_client.py) already did it, earlier.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        if libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0:
            return None
        return "prctl(PR_SET_DUMPABLE, 0) did not take"
    except (ImportError, OSError, AttributeError) as exc:
        return f"{type(exc).__name__}: {exc}"


def main() -> None:
    global WORKSPACE, BASE, KEEPER, ARMED, EXPOSED, _IN, _OUT
    EXPOSED = harden()
    if EXPOSED:
        sys.stderr.write(f"harness sandbox server: commands can reach its memory ({EXPOSED})\n")
    WORKSPACE, BASE = sys.argv[1], sys.argv[2]
    KEEPER = _keeper()
    # Killing "every other process" is only sane inside a container: never arm it on a host by mistake.
    ARMED = os.path.exists("/.dockerenv") or os.environ.get("HARNESS_SANDBOX_ARMED") == "1"
    # A server started after a command killed the last one: what that command left (a daemon that may
    # have opened this process's /proc files before it was non-dumpable) goes before the first request.
    kill_all()
    _IN, _OUT = sys.stdin.buffer, sys.stdout.buffer
    while True:
        msg = read_msg()
        if msg is None:
            return
        try:
            reply, blobs = handle(*msg)
        except Exception as exc:  # a failed request is reported, the server stays up
            reply, blobs = {"error": f"{type(exc).__name__}: {exc}"}, []
        send_msg(reply, blobs)


if __name__ == "__main__":
    main()
