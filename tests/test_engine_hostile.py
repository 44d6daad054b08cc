"""The pass-matrix worker against hostile or broken programs and tests, run as the sandbox runs it
(``python3 _worker.py`` with JSON lines, see ``test_engine_worker.py``): what one of them does to the
worker's own plumbing must cost only its own cells, never another program's."""

from __future__ import annotations

from test_engine_worker import F, run


def test_a_test_closing_the_workers_descriptors_costs_only_its_own_cells() -> None:
    # ``os.closerange(3, ...)`` (model code "cleaning up" descriptors) closes whatever the worker gave
    # the child besides the standard streams. The child goes on; the programs after it must not notice.
    slow_load = "import time\ntime.sleep(0.3)\n" + F  # still loading when the parent would react
    tests = ["assert f(1) == 2", "import os; os.closerange(3, 4096)", "assert f(2) == 4"]
    rows = run({"id": "r", "kind": "tests", "programs": [F, slow_load, F + "\n"], "tests": tests, "chunk": 3})
    assert [rows["r"][i]["cells"] for i in range(3)] == ["111", "111", "111"]
    assert all(rows["r"][i]["ran"] for i in range(3))


def test_a_program_forking_a_copy_of_its_child_costs_only_its_own_cells() -> None:
    # ``os.fork()`` without ``os._exit`` in the new process: a copy of the worker's child goes on running
    # the worker's code. Here the copy loads the program while the original does not, so the two write
    # different records; the copy's must go nowhere. A fresh process per cell (the reference executor)
    # sees the load fail: every cell is an error.
    diverging = (
        "import os, time\nif os.fork() != 0:\n    raise ValueError('the original')\ntime.sleep(0.01)\n"
    )
    tests = ["assert f(1) == 2", "assert f(2) == 4", "assert f(3) == 7", "import time; time.sleep(0.02)"]
    programs = [F + f"# {k}\n" if k % 2 == 0 else diverging + F + f"# {k}\n" for k in range(12)]
    rows = run({"id": "r", "kind": "tests", "programs": programs, "tests": tests, "chunk": 12})
    cells = [rows["r"][k]["cells"] for k in range(12)]
    assert cells == ["1101", "2222"] * 6
    assert [rows["r"][k]["ran"] for k in range(12)] == [True, False] * 6


def test_a_finalizer_that_exits_does_not_run_in_a_later_program() -> None:
    # An object in a reference cycle is freed by the garbage collector, at whatever allocation comes
    # next: here, in a later program's test. Its ``__del__`` exits the interpreter, which a fresh
    # process per cell never sees happen. The programs after it must keep their cells.
    dying = "import os\nclass D:\n    def __del__(self):\n        os._exit(0)\nd = D()\nd.me = d\n"
    tests = ["assert f(1) == 2", "assert len([[i] for i in range(200000)]) == 200000", "assert f(2) == 4"]
    programs = [F + f"# {k}\n" for k in range(6)]
    programs[1] = dying + F
    rows = run({"id": "r", "kind": "tests", "programs": programs, "tests": tests, "chunk": 6})
    assert [rows["r"][i]["cells"] for i in range(6)] == ["111"] * 6


def test_cyclic_garbage_of_a_test_is_not_finalized_in_a_later_program() -> None:
    # The same with an object a *test* made and dropped in a cycle: garbage at once, collected at the
    # next collection, which here comes in a later program (this one allocates nothing after it).
    big = "def big():\n    return len([[i] for i in range(200000)])\n"
    dying = (
        "import os\nclass D:\n    def __del__(self):\n        os._exit(0)\ndef big():\n    return 200000\n"
    )
    tests = ["d = D(); d.me = d; del d", "assert big() == 200000", "assert f(2) == 4"]
    programs = [F + big + "# 0\n", F + dying, F + big + "# 2\n", F + big + "# 3\n"]
    rows = run({"id": "r", "kind": "tests", "programs": programs, "tests": tests, "chunk": 4})
    cells = [rows["r"][i]["cells"] for i in range(4)]
    assert cells == ["211", "111", "211", "211"]  # NameError for D where there is none; nothing else
