"""Strategies by name, with their validated configs."""

from __future__ import annotations

from typing import Any

from harness.errors import ConfigError
from harness.search._base import SearchStrategy, Strategy
from harness.search._best_first import BestFirst
from harness.search._best_of_n import BestOfN
from harness.search._line import LineSearch
from harness.search._mcts import MCTS
from harness.search._sfs import SFS

_REGISTRY: dict[str, type[Strategy[Any]]] = {
    cls.name: cls for cls in (BestOfN, LineSearch, MCTS, BestFirst, SFS)
}
_ALIASES = {"bon": "best_of_n", "best-of-n": "best_of_n", "bfs": "best_first", "best-first": "best_first"}

STRATEGY_NAMES = tuple(_REGISTRY)


def make_strategy(name: str, **overrides: Any) -> SearchStrategy:
    """A strategy by name (``best_of_n``/``bon``, ``line``, ``mcts``, ``best_first``/``bfs``, ``sfs``)
    with config overrides validated by its pydantic config (unknown keys are errors)."""
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        raise ConfigError(f"unknown strategy {name!r}: choose from {', '.join(STRATEGY_NAMES)}")
    cls = _REGISTRY[key]
    try:
        cfg = cls.config_type.model_validate(overrides)
    except ValueError as exc:
        raise ConfigError(f"bad settings for strategy {key!r}: {exc}") from exc
    strategy: SearchStrategy = cls(cfg)
    return strategy
