"""unitconv: convert quantities between units, including compound units like km/h or m/s^2."""

from unitconv.convert import IncompatibleUnits, convert
from unitconv.parse import parse_unit

__all__ = ["IncompatibleUnits", "convert", "parse_unit"]
