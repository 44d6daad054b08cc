import pytest

from unitconv import IncompatibleUnits, convert


def approx(x):
    return pytest.approx(x, rel=1e-9)


@pytest.mark.parametrize(
    ("value", "src", "dst", "expected"),
    [
        (1, "km", "m", 1000),
        (1, "mi", "km", 1.609344),
        (100, "km/h", "m/s", 27.777777777777779),
        (2, "L", "L", 2),
        (1, "lb", "g", 453.59237),
    ],
)
def test_linear(value, src, dst, expected):
    assert convert(value, src, dst) == approx(expected)


def test_temperature():
    assert convert(100, "degC", "degF") == approx(212)
    assert convert(0, "K", "degC") == approx(-273.15)


def test_incompatible():
    with pytest.raises(IncompatibleUnits):
        convert(1, "m", "s")
