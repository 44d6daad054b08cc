"""Typed records and the ``Model`` seam."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str
    cache: bool = False
    """A hint that the conversation up to and including this message is a shared prefix worth caching
    (Anthropic ``cache_control``); backends without prompt caching ignore it."""


class Usage(BaseModel):
    """Tokens one completion (or a sum of them) used.

    ``input_tokens`` are the prompt tokens billed at the full input price; tokens read from or written
    to the provider's prompt cache are counted only in ``cache_read_tokens`` / ``cache_write_tokens``
    (Anthropic's convention; OpenAI's ``cached_tokens`` are moved out of ``prompt_tokens`` to match).
    """

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )


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
