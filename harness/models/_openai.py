"""OpenAI chat completions, and any server that speaks them (``vllm serve``, ...) via ``base_url``.

``n`` is native (one request, ``n`` choices); per-token log-probabilities come from
``choices[i].logprobs.content[*].logprob``. The request's prompt tokens are split evenly across the
choices and its completion tokens in proportion to each choice's tokens (its logprobs) or characters,
so the completions' usage sums to the request's. OpenAI's ``cached_tokens`` are reported as
``cache_read_tokens`` and taken out of ``input_tokens`` (see :class:`Usage`).

Transport. By default the request goes out through harness's own aiohttp client
(:mod:`harness.models._openai_wire`: about 0.15 ms of client CPU a request against the SDK's 1.8 ms,
which capped a process near 450 requests/s); ``transport="sdk"`` sends it through the ``openai``
SDK's ``chat.completions.create`` instead. Both send the same JSON body and map failures alike.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ModelAuthError, ModelResponseError
from harness.models._backend import split_prompt
from harness.models._hosted import HostedBackend
from harness.models._openai_wire import ChatWire
from harness.models._types import Completion, Message, SampleParams, Usage

_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


class OpenAIConfig(BaseModel):
    """Settings of the ``openai:`` backend."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["openai"] = "openai"
    model: str
    """The model id sent to the server, e.g. ``gpt-4o-mini`` or the path ``vllm serve`` was given."""
    base_url: str | None = None
    """An OpenAI-compatible server, e.g. ``http://127.0.0.1:8000/v1`` for ``vllm serve``."""
    api_key_env: str = "OPENAI_API_KEY"
    """The environment variable holding the key. A ``base_url`` server without one gets ``EMPTY``."""
    timeout: float = Field(default=600.0, gt=0)
    """Seconds before one request counts as timed out (and is retried)."""
    max_concurrency: int = Field(default=64, ge=1)
    """Requests in flight at once for this model."""
    max_tokens_field: Literal["auto", "max_tokens", "max_completion_tokens"] = "auto"
    """Which request field carries ``max_tokens``; ``auto`` uses ``max_completion_tokens`` for OpenAI's
    reasoning models (o1, o3, o4, gpt-5) and ``max_tokens`` elsewhere (vLLM and most servers)."""
    extra_body: dict[str, Any] = Field(default_factory=dict)
    """Extra request fields passed through as they are (e.g. vLLM's ``top_k``)."""
    transport: Literal["aiohttp", "sdk"] = "aiohttp"
    """``aiohttp``: harness's own client (see :mod:`harness.models._openai_wire` for what it keeps of
    the SDK's request); ``sdk``: the ``openai`` SDK's ``chat.completions.create``, for what that
    client does not do (an SDK-only setting, a proxy or TLS setup it does not pick up). ``aiohttp``
    falls back to ``sdk`` when the ``aiohttp`` package is not installed."""


class OpenAIBackend(HostedBackend[OpenAIConfig]):
    """One chat-completions request per call; retries, cache and cost live in the wrapper."""

    provider = "openai"
    native_n = True

    def _api_key(self) -> str:
        """A ``base_url`` server may take no key (``vllm serve`` without ``--api-key``): it gets ``EMPTY``."""
        key = os.environ.get(self.config.api_key_env)
        if key or self.config.base_url is not None:
            return key or "EMPTY"
        raise ModelAuthError(
            f"{self.name}: no API key: set {self.config.api_key_env} "
            "(or pass --base-url for a local OpenAI-compatible server)"
        )

    def _make_client(self, key: str) -> Any:
        """A :class:`ChatWire`, or an ``openai.AsyncOpenAI`` (``transport="sdk"`` or no ``aiohttp``)."""
        if self.config.transport == "aiohttp" and importlib.util.find_spec("aiohttp") is not None:
            return ChatWire(
                name=self.name, api_key=key, base_url=self.config.base_url, timeout=self.config.timeout
            )
        import openai  # a core dependency, imported late to keep `import harness` light

        return openai.AsyncOpenAI(
            api_key=key, base_url=self.config.base_url, timeout=self.config.timeout, max_retries=0
        )

    def request_body(self, messages: Sequence[Message], params: SampleParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "n": params.n,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        field = self.config.max_tokens_field
        if field == "auto":
            reasoning = self.config.base_url is None and self.config.model.startswith(_REASONING_PREFIXES)
            field = "max_completion_tokens" if reasoning else "max_tokens"
        body[field] = params.max_tokens
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if params.logprobs:
            body["logprobs"] = True
        if self.config.extra_body:
            body["extra_body"] = dict(self.config.extra_body)
        return body

    async def generate(self, messages: Sequence[Message], params: SampleParams) -> list[Completion]:
        client = self._client_for_loop()
        body = self.request_body(messages, params)
        with self._mapped_errors():  # the wire client maps its own failures; they pass through
            if isinstance(client, ChatWire):
                body.update(body.pop("extra_body", {}))  # merged over the body, as the SDK does
                resp = await client.post(body)
            else:
                resp = await client.chat.completions.create(**body)
        return parse_chat_completion(resp, self.name, params.n)


def parse_chat_completion(resp: Any, name: str, n: int) -> list[Completion]:
    """Completions from a chat-completions answer: its JSON (a dict) or an SDK ``ChatCompletion``.

    Lenient like the SDK's own (non-validating) parsing: missing fields read as empty; only a body
    that is not a JSON object, or whose ``choices`` are not ``n`` objects, is a
    :class:`ModelResponseError` (e.g. the SDK hands back the text of a non-JSON answer as a ``str``).
    """
    if hasattr(resp, "model_dump"):  # the SDK transport's ChatCompletion
        resp = resp.model_dump()
    choices = resp.get("choices") if isinstance(resp, dict) else None
    if not isinstance(choices, list) or len(choices) != n or not all(isinstance(c, dict) for c in choices):
        count = len(choices) if isinstance(choices, list) else "no"
        raise ModelResponseError(
            f"{name}: malformed response: expected {n} choices, got {type(resp).__name__} with {count} choices"
        )
    try:
        choices = sorted(choices, key=lambda c: int(c.get("index") or 0))
        texts = [_field(c, "message", "content") or "" for c in choices]
        lps = [_logprobs(c) for c in choices]
        usage = resp.get("usage") or {}
        prompt = int(usage.get("prompt_tokens") or 0)
        output = int(usage.get("completion_tokens") or 0)
        cached = int(_field(usage, "prompt_tokens_details", "cached_tokens") or 0)
    except (TypeError, ValueError, LookupError, AttributeError) as exc:
        raise ModelResponseError(f"{name}: malformed response ({type(exc).__name__}: {exc})") from exc
    if not all(isinstance(t, str) for t in texts):
        raise ModelResponseError(f"{name}: malformed response: a choice's message content is not text")
    outs = _split_output(output, texts, lps)
    ins, reads = split_prompt(max(prompt - cached, 0), n), split_prompt(cached, n)
    model = str(resp.get("model") or "")
    return [
        Completion(
            text=texts[i],
            finish_reason=choices[i].get("finish_reason"),
            usage=Usage(input_tokens=ins[i], output_tokens=outs[i], cache_read_tokens=reads[i]),
            logprobs=lps[i],
            model=f"openai:{model}" if model else name,
        )
        for i in range(n)
    ]


def _field(obj: dict[str, Any], outer: str, inner: str) -> Any:
    """``obj[outer][inner]``, or ``None`` where either is missing or null."""
    sub = obj.get(outer)
    return sub.get(inner) if isinstance(sub, dict) else None


def _logprobs(choice: dict[str, Any]) -> list[float] | None:
    items = _field(choice, "logprobs", "content")
    return [float(t["logprob"]) for t in items] if items else None


def _split_output(total: int, texts: list[str], lps: list[list[float] | None]) -> list[int]:
    """Per-choice completion tokens: exact from logprobs when every choice has them, else by length."""
    if all(lp is not None for lp in lps):
        counts = [len(lp or []) for lp in lps]
        if sum(counts) == total:
            return counts
    weights = [max(len(t), 1) for t in texts]
    parts = [total * w // sum(weights) for w in weights]
    parts[0] += total - sum(parts)
    return parts
