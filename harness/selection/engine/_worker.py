"""The pass-matrix worker: a stdlib-only script run inside the sandbox by ``python3 _worker.py``.

It reads a batch of requests on stdin (one JSON object per line) and cuts each into jobs (a program and
a shard of at most ``shard`` tests); a forked child runs up to ``chunk`` jobs of one request in turn
(one per child for ``faithful``), up to ``parallel`` children at once. It writes one JSON line per
finished job, then ``{"id": ..., "done": true}`` when a request's last job is in. A request::

    {"id": str, "kind": "tests" | "faithful" | "whole", "programs": [src, ...], "tests": [src, ...],
     "timeout": s, "load_timeout": s, "grace": s, "memory_mb": int, "reuse_lhs": bool, "parallel": int,
     "shard": int, "chunk": int, "clock": "wall" | "cpu", "demote_ms": float,
     "detail": bool, "program_name": str, "split": bool}

is answered per job (a program and a shard of the tests, see ``shard``) by ``{"id", "program": i,
"tests": [j, ...], "cells": "0132...", "ms": [...], "out": [...], "ran": bool}``, aligned with ``tests``. Cell codes: 0 fail (AssertionError), 1 pass, 2 error (raised, did not compile, exited,
crashed the interpreter), 3 timeout. ``out[j]`` is a signed 64-bit hash of ``repr(LHS)`` when test ``j`` is
``assert LHS == RHS`` (0 where unknown). With ``detail`` (kind ``tests``; off by default) each job's answer
also has ``"detail": [text, ...]``: ``repr(LHS)[:300]`` for a failing ``assert LHS == RHS``, ``Type: message``
for an error (the program's own, when it did not load), ``timed out after Xs`` for a timer's timeout, ``""``
otherwise or where the parent filled the cell (a crash, the watchdog). ``program_name``: the program's
``__name__`` (default ``"__main__"``). The last line, once every request is answered, is
``{"stats": {"children", "spawn_s", "alive_s", "ended_cpu_s", "timeout_cpu_s", "worker_cpu_s",
"children_cpu_s"}}`` (see :func:`usage`).

Kinds:

* ``tests`` (our engine): the child defines the program once (under ``load_timeout``), then runs the tests
  in order, each compiled on its own and run under its own timer. A test that hangs past the parent's
  watchdog or kills its interpreter costs only its own cell: the parent kills the child and forks a fresh
  one that continues with the next test. With ``reuse_lhs`` the left side of ``assert LHS == RHS`` is
  evaluated once per distinct LHS text and program; tests that share it reuse the value (or its
  exception / timeout). With ``split``, a child whose test timed out leaves once the group sharing that
  left side is done, when at least ``SPLIT_MIN`` tests are left, and fresh children run the rest side by
  side (each defines the program again): a program that hangs on every test waits out its timers in
  parallel, not one after another.
* ``faithful``: CodeT's released executor, reimplemented: the program and every test are packed into one
  check program (each test in ``try: with time_limit(t): ... except Exception``), run with CodeT's
  reliability guard, killed after ``t * n_tests + 0.1`` s. If it does not compile, raises past the
  ``except Exception`` or is killed, ``ran`` is false and every cell is an error (timeout when killed).
* ``whole``: each program is a complete script (ground truth: program + hidden tests + ``check(...)``)
  run under one timer of ``timeout``; one cell, ``tests`` is ignored.

Programs sharing a child do not see each other: after each program the child compares the interpreter
with what it started with (``_fingerprint``: recursion and int-to-str limits, trace and profile
functions, the signal mask, the garbage collector, timers left armed, resource limits, cwd, threads, heap;
``_Modules``: every value bound in every loaded module, ``sys.modules``, the warnings filters, the import
system's lists, ``os.environ``, keyword-only defaults and signal handlers; ``_audit``: code or defaults
rebound, ``putenv``, ``ctypes``) and,
if anything differs, leaves for a fresh child to run the next program. The parent imports ``PRELOAD``
first, so that HumanEval's usual imports are no change.

Code run here never raises into the protocol: failures are data.
"""

import ast
import builtins
import collections.abc
import contextlib
import gc
import itertools
import json
import math
import mmap
import operator
import os
import re
import resource
import select
import signal
import struct
import sys
import threading
import time
import types
import typing

try:  # hashlib's own blake2b, without importing OpenSSL's bindings (a few ms at every worker's start)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

FAIL, PASS, ERROR, TIMEOUT = 0, 1, 2, 3
RECORD = struct.Struct("<iiBdq")  # unit in the child, test index (or a marker below), cell, ms, hash
LHS_NAME = "_harness_lhs_"
LOADED, LOAD_FAILED, FAITHFUL_DONE, RESPAWN, USAGE, SPLIT = -2, -1, -3, -4, -5, -6
SPLIT_MIN = 8
"""A program's child that timed out leaves when at least this many of its tests are left (after the group
sharing the timed-out test's left side), and the parent hands them to several fresh children at once:
a program that hangs on every test then waits out its timers side by side instead of one after another
(up to 20 s in one child on the heavy pool, while its batch waited)."""
PRELOAD = ("math", "string", "typing")
"""Imported by the parent, so that children start with them: a program that imports a module its child
did not hold makes the child leave after it (see ``_Modules``), and HumanEval's prompts import ``typing``."""


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


# An address ends a default repr (``... at 0x7f...>``); "at 0x1f" inside a string is part of a value.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+(?=>)")


def output_hash(value):
    """A non-zero signed 64-bit hash of ``repr(value)``, memory addresses left out: the default repr of
    an object, a function or a generator (``<generator object f at 0x7f...>``) names where it lives,
    which differs between programs and runs, while what it says of the value does not."""
    text = repr(value)
    if " at 0x" in text:
        text = _ADDRESS.sub("", text)
    digest = blake2b(text.encode("utf-8", "replace"), digest_size=8).digest()
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
    demote = 0.0
    """Wall clock only: after this much CPU time in one test (0: never) the child drops to the lowest
    CPU priority, so that hung tests wait out their timers on idle cycles instead of taking the cores
    from the other children; such a child exits after that test and a fresh one continues."""
    demoted = False


def _on_demote(signum, frame):
    if not _Clock.demoted:
        _Clock.demoted = True
        with contextlib.suppress(OSError):
            os.nice(19)


def wall_limit(req, seconds):
    """How long the parent waits (wall clock) for a timer of ``seconds`` before its watchdog acts."""
    if req.get("clock") == "cpu":
        seconds = max(10.0 * seconds, 1.0)  # CPU time runs slower than the wall under contention
    return seconds + req["grace"]


def _timed_exec(code, env, timeout, mode="exec", demotable=True):
    """(cell, value, ms): run ``code`` under the timer. Never raises."""
    start = time.perf_counter()
    value = None
    try:
        signal.setitimer(_Clock.which, timeout)
        if _Clock.demote and demotable:
            signal.setitimer(signal.ITIMER_PROF, _Clock.demote)
        try:
            if mode == "eval":
                value = eval(code, env)
            else:
                exec(code, env)
        finally:
            signal.setitimer(_Clock.which, 0)
            if _Clock.demote:
                signal.setitimer(signal.ITIMER_PROF, 0)
        cell = PASS
    except BaseException as exc:  # the test's own failure (incl. SystemExit): data, not our error
        cell = _classify(exc)
        if _Detail.on:
            _Detail.exc = exc
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
        cell, value, out, _ = lhs_cache[lhs_key]
        ms = 0.0  # its time is the test's that evaluated it first
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
    """In a child: the shared buffer, how many records it holds, and the unit being run."""

    mm: typing.Any = mmap.mmap(-1, 1)  # None in a copy a program forked (see ``_detach``)
    n = 0
    unit = 0


_CHANNEL = _Channel()
COUNT = struct.Struct("<q")


def _put(j, cell, ms, out, text=""):
    """Append one record to the shared buffer (no system call: the parent reads it when the child
    exits or its watchdog fires), then publish the new count."""
    record = RECORD.pack(_CHANNEL.unit, j, cell, ms, out)
    mm, n = _CHANNEL.mm, _CHANNEL.n
    mm[COUNT.size + n * RECORD.size : COUNT.size + (n + 1) * RECORD.size] = record
    if text:
        _Detail.write(mm, n, text)
    _CHANNEL.n = n + 1
    COUNT.pack_into(mm, 0, n + 1)


class _Usage:
    """In a child: CPU seconds of its tests (and ground-truth scripts) that ended, and of those that timed
    out (a spinning test burns CPU until its timer fires), reported once as a ``USAGE`` record."""

    ended = 0.0
    timed_out = 0.0

    @staticmethod
    def add(cell, since):
        spent = time.process_time() - since
        if cell == TIMEOUT:
            _Usage.timed_out += spent
        else:
            _Usage.ended += spent


def _detach():
    _CHANNEL.mm = None


# -- detail: the text of a cell (a request's ``detail``) -------------------------------------------

TEXT = 1024
"""Bytes per record for its text, in a detail request's buffer (after the records): a length, then UTF-8."""
TEXT_SIZE = struct.Struct("<H")


class _Detail:
    """Detail mode: a text per cell besides its code (see the module's docstring), e.g. for a model's
    feedback. Off (the default), none of this runs and the buffers have no room for texts."""

    on = False
    exc: typing.Any = None
    """In the child: the exception of the code just run (set by ``_timed_exec``), until its text is made."""

    @staticmethod
    def text(cell, env, timeout, src=None):
        """In the child, right after a test (or the program) ran: the text of its cell, made under the
        timer (a ``repr`` or ``str`` is the program's code). Never raises."""
        exc, _Detail.exc = _Detail.exc, None
        if cell == PASS:
            return ""
        if cell == TIMEOUT:
            return f"timed out after {timeout:.1f}s"
        try:
            signal.setitimer(_Clock.which, timeout)
            try:
                if cell == FAIL:
                    return repr(env[LHS_NAME])[:300] if LHS_NAME in env else ""
                if exc is None and src is not None:  # the test did not compile: say why
                    try:
                        compile(src, "<test>", "exec")
                    except BaseException as err:
                        exc = err
                return "" if exc is None else type(exc).__name__ + ": " + str(exc)[:200]
            finally:
                signal.setitimer(_Clock.which, 0)
        except BaseException:
            return ""

    @staticmethod
    def _area(mm):
        """(offset of the texts, slots) of a detail request's buffer."""
        slots = (len(mm) - COUNT.size) // (RECORD.size + TEXT)
        return COUNT.size + slots * RECORD.size, slots

    @staticmethod
    def write(mm, n, text):
        data = text.encode("utf-8", "replace")[: TEXT - TEXT_SIZE.size]
        at = _Detail._area(mm)[0] + n * TEXT
        mm[at : at + TEXT_SIZE.size + len(data)] = TEXT_SIZE.pack(len(data)) + data

    @staticmethod
    def read(mm, k):
        """In the parent: the text of record ``k`` (a program may have written anything there)."""
        start, slots = _Detail._area(mm)
        if k >= slots:
            return ""
        at = start + k * TEXT
        size = min(TEXT_SIZE.unpack_from(mm, at)[0], TEXT - TEXT_SIZE.size)
        return bytes(mm[at + TEXT_SIZE.size : at + TEXT_SIZE.size + size]).decode("utf-8", "replace")

    @staticmethod
    def take(job, j, text):
        if j == LOAD_FAILED:  # every test the program did not reach
            for t in job.order:
                job.detail.setdefault(t, text)
        elif j >= 0:
            job.detail[j] = text


def _child_setup(mm, memory_mb, clock, demote_ms=0, keep=-1, uid=-1):
    _unmap_others(mm)
    os.setpgid(0, 0)
    _CHANNEL.mm, _CHANNEL.n = mm, 0
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    # The child holds no descriptor of the parent's: nothing for a program to close (``keep``: the
    # write end of the exit pipe, where the kernel or a seccomp profile refuses pidfds).
    if keep >= 0:
        os.closerange(3, keep)
        os.closerange(keep + 1, 4096)
    else:
        os.closerange(3, 4096)
    # A program's ``os.fork()`` without ``os._exit`` leaves a copy of this child running the worker's code:
    # the copy must not write records into the shared buffer (it would mix its own into the child's, and
    # a mixed buffer could end a job without its cells). Its first ``_put`` raises instead, and the copy
    # leaves through ``_spawn``'s ``os._exit``, as a fresh process per cell would end after the cell.
    os.register_at_fork(after_in_child=_detach)
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, _on_alarm)
    _Clock.which = signal.ITIMER_PROF if clock == "cpu" else signal.ITIMER_REAL
    _Clock.demote = demote_ms / 1000.0 if clock != "cpu" else 0.0
    signal.signal(signal.SIGPROF, _on_demote if _Clock.demote else _on_alarm)
    if os.getpriority(os.PRIO_PROCESS, 0) != _Nice.start:  # lowering a priority needs no capability
        os.setpriority(os.PRIO_PROCESS, 0, _Nice.start)
    if uid >= 0:
        _drop(uid)


# -- privilege separation --------------------------------------------------------------------------

UID_SPAN = 1 << 20
"""Children's uids are ``base + n % UID_SPAN``."""


class _Privsep:
    """With ``HARNESS_WORKER_UID_BASE`` set (the engine does, in a supervisor sandbox where this worker runs
    as root with only CAP_SETUID, CAP_SETGID and CAP_KILL), every child drops to a uid of its own before it
    runs a program. A program can then neither signal nor trace the worker or another program's child,
    nor open their memory or descriptors (other uids, and none of them is dumpable), nor write anything
    the worker runs or reads (this script comes on stdin; nothing of it is on disk). Its processes that
    outlive its child (``setsid``) are killed by :func:`_sweep`. Off (0), children keep the worker's uid:
    only for trusted programs (the host-side tests)."""

    base = 0
    issued = 0
    live: typing.ClassVar[set[int]] = set()
    """Uids of the children alive: their processes are theirs to keep."""
    swept = 0.0


def _no_dump():
    """``prctl(PR_SET_DUMPABLE, 0)``: no process without CAP_SYS_PTRACE can trace this one or open its
    ``/proc/<pid>/mem`` or ``fd`` (a child of the same uid included: the flag is inherited). True if set."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) == 0
    except Exception:
        return False


def _drop(uid):
    """Become ``uid`` for good (real, effective and saved ids; no groups; no capability is left)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid):
        raise OSError("the child's uid did not change")
    os.chdir("/tmp")


PRIORITY = -10
"""The worker's niceness where it may raise its priority (``CAP_SYS_NICE``: the supervisor sandbox). It
forks every child and reads every record; at the children's priority it waited for a core behind them
(on a loaded 2-core machine a child's start took ~14 ms of wall for ~1.4 ms of CPU), and the slots stayed
empty meanwhile. Every child goes back to the worker's starting niceness before it runs anything."""


class _Nice:
    start = 0
    """The worker's niceness when it started: every child runs at it."""


def _raise_priority():
    _Nice.start = os.getpriority(os.PRIO_PROCESS, 0)
    with contextlib.suppress(OSError):  # no CAP_SYS_NICE (a caller's sandbox): the same priority
        os.setpriority(os.PRIO_PROCESS, 0, min(_Nice.start, PRIORITY))


def _privsep_start():
    """Turn privilege separation on when asked, or exit with the reason: a worker asked to separate
    that cannot must not run programs under its own uid."""
    base = int(os.environ.get("HARNESS_WORKER_UID_BASE") or 0)
    if not base:
        return
    if base < 1000 or base + UID_SPAN > 1 << 31:
        sys.exit(f"worker: HARNESS_WORKER_UID_BASE={base} is out of range")
    pid = os.fork()
    if pid == 0:  # a probe: can a child drop to a uid of its own?
        try:
            _drop(base + UID_SPAN - 1)
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        sys.exit(
            "worker: privilege separation was asked for, but a child cannot change its uid: run the "
            "worker as root with CAP_SETUID, CAP_SETGID and CAP_KILL (SandboxProfile.supervisor)"
        )
    _Privsep.base = base


def _next_uid():
    if not _Privsep.base:
        return -1
    uid = _Privsep.base + _Privsep.issued % UID_SPAN
    _Privsep.issued += 1
    _Privsep.live.add(uid)
    return uid


def _status_ids(pid):
    """(state, uids) of ``pid`` from ``/proc/<pid>/status`` (readable whatever the process's owner)."""
    with open(f"/proc/{pid}/status", "rb") as f:
        status = f.read()
    state = uids = b""
    for line in status.split(b"\n"):
        if line.startswith(b"State:"):
            state = line[6:].strip()[:1]
        elif line.startswith(b"Uid:"):
            uids = line[4:]
            break
    return state, [int(u) for u in uids.split()]


def _sweep(force=False):
    """SIGKILL every process of a children's uid whose child is gone (a program's process that left its
    group, or a fork the group kill raced): at most every 50 ms while children run, and at the end."""
    base = _Privsep.base
    now = time.monotonic()
    if not base or (not force and now - _Privsep.swept < 0.05):
        return
    _Privsep.swept = now
    me = os.getpid()
    for _ in range(1000):
        victims = []
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == me:
                continue
            try:
                state, uids = _status_ids(name)
            except (OSError, ValueError):
                continue
            if state not in (b"Z", b"X") and any(
                base <= u < base + UID_SPAN and u not in _Privsep.live for u in uids
            ):
                victims.append(int(name))
        if not victims:
            return
        for pid in victims:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.001)


_BUFFERS: dict[int, typing.Any] = {}
"""The shared buffers of the children alive, by the child's pid: a new child unmaps all but its own
before it runs anything, so that no program can write another child's records."""


def _unmap_others(mine):
    for mm in list(_BUFFERS.values()):
        if mm is not mine:
            with contextlib.suppress(BufferError, ValueError):
                mm.close()
    _BUFFERS.clear()


_KEPT: list[dict[str, object]] = []
"""Each program's globals, kept until the child exits (``os._exit``: no finalizer runs), and after each
program ``gc.freeze()``: otherwise an object of one program (its globals, or cyclic garbage of its tests)
would be freed during a later program's test, and its ``__del__`` (exiting, raising, printing) would act
there, which a fresh process per cell never sees."""


def _child_tests(program, tests, order, req):
    """Define the program, then run ``tests[j]`` for each ``j`` in ``order``; one record per test."""
    env = {"__name__": req.get("program_name", "__main__"), "__builtins__": builtins}
    _KEPT.append(env)
    try:
        code = compile(program, "<candidate>", "exec")
        cell, _, ms = _timed_exec(code, env, req["load_timeout"], demotable=False)
    except BaseException as exc:
        cell, ms = ERROR, 0.0
        _Detail.exc = exc if _Detail.on else None
    if cell != PASS:
        text = _Detail.text(ERROR if cell == FAIL else cell, env, req["load_timeout"]) if _Detail.on else ""
        _put(LOAD_FAILED, cell, ms, 0, text)
        return False
    _put(LOADED, PASS, ms, 0)
    lhs_cache: dict[str, tuple[int, object, int, float]] = {}
    hung = None  # the left side of the first test that timed out here (or the test itself)
    for n, j in enumerate(order):
        if hung is not None and (tests[j][2] is None or tests[j][2] != hung) and len(order) - n >= SPLIT_MIN:
            _put(SPLIT, PASS, 0.0, 0)
            return True
        cpu = time.process_time()
        cell, ms, out = _run_test(tests[j], env, req, lhs_cache)
        _Usage.add(cell, cpu)
        text = _Detail.text(cell, env, req["timeout"], req["tests"][j]) if _Detail.on else ""
        env.pop(LHS_NAME, None)
        _put(j, cell, ms, out, text)
        if cell == TIMEOUT and hung is None and req.get("split"):
            hung = tests[j][2] or ""
        if _Clock.demoted:  # the rest deserve a child at normal priority
            _put(RESPAWN, PASS, 0.0, 0)
            return True
    return False


def _child_whole(program, req):
    env = {"__name__": "__main__", "__builtins__": builtins}
    _KEPT.append(env)
    try:
        code = compile(program, "<program>", "exec")
    except BaseException:
        _put(0, ERROR, 0.0, 0)
        return
    cpu = time.process_time()
    cell, _, ms = _timed_exec(code, env, req["timeout"])
    _Usage.add(cell, cpu)
    _put(0, cell, ms, 0)


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


def _child_faithful(program, tests, req):
    source = program + "\n" + codet_check_program(tests, req["timeout"])
    _reliability_guard()
    env = {"time_limit": codet_time_limit}
    try:
        exec(source, env)
        result = env["final_result"]
    except BaseException:
        result = None
    if not isinstance(result, list) or not result:
        _put(LOAD_FAILED, ERROR, 0.0, 0)
        return
    for j, ok in enumerate(result):
        _put(j, PASS if ok is True else FAIL, 0.0, 0)
    _put(FAITHFUL_DONE, PASS, 0.0, 0)


# -- the parent ------------------------------------------------------------------------------------


class _Job:
    """One unit of work in the parent: a program and a shard of its tests, with its cells so far."""

    def __init__(self, req, index, order):
        self.req = req
        self.index = index
        self.order = order
        """The test indices this job runs, in order (a shard of the request's tests)."""
        self.cells = {}
        self.ms = {}
        self.out = {}
        self.detail = {}
        self.next = 0
        """Position in ``order`` of the next test without a cell."""
        self.ran = True
        self.loaded = False
        self.emitted = False

    def fill_rest(self, cell):
        for j in self.order[self.next :]:
            self.cells[j], self.ms[j], self.out[j] = cell, 0.0, 0
        self.next = len(self.order)

    def finished(self):
        return self.next >= len(self.order)


class _Child:
    """A forked child running a sequence of jobs of one request (one fork for several programs: forks
    are the parent's bottleneck). It leaves early, for a fresh child to continue, when a program
    changed the interpreter in a way that could reach the next one, or when it was demoted."""

    def __init__(self, jobs):
        self.jobs = jobs
        self.req = jobs[0].req
        self.pid = 0
        self.pidfd = -1
        self.mm = None
        self.seen = 0
        self.deadline = 0.0
        self.born = 0.0
        self.split = False
        self.respawn = False
        self.uid = -1
        self.mark = (0, 0)

    def current(self):
        return next((job for job in self.jobs if not job.finished()), None)


class _Modules:
    """The modules a child starts with and every value bound in them, to tell whether a program rebound,
    added or deleted a module attribute (``math.pi = 3``, ``json.dumps = ...``, ``del m.x``, also through
    ``vars(m)``), swapped a module's class, or changed ``sys.modules`` (a module imported by a program
    may already have been changed by it, and it carries state: see ``PRELOAD``).

    By identity, not equality, so checking never runs a program's code (``__eq__``, ``__len__``); the
    snapshot holds the values it saw, so none is freed and its ``id`` taken by another. State changed in
    place is seen for the warnings filters, ``sys.path``, ``sys.meta_path``, ``sys.path_hooks``,
    ``os.environ``, keyword-only defaults and signal handlers (and, through :func:`_audit`, a function's
    code or defaults rebound anywhere, ``putenv`` and ``ctypes``). Not seen: other objects changed in
    place, such as a class's attributes (``string.Template.delimiter = "%"``: checking every class costs
    more than the rest of the check), a mutable default argument, or a random generator's state."""

    def __init__(self):
        self.registry = sys.modules
        self.entries = tuple(self.registry.values())
        self.types = tuple(map(type, self.entries))
        self.dicts = [m.__dict__ for m in self.entries if issubclass(type(m), types.ModuleType)]
        self.sizes = list(map(len, self.dicts))
        self.values = tuple(itertools.chain.from_iterable(map(dict.values, self.dicts)))
        # Changed in place by ``warnings.simplefilter`` / ``filterwarnings`` (under "error", the next
        # program's warnings raise); the list and its entries, by identity.
        warnings = self.registry.get("warnings")
        self.filters = getattr(warnings, "filters", None)
        self.filter_entries = tuple(self.filters) if isinstance(self.filters, list) else ()
        # Changed in place too: the import system's lists (``sys.path[0] = ...`` keeps the length), the
        # environment (``os.environ[k] = v`` rebinds a value in ``_data``) and keyword-only defaults
        # (``json.dumps.__kwdefaults__["indent"] = 2``); their entries, by identity.
        environ = getattr(os.environ, "_data", None)
        kwdefaults = [
            f.__kwdefaults__ for f in self.values if type(f) is types.FunctionType and f.__kwdefaults__
        ]
        self.lists: tuple[collections.abc.Sequence[object], ...] = (sys.path, sys.meta_path, sys.path_hooks)
        self.maps: list[dict[typing.Any, object]] = kwdefaults + ([environ] if type(environ) is dict else [])
        self.in_place_sizes = [len(x) for x in self.lists] + [len(x) for x in self.maps]
        self.in_place_entries = tuple(self._in_place_entries())
        self.handlers = tuple(map(signal.getsignal, _SIGNALS))

    def changed(self):
        """True if a module or ``sys.modules`` is not as it was when the child started (the modules' own
        dicts first: they hold ``sys.modules`` itself)."""
        same = operator.is_
        return not (
            list(map(len, self.dicts)) == self.sizes
            and all(map(same, itertools.chain.from_iterable(map(dict.values, self.dicts)), self.values))
            and len(self.registry) == len(self.entries)
            and all(map(same, self.registry.values(), self.entries))
            and all(map(same, map(type, self.entries), self.types))
            and (not isinstance(self.filters, list) or len(self.filters) == len(self.filter_entries))
            and all(map(same, self.filters or (), self.filter_entries))
            and [len(x) for x in self.lists] + [len(x) for x in self.maps] == self.in_place_sizes
            and all(map(same, self._in_place_entries(), self.in_place_entries))
            and all(map(same, map(signal.getsignal, _SIGNALS), self.handlers))
            and not _AUDITED[0]
        )

    def _in_place_entries(self):
        """The lists' items, then the dicts' keys and values (a value rebound under its key is a change)."""
        chain = itertools.chain.from_iterable
        return itertools.chain(chain(self.lists), chain(self.maps), chain(map(dict.values, self.maps)))


_SIGNALS = tuple(
    s for s in signal.valid_signals() if 0 < s < 32 and s not in (signal.SIGKILL, signal.SIGSTOP)
)
"""The standard signals whose handlers a program can set; compared by identity (a program's handler may
define ``__eq__``)."""

_AUDITED = [False]
"""Set by :func:`_audit` when a program did something the snapshots cannot see cheaply."""

_AUDIT_EVENTS = frozenset(
    (
        "object.__setattr__",  # a function's __code__, __defaults__ or __kwdefaults__ rebound (any function)
        "object.__delattr__",
        "os.putenv",  # the C environment, which os.environ does not read back
        "os.unsetenv",
        "sys.addaudithook",  # a program's own hook would see every later program
    )
)


def _audit(event, args):
    """Audit hook (PEP 578), installed once in the parent: CPython reports rebinding a function's code or
    defaults, ``putenv`` and ``ctypes`` (which can write anywhere) here and nowhere a snapshot can see."""
    if event in _AUDIT_EVENTS or event.startswith("ctypes."):
        _AUDITED[0] = True


_LIMITS = (
    resource.RLIMIT_AS,
    resource.RLIMIT_CPU,
    resource.RLIMIT_DATA,
    resource.RLIMIT_STACK,
    resource.RLIMIT_NOFILE,
)


def _fingerprint():
    """What one program can change in the interpreter that another could notice (besides modules)."""
    return (
        sys.getrecursionlimit(),
        sys.getswitchinterval(),
        getattr(sys, "get_int_max_str_digits", int)(),  # 3.11: str(int) past the limit raises
        sys.gettrace() is None,  # by identity: comparing a program's tracer could run its code
        sys.getprofile() is None,
        signal.pthread_sigmask(signal.SIG_BLOCK, ()),  # a blocked SIGALRM would silence the timers
        gc.isenabled(),
        gc.get_threshold(),
        # a timer left armed fires in a later program (the worker disarms only the clock it uses)
        tuple(
            signal.getitimer(t)[0] > 0
            for t in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF)
        ),
        # a limit a program lowered (or raised, up to the hard one) holds for the next program too
        tuple(map(resource.getrlimit, _LIMITS)),
        len(sys.path),
        os.getcwd(),
        threading.active_count(),
        # a grown heap makes the next program hit the memory limit earlier than a fresh child would
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 256 * 1024,
    )


def _changed(modules, clean):
    """Whether the program just run could reach the next one. Modules first: ``_fingerprint`` calls
    functions bound in them. A check that fails (a program's thread still changing a module) says yes."""
    try:
        return modules.changed() or _fingerprint() != clean
    except BaseException:
        return True


def _child_main(child):
    req = child.req
    kind = req["kind"]
    _AUDITED[0] = False  # the parent's own events before the fork are not a program's
    # One program per child (the default): nothing runs after it here, so nothing to compare.
    single = len(child.jobs) == 1 or kind == "faithful"
    modules, clean = (None, None) if single else (_Modules(), _fingerprint())
    for k, job in enumerate(child.jobs):
        if job.finished():
            continue
        _CHANNEL.unit = k
        program = req["programs"][job.index]
        if kind == "whole":
            _child_whole(program, req)
        elif kind == "faithful":
            _child_faithful(program, req["tests"], req)
            return  # CodeT's guard changed this interpreter for good
        else:
            if _child_tests(program, req["_prepared"], job.order[job.next :], req):
                return
        gc.freeze()  # its cyclic garbage is never collected here, so no finalizer of it runs later
        if modules is not None and _changed(modules, clean):
            _put(RESPAWN, PASS, 0.0, 0)
            return


def _spawn(child):
    req = child.req
    slots = sum(len(job.order) + 4 for job in child.jobs) + 1  # and its CPU (USAGE)
    mm = mmap.mmap(-1, COUNT.size + slots * (RECORD.size + (TEXT if req.get("detail") else 0)))
    rfd, wfd = os.pipe() if not _PIDFDS else (-1, -1)
    uid = _next_uid()
    pid = os.fork()
    if pid == 0:
        try:
            if rfd >= 0:
                os.close(rfd)
            clock = req.get("clock", "wall")
            demote = req.get("demote_ms", 0) if req["kind"] == "tests" else 0
            _child_setup(mm, req.get("memory_mb", 0), clock, demote, keep=wfd, uid=uid)
            _Detail.on = bool(req.get("detail")) and req["kind"] == "tests"
            _child_main(child)
        finally:
            with contextlib.suppress(BaseException):  # a forked copy of a program's has no buffer
                _put(USAGE, PASS, _Usage.ended * 1000.0, int(_Usage.timed_out * 1e6))
            os._exit(0)
    _BUFFERS[pid] = mm
    # The parent sees the child's exit on a pidfd (readable once it exited, zombie or not). Not EOF on a
    # pipe the child holds: a program closing its descriptors (``os.closerange(3, ...)``) made that EOF
    # early, and the parent killed the child in a later program, whose cells it lost. Where pidfds are
    # refused (Linux < 5.3, an old engine's seccomp profile), the pipe it is, with that weakness.
    if wfd >= 0:
        os.close(wfd)
    watch = rfd if rfd >= 0 else os.pidfd_open(pid)
    child.pid, child.pidfd, child.mm, child.seen, child.respawn = pid, watch, mm, 0, False
    child.uid = uid
    child.mark = _progress(child)
    for job in child.jobs:
        job.loaded = False
    _set_deadline(child, first=True)


def _pidfds_work():
    """Whether this kernel and the container's seccomp profile give pidfds (Linux 5.3+, Docker 20.10+).
    ``HARNESS_WORKER_PIPES=1`` forces the exit pipe (tests of that path)."""
    if os.environ.get("HARNESS_WORKER_PIPES") == "1":
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


_PIDFDS = _pidfds_work()


def _set_deadline(child, first=False):
    req = child.req
    kind = req["kind"]
    if kind == "faithful":  # CodeT's join: exactly its budget, on the wall clock
        if first:
            child.deadline = time.monotonic() + req["timeout"] * len(req["tests"]) + 0.1
        return
    if kind == "whole":
        child.deadline = time.monotonic() + wall_limit(req, req["timeout"])
    else:
        child.deadline = time.monotonic() + wall_limit(req, max(req["timeout"], req["load_timeout"]))


def _reap(child):
    with contextlib.suppress(OSError):
        os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(child.pid, 0)
    os.close(child.pidfd)
    _BUFFERS.pop(child.pid, None)
    child.mm.close()
    _Privsep.live.discard(child.uid)
    child.pid, child.pidfd, child.mm, child.uid = 0, -1, None, -1
    _sweep()


def _drain(child):
    """Take the records the child published since the last look; True if there were any.

    The buffer is the child's, so a program can write anything there: records are taken only within
    the buffer, for the job the child is on, for the test that job expects next, with a known cell code
    and a finite time; anything else is dropped (a program can make its own cells wrong, nothing more)."""
    count = min(COUNT.unpack_from(child.mm, 0)[0], (len(child.mm) - COUNT.size) // RECORD.size)
    if count <= child.seen:
        return False
    for k in range(child.seen, count):
        unit, j, cell, ms, out = RECORD.unpack_from(child.mm, COUNT.size + k * RECORD.size)
        job = child.current()
        at = child.jobs.index(job) if job is not None else len(child.jobs)
        if j == USAGE:  # the child's word on its CPU; it changes no cell
            _add_usage(ms, out)
        elif j in (RESPAWN, SPLIT):  # honoured only after progress (see _on_eof_or_deadline)
            child.respawn = True
            child.split = j == SPLIT
        elif job is None or unit != at or not (0 <= cell <= TIMEOUT):
            continue
        elif (j >= 0 and _expected(job, j)) or j in (LOADED, LOAD_FAILED, FAITHFUL_DONE):
            _on_record(job, j, cell, ms if math.isfinite(ms) and ms >= 0 else 0.0, out)
            if job.req.get("detail"):
                _Detail.take(job, j, _Detail.read(child.mm, k))
    child.seen = count
    _set_deadline(child)
    return True


def _expected(job, j):
    """Whether test ``j`` may have its cell now: the next one of a loaded program (``tests``), the only
    one (``whole``), one of the packed program's (``faithful``, which reports them in any order)."""
    kind = job.req["kind"]
    if kind == "faithful":
        return j < len(job.order)
    if kind == "whole":
        return j == 0
    return job.loaded and j == job.order[job.next]


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


def _progress(child):
    job = child.current()
    return (id(job), job.next if job is not None else 0)


def _on_eof_or_deadline(child, timed_out):
    """The child ended or hung; True if it left on purpose. Leaving on purpose (after a cell: a program
    can write that record too, and must not make its child start again for ever) costs nothing; otherwise
    the job it was on loses the test it was running (kind ``tests``), or the whole program (not loaded
    yet, other kinds)."""
    job = child.current()
    if job is None:
        return False
    if child.respawn and not timed_out and _progress(child) != child.mark:
        return True
    cell = TIMEOUT if timed_out else ERROR
    if job.req["kind"] != "tests" or not job.loaded:
        if job.req["kind"] == "faithful" or not job.loaded:
            job.ran = False
        job.fill_rest(cell)
        return False
    j = job.order[job.next]
    job.cells[j], job.ms[j], job.out[j] = cell, 0.0, 0
    job.next += 1
    return False


def _split(job, left):
    """Cut the tests ``job`` has left into parts (never inside a group sharing one left side), one new
    job each, as many as the request runs children at once; ``job`` keeps the tests it has run."""
    if job is None or job.req["kind"] != "tests" or len(job.order) - job.next < SPLIT_MIN:
        return []
    rest = job.order[job.next :]
    want = max(1, min(int(job.req.get("parallel", 1)), len(rest) // (SPLIT_MIN // 2)))
    parts = _cut(rest, job.req["_prepared"], -(-len(rest) // want))
    job.order = job.order[: job.next]
    left[job.req["id"]] += len(parts)
    return [_Job(job.req, job.index, part) for part in parts]


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
    return _cut(order, prepared, max(1, int(req.get("shard") or n or 1)))


def _cut(order, prepared, size):
    """``order`` in pieces of ``size`` tests, a piece growing past it rather than splitting a group of
    adjacent tests sharing one left side (``reuse_lhs`` evaluates it once per child)."""
    pieces, i, n = [], 0, len(order)
    while i < n:
        end = min(n, i + size)
        while (
            0 < end < n
            and prepared[order[end]][2] is not None
            and prepared[order[end]][2] == prepared[order[end - 1]][2]
        ):
            end += 1
        pieces.append(order[i:end])
        i = end
    return pieces


def _children(lines, left, emit_done):
    """Children in request order, parsing each request only when its first child is due (a small
    parent forks faster)."""
    for line in lines:
        if not line.strip():
            continue
        req = json.loads(line)
        shards = _shards(req)
        left[req["id"]] = len(req["programs"]) * len(shards)
        if not left[req["id"]]:
            emit_done(req)
        chunk = 1 if req["kind"] == "faithful" else max(1, int(req.get("chunk", 1)))
        for order in shards:
            for start in range(0, len(req["programs"]), chunk):
                stop = min(start + chunk, len(req["programs"]))
                yield _Child([_Job(req, i, order) for i in range(start, stop)])


STATS = {"children": 0, "spawn_s": 0.0, "alive_s": 0.0, "ended_cpu_s": 0.0, "timeout_cpu_s": 0.0}
"""What a batch cost the worker besides its programs: children forked, the wall time the parent spent
starting them (fork, buffers, descriptors), during which no new child runs, the children's lifetimes
(from their start to the parent's noticing their end), summed, and the CPU seconds of the tests that
ended and of those that timed out, as the children report them (a child killed by the watchdog reports
nothing: its CPU is only in ``children_cpu_s``)."""


def _add_usage(ended_ms, timed_out_us):
    if math.isfinite(ended_ms) and 0 <= ended_ms <= 3.6e6 and 0 <= timed_out_us <= 3.6e9:
        STATS["ended_cpu_s"] += ended_ms / 1000.0
        STATS["timeout_cpu_s"] += timed_out_us / 1e6


def usage():
    """The last protocol line: the worker's own counts and CPU seconds (its own, and its children's)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "children": STATS["children"],
        "spawn_s": round(STATS["spawn_s"], 4),
        "alive_s": round(STATS["alive_s"], 4),
        "ended_cpu_s": round(STATS["ended_cpu_s"], 4),
        "timeout_cpu_s": round(STATS["timeout_cpu_s"], 4),
        "worker_cpu_s": round(own.ru_utime + own.ru_stime, 4),
        "children_cpu_s": round(kids.ru_utime + kids.ru_stime, 4),
    }


def run_batch(lines, emit, emit_done):
    """Run every program of every request (JSON lines); ``emit(job)`` per job, ``emit_done(req)`` per
    request once its last job is in."""
    for name in PRELOAD:
        __import__(name)
    left: dict[str, int] = {}
    children = _children(lines, left, emit_done)
    active: dict[int, _Child] = {}
    poller = select.poll()

    def finish(job):
        job.emitted = True
        emit(job)
        left[job.req["id"]] -= 1
        if left[job.req["id"]] == 0:
            emit_done(job.req)
            job.req.pop("_prepared", None)

    def start(child):
        t0 = time.perf_counter()
        _spawn(child)
        child.born = time.perf_counter()
        STATS["children"] += 1
        STATS["spawn_s"] += child.born - t0
        active[child.pidfd] = child
        poller.register(child.pidfd, select.POLLIN)

    def end(child, timed_out):
        poller.unregister(child.pidfd)
        del active[child.pidfd]
        STATS["alive_s"] += time.perf_counter() - child.born
        _reap(child)
        if _on_eof_or_deadline(child, timed_out) and child.split:
            for job in _split(child.current(), left):
                urgent.append(_Child([job]))
        for job in child.jobs:
            if job.finished() and not job.emitted:
                finish(job)
        rest = [job for job in child.jobs if not job.finished()]
        if rest:
            start(_Child(rest))

    urgent: list[_Child] = []
    """The parts of programs split after a timeout: started before any new program."""
    pending = next(children, None)
    while pending is not None or active or urgent:
        while urgent and len(active) < max(1, int(urgent[0].req.get("parallel", 1))):
            start(urgent.pop(0))
        while (
            not urgent and pending is not None and len(active) < max(1, int(pending.req.get("parallel", 1)))
        ):
            child, pending = pending, next(children, None)
            if not any(job.order for job in child.jobs):
                for job in child.jobs:
                    finish(job)
                continue
            start(child)
        if not active:
            continue
        wait = max(0.0, min(c.deadline for c in active.values()) - time.monotonic())
        for fd, _ev in poller.poll(wait * 1000.0):
            child = active[fd]
            if not _PIDFDS and os.read(fd, 64):  # the exit pipe: only EOF says the child exited
                continue
            _drain(child)  # the child exited
            end(child, timed_out=False)
        now = time.monotonic()
        for child in [c for c in active.values() if c.deadline <= now]:
            if not _drain(child):  # no progress since the last look: the current test hangs
                end(child, timed_out=True)


def main():
    if os.environ.get("HARNESS_WORKER_UID_BASE"):  # programs under the worker's uid are trusted anyway
        _no_dump()
    _raise_priority()
    _privsep_start()
    sys.addaudithook(_audit)
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
        if job.req.get("detail"):
            msg["detail"] = [job.detail.get(j, "") for j in order]
        proto.write(json.dumps(msg, separators=(",", ":")) + "\n")

    def emit_done(req):
        proto.write(json.dumps({"id": req["id"], "done": True}) + "\n")
        proto.flush()

    run_batch(sys.stdin, emit, emit_done)
    _sweep(force=True)
    proto.write(json.dumps({"stats": usage()}) + "\n")
    proto.flush()


if __name__ == "__main__":
    main()
