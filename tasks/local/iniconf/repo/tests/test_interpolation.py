import pytest

from iniconf import InterpolationError, loads


def test_same_section_reference():
    cfg = loads("[a]\nname = x\npath = /srv/${name}\n")
    assert cfg.get("a", "path") == "/srv/x"


def test_cross_section_reference():
    cfg = loads("[server]\nport = 80\n[client]\nurl = http://h:${server:port}/\n")
    assert cfg.get("client", "url") == "http://h:80/"
    assert cfg.get("client", "url", raw=True) == "http://h:${server:port}/"


def test_missing_reference():
    with pytest.raises(InterpolationError, match="nope"):
        loads("[a]\nv = ${nope}\n").get("a", "v")
