"""MCTS with UCT over programs: select by UCT, expand by a feedback-conditioned refinement, evaluate
on the visible tests (the pass fraction is the reward; no rollout), back up the mean."""

from __future__ import annotations

from typing import Literal

from harness.search._base import CommonConfig, Search, StopReason, Strategy
from harness.search._node import Node, Origin
from harness.search._uct import SQRT2, backup_max, backup_mean, best_uct_child


class MCTSConfig(CommonConfig):
    type: Literal["mcts"] = "mcts"
    c: float = SQRT2
    """UCT exploration constant (sqrt(2), as in UCT and SFS's tree baseline)."""
    width: int = 2
    """Children per node before selection descends below it (SFS's tree baseline: branching factor 2)."""
    seeds: int = 1
    """Programs sampled from the prompt under the virtual root (SFS's tree baseline: 1)."""
    backup: Literal["mean", "max"] = "mean"
    """Classic MCTS averages; ``max`` is SFS's backup (for ablations)."""


class MCTS(Strategy[MCTSConfig]):
    """Monte Carlo tree search with UCT. A node is *fully expanded* once it has ``width`` children
    (the virtual root: ``seeds``); selection descends through fully expanded nodes by UCT and expands
    the first node that is not. Visits are counted on backup."""

    name = "mcts"
    config_type = MCTSConfig

    def _width(self, s: Search, node: Node) -> int:
        return self.config.seeds if node is s.tree.root else self.config.width

    def select(self, s: Search) -> Node:
        node = s.tree.root
        while node.children and len(node.children) >= self._width(s, node):
            node = best_uct_child(node, self.config.c)
        return node

    async def _body(self, s: Search) -> StopReason:
        s.tree.root.visits = 0
        await s.prepare_tests()
        while True:
            leaf = self.select(s)
            if leaf is s.tree.root:
                (out,) = await s.call(s.seed_messages(), "program")
                child = await s.add_program(out, Origin(kind="seed"), None)
            else:
                (out,) = await s.call(s.refine_messages(leaf), "program")
                child = await s.add_program(out, Origin(kind="refine"), leaf)
            child.visits = 1
            if self.config.backup == "mean":
                backup_mean(child)
            else:
                backup_max(child)
                node = child.parent
                while node is not None:
                    node.visits += 1
                    node = node.parent
            if s.solved(child):
                return "solved_visible"
