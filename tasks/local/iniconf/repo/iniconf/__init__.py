"""iniconf: INI files with interpolation and typed getters."""

from iniconf.config import Config, loads
from iniconf.errors import InterpolationError, ParseError

__all__ = ["Config", "InterpolationError", "ParseError", "loads"]
