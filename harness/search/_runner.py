"""The stdlib runner that executes one program against visible tests, as a script text.

It runs *inside* the sandbox (or a local subprocess), reads one JSON request on stdin
(``{"program", "tests": [code, ...], "timeout"}``) and prints one JSON line
(``{"results": [{"status", "ms", "detail"}, ...]}``). Each test runs in its own forked child, so a
test that crashes, loops or mutates global state cannot affect the others. It never raises: failures
are data.

For ``assert f(x) == y`` the runner evaluates ``f(x)`` once and, when it differs, reports its ``repr``
(``detail``), which the search shows to the model as feedback.
"""

from __future__ import annotations

RUNNER_SOURCE = r"""
import ast, json, os, resource, signal, sys, time

def _sides(test):
    # (left, right) sources of a lone `assert L == R`; else None.
    try:
        body = ast.parse(test).body
    except Exception:
        return None
    if len(body) != 1:
        return None
    node = body[0]
    if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare) and len(node.test.ops) == 1 \
            and isinstance(node.test.ops[0], ast.Eq):
        return ast.get_source_segment(test, node.test.left), ast.get_source_segment(test, node.test.comparators[0])
    return None

def _child(program, test, wfd, timeout):
    out = {"status": "error", "detail": ""}
    try:
        # Its own backstops, in case the runner is killed before it can kill this child (which is
        # in a session of its own): the kernel ends it a little after its timeout, on CPU or wall time.
        cap = int(timeout) + 2
        for limit, value in ((resource.RLIMIT_AS, 1 << 31), (resource.RLIMIT_CPU, cap)):
            try:
                resource.setrlimit(limit, (value, value))
            except (ValueError, OSError):
                pass
        signal.alarm(cap)
        # The parent's one result line goes to fd 1: the program's output, even written straight to
        # the file descriptors, goes nowhere.
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        env = {"__name__": "__candidate__"}
        exec(compile(program, "<candidate>", "exec"), env)
        sides = _sides(test)
        if sides is not None:
            # The left side is evaluated once, so the reported output is the one that was compared.
            got = eval(compile(sides[0], "<test>", "eval"), env)
            want = eval(compile(sides[1], "<test>", "eval"), env)
            if bool(got == want):
                out = {"status": "pass", "detail": ""}
            else:
                out = {"status": "fail", "detail": repr(got)[:300]}
        else:
            try:
                exec(compile(test, "<test>", "exec"), env)
                out = {"status": "pass", "detail": ""}
            except AssertionError:
                out = {"status": "fail", "detail": ""}
    except BaseException as exc:
        out = {"status": "error", "detail": type(exc).__name__ + ": " + str(exc)[:200]}
    os.write(wfd, json.dumps(out).encode())
    os._exit(0)

def _one(program, test, timeout):
    r, w = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.setsid()
        _child(program, test, w, timeout)
    _CURRENT[0] = pid
    os.close(w)
    deadline = t0 + timeout
    status = None
    while True:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            os.waitpid(pid, 0)
            break
        time.sleep(0.002)
    _CURRENT[0] = 0
    ms = (time.monotonic() - t0) * 1000.0
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    if status is None:
        return {"status": "timeout", "ms": ms, "detail": "timed out after %.1fs" % timeout}
    try:
        res = json.loads(data.decode() or "{}")
    except ValueError:
        res = {}
    if "status" not in res:
        res = {"status": "error", "detail": "the test process died (exit status %d)" % status}
    res["ms"] = ms
    return res

_CURRENT = [0]

def _on_term(signum, frame):
    # Stopped by the executor (its caller was cancelled): the running test's child goes too.
    if _CURRENT[0]:
        try:
            os.killpg(_CURRENT[0], signal.SIGKILL)
        except OSError:
            pass
    os._exit(143)

def main():
    signal.signal(signal.SIGTERM, _on_term)
    req = json.loads(sys.stdin.read())
    results = [_one(req["program"], t, float(req.get("timeout", 3.0))) for t in req["tests"]]
    sys.stdout.write(json.dumps({"results": results}) + "\n")

main()
"""
