"""Which ``Host`` headers the viewer answers: its defence against DNS rebinding.

A web page on ``evil.example`` can make its own name resolve to 127.0.0.1 and then read the viewer as
same-origin content; such requests still carry ``Host: evil.example``. So the viewer answers only
requests naming ``localhost`` or a loopback address, or the host it was bound to (``--host``). A
wildcard bind (``0.0.0.0``, ``::``) also accepts any IP literal: a page reached by an IP address has
that address as its origin, which no attacker can rebind; names are still refused there. The port is
not checked, so a forwarded port (``ssh -L 9000:localhost:8765``) keeps working.
"""

from __future__ import annotations

import ipaddress

WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def host_name(header: str) -> str | None:
    """The host part of a ``Host`` header, lower-cased, brackets of an IPv6 literal removed; None
    when the header is not ``host`` or ``host:port`` (an empty header, a bad port, a bare IPv6)."""
    value = header.strip().lower()
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        if not sep or _ip(name) is None or (rest and not (rest[0] == ":" and rest[1:].isdigit())):
            return None
        return name
    name, sep, port = value.partition(":")
    if not name or (sep and not port.isdigit()) or ":" in port:
        return None
    return name


def host_allowed(header: str | None, bound: str) -> bool:
    """Whether a request whose ``Host`` header is ``header`` (None: absent) may be answered by a
    viewer bound to ``bound``."""
    name = host_name(header or "")
    if name is None:
        return False
    ip = _ip(name)
    if name == "localhost" or (ip is not None and ip.is_loopback):
        return True
    want = bound.strip().strip("[]").lower()
    if want in WILDCARDS:
        return ip is not None
    want_ip = _ip(want)
    return name == want if want_ip is None else ip == want_ip
