"""OpenAI chat completions, and any server that speaks them (``vllm serve``, ...) via ``base_url``.

``n`` is native (one request, ``n`` choices); per-token log-probabilities come from
``choices[i].logprobs.content[*].logprob``. The request's prompt tokens are split evenly across the
choices and its completion tokens in proportion to each choice's tokens (its logprobs) or characters,
so the completions' usage sums to the request's. OpenAI's ``cached_tokens`` are reported as
``cache_read_tokens`` and taken out of ``input_tokens`` (see :class:`Usage`).

Throughput. The SDK's ``chat.completions.create`` spends most of its client CPU on two things that a
chat of plain strings does not need: the recursive transform of the typed request parameters, and
the default httpx transport's connection pool. So the backend sends the request body it built itself
with the SDK's own ``client.post("/chat/completions", cast_to=ChatCompletion, ...)`` (the same
request: auth headers, ``extra_body`` merge, per-request timeout, the SDK's status errors and response
parsing), over the SDK's aiohttp transport (``openai.DefaultAioHttpClient``). Both are safe for every
option this backend sends: its body holds only strings, numbers, booleans and lists of strings, for
which the transform is the identity. See :meth:`OpenAIBackend.generate` for when it falls back.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ModelAuthError, ModelResponseError
from harness.models._backend import split_prompt
from harness.models._errors import translate_sdk_error
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


class OpenAIBackend:
    """One chat-completions request per call; retries, cache and cost live in the wrapper."""

    provider = "openai"
    native_n = True
    cache_by_default = True

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config
        self.model_id = config.model
        self.default_concurrency = config.max_concurrency
        self.name = f"openai:{config.model}"
        self._client: Any = None
        self._loop: object = None
        self._post_options: Any = None
        """The SDK request options of the fast path, or ``None`` to go through ``create``."""

    def _client_for_loop(self) -> Any:
        import asyncio

        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            import openai  # a core dependency, imported late to keep `import harness` light

            key = os.environ.get(self.config.api_key_env)
            if not key:
                if self.config.base_url is None:
                    raise ModelAuthError(
                        f"{self.name}: no API key: set {self.config.api_key_env} "
                        "(or pass --base-url for a local OpenAI-compatible server)"
                    )
                key = "EMPTY"
            self._client = openai.AsyncOpenAI(
                api_key=key,
                base_url=self.config.base_url,
                timeout=self.config.timeout,
                max_retries=0,
                http_client=_aiohttp_client(openai, self.config.timeout),
            )
            self._post_options = _fast_post_options(self.config.extra_body)
            self._loop = loop
        return self._client

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
        """One request through the fast path (see the module docstring).

        Falls back to the SDK's ``chat.completions.create`` (the same body, typed and transformed by
        the SDK) when the installed SDK lacks the internals the fast path uses
        (``openai._base_client.make_request_options`` with ``security``); the aiohttp transport falls
        back to the SDK's default httpx transport when ``aiohttp`` is not installed.
        """
        client = self._client_for_loop()
        body = self.request_body(messages, params)
        try:
            if self._post_options is None:
                resp = await client.chat.completions.create(**body)
            else:
                from openai.types.chat import ChatCompletion

                body.pop("extra_body", None)  # already in the options, merged into the JSON by the SDK
                resp = await client.post(
                    "/chat/completions", body=body, cast_to=ChatCompletion, options=self._post_options
                )
        except Exception as exc:
            mapped = translate_sdk_error(
                exc, model=self.name, key_env=self.config.api_key_env, base_url=self.config.base_url
            )
            if mapped is None:
                raise
            raise mapped from exc
        return parse_chat_completion(resp, self.name, params.n)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _aiohttp_client(openai: Any, timeout: float) -> Any:
    """The SDK's aiohttp transport, or ``None`` (the SDK's default) without ``aiohttp`` or in old SDKs."""
    factory = getattr(openai, "DefaultAioHttpClient", None)
    if factory is None:
        return None
    try:
        return factory(timeout=timeout)
    except RuntimeError:  # the SDK's placeholder when the `aiohttp` extra is not installed
        return None


def _fast_post_options(extra_body: dict[str, Any]) -> Any:
    """What ``create`` passes to ``client.post`` besides the body, or ``None`` if this SDK differs."""
    try:
        from openai._base_client import make_request_options

        return make_request_options(extra_body=dict(extra_body) or None, security={"bearer_auth": True})
    except (ImportError, TypeError):  # an SDK without these internals (or without `security`)
        return None


def parse_chat_completion(resp: Any, name: str, n: int) -> list[Completion]:
    """Completions from an SDK ``ChatCompletion``; :class:`ModelResponseError` if it is not one."""
    choices = getattr(resp, "choices", None)
    if not isinstance(choices, list) or len(choices) != n:
        raise ModelResponseError(
            f"{name}: malformed response: expected {n} choices, got {type(resp).__name__} "
            f"with {len(choices) if isinstance(choices, list) else 'no'} choices"
        )
    choices = sorted(choices, key=lambda c: c.index)
    texts: list[str] = []
    lps: list[list[float] | None] = []
    for c in choices:
        content = c.message.content if c.message is not None else None
        texts.append(content or "")
        lp = getattr(c, "logprobs", None)
        items = getattr(lp, "content", None) if lp is not None else None
        lps.append([float(t.logprob) for t in items] if items else None)
    usage = getattr(resp, "usage", None)
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    output = int(getattr(usage, "completion_tokens", 0) or 0)
    details = getattr(usage, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    outs = _split_output(output, texts, lps)
    ins, reads = split_prompt(max(prompt - cached, 0), n), split_prompt(cached, n)
    model = str(getattr(resp, "model", "") or "")
    return [
        Completion(
            text=texts[i],
            finish_reason=choices[i].finish_reason,
            usage=Usage(input_tokens=ins[i], output_tokens=outs[i], cache_read_tokens=reads[i]),
            logprobs=lps[i],
            model=f"openai:{model}" if model else name,
        )
        for i in range(n)
    ]


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
