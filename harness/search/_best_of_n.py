"""Best-of-N: sample independent programs from the task prompt; keep the best on the visible tests."""

from __future__ import annotations

from typing import Literal

from harness.search._base import CommonConfig, Search, StopReason, Strategy
from harness.search._node import Origin


class BestOfNConfig(CommonConfig):
    type: Literal["best_of_n"] = "best_of_n"
    temperature: float = 0.8
    """Repeated sampling needs diversity: 0.8 as in Codex/CodeT sampling (and the CodeT pools)."""
    batch: int = 1
    """Programs asked for per request. 1 keeps ``calls`` comparable with the sequential strategies."""


class BestOfN(Strategy[BestOfNConfig]):
    """Samples programs one request at a time until the budget is spent or one passes every visible
    test. The choice is the highest visible score, the earliest among ties."""

    name = "best_of_n"
    config_type = BestOfNConfig

    async def _body(self, s: Search) -> StopReason:
        await s.prepare_tests()
        while True:
            outs = await s.call(s.seed_messages(), "program", n=self.config.batch)
            # The whole batch joins the tree (it was paid for) before the stop check.
            nodes = [await s.add_program(out, Origin(kind="seed"), None) for out in outs]
            if any(s.solved(node) for node in nodes):
                return "solved_visible"
