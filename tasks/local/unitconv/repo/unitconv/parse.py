"""Parse unit expressions: 'km/h', 'm/s^2', 'kg*m/s^2', 'L'."""

import re

from unitconv.units import REGISTRY, Unit

_FACTOR = re.compile(r"^(?P<name>[A-Za-z]+)(?:\^(?P<exp>-?\d+))?$")


class UnknownUnit(ValueError):
    pass


def _factor(text):
    m = _FACTOR.match(text.strip())
    if not m or m.group("name") not in REGISTRY:
        raise UnknownUnit(f"unknown unit {text.strip()!r}")
    unit = REGISTRY[m.group("name")]
    exp = int(m.group("exp") or 1)
    return unit if exp == 1 else unit**exp


def parse_unit(text):
    numerator, _, denominator = text.partition("/")
    unit = Unit(1.0, (0, 0, 0, 0))
    for part in numerator.split("*"):
        unit = unit * _factor(part)
    if denominator:
        for part in denominator.split("*"):
            unit = unit / _factor(part)
    if text.strip() in REGISTRY:
        return REGISTRY[text.strip()]  # keeps the temperature offset
    return unit
