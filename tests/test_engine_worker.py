"""The pass-matrix worker's semantics, run as the sandbox runs it: ``python3 _worker.py`` with JSON lines.

The programs here are ours (trusted), so the worker runs as a local subprocess; the Docker tier
(``test_engine_docker.py``) runs it inside the sandbox on real model outputs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.selection.engine import worker_source
from harness.selection.engine._worker import output_hash

WORKER = Path(__file__).parents[1] / "harness" / "selection" / "engine" / "_worker.py"
F = "def f(x):\n    return x * 2\n"
SEGFAULT = "import ctypes; ctypes.string_at(0)"


def run(*requests: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, dict[int, dict[str, Any]]]:
    """{request id: {program: {"cells": str in test order, "out": [...], "ran": bool}}}."""
    base = {"timeout": 0.2, "load_timeout": 1.0, "grace": 0.5, "memory_mb": 512, "parallel": 4, "chunk": 3}
    payload = "".join(json.dumps({**base, **r}) + "\n" for r in requests)
    proc = subprocess.run(
        [sys.executable, str(WORKER)], input=payload, capture_output=True, text=True, timeout=120,
        env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin", **(env or {})},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows: dict[str, dict[int, dict[str, Any]]] = {}
    done = set()
    *lines, last = proc.stdout.splitlines()
    assert set(json.loads(last)) == {"stats"}  # the worker's usage closes every answer
    for line in lines:
        msg = json.loads(line)
        if msg.get("done"):
            done.add(msg["id"])
            continue
        row = rows.setdefault(msg["id"], {}).setdefault(msg["program"], {"cells": {}, "out": {}, "ran": True})
        for j, c, o in zip(msg["tests"], msg["cells"], msg["out"], strict=True):
            row["cells"][j], row["out"][j] = c, o
        row["ran"] = row["ran"] and msg["ran"]
    assert done == {r["id"] for r in requests}
    for per_request in rows.values():
        for row in per_request.values():
            row["out"] = [row["out"][j] for j in sorted(row["out"])]
            row["cells"] = "".join(row["cells"][j] for j in sorted(row["cells"]))
    return rows


def test_the_worker_ships_as_its_source() -> None:
    assert worker_source() == WORKER.read_text()


def test_the_last_line_counts_the_children_and_their_cpu() -> None:
    """One child per program with chunk 1, and one more for the program that exits in a test (a fresh
    child goes on with the next); CPU seconds that include the busy tests' and the loop's."""
    busy = "def f(x):\n    import time\n    t = time.process_time()\n    while time.process_time() - t < 0.3:\n        pass\n    return x\n"
    exits = "def f(x):\n    import os\n    if x == 1:\n        os._exit(0)\n    return x\n"
    programs = [F, busy, exits, "def f(x):\n    while True: pass\n"]
    base = {"timeout": 0.5, "load_timeout": 1.0, "grace": 0.2, "memory_mb": 0, "parallel": 2, "chunk": 1}
    req = {
        **base,
        "id": "a",
        "kind": "tests",
        "programs": programs,
        "tests": ["assert f(1) == 1", "assert f(2) == 2"],
    }
    proc = subprocess.run(
        [sys.executable, str(WORKER)], input=json.dumps(req) + "\n", capture_output=True, text=True,
        timeout=60, env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout.splitlines()[-1])["stats"]
    assert stats["children"] == 4 + 1  # the child that exits in a test is replaced once to go on
    assert stats["children_cpu_s"] >= 0.3 * 2  # the two busy tests at the least
    # as the children report them: the busy tests ended, the loop spun until its timer fired
    assert 0.3 * 2 <= stats["ended_cpu_s"] < stats["children_cpu_s"]
    assert 0 < stats["timeout_cpu_s"] <= 2 * (0.5 + 0.1)  # its two tests
    assert 0 < stats["worker_cpu_s"] < stats["children_cpu_s"]
    assert stats["spawn_s"] > 0


def test_each_failure_costs_only_its_own_cell() -> None:
    tests = [
        "assert f(1) == 2",  # pass
        "assert f(1) == 3",  # fail
        "assert f(",  # does not compile
        "assert g(1) == 1",  # raises NameError
        "while True: pass",  # hangs: its timer fires
        "import os; os._exit(3)",  # kills the interpreter
        SEGFAULT,  # crashes it
        "import sys; sys.exit(0)",  # SystemExit is an error, not a pass
        "try:\n    while True: pass\nexcept BaseException:\n    while True: pass",  # ignores its timer
        "x = ' ' * (1 << 34)",  # beyond the memory limit
        "assert f(2) == 4",  # still runs after all of the above
    ]
    rows = run({"id": "r", "kind": "tests", "programs": [F], "tests": tests})
    assert rows["r"][0]["cells"] == "10223222321"
    assert rows["r"][0]["ran"]
    # Where pidfds are refused (Linux < 5.3, an old engine's seccomp profile) the parent watches an exit
    # pipe instead: the same cells.
    piped = run({"id": "r", "kind": "tests", "programs": [F, F + "\n"], "tests": tests, "chunk": 2},
                env={"HARNESS_WORKER_PIPES": "1"})  # fmt: skip
    assert [piped["r"][i]["cells"] for i in range(2)] == ["10223222321"] * 2


def test_a_program_that_fails_to_load_fails_every_cell() -> None:
    programs = [F, "raise ValueError('at import')", "while True: pass", "def f(x) return x"]
    rows = run({"id": "r", "kind": "tests", "programs": programs, "tests": ["assert f(1) == 2"] * 2})
    assert [rows["r"][i]["cells"] for i in range(4)] == ["11", "22", "33", "22"]
    assert [rows["r"][i]["ran"] for i in range(4)] == [True, False, False, False]


@pytest.mark.parametrize("shard", [1, 2, 64])
def test_shards_and_reused_left_sides_give_the_same_cells(shard: int) -> None:
    program = "calls = []\ndef f(x):\n    if x == 3:\n        while True: pass\n    return [x] * 2\n"
    tests = [
        "assert f(1) == [1, 1]",
        "assert f(3) == 1",
        "assert f(1) == [2]",
        "assert f(3) == 3",
        "assert f(2)",
    ]
    plain = run({"id": "r", "kind": "tests", "programs": [program], "tests": tests, "reuse_lhs": False})
    shared = run(
        {"id": "r", "kind": "tests", "programs": [program], "tests": tests, "reuse_lhs": True, "shard": shard}
    )
    assert plain["r"][0]["cells"] == shared["r"][0]["cells"] == "13031"
    out = shared["r"][0]["out"]
    assert out[0] == out[2] != 0  # same input, same output hash, whatever the verdict
    assert out[1] == out[3] == out[4] == 0  # timed out / not an ``==`` test: unknown


def test_output_hashes_tell_behaviours_apart() -> None:
    programs = [F, "def f(x):\n    return x + x\n", "def f(x):\n    return x ** 2\n"]
    rows = run({"id": "r", "kind": "tests", "programs": programs, "tests": ["assert f(3) == 0"]})
    outs = [rows["r"][i]["out"][0] for i in range(3)]
    assert outs[0] == outs[1] != outs[2]
    assert {rows["r"][i]["cells"] for i in range(3)} == {"0"}


def test_output_hashes_leave_memory_addresses_out() -> None:
    """Two programs that both (wrongly) return a generator behave alike; so does one program run in two
    children. Their reprs differ only in the object's address, which the hash leaves out; the
    generator's function name is kept, so generators of different functions still differ."""
    same = "def f(x):\n    return (i for i in range(x))\n"
    # another <genexpr>, made after 100 others that stay alive, so it lives at another address
    same_again = (
        "_keep = [(i for i in ()) for _ in range(100)]\ndef f(x):\n    return (2 * i for i in range(x))\n"
    )
    other = "def g(x):\n    yield x\n\ndef f(x):\n    return g(x)\n"  # <generator object g ...>
    programs = [same, same_again, other, same]
    rows = run(
        {"id": "r", "kind": "tests", "programs": programs, "tests": ["assert f(3) == [0, 1, 2]"], "chunk": 1}
    )
    outs = [rows["r"][i]["out"][0] for i in range(4)]
    assert outs[0] == outs[1] == outs[3] != outs[2]
    assert 0 not in outs
    assert {rows["r"][i]["cells"] for i in range(4)} == {"0"}
    a, b = object(), object()  # alive at once: two addresses
    assert repr(a) != repr(b) and output_hash(a) == output_hash(b)


def test_faithful_mode_reproduces_codets_packed_check_program() -> None:
    tests = ["assert f(1) == 2", "assert f(1) == 5", "exit()", "while True: pass", "assert f(2) == 4"]
    rows = run({"id": "r", "kind": "faithful", "programs": [F], "tests": tests})
    # exit is None under CodeT's guard (TypeError, caught); a hang is CodeT's TimeoutException, caught.
    assert rows["r"][0] == {"cells": "10001", "out": [0] * 5, "ran": True}

    # SystemExit escapes ``except Exception``: the whole row is lost (CodeT's ``passed`` is false).
    rows = run(
        {"id": "r", "kind": "faithful", "programs": [F], "tests": ["raise SystemExit", "assert f(1) == 2"]}
    )
    assert rows["r"][0]["ran"] is False and rows["r"][0]["cells"] == "22"

    # A test that compiles alone but not inside the packed function wipes out every candidate of the task
    # (HumanEval/68, /106, /143: a sample continuing with ``from .models import *``).
    wiping = "assert f(1) == 2\nfrom os import *"
    rows = run(
        {"id": "r", "kind": "faithful", "programs": [F, F + "\n"], "tests": ["assert f(1) == 2", wiping]}
    )
    assert [rows["r"][i]["ran"] for i in (0, 1)] == [False, False]
    isolated = run({"id": "r", "kind": "tests", "programs": [F], "tests": ["assert f(1) == 2", wiping]})
    assert isolated["r"][0]["cells"] == "11"  # ours: each test runs alone, at module level, where it is valid


def test_faithful_mode_kills_a_check_program_past_its_budget() -> None:
    slow = "import time\ntime.sleep(0.5)\n" + F  # top-level code runs without a timer in CodeT
    rows = run(
        {
            "id": "r",
            "kind": "faithful",
            "programs": [slow, F],
            "tests": ["assert f(1) == 1", "assert f(1) == 2"],
        }
    )
    # Killed after CodeT's budget of 0.2 s x 2 tests + 0.1 s: the row is lost, the other one is not.
    assert rows["r"][0]["ran"] is False and rows["r"][1] == {"cells": "01", "out": [0] * 2, "ran": True}


def test_whole_scripts_are_one_cell_under_one_timer() -> None:
    programs = [F + "assert f(2) == 4", F + "assert f(2) == 5", "while True: pass", SEGFAULT, "x = ("]
    rows = run({"id": "r", "kind": "whole", "programs": programs, "tests": ["ignored"]})
    assert [rows["r"][i]["cells"] for i in range(5)] == ["1", "0", "3", "2", "2"]


def test_requests_of_one_batch_finish_independently() -> None:
    rows = run(
        {"id": "a", "kind": "tests", "programs": [F] * 3, "tests": ["assert f(1) == 2"]},
        {"id": "b", "kind": "tests", "programs": [], "tests": ["assert f(1) == 2"]},
        {"id": "c", "kind": "tests", "programs": [F], "tests": []},
    )
    assert [rows["a"][i]["cells"] for i in range(3)] == ["1", "1", "1"]
    assert "b" not in rows and "c" not in rows


def test_cpu_clock_times_out_on_cpu_and_the_watchdog_catches_sleepers() -> None:
    tests = ["while True: pass", "import time; time.sleep(30)", "assert f(2) == 4"]
    rows = run({"id": "r", "kind": "tests", "programs": [F], "tests": tests, "clock": "cpu", "shard": 64})
    assert rows["r"][0]["cells"] == "331"
    whole = run(
        {"id": "w", "kind": "whole", "programs": ["while True: pass", F], "tests": [], "clock": "cpu"}
    )
    assert [whole["w"][i]["cells"] for i in (0, 1)] == ["3", "1"]


def test_a_demoted_child_hands_the_rest_to_a_fresh_one() -> None:
    tests = ["while True: pass", "import os; assert os.nice(0) == base", "assert f(2) == 4"]
    program = F + "import os\nbase = os.nice(0)\n"
    rows = run({"id": "r", "kind": "tests", "programs": [program], "tests": tests, "demote_ms": 5})
    # The hang was demoted (lowest priority) and timed out; the next test runs at the original priority.
    assert rows["r"][0]["cells"] == "311"
    plain = run({"id": "r", "kind": "tests", "programs": [program], "tests": tests, "demote_ms": 0})
    assert plain["r"][0]["cells"] == "311"


def test_programs_sharing_a_child_do_not_see_each_others_changes() -> None:
    deep = "def f(x):\n    return x if x <= 0 else 1 + f(x - 1)\n"
    programs = [
        "import sys\nsys.setrecursionlimit(60)\n" + deep,  # changes the interpreter
        deep,  # must still recurse 500 deep
        "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n" + deep,  # disarms the timer
        deep + "def g():\n    while True: pass\n",  # its hang must still time out
        "import builtins\nbuiltins.len = lambda x: 0\n" + deep,
        deep + "def h():\n    return len([1, 2])\n",
    ]
    tests = ["assert f(500) == 500", "g()", "assert h() == 2"]
    rows = run({"id": "r", "kind": "tests", "programs": programs, "tests": tests, "chunk": 6})
    cells = [rows["r"][i]["cells"] for i in range(6)]
    assert cells[1] == "122" and cells[3][:2] == "13" and cells[5] == "121"
    assert cells[0][0] == "2"  # its own limit is too low for itself


PI, TAU = "3.141592653589793", "6.283185307179586"


@pytest.mark.parametrize(
    "change",
    [
        "import math\nmath.pi = 3\n",  # an extension module's attribute
        "import math\nvars(math)['pi'] = 3\n",  # the same, past ``__setattr__``
        "import math\ndel math.tau\n",
        "import json\njson.dumps = lambda *a, **k: 'x'\n",  # a pure-Python module's function
        "import os\n_getcwd = os.getcwd\nos.getcwd = lambda: _getcwd()\n",  # same value, another function
        "import colorsys\ncolorsys.ONE_THIRD = 0\n",  # a module the child did not hold before
        "import os\nos.getcwd = None\n",  # breaks what the worker's own checks call
    ],
)
@pytest.mark.parametrize("kind", ["tests", "whole"])
def test_a_program_changing_a_module_does_not_reach_the_next_one(change: str, kind: str) -> None:
    check = (
        "import colorsys, json, math, os\n"
        "def f():\n"
        "    return (math.pi, math.tau, json.dumps([1]), os.getcwd.__name__, colorsys.ONE_THIRD * 3)\n"
    )
    test = f"assert f() == ({PI}, {TAU}, '[1]', 'getcwd', 1.0)"
    programs = [check, change + check, check, check]
    if kind == "whole":
        programs = [p + test for p in programs]
    rows = run({"id": "r", "kind": kind, "programs": programs, "tests": [test], "chunk": 4})
    cells = [rows["r"][i]["cells"] for i in range(4)]
    # The changer fails its own test; the programs after it (same chunk) see the modules as they were.
    assert cells[1] != "1" and cells[0] == cells[2] == cells[3] == "1"


def test_programs_that_change_nothing_share_one_child() -> None:
    # HumanEval's prompts import typing and many programs math: the parent holds them already, so
    # importing them is no change. The output hash of the child's pid tells whether they shared it.
    program = "from typing import List\nimport math, os\ndef f():\n    return os.getpid()\n"
    rows = run(
        {"id": "r", "kind": "tests", "programs": [program] * 4, "tests": ["assert f() == 0"], "chunk": 4}
    )
    assert len({rows["r"][i]["out"][0] for i in range(4)}) == 1
    changer = "import json\njson.x = 1\n" + program
    rows = run(
        {"id": "r", "kind": "tests", "programs": [program, changer, program], "tests": ["assert f() == 0"]}
    )
    outs = [rows["r"][i]["out"][0] for i in range(3)]
    assert outs[0] == outs[1] != outs[2]


@pytest.mark.parametrize(
    ("change", "look"),
    [
        ("import os\nos.environ['HARNESS_X'] = '1'\n", "os.environ.get('HARNESS_X')"),
        ("import os\nos.environ['PATH'] = '/x'\n", "os.environ['PATH']"),  # same size, new value
        ("import sys\nsys.path[0] = '/nonexistent'\n", "sys.path[0]"),  # same length, new entry
        ("import sys\nsys.meta_path.reverse()\n", "[type(x).__name__ for x in sys.meta_path]"),
        ("import sys\nsys.path_hooks.reverse()\n", "len(sys.path_hooks) and repr(sys.path_hooks[0])"),
        ("import string\nstring.capwords.__defaults__ = ('b',)\n", "string.capwords('abc')"),
        ("import json\njson.dumps.__kwdefaults__['indent'] = 2\n", "json.dumps([1])"),  # dict in place
        ("import json\njson.dumps.__kwdefaults__ = {**json.dumps.__kwdefaults__, 'indent': 2}\n", "json.dumps([1])"),
        ("import string\nstring.capwords.__code__ = (lambda s, sep=None: 'x').__code__\n", "string.capwords('a b')"),
        ("import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])\n",
         "sorted(signal.pthread_sigmask(signal.SIG_BLOCK, []))"),
        ("import signal\nsignal.signal(signal.SIGTERM, lambda *a: None)\n", "signal.getsignal(signal.SIGTERM)"),
        ("import gc\ngc.disable()\n", "gc.isenabled()"),
        ("import gc\ngc.set_threshold(1)\n", "gc.get_threshold()"),
    ],
)  # fmt: skip
def test_a_program_changing_interpreter_state_in_place_does_not_reach_the_next_one(
    change: str, look: str
) -> None:
    # The state is changed in place (no module attribute is rebound); the programs after the changer
    # must see it as it was. Output hashes of what they look at tell, and of the child's pid whether
    # the checker alone shares its child with the changer (so the changer could reach the next one).
    check = f"import gc, json, os, signal, string, sys\ndef f():\n    return {look}\ndef pid():\n    return os.getpid()\n"
    programs = [check, change + check, check, check]
    tests = ["assert f() == 0", "assert pid() == 0"]
    rows = run({"id": "r", "kind": "tests", "programs": programs, "tests": tests, "chunk": 4})
    outs = [rows["r"][i]["out"][0] for i in range(4)]
    pids = [rows["r"][i]["out"][1] for i in range(4)]
    assert pids[0] == pids[1] and pids[2] == pids[3]  # the checker changes nothing itself
    assert outs[0] != 0 and outs[1] != outs[0]  # the change shows in the changer itself
    assert outs[2] == outs[3] == outs[0]


def _children_and_rows(req: dict[str, Any]) -> tuple[int, dict[int, str]]:
    base = {"timeout": 0.1, "load_timeout": 1.0, "grace": 0.5, "memory_mb": 0, "parallel": 4, "chunk": 1}
    proc = subprocess.run(
        [sys.executable, str(WORKER)], input=json.dumps({**base, **req}) + "\n", capture_output=True,
        text=True, timeout=120, env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    *lines, last = proc.stdout.splitlines()
    cells: dict[int, dict[int, str]] = {}
    for line in lines:
        msg = json.loads(line)
        if "cells" in msg:
            cells.setdefault(msg["program"], {}).update(zip(msg["tests"], msg["cells"], strict=True))
    rows = {p: "".join(c[j] for j in sorted(c)) for p, c in cells.items()}
    return json.loads(last)["stats"]["children"], rows


def test_a_program_that_timed_out_hands_its_other_tests_to_children_side_by_side() -> None:
    """With ``split``, the rest of a program that timed out runs in fresh children at once (after the group
    sharing the timed-out left side): the same cells as one child running them all, in more children."""
    hangs = "def f(x):\n    while x > 0:\n        pass\n    return x\n"  # hangs on positive inputs only
    tests = [
        f"assert f({k}) == {k}" for k in (0, 1, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7, 8, -8, 9)
    ]
    tests[2] = "assert f(1) == 2"  # shares the timed-out left side f(1): stays in the first child
    req = {"id": "a", "kind": "tests", "programs": [hangs, "def f(x):\n    return x\n"], "tests": tests}
    one, rows = _children_and_rows(req)
    split, split_rows = _children_and_rows({**req, "split": True})
    expected = "".join(
        "3" if t.startswith("assert f(") and int(t[9:].split(")")[0]) > 0 else "1" for t in tests
    )
    assert rows[0] == split_rows[0] == expected
    assert rows[1] == split_rows[1]  # a program that never times out is not split
    assert one == 2 and split > 2
