"""The ``openai:`` backend's own HTTP client: ``POST {base_url}/chat/completions`` over aiohttp.

Why not the SDK: per request, ``openai.AsyncOpenAI.chat.completions.create`` costs about 1.8 ms of
client CPU (the recursive transform of its typed parameters, its httpx request and header machinery,
the default transport's connection pool, building a ``ChatCompletion``), which caps one process near
450 requests/s; even ``client.post`` over the SDK's aiohttp transport costs about 0.6 ms. The request
itself is a JSON object of strings and numbers, so this module sends it with one aiohttp session per
event loop (about 0.15 ms) and hands back the parsed JSON (see ``benchmarks/models.py``).

What it keeps of the SDK's request: ``Authorization: Bearer <key>``, ``OpenAI-Organization`` /
``OpenAI-Project`` from ``OPENAI_ORG_ID`` / ``OPENAI_PROJECT_ID``, ``OPENAI_BASE_URL`` when no base URL
is given, the timeout as connect and per-read timeouts (as the SDK's transports apply it), the proxy
for the URL from the environment (``HTTPS_PROXY``, ``NO_PROXY``, ...), redirects followed, the system's and certifi's CA certificates. Failures come out as
the SDK's would through :func:`~harness.models._errors.translate_sdk_error`: a non-2xx answer raises
:class:`HTTPStatusFailure` (the SDK's ``status_code``/``response.headers``/``body`` shape), a timeout
or a broken connection a :class:`~harness.models._errors.TransientFailure`, a body that is not JSON a
:class:`~harness.errors.ModelResponseError` (a JSON decode error is a ``ValueError``, mapped likewise).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from harness.errors import ModelResponseError
from harness.models._errors import TransientFailure

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class _Answer:
    """The part of an HTTP response :func:`translate_sdk_error` reads (``Retry-After``)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = headers


class HTTPStatusFailure(Exception):
    """A non-2xx answer, shaped like the SDK's ``APIStatusError`` for ``translate_sdk_error``."""

    def __init__(self, status: int, headers: Mapping[str, str], body: object) -> None:
        super().__init__(f"Error code: {status} - {body}")
        self.status_code = status
        self.response = _Answer(headers)
        self.body = body


class ChatWire:
    """One aiohttp session (made lazily, in the running event loop) posting chat-completions bodies."""

    def __init__(self, *, name: str, api_key: str, base_url: str | None, timeout: float) -> None:
        self.name = name
        self.given_base_url = base_url
        base = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.url = base.rstrip("/") + "/chat/completions"
        self.timeout = timeout
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "harness (OpenAI-compatible chat completions)",
        }
        for env, header in (
            ("OPENAI_ORG_ID", "OpenAI-Organization"),
            ("OPENAI_PROJECT_ID", "OpenAI-Project"),
        ):
            if os.environ.get(env):
                headers[header] = os.environ[env]
        self._headers = headers
        self._session: Any = None
        self._proxy: dict[str, Any] = {}

    def _open(self) -> Any:
        import aiohttp  # a core dependency (openai[aiohttp]); imported late to keep `import harness` light
        import yarl

        ssl_ctx: Any = None
        if self.url.startswith("https:"):
            import ssl

            import certifi

            ssl_ctx = ssl.create_default_context()  # the system's CAs (and SSL_CERT_FILE) ...
            ssl_ctx.load_verify_locations(certifi.where())  # ... and certifi's, which the SDK uses
        # No connection cap here: the wrapper's semaphore caps this model's requests in flight.
        connector = aiohttp.TCPConnector(limit=0, ssl=ssl_ctx if ssl_ctx is not None else True)
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self.timeout, sock_connect=self.timeout, sock_read=self.timeout
        )
        # The proxy is looked up once: `trust_env=True` would look it (and ~/.netrc) up in a thread on
        # every request, about a fifth of this client's CPU.
        try:
            proxy, proxy_auth = aiohttp.helpers.get_env_proxy_for_url(yarl.URL(self.url))
        except LookupError:  # no proxy for this URL in the environment
            proxy, proxy_auth = None, None
        self._proxy = {"proxy": proxy, "proxy_auth": proxy_auth} if proxy is not None else {}
        self._session = aiohttp.ClientSession(connector=connector, headers=self._headers, timeout=timeout)
        return self._session

    async def post(self, body: Mapping[str, Any]) -> Any:
        """The answer's parsed JSON; raises as the module docstring says."""
        import aiohttp

        session = self._session if self._session is not None else self._open()
        data = json.dumps(body).encode()
        try:
            async with session.post(self.url, data=data, **self._proxy) as resp:
                raw = await resp.read()
                status, headers = resp.status, resp.headers
        except TimeoutError as exc:  # aiohttp's timeouts subclass TimeoutError
            raise TransientFailure(
                f"{self.name}: no answer from{self._where()} (timed out after {self.timeout:g} s)"
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise TransientFailure(
                f"{self.name}: no answer from{self._where()} ({type(exc).__name__}: {exc})"
            ) from exc
        if not 200 <= status < 300:
            raise HTTPStatusFailure(status, headers, _error_body(raw))
        ctype = headers.get("Content-Type", "").split(";", 1)[0].strip()
        if not ctype.endswith("json"):
            raise ModelResponseError(
                f"{self.name}: malformed response (Content-Type {ctype or 'missing'!r}, not JSON: "
                f"{raw[:120].decode('utf-8', 'replace')!r})"
            )
        return json.loads(raw)  # a ValueError on a truncated body: the caller maps it

    def _where(self) -> str:
        if self.given_base_url:
            return f" {self.given_base_url} (is the server up? check --base-url)"
        return " the provider"

    async def close(self) -> None:
        """Close the session (named as the SDK clients' ``close``, so the backend closes either alike)."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


def _error_body(raw: bytes) -> object:
    """An error answer's JSON, or its text when it is not JSON (as the SDK keeps it)."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        return json.loads(text)
    except ValueError:
        return text
