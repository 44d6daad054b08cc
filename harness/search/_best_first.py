"""Best-first search: a global priority queue of programs ordered by visible-test pass fraction, ties
broken by length-normalised log-probability (BFS-Prover: ``sum(logp) / L**alpha``)."""

from __future__ import annotations

import heapq
from typing import Literal

from harness.search._base import CommonConfig, Search, StopReason, Strategy
from harness.search._node import Node, Origin


class BestFirstConfig(CommonConfig):
    type: Literal["best_first"] = "best_first"
    width: int = 2
    """Expansion width W: refinements sampled from each popped node (one request with ``n=W``), and
    seeds sampled from the prompt. BFS-Prover samples more per Lean state; 2 suits ~10-program budgets."""
    alpha: float = 0.5
    """Length-normalisation exponent of the tie-break (BFS-Prover's score ``sum(logp) / L**alpha``)."""
    logprobs: bool = True


def priority(node: Node, alpha: float) -> tuple[float, float, int]:
    """The heap key (smallest pops first): higher pass fraction, then higher length-normalised
    log-probability (0.0 when the backend gives none), then earlier creation."""
    return (-node.score, -node.normalised_logprob(alpha), node.id)


class BestFirst(Strategy[BestFirstConfig]):
    """Pops the best open node, samples ``width`` refinements of it conditioned on its feedback, and
    pushes them. A popped node is closed (never expanded twice)."""

    name = "best_first"
    config_type = BestFirstConfig

    async def _body(self, s: Search) -> StopReason:
        await s.prepare_tests()
        heap: list[tuple[tuple[float, float, int], Node]] = []
        parent: Node | None = None
        while True:
            if parent is None:
                outs = await s.call(s.seed_messages(), "program", n=self.config.width)
                origin = Origin(kind="seed")
            else:
                outs = await s.call(s.refine_messages(parent), "program", n=self.config.width)
                origin = Origin(kind="refine")
            # Every program of the request joins the tree before the stop check: all were paid for,
            # so the tree (and oracle coverage) holds as many programs as the budget counted.
            nodes = [await s.add_program(out, origin, parent) for out in outs]
            if any(s.solved(node) for node in nodes):
                return "solved_visible"
            for node in nodes:
                heapq.heappush(heap, (priority(node, self.config.alpha), node))
            parent = heapq.heappop(heap)[1] if heap else None
