"""Typed records and the ``Model`` seam."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from harness.models._accounting import Usage as Usage  # re-exported: the seam's records name it

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str
    cache: bool = False
    """A hint that the conversation up to and including this message is a shared prefix worth caching
    (Anthropic ``cache_control``); backends without prompt caching ignore it."""


class Completion(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    """Usage attributed to this completion (a request's prompt tokens are split across its ``n``)."""
    cost_usd: float = 0.0
    logprobs: list[float] | None = None
    """Per-token log-probabilities of ``text``, when the backend gives them."""
    model: str = ""
    cached: bool = False
    """Served from harness's response cache (no new paid call)."""


class SampleParams(BaseModel):
    """The sampling parameters of one request, validated once at the edge (``Model.sample``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int = Field(default=1, ge=1)
    temperature: float = Field(default=1.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(default=1024, ge=1)
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    logprobs: bool = False


@runtime_checkable
class Model(Protocol):
    """Anything that samples completions for a chat. Backends: openai, anthropic, vllm, replay, scripted."""

    name: str

    async def sample(
        self,
        messages: Sequence[Message],
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_tokens: int = 1024,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        logprobs: bool = False,
    ) -> list[Completion]: ...
