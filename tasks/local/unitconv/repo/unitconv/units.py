"""Units as a scale factor to SI plus a dimension vector."""

from dataclasses import dataclass

DIMENSIONS = ("length", "mass", "time", "temperature")


@dataclass(frozen=True)
class Unit:
    factor: float
    dims: tuple  # exponents, in the order of DIMENSIONS
    offset: float = 0.0  # only for absolute temperature scales

    def __mul__(self, other):
        return Unit(self.factor * other.factor, tuple(a + b for a, b in zip(self.dims, other.dims)))

    def __truediv__(self, other):
        return Unit(self.factor / other.factor, tuple(a - b for a, b in zip(self.dims, other.dims)))

    def __pow__(self, n):
        return Unit(self.factor, tuple(a * n for a in self.dims))

    @property
    def dimensionless(self):
        return all(d == 0 for d in self.dims)


def _u(factor, length=0, mass=0, time=0, temperature=0, offset=0.0):
    return Unit(factor, (length, mass, time, temperature), offset)


REGISTRY = {
    "m": _u(1, length=1),
    "km": _u(1000, length=1),
    "cm": _u(0.01, length=1),
    "mm": _u(0.001, length=1),
    "ft": _u(0.3048, length=1),
    "in": _u(0.0254, length=1),
    "mi": _u(1609.344, length=1),
    "g": _u(0.001, mass=1),
    "kg": _u(1, mass=1),
    "lb": _u(0.45359237, mass=1),
    "s": _u(1, time=1),
    "min": _u(60, time=1),
    "h": _u(3600, time=1),
    "K": _u(1, temperature=1),
    "degC": _u(1, temperature=1, offset=273.15),
    "degF": _u(5 / 9, temperature=1, offset=459.67 * 5 / 9),
    "L": _u(0.001, length=3),
}
