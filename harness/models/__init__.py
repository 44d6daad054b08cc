"""Model backends behind one seam, and the wrapper that makes them safe to spend money through.

``load(spec, **options)`` returns a :class:`HarnessModel` (a :class:`Model`): ``openai:``,
``anthropic:``, ``vllm:``, ``replay:`` or ``scripted:`` behind retries, a concurrency limit, a SQLite
response cache and cost accounting (:class:`CostMeter`, :class:`Budget`) in one vocabulary shared by
every layer (:class:`Usage`, :class:`Spend`, :class:`BudgetLimits`; money is ``cost_usd``). ``harness.models.testing``
ships fake OpenAI/Anthropic HTTP servers with injectable faults. See ``docs/models.md``.

Errors (from :mod:`harness.errors`): ``ConfigError`` for a bad spec or option; ``ModelAuthError``
(401/403, names the env var or option to fix); ``ModelRequestError`` (other 4xx, unknown replay
prompt); ``ModelResponseError`` (malformed body, after one retry); ``ModelTransientError`` (429, 5xx,
timeouts, dropped connections after every retry); ``BudgetExceeded`` (checked before each call).
"""

from __future__ import annotations

from harness.models._accounting import BudgetLimits, Spend, Usage
from harness.models._budget import Budget, CostMeter
from harness.models._cache import ResponseCache, cache_key, default_cache_path
from harness.models._pricing import Price, PricingTable, default_pricing
from harness.models._spec import PROVIDERS, WrapperOptions, load
from harness.models._types import Completion, Message, Model, Role, SampleParams
from harness.models._wrapper import HarnessModel, RetryPolicy

__all__ = [
    "PROVIDERS",
    "Budget",
    "BudgetLimits",
    "Completion",
    "CostMeter",
    "HarnessModel",
    "Message",
    "Model",
    "Price",
    "PricingTable",
    "ResponseCache",
    "RetryPolicy",
    "Role",
    "SampleParams",
    "Spend",
    "Usage",
    "WrapperOptions",
    "cache_key",
    "default_cache_path",
    "default_pricing",
    "load",
]
