"""Checks of values that both command-line options and config files take (``harness run``'s ``cluster:``
and ``registry:`` keys, and ``--cluster``/``--registry``), so the two refuse a value with the same words.

They sit at the bottom of the layers (docs/ARCHITECTURE.md): a stage's config validates its keys with
them without importing the CLI. :mod:`harness.cli._values` builds the rest of the CLI's checks on
:class:`Check` and :func:`fail`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, NoReturn

from pydantic_core import PydanticCustomError


def fail(message: str) -> NoReturn:
    """Refuse a value. Typer shows ``message`` as it is (a plain ValueError would read 'Value error, ...')."""
    raise PydanticCustomError("harness_cli_value", message)


class Check:
    """Base of the value checks; ``__call__`` gets the raw string (or the default) and returns the value."""

    def __call__(self, raw: Any) -> Any:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError


def text(raw: Any) -> str:
    """The raw value as a string (a default may come as another type)."""
    return raw if isinstance(raw, str) else str(raw)


# Docker's reference grammar, simplified: [registry[:port]/]path[:tag][@sha256:digest], lower-case path.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"(?:[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?"
)


@dataclass(frozen=True)
class ImageRef(Check):
    """A Docker image reference (``name[:tag][@digest]``), never an option or an empty string."""

    def __call__(self, raw: Any) -> str:
        value = text(raw)
        if not _IMAGE.fullmatch(value):
            fail(f"{value!r} is not a Docker image reference, e.g. python:3.11-slim")
        return value


_REGISTRY = r"(?:localhost|[A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)+|[A-Za-z0-9][A-Za-z0-9.-]*:[0-9]+)"
_NAMESPACE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*|{_REGISTRY}(?::[0-9]+)?(?:/{_COMPONENT})*")


@dataclass(frozen=True)
class ImageNamespace(Check):
    """Where images live, without an image name or tag: ``swebench``, ``ghcr.io/org``,
    ``127.0.0.1:5000/swebench`` (a registry, maybe with a port, then lower-case path components)."""

    def __call__(self, raw: Any) -> str:
        value = text(raw)
        if not _NAMESPACE.fullmatch(value):
            fail(f"{value!r} is not an image namespace, e.g. swebench or 127.0.0.1:5000/swebench")
        return value


_RAY_CLIENT = re.compile(r"ray://(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]@]+):([0-9]{1,5})")


@dataclass(frozen=True)
class ClusterAddress(Check):
    """Where the Ray cluster is: ``auto`` (the cluster this machine belongs to, or ``$RAY_ADDRESS``) or
    ``ray://HOST:PORT`` (Ray Client, the head's client server), port in 1..65535."""

    def __call__(self, raw: Any) -> str:
        value = text(raw)
        if value == "auto":
            return value
        m = _RAY_CLIENT.fullmatch(value)
        if m is None:
            fail(f"{value!r} is not a Ray cluster: auto or ray://HOST:PORT, e.g. ray://10.0.0.5:10001")
        host, port = m.group(1).strip("[]"), int(m.group(2))
        Host()(host)
        if not 1 <= port <= 65535:
            fail(f"{value!r}: {port} is not a port (1..65535)")
        return value


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")


@dataclass(frozen=True)
class Host(Check):
    """An interface to listen on: an IP address or a host name. Empty is refused: it would listen on
    every interface, which is written ``0.0.0.0`` when it is meant."""

    def __call__(self, raw: Any) -> str:
        value = text(raw)
        try:
            ipaddress.ip_address(value)
            return value
        except ValueError:
            pass
        if not value.strip():
            fail("an empty host would listen on every interface; write 0.0.0.0 if that is meant")
        if not _HOSTNAME.fullmatch(value):
            fail(f"{value!r} is neither an IP address nor a host name")
        return value
