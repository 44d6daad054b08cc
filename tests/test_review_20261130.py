"""Review of 2026-11-30 (engine worker isolation and output hash, store resume compatibility): each test
here failed on the code as it landed and shows one defect."""

from __future__ import annotations

from harness.selection.engine._worker import output_hash

# -- engine worker: output hashes ------------------------------------------------------------------------


def test_output_hash_keeps_hex_text_that_is_not_an_address() -> None:
    # Only the default repr's address (``<... at 0x7f...>``) is left out: a returned string that says
    # "at 0x..." is a value like any other, and two different ones are two behaviours.
    assert output_hash("stop at 0x1f") != output_hash("stop at 0x2e")
    assert output_hash(["jump at 0x10", 1]) != output_hash(["jump at 0x20", 1])
    a, b = object(), object()
    assert output_hash(a) == output_hash(b)  # still: two plain objects are one behaviour
