"""Scattered Forest Search (Light et al., ICLR 2025), following the authors' released solver.

- **Foresting**: ``seeds`` programs sampled from the prompt, each under a different style instruction,
  hang under a virtual root (score -1); seeding stops early when a seed passes every visible test.
- **Selection**: from the root, descend by UCT (``c = sqrt(2)``) while the node has children, has no
  unimplemented direction, and has a child that scores better than itself; every node on the path
  (root included) gets a visit. Nodes start with one visit.
- **Scattering**: a node without unimplemented directions gets ``directions`` numbered improvement
  directions proposed from its feedback (one call); the first unimplemented one is implemented as a
  child (one call).
- **Max backup**: each ancestor's value becomes max(own value, child's value).
- **Scouting**: after every expansion a global insights text is updated from the parent, the direction,
  the child and the score change (one call), and shown to every later direction proposal.

Where we differ from the released code (see docs/search.md): the budget ends the loop instead of a
fixed iteration count; we stop as soon as any program passes every visible test (the released code
only notices when selection reaches it, and picks the same program in the end; ``stop_on_pass=False``
keeps its timing); directions are taken
in proposal order (the released code takes an arbitrary one from a set); an answer without numbered
ideas becomes one direction instead of an error after 5 retries; our own prompts, without few-shot
examples; visible tests from the prompt's examples first.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import Field

from harness.search._base import CommonConfig, Search, StopReason, Strategy
from harness.search._node import Node, Origin
from harness.search._prompts import DIRECTIONS, IMPLEMENT, INSIGHTS, STYLES, parse_directions, parse_insights
from harness.search._uct import SQRT2, backup_max, best_uct_child

NO_INSIGHTS = "None"


class SFSConfig(CommonConfig):
    type: Literal["sfs"] = "sfs"
    seeds: int = Field(default=5, ge=1)
    """Seed programs in the forest (the authors' comparison runs: 5)."""
    directions: int = Field(default=3, ge=1)
    """Directions proposed per scattering call (the solver's default 3; the comparison script used 2)."""
    c: float = SQRT2
    """UCT exploration constant."""
    styles: list[str] = Field(default_factory=lambda: list(STYLES))
    """Style instructions for the seeds (shuffled per search seed); empty: no style variation."""
    insights: bool = True
    """Scouting on/off (off is the ablation without shared insights)."""
    max_direction_attempts: int = 5
    """Scattering calls tried on one node before its answer is taken whole as a single direction."""


def unvisited_directions(node: Node) -> list[str]:
    used = {c.origin.direction for c in node.children}
    return [d for d in node.directions if d not in used]


def has_better_child(node: Node) -> bool:
    return any(c.score > node.score for c in node.children)


class SFS(Strategy[SFSConfig]):
    name = "sfs"
    config_type = SFSConfig

    def select(self, s: Search) -> Node:
        """SFS's trajectory: stop at a node with an unimplemented direction or no better child."""
        node = s.tree.root
        node.visits += 1
        while node.children and not unvisited_directions(node) and has_better_child(node):
            node = best_uct_child(node, self.config.c)
            node.visits += 1
        return node

    def _styles(self, seed: int) -> list[str]:
        styles = list(self.config.styles)
        random.Random(seed).shuffle(styles)
        return styles

    async def _body(self, s: Search) -> StopReason:
        root = s.tree.root
        root.score, root.value, root.visits = -1.0, 0.0, 1
        await s.prepare_tests()
        styles = self._styles(s.seed)
        for i in range(self.config.seeds):
            style = styles[i % len(styles)] if styles else ""
            (out,) = await s.call(s.seed_messages(style), "program")
            node = await s.add_program(out, Origin(kind="seed", style=style), None)
            node.visits = 1
            # The released seeding ends at a seed passing every visible test, whatever ``stop_on_pass``.
            if node.passed_all:
                return "solved_visible"
        insights = NO_INSIGHTS
        while True:
            node = self.select(s)
            if node is root:
                return "done"
            # The released loop's own stop (with ``stop_on_pass=False`` the only one): selection reached
            # a program passing every visible test. Such a program is never expanded.
            if node.passed_all:
                return "solved_visible"
            pending = await self._directions(s, node, insights)
            direction = pending[0]
            messages = IMPLEMENT.render(
                prompt=s.task.prompt, program=node.program, feedback=node.feedback, direction=direction
            )
            (out,) = await s.call(messages, "program")
            child = await s.add_program(out, Origin(kind="direction", direction=direction), node)
            child.visits = 1
            backup_max(child)
            if s.solved(child):
                return "solved_visible"
            if self.config.insights:
                insights = await self._update_insights(s, node, child, insights)

    async def _directions(self, s: Search, node: Node, insights: str) -> list[str]:
        pending = unvisited_directions(node)
        attempts = 0
        while not pending:
            messages = DIRECTIONS.render(
                prompt=s.task.prompt,
                program=node.program,
                feedback=node.feedback,
                insights=insights,
                n=self.config.directions,
            )
            (out,) = await s.call(messages, "directions")
            attempts += 1
            new = [d for d in parse_directions(out.text, self.config.directions) if d not in node.directions]
            if not new and attempts >= self.config.max_direction_attempts:
                # Nothing new after several tries: the whole answer becomes one (unique) direction, so a
                # model that repeats itself cannot stall the search.
                text = " ".join(out.text.split())[:2000] or "Make the implementation pass the failing tests."
                new = [f"{text} (variant {len(node.directions) + 1})"]
            node.directions.extend(new)
            pending = unvisited_directions(node)
        return pending

    async def _update_insights(self, s: Search, parent: Node, child: Node, insights: str) -> str:
        messages = INSIGHTS.render(
            prompt=s.task.prompt,
            parent_program=parent.program,
            parent_feedback=parent.feedback,
            direction=child.origin.direction,
            program=child.program,
            feedback=child.feedback,
            delta=f"{child.score - parent.score:+.3f}",
            insights=insights,
        )
        (out,) = await s.call(messages, "insights")
        updated = parse_insights(out.text) or insights
        s.tree.insights.append(updated)
        return updated
