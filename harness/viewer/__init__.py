"""The web viewer (``harness view``): runs, a run's summary and plots, tasks with their candidates,
pass matrix and selector scores, and trajectory timelines that follow a live run.

Served by starlette + uvicorn on 127.0.0.1 from static files in this package (no CDN, no network at
run time). Needs the ``viewer`` extra (and ``report`` for plots).
"""

from harness.viewer._app import create_app
from harness.viewer._serve import ViewerServer, serve
from harness.viewer._state import ViewerState

__all__ = ["ViewerServer", "ViewerState", "create_app", "serve"]
