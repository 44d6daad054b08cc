"""One model conversation of a stage: sends requests, logs them, sums what they cost."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

from harness.models import Spend, Usage
from harness.models._types import Completion, Message, Model
from harness.trajectory import TrajectoryLog


def __getattr__(name: str) -> object:
    if name == "Spent":  # the pipeline's own spending record, before harness.models.Spend
        warnings.warn(
            "harness.pipeline._chat.Spent is deprecated: use harness.models.Spend (the same class)",
            DeprecationWarning,
            stacklevel=2,
        )
        return Spend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Chat:
    """A growing message list sent to ``model`` one turn at a time; every request and response is
    appended to ``log`` (when given) and counted in ``spent``."""

    model: Model
    messages: list[Message]
    log: TrajectoryLog | None = None
    temperature: float = 0.0
    max_tokens: int = 4096
    spent: Spend = field(default_factory=Spend)
    _logged: int = 0

    async def ask(self) -> Completion:
        """The model's next answer (appended to the conversation). Model errors propagate."""
        if self.log is not None:
            new = self.messages[self._logged :]
            self.log.append(
                "model_request",
                {
                    "messages": [m.model_dump(include={"role", "content"}) for m in new],
                    "params": {"temperature": self.temperature, "max_tokens": self.max_tokens},
                },
            )
            self._logged = len(self.messages)
        start = time.monotonic()
        comp = (
            await self.model.sample(
                self.messages, n=1, temperature=self.temperature, max_tokens=self.max_tokens
            )
        )[0]
        self.spent.time_s += time.monotonic() - start
        self.spent.add(Spend.of([comp]))
        if self.log is not None:
            self.log.append(
                "model_response",
                {"text": comp.text, "finish_reason": comp.finish_reason, "model": comp.model}
                | ({"cached": True} if comp.cached else {}),
                cost_usd=comp.cost_usd,
                usage=comp.usage.model_dump(),
            )
        self.messages.append(Message(role="assistant", content=comp.text))
        self._logged = len(self.messages)
        return comp

    def say(self, text: str) -> None:
        self.messages.append(Message(role="user", content=text))


def usage_of(spent: Spend) -> Usage:
    return Usage(input_tokens=spent.input_tokens, output_tokens=spent.output_tokens)
