"""DNS rebinding against the viewer, on a real socket (127.0.0.1): a page on ``evil.example`` whose name
now resolves to 127.0.0.1 sends ``Host: evil.example``, which the viewer must refuse. Requests are sent
byte for byte, so the Host header is exactly what the test says."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from harness.report._demo import make_demo_run
from harness.viewer import ViewerServer
from harness.viewer._hosts import host_allowed


def _raw(port: int, head: str, path: str = "/api/runs") -> tuple[int, bytes]:
    """Status and body of a request sent byte for byte (``head``: the header lines, Host included)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\n{head}Connection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ViewerServer]:
    root = tmp_path_factory.mktemp("results")
    make_demo_run(root, "demo", n_tasks=2)
    with ViewerServer(root) as server:
        yield server


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:{port}",
        "EVIL.example:{port}",
        "127.0.0.1.evil.example:{port}",
        "localhost.evil.example:{port}",
        "localhost@evil.example:{port}",
        "evil.example:{port}:80",
        "",
        "[::1:{port}",
        "::1",
    ],
)
@pytest.mark.parametrize("path", ["/api/runs", "/api/run?run=demo", "/", "/static/app.js"])
def test_a_request_for_another_host_is_refused(demo: ViewerServer, host: str, path: str) -> None:
    status, body = _raw(demo.port, f"Host: {host.format(port=demo.port)}\r\n", path)
    assert status == 400 and b"Host header" in body and b"demo" not in body


def test_a_request_without_a_host_or_with_two_is_refused(demo: ViewerServer) -> None:
    for head in ("", f"Host: 127.0.0.1:{demo.port}\r\nHost: evil.example\r\n"):
        assert _raw(demo.port, head)[0] == 400


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:{port}",
        "localhost:{port}",
        "LocalHost:{port}",
        "localhost",
        "[::1]:{port}",
        "127.0.0.2:9000",
    ],
)
def test_loopback_hosts_are_served(demo: ViewerServer, host: str) -> None:
    # Any port: a forwarded port (ssh -L 9000:localhost:8765) names its own.
    status, body = _raw(demo.port, f"Host: {host.format(port=demo.port)}\r\n")
    assert status == 200 and b'"demo"' in body


def test_the_bound_host_is_served_and_a_wildcard_bind_takes_ip_literals_only() -> None:
    assert host_allowed("viewer.lan:8765", "viewer.lan") and host_allowed("VIEWER.LAN", "viewer.lan")
    assert not host_allowed("evil.example:8765", "viewer.lan")
    assert host_allowed("192.168.1.5:8765", "192.168.1.5") and not host_allowed("192.168.1.6", "192.168.1.5")
    assert host_allowed("[fe80::1]:8765", "[fe80::1]") and host_allowed("[fe80::1]", "fe80:0::1")
    for wildcard in ("0.0.0.0", "::"):
        assert host_allowed("192.168.1.5:8765", wildcard) and host_allowed("[2001:db8::5]:80", wildcard)
        assert not host_allowed("evil.example:8765", wildcard) and not host_allowed("my-box", wildcard)
    assert not host_allowed(None, "0.0.0.0") and not host_allowed("localhost:http", "127.0.0.1")
