import pytest

from depresolve import ResolutionError, resolve
from depresolve.graph import install_order
from depresolve.version import satisfies

INDEX = {
    "app": {"1.0": {"web": ">=2", "db": "*"}},
    "web": {"1.5": {}, "2.0": {"util": ">=1.2"}, "2.1": {"util": ">=1.2,<2"}},
    "db": {"0.9": {"util": "*"}},
    "util": {"1.1": {}, "1.10": {}, "2.0": {}},
}


@pytest.mark.parametrize(
    ("version", "constraint", "ok"),
    [("1.10", ">=1.9", True), ("2.0", ">=1.2,<2", False), ("1.4", "==1.4", True), ("3", "*", True)],
)
def test_satisfies(version, constraint, ok):
    assert satisfies(version, constraint) is ok


def test_resolve_order_and_versions():
    result = resolve(INDEX, {"app": "*"})
    assert result == [("util", "1.10"), ("db", "0.9"), ("web", "2.1"), ("app", "1.0")]


def test_diamond_installs_shared_dependency_once():
    assert install_order({"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}) == ["d", "b", "c", "a"]


def test_unsatisfiable():
    with pytest.raises(ResolutionError, match="web"):
        resolve(INDEX, {"web": ">=3"})
