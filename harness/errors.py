"""The exceptions harness raises, in one place.

::

    HarnessError                       base of everything below; carries a message that says what to do
    ├── ConfigError                    a config file, spec string or option is malformed
    ├── MissingExtraError              an optional dependency is not installed (names the extra)
    ├── DataError                      input data (task files, pools, records) is missing or malformed
    ├── SandboxError                   the sandbox backend failed (not the code inside it)
    │   ├── EngineUnavailable          no Docker engine answers
    │   └── ImageError                 an image is missing or failed to build
    ├── ModelError                     a model call failed for good
    │   ├── ModelAuthError             401/403: names the env var or option to fix
    │   ├── ModelRequestError          400/404 and other non-retryable client errors
    │   ├── ModelResponseError         a malformed or truncated response (after its one retry)
    │   └── ModelTransientError        retryable failure that outlived its retries (429, 5xx, timeouts)
    ├── BudgetExceeded                 a stage hit its budget; carries what was spent
    └── StoreError                     the results store is inconsistent or locked

Code *run inside* a sandbox never raises: its failures are data (``ExecResult.status``).
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class for every error harness raises on purpose."""


class ConfigError(HarnessError):
    """A config file, a spec string or an option is malformed."""


class MissingExtraError(HarnessError, ImportError):
    """An optional dependency is missing; the message names the pip extra that provides it."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"this feature needs the optional dependency {module!r}: "
            f"install it with `pip install 'harness[{extra}]'`"
        )
        self.module = module
        self.extra = extra


class DataError(HarnessError):
    """Input data is missing or malformed."""


class SandboxError(HarnessError):
    """The sandbox backend failed (as opposed to the code running inside it)."""


class EngineUnavailable(SandboxError):
    """No container engine answers."""


class ImageError(SandboxError):
    """An image is missing or failed to build."""


class ModelError(HarnessError):
    """A model call failed for good."""


class ModelAuthError(ModelError):
    """The provider refused the credentials (401/403)."""


class ModelRequestError(ModelError):
    """A non-retryable client error (400, 404, ...)."""


class ModelResponseError(ModelError):
    """The response was malformed or truncated, even after a retry."""


class ModelTransientError(ModelError):
    """A retryable failure (429, 5xx, timeout, dropped connection) that outlived its retries."""


class BudgetExceeded(HarnessError):
    """A stage hit its budget. ``spent`` holds what had been spent when it stopped."""

    def __init__(self, message: str, spent: dict[str, float] | None = None) -> None:
        super().__init__(message)
        self.spent = dict(spent or {})


class StoreError(HarnessError):
    """The results store is inconsistent or locked."""
