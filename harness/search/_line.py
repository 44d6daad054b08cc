"""Line search: self-repair in a line, as in Reflexion (reflect on the test feedback, then refine)."""

from __future__ import annotations

from typing import Literal

from harness.search._base import CommonConfig, Search, StopReason, Strategy
from harness.search._node import Node, Origin
from harness.search._prompts import REFINE_WITH_REFLECTION, REFLECT


class LineSearchConfig(CommonConfig):
    type: Literal["line"] = "line"
    reflect: bool = True
    """Reflexion's two steps: a reflection call on the feedback, then a refinement that sees it.
    False: one refinement call that sees the feedback only (plain self-repair)."""
    from_best: bool = False
    """Refine the best program so far instead of the latest (Reflexion refines the latest)."""


class LineSearch(Strategy[LineSearchConfig]):
    """One seed, then a chain: each program is a refinement of the previous one, conditioned on its
    failing-test feedback (and, with ``reflect``, on a reflection about that feedback)."""

    name = "line"
    config_type = LineSearchConfig

    async def _body(self, s: Search) -> StopReason:
        await s.prepare_tests()
        (first,) = await s.call(s.seed_messages(), "program")
        node = await s.add_program(first, Origin(kind="seed"), None)
        while not s.solved(node):
            base = (s.tree.best() or node) if self.config.from_best else node
            node = await self._refine(s, base)
        return "solved_visible"

    async def _refine(self, s: Search, base: Node) -> Node:
        if not self.config.reflect:
            (out,) = await s.call(s.refine_messages(base), "program")
            return await s.add_program(out, Origin(kind="refine"), base)
        task = s.task
        (ref,) = await s.call(
            REFLECT.render(prompt=task.prompt, program=base.program, feedback=base.feedback), "reflection"
        )
        messages = REFINE_WITH_REFLECTION.render(
            prompt=task.prompt, program=base.program, feedback=base.feedback, reflection=ref.text.strip()
        )
        (out,) = await s.call(messages, "program")
        return await s.add_program(out, Origin(kind="refine", reflection=ref.text.strip()), base)
