"""Running the viewer: in the foreground (``harness view``) or in a background thread (tests, notebooks).

The server binds 127.0.0.1 by default: results hold model output and configs, which are nobody else's
business. The socket is bound before uvicorn starts, so ``port=0`` picks a free port and
:attr:`ViewerServer.url` is known at once.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from harness._extras import require
from harness.errors import HarnessError
from harness.viewer._app import create_app


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise HarnessError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class ViewerServer:
    """The viewer on a real socket, served by uvicorn in a daemon thread until :meth:`stop`."""

    def __init__(self, results_dir: str | Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        uvicorn = require("uvicorn", "viewer")
        self.results_dir = Path(results_dir)
        self._sock = _bind(host, port)
        self.host, self.port = host, int(self._sock.getsockname()[1])
        config = uvicorn.Config(create_app(results_dir, host=host), log_level="warning", lifespan="off")
        self._server: Any = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ViewerServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise HarnessError(f"the viewer did not start on {self.url}")
            time.sleep(0.02)
        return self

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C raises KeyboardInterrupt here, in the main thread)."""
        while self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> ViewerServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(results_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve in the foreground until Ctrl-C."""
    uvicorn = require("uvicorn", "viewer")
    sock = _bind(host, port)
    config = uvicorn.Config(create_app(results_dir, host=host), log_level="warning", lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
