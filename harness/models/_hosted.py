"""What the two HTTP backends (``openai:``, ``anthropic:``) share: a client per event loop, the key
from the environment, and one mapping of a client's failures onto harness's errors.

An SDK or aiohttp client is bound to the event loop it was made in, and harness runs a fresh loop per
``asyncio.run``; so the client is made on first use in a loop and made again when the loop changes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Generic, Protocol, TypeVar

from harness.errors import ModelAuthError, ModelError
from harness.models._errors import translate_sdk_error


class HostedConfig(Protocol):
    """The settings both HTTP backends' configs have."""

    model: str
    base_url: str | None
    api_key_env: str
    timeout: float
    max_concurrency: int
    extra_body: dict[str, Any]


ConfigT = TypeVar("ConfigT", bound=HostedConfig)


class HostedBackend(Generic[ConfigT]):
    """A backend over an HTTP client; subclasses set ``provider``/``native_n`` and make the client."""

    provider: str
    native_n: bool
    cache_by_default = True

    def __init__(self, config: ConfigT) -> None:
        self.config = config
        self.model_id = config.model
        self.default_concurrency = config.max_concurrency
        self.name = f"{self.provider}:{config.model}"
        self.cache_options: dict[str, Any] = {"extra_body": config.extra_body} if config.extra_body else {}
        self._client: Any = None
        """The client made for the event loop in ``_loop``; it has an async ``close()``."""
        self._loop: object = None

    def _make_client(self, key: str) -> Any:
        raise NotImplementedError

    def _api_key(self) -> str:
        """The key in ``config.api_key_env``; :class:`ModelAuthError` when it is unset or empty."""
        key = os.environ.get(self.config.api_key_env)
        if not key:
            raise ModelAuthError(f"{self.name}: no API key: set {self.config.api_key_env}")
        return key

    def _client_for_loop(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = self._make_client(self._api_key())
            self._loop = loop
        return self._client

    @contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        """Raise a failure of the request inside as harness's error (:func:`translate_sdk_error`).

        A :class:`ModelError` (already mapped) and what the translator does not know pass as they are.
        """
        try:
            yield
        except ModelError:
            raise
        except Exception as exc:
            mapped = translate_sdk_error(
                exc, model=self.name, key_env=self.config.api_key_env, base_url=self.config.base_url
            )
            if mapped is None:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
