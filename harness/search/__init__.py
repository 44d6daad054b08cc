"""Search over programs at a fixed budget: best-of-N, line search, MCTS, best-first and SFS.

Strategies share one interface (:class:`SearchStrategy`): they take a :class:`PublicFunctionTask`
(never the hidden tests), a model, an :class:`Executor` for the visible tests and a
:class:`BudgetMeter` through which every model call passes, and return a :class:`SearchResult` (the
tree of :class:`Node` s and the chosen program).
"""

from __future__ import annotations

from typing import Any

from harness.errors import ConfigError
from harness.search._base import CommonConfig, Search, SearchResult, SearchStrategy
from harness.search._best_first import BestFirst, BestFirstConfig
from harness.search._best_of_n import BestOfN, BestOfNConfig
from harness.search._budget import BudgetLimits, BudgetMeter, BudgetSummary, CallRecord, Spent
from harness.search._executor import (
    ExecutionReport,
    Executor,
    LocalExecutor,
    SandboxExecutor,
    TestOutcome,
    VisibleTest,
)
from harness.search._line import LineSearch, LineSearchConfig
from harness.search._mcts import MCTS, MCTSConfig
from harness.search._node import Node, Origin, Tree
from harness.search._program import extract_program
from harness.search._sfs import SFS, SFSConfig
from harness.search._visible import docstring_tests, parse_generated_tests

_REGISTRY: dict[str, tuple[type[Any], type[CommonConfig]]] = {
    "best_of_n": (BestOfN, BestOfNConfig),
    "line": (LineSearch, LineSearchConfig),
    "mcts": (MCTS, MCTSConfig),
    "best_first": (BestFirst, BestFirstConfig),
    "sfs": (SFS, SFSConfig),
}
_ALIASES = {"bon": "best_of_n", "best-of-n": "best_of_n", "bfs": "best_first", "best-first": "best_first"}

STRATEGY_NAMES = tuple(_REGISTRY)


def make_strategy(name: str, **overrides: Any) -> SearchStrategy:
    """A strategy by name (``best_of_n``/``bon``, ``line``, ``mcts``, ``best_first``/``bfs``, ``sfs``)
    with config overrides validated by its pydantic config (unknown keys are errors)."""
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        raise ConfigError(f"unknown strategy {name!r}: choose from {', '.join(STRATEGY_NAMES)}")
    cls, cfg_cls = _REGISTRY[key]
    try:
        cfg = cfg_cls.model_validate(overrides)
    except ValueError as exc:
        raise ConfigError(f"bad settings for strategy {key!r}: {exc}") from exc
    strategy: SearchStrategy = cls(cfg)
    return strategy


__all__ = [
    "MCTS",
    "SFS",
    "STRATEGY_NAMES",
    "BestFirst",
    "BestFirstConfig",
    "BestOfN",
    "BestOfNConfig",
    "BudgetLimits",
    "BudgetMeter",
    "BudgetSummary",
    "CallRecord",
    "CommonConfig",
    "ExecutionReport",
    "Executor",
    "LineSearch",
    "LineSearchConfig",
    "LocalExecutor",
    "MCTSConfig",
    "Node",
    "Origin",
    "SFSConfig",
    "SandboxExecutor",
    "Search",
    "SearchResult",
    "SearchStrategy",
    "Spent",
    "TestOutcome",
    "Tree",
    "VisibleTest",
    "docstring_tests",
    "extract_program",
    "make_strategy",
    "parse_generated_tests",
]
