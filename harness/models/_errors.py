"""How provider failures map onto harness's errors, and which ones are worth another attempt.

Backends raise :class:`TransientFailure` for what may succeed on retry (429, 5xx, timeouts, dropped
connections), :class:`harness.errors.ModelResponseError` for a malformed or truncated body (retried
once), and :class:`~harness.errors.ModelAuthError` / :class:`~harness.errors.ModelRequestError` for
what no retry can fix. The OpenAI and Anthropic SDKs share one exception shape (``status_code``,
``response.headers``), so one translator serves both.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping

from pydantic import ValidationError

from harness.errors import (
    ModelAuthError,
    ModelError,
    ModelRequestError,
    ModelResponseError,
    ModelTransientError,
)

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
"""HTTP statuses worth another attempt; every other 4xx is the caller's mistake."""


class TransientFailure(ModelTransientError):
    """A failure that may pass on retry. ``retry_after`` is the server's ``Retry-After``, in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date)."""
    if not headers:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw.strip() else None
        return None if parsed is None else max(0.0, parsed.timestamp() - time.time())


def auth_hint(key_env: str, base_url: str | None) -> str:
    if base_url:
        return f"check the key that server expects ({key_env}) and --base-url {base_url}"
    return f"set {key_env} to a valid key"


def translate_sdk_error(
    exc: Exception, *, model: str, key_env: str, base_url: str | None
) -> ModelError | None:
    """Map an OpenAI/Anthropic SDK exception (or a decode error) onto the error harness raises.

    Anything else (a bug, a warning turned into an error) gives ``None``: the caller re-raises it as is.
    """
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        headers = getattr(getattr(exc, "response", None), "headers", None)
        detail = _short(exc)
        if status in RETRYABLE_STATUS or status >= 500:
            return TransientFailure(
                f"{model}: HTTP {status} ({detail})", retry_after=parse_retry_after(headers), status=status
            )
        if status in (401, 403):
            return ModelAuthError(
                f"{model}: the provider refused the credentials (HTTP {status}): "
                f"{auth_hint(key_env, base_url)}"
            )
        if status == 404:
            where = f" at --base-url {base_url}" if base_url else ""
            return ModelRequestError(
                f"{model}: not found{where} (HTTP 404: {detail}); check the model name"
                + (" and --base-url" if base_url else "")
            )
        return ModelRequestError(f"{model}: the provider rejected the request (HTTP {status}): {detail}")
    name = type(exc).__name__
    if name in ("APITimeoutError", "APIConnectionError"):
        where = f" {base_url} (is the server up? check --base-url)" if base_url else " the provider"
        return TransientFailure(f"{model}: no answer from{where} ({name}: {_short(exc)})")
    if name == "APIResponseValidationError" or isinstance(exc, ValueError | ValidationError):
        # json.JSONDecodeError is a ValueError: a truncated or non-JSON body.
        return ModelResponseError(f"{model}: malformed response ({name}: {_short(exc)})")
    return None


def _short(exc: Exception, limit: int = 300) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, dict) else None
        if isinstance(msg, str):
            return msg[:limit]
    text = str(exc) or type(exc).__name__
    return text[:limit]


def require_json_object(raw: object, model: str) -> Mapping[str, object]:
    """``raw`` as a JSON object, else :class:`ModelResponseError` (for bodies parsed by hand)."""
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise ModelResponseError(f"{model}: response is not JSON ({exc})") from exc
    if not isinstance(raw, Mapping):
        raise ModelResponseError(f"{model}: response is not a JSON object ({type(raw).__name__})")
    return raw
