import pytest

from iniconf import ParseError, loads


def test_sections_and_options():
    cfg = loads("[a]\nx = 1\n[b]\ny: two\n")
    assert cfg.sections() == ["a", "b"]
    assert cfg.get("a", "x") == "1"
    assert cfg.get("b", "y") == "two"


def test_case_insensitive_lookup():
    cfg = loads("[Server]\nHost = h\n")
    assert cfg.get("server", "HOST") == "h"


def test_continuation_lines():
    cfg = loads("[a]\nitems = one\n  two\n")
    assert cfg.get("a", "items") == "one\ntwo"


def test_option_outside_section():
    with pytest.raises(ParseError, match="line 1"):
        loads("x = 1\n")


@pytest.mark.parametrize("text", ["yes", "on", "1", "True"])
def test_getbool_true(text):
    assert loads(f"[a]\nflag = {text}\n").getbool("a", "flag") is True
