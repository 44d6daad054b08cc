"""Tree arithmetic shared by MCTS and SFS: UCT scores and the two backups (mean and max)."""

from __future__ import annotations

import math

from harness.search._node import Node

SQRT2 = math.sqrt(2.0)


def uct(child: Node, parent_visits: int, c: float = SQRT2) -> float:
    """``value + c * sqrt(ln(N_parent) / N_child)``; an unvisited child scores +inf."""
    if child.visits <= 0:
        return math.inf
    if parent_visits <= 1:
        return child.value
    return child.value + c * math.sqrt(math.log(parent_visits) / child.visits)


def best_uct_child(node: Node, c: float = SQRT2) -> Node:
    """The child with the highest UCT score; the earliest child among ties."""
    if not node.children:
        raise ValueError("best_uct_child of a node without children")
    best, best_score = node.children[0], -math.inf
    for child in node.children:
        score = uct(child, node.visits, c)
        if score > best_score:
            best, best_score = child, score
    return best


def backup_mean(leaf: Node) -> None:
    """Classic MCTS backup: every ancestor's visits grow by one and its value becomes the running
    mean of the values backed up through it (its own score counting as the first)."""
    value = leaf.value
    node = leaf.parent
    while node is not None:
        node.visits += 1
        node.value += (value - node.value) / node.visits
        node = node.parent


def backup_max(leaf: Node) -> None:
    """SFS's backup: each ancestor's value becomes the max of its value and its child's value."""
    node = leaf
    while node.parent is not None:
        node.parent.value = max(node.parent.value, node.value)
        node = node.parent
