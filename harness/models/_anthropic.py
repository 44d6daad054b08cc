"""Anthropic's messages API.

The API returns one sample per request, so the wrapper sends ``n`` requests in parallel (each retried
and cached on its own). System messages go to ``system``; a message with ``cache=True`` gets a
``cache_control: {"type": "ephemeral"}`` marker on its (last) content block, which makes the prompt
up to and including it a cached prefix; usage reports ``cache_read_input_tokens`` and
``cache_creation_input_tokens``. The API has no seed and no log-probabilities: ``seed`` only keys the
response cache and ``logprobs`` come back as ``None``. ``temperature``/``top_p`` are sent only when
they differ from 1.0 (the API default; some models accept only one of them). Stop reasons are mapped
onto OpenAI's words: ``end_turn``/``stop_sequence`` -> ``stop``, ``max_tokens`` -> ``length``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ModelResponseError
from harness.models._hosted import HostedBackend
from harness.models._types import Completion, Message, SampleParams, Usage

_STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


class AnthropicConfig(BaseModel):
    """Settings of the ``anthropic:`` backend."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["anthropic"] = "anthropic"
    model: str
    """The model id, e.g. ``claude-sonnet-4-5``."""
    base_url: str | None = None
    """Another endpoint that speaks the messages API (a proxy, or harness's fake server in tests)."""
    api_key_env: str = "ANTHROPIC_API_KEY"
    """The environment variable holding the key."""
    timeout: float = Field(default=600.0, gt=0)
    """Seconds before one request counts as timed out (and is retried)."""
    max_concurrency: int = Field(default=16, ge=1)
    """Requests in flight at once for this model (``n`` samples are ``n`` requests)."""
    extra_body: dict[str, Any] = Field(default_factory=dict)
    """Extra request fields passed through as they are (e.g. ``thinking``)."""


class AnthropicBackend(HostedBackend[AnthropicConfig]):
    """One messages request per sample; retries, cache and cost live in the wrapper."""

    provider = "anthropic"
    native_n = False

    def _make_client(self, key: str) -> Any:
        import anthropic  # a core dependency, imported late to keep `import harness` light

        return anthropic.AsyncAnthropic(
            api_key=key, base_url=self.config.base_url, timeout=self.config.timeout, max_retries=0
        )

    def request_body(self, messages: Sequence[Message], params: SampleParams) -> dict[str, Any]:
        system = [_block(m) for m in messages if m.role == "system"]
        body: dict[str, Any] = {
            "model": self.config.model,
            "max_tokens": params.max_tokens,
            "messages": [{"role": m.role, "content": [_block(m)]} for m in messages if m.role != "system"],
        }
        if system:
            body["system"] = system
        if params.stop:
            body["stop_sequences"] = list(params.stop)
        extra = dict(self.config.extra_body)
        if params.temperature != 1.0:
            extra.setdefault("temperature", params.temperature)
        if params.top_p != 1.0:
            extra.setdefault("top_p", params.top_p)
        if extra:
            body["extra_body"] = extra
        return body

    async def generate(self, messages: Sequence[Message], params: SampleParams) -> list[Completion]:
        client = self._client_for_loop()
        with self._mapped_errors():
            resp = await client.messages.create(**self.request_body(messages, params))
        return [parse_message(resp, self.name)]


def _block(m: Message) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": m.content}
    if m.cache:
        block["cache_control"] = {"type": "ephemeral"}
    return block


def parse_message(resp: Any, name: str) -> Completion:
    """A completion from an SDK ``Message``; :class:`ModelResponseError` if it is not one."""
    content = getattr(resp, "content", None)
    usage = getattr(resp, "usage", None)
    if not isinstance(content, list) or usage is None:
        raise ModelResponseError(f"{name}: malformed response ({type(resp).__name__} without content/usage)")
    text = "".join(getattr(b, "text", "") for b in content if getattr(b, "type", None) == "text")
    stop = getattr(resp, "stop_reason", None)
    model = str(getattr(resp, "model", "") or "")
    return Completion(
        text=text,
        finish_reason=_STOP.get(stop, stop) if isinstance(stop, str) else None,
        usage=Usage(
            input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
            cache_read_tokens=int(getattr(usage, "cache_read_input_tokens", 0) or 0),
            cache_write_tokens=int(getattr(usage, "cache_creation_input_tokens", 0) or 0),
        ),
        model=f"anthropic:{model}" if model else name,
    )
