"""The inner seam every provider implements; :class:`harness.models.HarnessModel` wraps it.

A backend sends *one* request and reports what came back, raw: no retries, no cache, no cost. It
raises :class:`~harness.models._errors.TransientFailure` for what may pass on retry,
:class:`~harness.errors.ModelResponseError` for a malformed answer and
:class:`~harness.errors.ModelAuthError` / :class:`~harness.errors.ModelRequestError` for the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from harness.models._types import Completion, Message, SampleParams, Usage


class Backend(Protocol):
    provider: str
    """``openai``, ``anthropic``, ``vllm``, ``replay`` or ``scripted`` (the pricing table's section)."""
    model_id: str
    """The provider's model id (the pricing table's key)."""
    native_n: bool
    """True when one request returns ``n`` samples; otherwise the wrapper sends ``n`` requests."""
    cache_by_default: bool
    """Whether the response cache is on unless the caller says otherwise."""
    default_concurrency: int
    """Requests in flight at once unless the caller says otherwise."""

    async def generate(self, messages: Sequence[Message], params: SampleParams) -> list[Completion]:
        """One request for ``params.n`` samples (``n == 1`` unless ``native_n``)."""
        ...

    async def aclose(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """A provider-free token estimate (about four characters a token), for backends without counts."""
    return math.ceil(len(text) / 4) if text else 0


def messages_tokens(messages: Sequence[Message]) -> int:
    """Estimated prompt tokens of a chat, with a few tokens of framing per message."""
    return sum(estimate_tokens(m.content) + 4 for m in messages)


def split_prompt(total: int, n: int) -> list[int]:
    """Split a request's prompt tokens across its ``n`` completions; the parts sum to ``total``."""
    base, rest = divmod(total, max(n, 1))
    return [base + (1 if i < rest else 0) for i in range(max(n, 1))]


def split_usage(total: Usage, n: int) -> list[Usage]:
    """Split a request's prompt-side usage across ``n`` completions (output tokens set by the caller)."""
    parts = [
        split_prompt(v, n) for v in (total.input_tokens, total.cache_read_tokens, total.cache_write_tokens)
    ]
    return [
        Usage(input_tokens=a, cache_read_tokens=b, cache_write_tokens=c)
        for a, b, c in zip(*parts, strict=True)
    ]


def pseudo_logprobs(text: str, salt: int = 0) -> list[float]:
    """Deterministic per-token log-probabilities for fakes: one negative number per whitespace token."""
    out: list[float] = []
    for i, tok in enumerate(text.split()):
        h = (hash_str(tok) + 7919 * i + salt) % 1000
        out.append(-round(0.01 + h / 400.0, 4))
    return out


def hash_str(s: str) -> int:
    """A process-independent string hash (Python's ``hash`` is salted per process)."""
    h = 2166136261
    for ch in s.encode("utf-8"):
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h
