"""Search over programs at a fixed budget: best-of-N, line search, MCTS, best-first and SFS.

Strategies share one interface (:class:`SearchStrategy`): they take a :class:`PublicFunctionTask`
(never the hidden tests), a model, an :class:`Executor` for the visible tests and a
:class:`BudgetMeter` through which every model call passes, and return a :class:`SearchResult` (the
tree of :class:`Node` s and the chosen program).

Limits and spending are the model layer's accounting types: ``harness.search.BudgetLimits`` is
:class:`harness.models.BudgetLimits`; ``harness.search.Spent`` is a deprecated name of :class:`harness.models.Spend`
(it warns).
"""

from __future__ import annotations

import warnings

from harness.models import BudgetLimits, Spend
from harness.search._base import CommonConfig, Search, SearchResult, SearchStrategy
from harness.search._best_first import BestFirst, BestFirstConfig
from harness.search._best_of_n import BestOfN, BestOfNConfig
from harness.search._budget import BudgetMeter, BudgetSummary, CallRecord
from harness.search._executor import (
    ExecutionReport,
    Executor,
    LocalExecutor,
    PoolExecutor,
    SandboxExecutor,
    TestOutcome,
    VisibleTest,
)
from harness.search._line import LineSearch, LineSearchConfig
from harness.search._mcts import MCTS, MCTSConfig
from harness.search._node import Node, Origin, Tree
from harness.search._program import extract_program
from harness.search._registry import STRATEGY_NAMES, make_strategy
from harness.search._sfs import SFS, SFSConfig
from harness.search._visible import docstring_tests, parse_generated_tests

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
    "PoolExecutor",
    "SFSConfig",
    "SandboxExecutor",
    "Search",
    "SearchResult",
    "SearchStrategy",
    "Spend",
    "TestOutcome",
    "Tree",
    "VisibleTest",
    "docstring_tests",
    "extract_program",
    "make_strategy",
    "parse_generated_tests",
]


def __getattr__(name: str) -> object:
    if name == "Spent":
        warnings.warn(
            "harness.search.Spent is deprecated: use harness.models.Spend (the same class)",
            DeprecationWarning,
            stacklevel=2,
        )
        return Spend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
