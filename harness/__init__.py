"""harness: spend test-time compute on code generation and pick the best result.

Importing ``harness`` is cheap and has no side effects; heavy parts (vLLM, Ray, plotting, the viewer)
are optional extras imported lazily by the modules that need them.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
