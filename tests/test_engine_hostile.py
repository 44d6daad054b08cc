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
