"""depresolve: pick package versions that satisfy constraints and order them for installation."""

from depresolve.errors import CycleError, ResolutionError
from depresolve.resolve import resolve

__all__ = ["CycleError", "ResolutionError", "resolve"]
