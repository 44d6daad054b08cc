"""The pass-matrix worker: a stdlib-only script run inside the sandbox by ``python3 _worker.py``.

It reads a batch of requests on stdin (one JSON object per line), schedules every (request, program)
pair over up to ``parallel`` forked children at once, and streams one JSON line per finished program,
then ``{"id": ..., "done": true}`` when a request's last program is in. A request::

    {"id": str, "kind": "tests" | "faithful" | "whole", "programs": [src, ...], "tests": [src, ...],
     "timeout": s, "load_timeout": s, "grace": s, "memory_mb": int, "reuse_lhs": bool, "parallel": int,
     "shard": int, "clock": "wall" | "cpu"}

is answered per job (a program and a shard of the tests, see ``shard``) by ``{"id", "program": i,
"tests": [j, ...], "cells": "0132...", "ms": [...], "out": [...], "ran": bool}``, aligned with ``tests``. Cell codes: 0 fail (AssertionError), 1 pass, 2 error (raised, did not compile, exited,
crashed the interpreter), 3 timeout. ``out[j]`` is a signed 64-bit hash of ``repr(LHS)`` when test ``j`` is
``assert LHS == RHS`` (0 where unknown).

Kinds:

* ``tests`` (our engine): the child defines the program once (under ``load_timeout``), then runs the tests
  in order, each compiled on its own and run under its own timer. A test that hangs past the parent's
  watchdog or kills its interpreter costs only its own cell: the parent kills the child and forks a fresh
  one that continues with the next test. With ``reuse_lhs`` the left side of ``assert LHS == RHS`` is
  evaluated once per distinct LHS text and program; tests that share it reuse the value (or its
  exception / timeout).
* ``faithful``: CodeT's released executor, reimplemented: the program and every test are packed into one
  check program (each test in ``try: with time_limit(t): ... except Exception``), run with CodeT's
  reliability guard, killed after ``t * n_tests + 0.1`` s. If it does not compile, raises past the
  ``except Exception`` or is killed, ``ran`` is false and every cell is an error (timeout when killed).
* ``whole``: each program is a complete script (ground truth: program + hidden tests + ``check(...)``)
  run under one timer of ``timeout``; one cell, ``tests`` is ignored.

Code run here never raises into the protocol: failures are data.
"""

import ast
import builtins
import contextlib
import hashlib
import json
import mmap
import os
import resource
import select
import signal
import struct
import sys
import time

FAIL, PASS, ERROR, TIMEOUT = 0, 1, 2, 3
RECORD = struct.Struct("<iBdq")  # test index (-1 load failed, -2 loaded), cell, ms, output hash
LHS_NAME = "_harness_lhs_"
LOADED, LOAD_FAILED, FAITHFUL_DONE = -2, -1, -3


class _TestTimeout(BaseException):
    """Raised by the timer inside a child; a BaseException so ``except Exception`` in a test misses it."""


class CodetTimeout(Exception):
    """CodeT's ``TimeoutException``: an ``Exception``, so its packed ``except Exception`` catches it."""


# -- tests: preparing and timing -------------------------------------------------------------------


def prepare_test(src):
    """(code, lhs_code, lhs_key, rhs_code) for ``src``; code is None when it does not compile.

    ``assert L == R`` yields ``lhs_code`` (evaluates L) and ``rhs_code`` (``assert _lhs == R``) so that the
    output can be hashed and L shared; any other test runs as ``code`` alone.
    """
    try:
        tree = ast.parse(src)
        code = compile(tree, "<test>", "exec")
    except BaseException:
        return None, None, None, None
    stmt = tree.body[0] if len(tree.body) == 1 else None
    if not (isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Compare)):
        return code, None, None, None
    cmp = stmt.test
    if len(cmp.ops) != 1 or not isinstance(cmp.ops[0], ast.Eq):
        return code, None, None, None
    try:
        lhs_key = ast.dump(cmp.left)
        lhs_code = compile(ast.Expression(cmp.left), "<test>", "eval")
        cmp.left = ast.Name(id=LHS_NAME, ctx=ast.Load())
        ast.fix_missing_locations(tree)
        rhs_code = compile(tree, "<test>", "exec")
    except BaseException:
        return code, None, None, None
    return code, lhs_code, lhs_key, rhs_code


def output_hash(value):
    """A non-zero signed 64-bit hash of ``repr(value)``."""
    digest = hashlib.blake2b(repr(value).encode("utf-8", "replace"), digest_size=8).digest()
    return struct.unpack("<q", digest)[0] or 1


def _on_alarm(signum, frame):
    raise _TestTimeout()


def _classify(exc):
    if isinstance(exc, _TestTimeout):
        return TIMEOUT
    if isinstance(exc, AssertionError):
        return FAIL
    return ERROR


class _Clock:
    """The child's timer: ``wall`` (ITIMER_REAL, as CodeT) or ``cpu`` (ITIMER_PROF: the child's own CPU
    time, so a test is not cut short because other children share the cores)."""

    which = signal.ITIMER_REAL


def wall_limit(req, seconds):
    """How long the parent waits (wall clock) for a timer of ``seconds`` before its watchdog acts."""
    if req.get("clock") == "cpu":
        seconds = max(10.0 * seconds, 1.0)  # CPU time runs slower than the wall under contention
    return seconds + req["grace"]


def _timed_exec(code, env, timeout, mode="exec"):
    """(cell, value, ms): run ``code`` under the timer. Never raises."""
    start = time.perf_counter()
    value = None
    try:
        signal.setitimer(_Clock.which, timeout)
        try:
            if mode == "eval":
                value = eval(code, env)
            else:
                exec(code, env)
        finally:
            signal.setitimer(_Clock.which, 0)
        cell = PASS
    except BaseException as exc:  # the test's own failure (incl. SystemExit): data, not our error
        cell = _classify(exc)
    return cell, value, (time.perf_counter() - start) * 1000.0


def _safe_hash(value, timeout):
    try:
        signal.setitimer(_Clock.which, timeout)
        try:
            return output_hash(value)
        finally:
            signal.setitimer(_Clock.which, 0)
    except BaseException:
        return 0


def _run_test(prepared, env, req, lhs_cache):
    """(cell, ms, out) for one prepared test."""
    code, lhs_code, lhs_key, rhs_code = prepared
    timeout = req["timeout"]
    if code is None:
        return ERROR, 0.0, 0
    if lhs_code is None:
        cell, _, ms = _timed_exec(code, env, timeout)
        return cell, ms, 0
    if req.get("reuse_lhs") and lhs_key in lhs_cache:
        cell, value, out, ms = lhs_cache[lhs_key]
    else:
        cell, value, ms = _timed_exec(lhs_code, env, timeout, "eval")
        out = _safe_hash(value, timeout) if cell == PASS else 0
        if req.get("reuse_lhs"):
            lhs_cache[lhs_key] = (cell, value, out, ms)
    if cell != PASS:
        return cell, ms, 0
    env[LHS_NAME] = value
    cell, _, ms2 = _timed_exec(rhs_code, env, timeout)
    return cell, ms + ms2, out


# -- children --------------------------------------------------------------------------------------


class _Channel:
    """In a child: the job's shared buffer and how many records it holds."""

    mm = mmap.mmap(-1, 1)
    n = 0


_CHANNEL = _Channel()
COUNT = struct.Struct("<q")


def _put(record):
    """Append one record to the job's shared buffer (no system call: the parent reads it when the
    child exits or its watchdog fires), then publish the new count."""
    mm, n = _CHANNEL.mm, _CHANNEL.n
    mm[COUNT.size + n * RECORD.size : COUNT.size + (n + 1) * RECORD.size] = record
    _CHANNEL.n = n + 1
    COUNT.pack_into(mm, 0, n + 1)


def _child_setup(wfd, mm, memory_mb, clock):
    os.setpgid(0, 0)
    _CHANNEL.mm, _CHANNEL.n = mm, 0
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, wfd)
    os.closerange(wfd + 1, 4096)
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGPROF, _on_alarm)
    _Clock.which = signal.ITIMER_PROF if clock == "cpu" else signal.ITIMER_REAL


def _child_tests(wfd, program, tests, order, req):
    """Define the program, then run ``tests[j]`` for each ``j`` in ``order``; one record per test."""
    env = {"__name__": "__main__", "__builtins__": builtins}
    try:
        code = compile(program, "<candidate>", "exec")
        cell, _, ms = _timed_exec(code, env, req["load_timeout"])
    except BaseException:
        cell, ms = ERROR, 0.0
    if cell != PASS:
        _put(RECORD.pack(LOAD_FAILED, cell, ms, 0))
        return
    _put(RECORD.pack(LOADED, PASS, ms, 0))
    lhs_cache: dict[str, tuple[int, object, int, float]] = {}
    for j in order:
        cell, ms, out = _run_test(tests[j], env, req, lhs_cache)
        env.pop(LHS_NAME, None)
        _put(RECORD.pack(j, cell, ms, out))


def _child_whole(wfd, program, req):
    env = {"__name__": "__main__", "__builtins__": builtins}
    try:
        code = compile(program, "<program>", "exec")
    except BaseException:
        _put(RECORD.pack(0, ERROR, 0.0, 0))
        return
    cell, _, ms = _timed_exec(code, env, req["timeout"])
    _put(RECORD.pack(0, cell, ms, 0))


# -- faithful: CodeT's packed check program --------------------------------------------------------


@contextlib.contextmanager
def codet_time_limit(seconds):
    """CodeT's ``time_limit``: a wall-clock itimer that raises an ``Exception`` subclass."""

    def handler(signum, frame):
        raise CodetTimeout("Timed out!")

    signal.setitimer(signal.ITIMER_REAL, seconds)
    signal.signal(signal.SIGALRM, handler)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def codet_check_program(tests, timeout):
    """The text CodeT appends to ``prompt + completion + "\\n"``: one guarded block per test, collecting
    booleans into ``final_result``. Multi-line tests are indented to the block's depth."""
    lines = ["def check():", "    pass_result = []"]
    for test in tests:
        body = test.strip().replace("\n", "\n" + " " * 12)
        lines += [
            "",
            "    try:",
            f"        with time_limit({timeout}):",
            f"            {body}" + " " * 20,
            "            pass_result.append(True)",
            "    except Exception as e:",
            "        pass_result.append(False)",
        ]
    lines += ["", "    return pass_result", "", "global final_result", "final_result = check()"]
    return "\n".join(lines)


GUARDED_OS = (
    "kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork", "forkpty",
    "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown", "chmod", "chown",
    "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir",
)  # fmt: skip


def _reliability_guard():
    """What CodeT's ``reliability_guard`` switches off: the same names, so that a candidate calling
    ``exit()`` or ``os.remove`` sees what it saw there (a ``TypeError``, caught by the test's block)."""
    import faulthandler
    import shutil
    import subprocess

    faulthandler.disable()
    setattr(builtins, "exit", None)  # noqa: B010
    setattr(builtins, "quit", None)  # noqa: B010
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in GUARDED_OS:
        setattr(os, name, None)
    for module, name in ((shutil, "rmtree"), (shutil, "move"), (shutil, "chown"), (subprocess, "Popen")):
        setattr(module, name, None)
    setattr(builtins, "help", None)  # noqa: B010
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[name] = None  # type: ignore[assignment]


def _child_faithful(wfd, program, tests, req):
    source = program + "\n" + codet_check_program(tests, req["timeout"])
    _reliability_guard()
    env = {"time_limit": codet_time_limit}
    try:
        exec(source, env)
        result = env["final_result"]
    except BaseException:
        result = None
    if not isinstance(result, list) or not result:
        _put(RECORD.pack(LOAD_FAILED, ERROR, 0.0, 0))
        return
    for j, ok in enumerate(result):
        _put(RECORD.pack(j, PASS if ok is True else FAIL, 0.0, 0))
    _put(RECORD.pack(FAITHFUL_DONE, PASS, 0.0, 0))


# -- the parent ------------------------------------------------------------------------------------


class _Job:
    """One program's progress in the parent: its cells so far and its current child."""

    def __init__(self, req, index, order):
        self.req = req
        self.index = index
        self.order = order
        """The test indices this job runs, in order (a shard of the request's tests)."""
        self.cells = {}
        self.ms = {}
        self.out = {}
        self.next = 0
        """Position in ``order`` of the next test without a cell."""
        self.ran = True
        self.pid = 0
        self.rfd = -1
        self.mm = None
        self.seen = 0
        self.deadline = 0.0
        self.loaded = False

    def fill_rest(self, cell):
        for j in self.order[self.next :]:
            self.cells[j], self.ms[j], self.out[j] = cell, 0.0, 0
        self.next = len(self.order)

    def finished(self):
        return self.next >= len(self.order)


def _spawn(job):
    req = job.req
    rfd, wfd = os.pipe()  # the parent sees the child's exit as EOF on it; records go through ``mm``
    mm = mmap.mmap(-1, COUNT.size + (len(job.order) + 3) * RECORD.size)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            _child_setup(wfd, mm, req.get("memory_mb", 0), req.get("clock", "wall"))
            kind = req["kind"]
            program = req["programs"][job.index]
            if kind == "whole":
                _child_whole(wfd, program, req)
            elif kind == "faithful":
                _child_faithful(wfd, program, req["tests"], req)
            else:
                _child_tests(wfd, program, req["_prepared"], job.order[job.next :], req)
        finally:
            os._exit(0)
    os.close(wfd)
    job.pid, job.rfd, job.mm, job.seen, job.loaded = pid, rfd, mm, 0, False
    kind = req["kind"]
    if kind == "faithful":  # CodeT's join: exactly its budget, on the wall clock
        job.deadline = time.monotonic() + req["timeout"] * len(req["tests"]) + 0.1
        return
    budget = wall_limit(req, req["timeout"] if kind == "whole" else req["load_timeout"])
    job.deadline = time.monotonic() + budget


def _reap(job):
    with contextlib.suppress(OSError):
        os.killpg(job.pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(job.pid, 0)
    os.close(job.rfd)
    job.mm.close()
    job.pid, job.rfd, job.mm = 0, -1, None


def _drain(job):
    """Take the records the child published since the last look; True if there were any."""
    count = COUNT.unpack_from(job.mm, 0)[0]
    if count <= job.seen:
        return False
    for k in range(job.seen, count):
        if job.finished():
            break
        _on_record(job, *RECORD.unpack_from(job.mm, COUNT.size + k * RECORD.size))
    job.seen = count
    if job.req["kind"] == "tests":
        job.deadline = time.monotonic() + wall_limit(job.req, job.req["timeout"])
    return True


def _on_record(job, j, cell, ms, out):
    if j == LOAD_FAILED:
        job.ran = False
        job.fill_rest(TIMEOUT if cell == TIMEOUT else ERROR)
    elif j == LOADED:
        job.loaded = True
    elif j == FAITHFUL_DONE:
        job.next = len(job.order)
    else:
        job.cells[j], job.ms[j], job.out[j] = cell, ms, out
        if job.req["kind"] != "faithful":
            job.next += 1


def _on_eof_or_deadline(job, timed_out):
    """The child died or hung: on test ``job.next`` only (kind ``tests``), else the whole program."""
    if job.finished():
        return
    cell = TIMEOUT if timed_out else ERROR
    if job.req["kind"] != "tests" or not job.loaded:
        if job.req["kind"] == "faithful" or not job.loaded:
            job.ran = False
        job.fill_rest(cell)
        return
    j = job.order[job.next]
    job.cells[j], job.ms[j], job.out[j] = cell, 0.0, 0
    job.next += 1


def _shards(req):
    """The jobs' test orders for one request. ``tests``: tests sharing a left side are adjacent (so
    ``reuse_lhs`` evaluates it once) and cut into shards of at most ``shard`` tests, each its own child,
    so that one program timing out on many tests does not serialise the batch."""
    kind = req["kind"]
    if kind == "whole":
        return [[0]]
    n = len(req["tests"])
    if kind == "faithful":
        return [list(range(n))]
    req["_prepared"] = prepared = [prepare_test(src) for src in req["tests"]]
    order = sorted(range(n), key=lambda j: (prepared[j][2] or "", j))
    size = max(1, int(req.get("shard") or n or 1))
    shards = []
    i = 0
    while i < n:
        end = min(n, i + size)
        while (
            0 < end < n
            and prepared[order[end]][2] is not None
            and (prepared[order[end]][2] == prepared[order[end - 1]][2])
        ):
            end += 1  # never split a group sharing one left side
        shards.append(order[i:end])
        i = end
    return shards


def _jobs(lines, left, emit_done):
    """Jobs in request order, parsing each request only when its first job is due (a small parent
    forks fast: children copy its page tables and fault in what they touch)."""
    for line in lines:
        if not line.strip():
            continue
        req = json.loads(line)
        shards = _shards(req)
        left[req["id"]] = len(req["programs"]) * len(shards)
        if not left[req["id"]]:
            emit_done(req)
        for i in range(len(req["programs"])):
            for order in shards:
                yield _Job(req, i, order)


def run_batch(lines, emit, emit_done):
    """Run every program of every request (JSON lines); ``emit(job)`` per job, ``emit_done(req)`` per
    request once its last job is in."""
    left: dict[str, int] = {}
    jobs = _jobs(lines, left, emit_done)
    active: dict[int, _Job] = {}
    poller = select.poll()

    def finish(job):
        emit(job)
        left[job.req["id"]] -= 1
        if left[job.req["id"]] == 0:
            emit_done(job.req)
            job.req.pop("_prepared", None)

    pending = next(jobs, None)
    while pending is not None or active:
        while pending is not None and len(active) < max(1, int(pending.req.get("parallel", 1))):
            job, pending = pending, next(jobs, None)
            if not job.order:
                finish(job)
                continue
            _spawn(job)
            active[job.rfd] = job
            poller.register(job.rfd, select.POLLIN)
        if not active:
            continue
        wait = max(0.0, min(j.deadline for j in active.values()) - time.monotonic())
        for fd, _ev in poller.poll(wait * 1000.0):
            job = active[fd]
            if not os.read(fd, 64):  # EOF: the child exited (it never writes to the pipe)
                _drain(job)
                _finish_child(job, active, poller, finish, timed_out=False)
        now = time.monotonic()
        for job in [j for j in active.values() if j.deadline <= now]:
            if not _drain(job):  # no progress since the last look: the current test hangs
                _finish_child(job, active, poller, finish, timed_out=True)


def _finish_child(job, active, poller, finish, timed_out):
    poller.unregister(job.rfd)
    del active[job.rfd]
    _reap(job)
    _on_eof_or_deadline(job, timed_out)
    if job.finished():
        finish(job)
        return
    _spawn(job)
    active[job.rfd] = job
    poller.register(job.rfd, select.POLLIN)


def main():
    proto = os.fdopen(os.dup(1), "w", buffering=1 << 16)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)

    def emit(job):
        order = job.order
        cells = "".join(str(job.cells[j]) for j in order)
        ms = [round(job.ms[j], 3) for j in order]
        out = [job.out[j] for j in order]
        msg = {"id": job.req["id"], "program": job.index, "tests": order, "cells": cells, "ms": ms}
        msg.update(out=out, ran=job.ran)
        proto.write(json.dumps(msg, separators=(",", ":")) + "\n")

    def emit_done(req):
        proto.write(json.dumps({"id": req["id"], "done": True}) + "\n")
        proto.flush()

    run_batch(sys.stdin, emit, emit_done)
    proto.flush()


if __name__ == "__main__":
    main()
