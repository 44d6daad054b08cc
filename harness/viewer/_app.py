"""The viewer's web app: JSON endpoints under ``/api/``, static pages, strict security headers.

Model output is untrusted. The pages build the DOM with ``textContent`` only, and the
Content-Security-Policy forbids inline scripts and any other origin, so even a missed spot cannot run
injected code or reach the network. A request whose ``Host`` is not the viewer's own (DNS rebinding,
see :mod:`harness.viewer._hosts`) is refused before any route sees it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness._extras import require
from harness.errors import HarnessError
from harness.viewer import _api
from harness.viewer._hosts import host_allowed
from harness.viewer._state import NotFound, Refused, ViewerState

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _finite(obj: Any) -> Any:
    """JSON has no NaN or Infinity; logs may hold them (a model's logprob, a bad timer)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _dumps(obj: Any) -> bytes:
    try:
        text = json.dumps(obj, default=str, allow_nan=False, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_finite(obj), default=str, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def create_app(results_dir: str | Path, *, host: str = "127.0.0.1") -> Any:
    """A Starlette app serving the viewer over ``results_dir`` (needs the ``viewer`` extra) to
    requests for ``localhost``, a loopback address or ``host``, the address the server is bound to."""
    require("starlette", "viewer")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, PlainTextResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    state = ViewerState(results_dir)

    def _json(fn: Callable[[Request], Any]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            try:
                body, code = fn(request), 200
            except NotFound as exc:
                body, code = {"error": str(exc)}, 404
            except Refused as exc:
                body, code = {"error": str(exc)}, 403
            except HarnessError as exc:
                body, code = {"error": str(exc)}, 500
            return Response(
                _dumps(body),
                status_code=code,
                media_type="application/json",
                headers={"Cache-Control": "no-store"},
            )

        return endpoint

    def q(request: Request, name: str) -> str:
        return request.query_params.get(name, "")

    def plot(request: Request) -> Response:
        try:
            if q(request, "file"):
                png = state.run_png(q(request, "run"), q(request, "file"))
            else:
                png = state.plot(q(request, "run"), q(request, "name"))
        except NotFound as exc:
            return Response(str(exc), status_code=404, media_type="text/plain")
        except Refused as exc:
            return Response(str(exc), status_code=403, media_type="text/plain")
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    routes = [
        Route("/", index),
        Route("/api/runs", _json(lambda r: _api.runs(state))),
        Route("/api/run", _json(lambda r: _api.run(state, q(r, "run")))),
        Route(
            "/api/tasks",
            _json(
                lambda r: _api.tasks(
                    state,
                    q(r, "run"),
                    status=q(r, "status"),
                    q=q(r, "q"),
                    system=q(r, "system"),
                    offset=_int(r.query_params.get("offset"), 0),
                    limit=_int(r.query_params.get("limit"), 50),
                )
            ),
        ),
        Route("/api/task", _json(lambda r: _api.task(state, q(r, "run"), q(r, "task")))),
        Route(
            "/api/trajectory",
            _json(
                lambda r: _api.trajectory(
                    state,
                    q(r, "run"),
                    q(r, "task"),
                    q(r, "traj"),
                    offset=_int(r.query_params.get("offset"), 0),
                    limit=_int(r.query_params.get("limit"), 200),
                )
            ),
        ),
        Route("/api/plot", plot),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.viewer = state

    async def _headers(scope: Any, receive: Any, send: Any) -> None:
        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        hosts = [v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"]
        if len(hosts) != 1 or not host_allowed(hosts[0], host):
            refused = PlainTextResponse(
                "refused: the Host header names neither localhost, a loopback address nor the host "
                "this viewer listens on (--host); open it as http://127.0.0.1:<port>/",
                status_code=400,
                headers={"Cache-Control": "no-store"},
            )
            await refused(scope, receive, send_with_headers)
            return
        await app(scope, receive, send_with_headers)

    return _headers
