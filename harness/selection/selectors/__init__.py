"""Selectors: pure functions from a :class:`PassMatrix` to a :class:`Ranking`, registered by name.

=================  =============================================================================
``random``         every candidate tied (the random-pick baseline)
``maxpass``        most generated tests passed
``mbr``            MBR-exec over pass/fail rows (largest cluster of identical rows)
``mbr-behaviour``  MBR-exec over output hashes on the tests' inputs (``PassMatrix.outputs``)
``codet``          CodeT dual agreement, as in microsoft/CodeT's released ``agreement.py``
``b4``             B4 consensus-set posterior, as in ZJU-CTAG/B4's released ``strategy.py``
``tournament``     knockout over the top-N, decided by tests passed (LLM judge: ``tournament_llm``)
``b4-beh``         ours: B4's consensus sets refined by behaviour (docs/selector.md)
=================  =============================================================================

``select(name, matrix, **params)`` validates ``params`` with the selector's pydantic model
(``extra="forbid"``) and raises :class:`harness.errors.ConfigError` on an unknown name or parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.errors import ConfigError
from harness.selection._types import PassMatrix, Ranking
from harness.selection.selectors._agreement import B4Params, CodeTParams, b4, codet
from harness.selection.selectors._b4beh import B4BehParams, b4_behaviour
from harness.selection.selectors._basic import (
    MaxPassParams,
    MbrParams,
    RandomParams,
    maxpass,
    mbr,
    mbr_behaviour,
    random_pick,
)
from harness.selection.selectors._tournament import (
    LLMJudge,
    TournamentParams,
    parse_verdict,
    tournament,
    tournament_llm,
)


@dataclass(frozen=True)
class SelectorSpec:
    """A registered selector: its params model and the pure function taking validated params."""

    name: str
    params: type[BaseModel]
    fn: Callable[[PassMatrix, Any], Ranking]


SELECTORS: dict[str, SelectorSpec] = {
    spec.name: spec
    for spec in (
        SelectorSpec("random", RandomParams, random_pick),
        SelectorSpec("maxpass", MaxPassParams, maxpass),
        SelectorSpec("mbr", MbrParams, mbr),
        SelectorSpec("mbr-behaviour", MbrParams, mbr_behaviour),
        SelectorSpec("codet", CodeTParams, codet),
        SelectorSpec("b4", B4Params, b4),
        SelectorSpec("tournament", TournamentParams, tournament),
        SelectorSpec("b4-beh", B4BehParams, b4_behaviour),
    )
}


def validate_params(name: str, params: dict[str, object] | None = None) -> BaseModel:
    """The selector's params model built from ``params``; ConfigError names what is wrong."""
    if name not in SELECTORS:
        raise ConfigError(f"unknown selector {name!r}; choose one of {sorted(SELECTORS)}")
    try:
        return SELECTORS[name].params.model_validate(params or {})
    except ValidationError as exc:
        raise ConfigError(f"bad parameters for selector {name!r}: {exc}") from exc


def select(name: str, matrix: PassMatrix, **params: object) -> Ranking:
    """Rank ``matrix``'s candidates with the selector registered as ``name``."""
    validated = validate_params(name, params)
    return SELECTORS[name].fn(matrix, validated)


__all__ = [
    "SELECTORS",
    "B4BehParams",
    "B4Params",
    "CodeTParams",
    "LLMJudge",
    "MaxPassParams",
    "MbrParams",
    "RandomParams",
    "SelectorSpec",
    "TournamentParams",
    "b4",
    "b4_behaviour",
    "codet",
    "maxpass",
    "mbr",
    "mbr_behaviour",
    "parse_verdict",
    "random_pick",
    "select",
    "tournament",
    "tournament_llm",
    "validate_params",
]
