"""Review of 2026-11-30 (engine worker isolation and output hash, store resume compatibility): each test
here failed on the code as it landed and shows one defect."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field
from test_engine_worker import run

from harness.selection.engine._worker import output_hash
from harness.store import ConfigDefaults, Run

# -- engine worker: output hashes ------------------------------------------------------------------------


def test_output_hash_keeps_hex_text_that_is_not_an_address() -> None:
    # Only the default repr's address (``<... at 0x7f...>``) is left out: a returned string that says
    # "at 0x..." is a value like any other, and two different ones are two behaviours.
    assert output_hash("stop at 0x1f") != output_hash("stop at 0x2e")
    assert output_hash(["jump at 0x10", 1]) != output_hash(["jump at 0x20", 1])
    a, b = object(), object()
    assert output_hash(a) == output_hash(b)  # still: two plain objects are one behaviour


# -- engine worker: what one program leaves to the next in a shared child --------------------------------


def _g(body: str) -> str:
    return "def g():\n" + "".join(f"    {line}\n" for line in body.splitlines())


SLOW = _g("import time\ntime.sleep(1.0)\nsum(range(3 * 10**7))\nreturn 2")
"""Waits, then burns CPU: long enough on either clock for a timer another program left armed to fire."""


@pytest.mark.parametrize(
    ("clock", "timer"),
    [
        ("cpu", "ITIMER_REAL"),  # the hidden-test clock: the worker never touches the wall timer there
        ("wall", "ITIMER_PROF"),  # no demotion: the worker never touches the CPU timer
        ("wall", "ITIMER_VIRTUAL"),  # SIGVTALRM kills the child running whatever program comes next
    ],
)
def test_a_timer_left_armed_does_not_reach_the_next_program(clock: str, timer: str) -> None:
    armer = f"import signal\nsignal.setitimer(signal.{timer}, 0.3)\n" + _g("return 2")
    rows = run(
        {
            "id": "r",
            "kind": "tests",
            "programs": [armer, SLOW, SLOW],
            "tests": ["assert g() == 2"],
            "chunk": 3,
            "clock": clock,
            "timeout": 20.0,
        }
    )
    assert [rows["r"][i]["cells"] for i in range(3)] == ["1", "1", "1"]


def test_a_raised_int_str_limit_does_not_reach_the_next_program() -> None:
    big = _g("return len(str(10**5000))")  # past CPython's default 4300-digit limit: ValueError
    raiser = "import sys\nsys.set_int_max_str_digits(0)\n" + big
    rows = run({"id": "r", "kind": "tests", "programs": [big, raiser, big], "tests": ["assert g() == 5001"]})
    assert [rows["r"][i]["cells"] for i in range(3)] == ["2", "1", "2"]


def test_a_trace_function_does_not_reach_the_next_program() -> None:
    tracer = (
        "import sys\n"
        "def _trace(frame, event, arg):\n"
        "    if frame.f_code.co_name == 'inner':\n"
        "        raise RuntimeError('traced')\n"
        "sys.settrace(_trace)\n"
    ) + _g("return 2")
    plain = "def inner():\n    return 2\n" + _g("return inner()")
    rows = run({"id": "r", "kind": "tests", "programs": [tracer, plain], "tests": ["assert g() == 2"]})
    assert [rows["r"][i]["cells"] for i in range(2)] == ["1", "1"]


def test_a_warnings_filter_changed_in_place_does_not_reach_the_next_program() -> None:
    # ``simplefilter`` inserts into ``warnings.filters`` in place (no module attribute is rebound). Under
    # "error" the next program's invalid escape ("\d", a DeprecationWarning) no longer compiles.
    strict = "import warnings\nwarnings.simplefilter('error')\n" + _g("return 2")
    sloppy = "import re\n" + _g(r'return len(re.findall("\d", "a1b2"))')
    rows = run(
        {"id": "r", "kind": "tests", "programs": [sloppy, strict, sloppy], "tests": ["assert g() == 2"]}
    )
    assert [rows["r"][i]["cells"] for i in range(3)] == ["1", "1", "1"]


# -- store: resuming a run made by an older harness ------------------------------------------------------


class _Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    max_calls: int = Field(default=8, alias="maxCalls")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    limits: _Limits = _Limits()
    """Added by a newer harness, at its default."""


def test_resume_takes_an_added_option_at_its_default_when_its_model_has_aliases(tmp_path: Path) -> None:
    # The manifest holds ``model_dump(mode="json")``, field names; the default must be compared in that
    # form, not by alias ({"maxCalls": 8}), or the added option reads as a changed setting.
    Run(tmp_path, "r1", "select", {"name": "a"}).close()
    cfg = _Config(name="a")
    again = Run(tmp_path, "r1", "select", cfg.model_dump(mode="json"), defaults=ConfigDefaults.of(_Config))
    assert again.resumed
    again.close()


def test_a_lowered_resource_limit_does_not_reach_the_next_program() -> None:
    # The child's own address-space limit is ``memory_mb`` (512 here); a program may lower it for itself.
    lowers = (
        "import resource\n_, hard = resource.getrlimit(resource.RLIMIT_AS)\n"
        "resource.setrlimit(resource.RLIMIT_AS, (100 * 2**20, hard))\n"
    ) + _g("return 2")
    allocates = _g("return 2 if len(bytearray(150 * 2**20)) else 0")
    # A generous timer: the cells at stake are pass against error (MemoryError), not timing (a loaded CI
    # machine once took over 0.2 s for the allocation).
    request = {"id": "r", "kind": "tests", "programs": [lowers, allocates], "tests": ["assert g() == 2"]}
    rows = run({**request, "timeout": 5.0})
    assert [rows["r"][i]["cells"] for i in range(2)] == ["1", "1"]
