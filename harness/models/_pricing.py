"""Dollar prices per token, from the data file ``pricing.toml`` shipped in the package.

A :class:`Price` is four numbers in US dollars per million tokens. :class:`PricingTable` finds the price
of ``provider:model`` by the longest key that prefixes the model id, so dated snapshots
(``claude-sonnet-4-5-20250929``) share their family's price. Unknown models cost nothing and are logged
once, so a run never fails for want of a price.
"""

from __future__ import annotations

import logging
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import ConfigError
from harness.models._types import Usage

log = logging.getLogger(__name__)

FREE_PROVIDERS = frozenset({"vllm", "replay", "scripted"})


class Price(BaseModel):
    """US dollars per million tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(default=0.0, ge=0)
    """Prompt tokens at the full price."""
    output: float = Field(default=0.0, ge=0)
    """Generated tokens."""
    cache_read: float = Field(default=0.0, ge=0)
    """Prompt tokens read from the provider's prompt cache."""
    cache_write: float = Field(default=0.0, ge=0)
    """Prompt tokens written to the provider's prompt cache."""

    def cost(self, usage: Usage) -> float:
        """Dollars for ``usage`` at this price."""
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_read_tokens * self.cache_read
            + usage.cache_write_tokens * self.cache_write
        ) / 1_000_000


FREE = Price()


class PricingTable:
    """Prices by provider and model id; ``with_overrides`` layers a config's prices on top."""

    def __init__(self, prices: dict[str, dict[str, Price]]) -> None:
        self._prices = prices
        self._warned: set[str] = set()

    @classmethod
    def default(cls) -> PricingTable:
        text = resources.files("harness.models").joinpath("pricing.toml").read_text("utf-8")
        return cls(_parse(tomllib.loads(text), "pricing.toml (package data)"))

    def with_file(self, path: str | Path) -> PricingTable:
        """This table with the prices in a TOML file of the same shape layered on top."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read pricing file {p}: {exc}") from exc
        return self.with_overrides(_parse(data, str(p)))

    def with_overrides(self, prices: dict[str, dict[str, Price]]) -> PricingTable:
        merged = {prov: dict(models) for prov, models in self._prices.items()}
        for prov, models in prices.items():
            merged.setdefault(prov, {}).update(models)
        return PricingTable(merged)

    def lookup(self, provider: str, model: str) -> Price:
        """The price of ``provider:model``: exact id, else the longest prefix key, else free (logged)."""
        table = self._prices.get(provider, {})
        if model in table:
            return table[model]
        best = max((k for k in table if model.startswith(k)), key=len, default=None)
        if best is not None:
            return table[best]
        if provider not in FREE_PROVIDERS and f"{provider}:{model}" not in self._warned:
            self._warned.add(f"{provider}:{model}")
            log.warning(
                "no price known for %s:%s; its cost is counted as $0 (pass price=...)", provider, model
            )
        return FREE


def _parse(data: dict[str, Any], origin: str) -> dict[str, dict[str, Price]]:
    out: dict[str, dict[str, Price]] = {}
    for provider, models in data.items():
        if provider == "version":
            continue
        if not isinstance(models, dict):
            raise ConfigError(f"{origin}: [{provider}] must be a table of models")
        try:
            out[provider] = {name: Price.model_validate(p) for name, p in models.items()}
        except ValueError as exc:
            raise ConfigError(f"{origin}: bad price under [{provider}]: {exc}") from exc
    return out


_DEFAULT: PricingTable | None = None


def default_pricing() -> PricingTable:
    """The package's table, parsed once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = PricingTable.default()
    return _DEFAULT
