"""Search trees: :class:`Node` (one program and what is known of it) and :class:`Tree`."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from harness.models import Spend
from harness.selection._types import Cell

OriginKind = Literal["root", "seed", "refine", "direction"]


class Origin(BaseModel):
    """How a node's program was produced."""

    model_config = ConfigDict(frozen=True)

    kind: OriginKind
    style: str = ""
    """The style instruction a seed was generated under (SFS foresting); empty when none."""
    direction: str = ""
    """The improvement direction a child implements (SFS scattering)."""
    reflection: str = ""
    """The self-reflection the refinement was conditioned on (line search)."""


@dataclass(eq=False)
class Node:
    """One program in a search tree, with its results on the *visible* tests.

    ``score`` is the fraction of visible tests passed; ``value`` is what the strategy backs up (the
    score at creation; MCTS averages, SFS keeps the max of the subtree); ``visits`` counts selections.
    ``cost`` is what the whole search had spent when this node's program came back.
    """

    id: int
    program: str
    origin: Origin
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    depth: int = 0
    results: list[Cell] = field(default_factory=list)
    feedback: str = ""
    score: float = 0.0
    value: float = 0.0
    visits: int = 0
    cost: Spend = field(default_factory=Spend)
    logprob: float | None = None
    """Sum of the token log-probabilities of the completion, when the backend gives them."""
    n_tokens: int = 0
    """Number of output tokens of the completion (the length used for normalisation)."""
    directions: list[str] = field(default_factory=list)
    """Improvement directions proposed for this node (SFS); children record which one they implement."""

    @property
    def passed_all(self) -> bool:
        return bool(self.results) and all(c == Cell.PASS for c in self.results)

    @property
    def n_passed(self) -> int:
        return sum(1 for c in self.results if c == Cell.PASS)

    def add_child(self, child: Node) -> Node:
        child.parent = self
        child.depth = self.depth + 1
        self.children.append(child)
        return child

    def normalised_logprob(self, alpha: float) -> float:
        """BFS-Prover's length-normalised log-probability, ``sum(logp) / L**alpha``; 0.0 when unknown."""
        if self.logprob is None or self.n_tokens <= 0:
            return 0.0
        return self.logprob / math.pow(self.n_tokens, alpha)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent": None if self.parent is None else self.parent.id,
            "depth": self.depth,
            "origin": self.origin.model_dump(),
            "program": self.program,
            "results": [int(c) for c in self.results],
            "feedback": self.feedback,
            "score": self.score,
            "value": self.value,
            "visits": self.visits,
            "cost": self.cost.model_dump(),
            "logprob": self.logprob,
            "n_tokens": self.n_tokens,
            "directions": list(self.directions),
        }


class Tree:
    """A forest under one virtual root (id 0, no program). Nodes are kept in creation order."""

    def __init__(self) -> None:
        self.root = Node(id=0, program="", origin=Origin(kind="root"), score=0.0, value=0.0, visits=1)
        self.nodes: list[Node] = []
        self.insights: list[str] = []
        """Successive versions of the global insights text (SFS scouting)."""

    def new_node(
        self,
        program: str,
        origin: Origin,
        parent: Node | None,
        *,
        cost: Spend,
        logprob: float | None = None,
        n_tokens: int = 0,
    ) -> Node:
        node = Node(
            id=len(self.nodes) + 1,
            program=program,
            origin=origin,
            cost=cost,
            logprob=logprob,
            n_tokens=n_tokens,
        )
        (parent or self.root).add_child(node)
        self.nodes.append(node)
        return node

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def best(self) -> Node | None:
        """The node with the highest visible score; the earliest one among ties."""
        best: Node | None = None
        for node in self.nodes:
            if best is None or node.score > best.score:
                best = node
        return best

    def to_json(self) -> dict[str, Any]:
        return {"nodes": [n.summary() for n in self.nodes], "insights": list(self.insights)}
