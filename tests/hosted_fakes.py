"""Fixtures for the hosted-model tests: a :class:`FakeProvider` on 127.0.0.1 and closing the models.

A pytest plugin (test helper, not a test), registered from ``tests/conftest.py``. Nothing here is
autouse: a module whose tests load hosted models asks for the closing with
``pytestmark = pytest.mark.usefixtures("close_models")`` and loads them through :func:`load_on` or
:func:`closing`, which refuse to run without it rather than leak clients into a later test's loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from harness.models import HarnessModel, load
from harness.models.testing import FakeProvider

_open: list[HarnessModel] | None = None
"""The models the running test loaded; ``None`` outside a test that requested ``close_models``."""


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    """A started :class:`FakeProvider`, with placeholder API keys for both providers set."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    with FakeProvider() as srv:
        yield srv


@pytest.fixture
async def close_models() -> AsyncIterator[None]:
    """SDK clients belong to the test's event loop: close them before it closes."""
    global _open
    _open = []
    yield
    while _open:
        await _open.pop().aclose()
    _open = None


def closing(model: HarnessModel) -> HarnessModel:
    """``model``, closed when the test ends."""
    if _open is None:
        pytest.fail(
            'the module must request the fixture: pytestmark = pytest.mark.usefixtures("close_models")'
        )
    _open.append(model)
    return model


def load_on(srv: FakeProvider, provider: str = "openai", **options: Any) -> HarnessModel:
    """The OpenAI (or ``provider="anthropic"``) backend pointed at ``srv``, closed when the test ends."""
    if provider == "openai":
        return closing(load("openai:gpt-4o-mini", base_url=srv.openai_base_url, **options))
    return closing(load("anthropic:claude-haiku-4-5", base_url=srv.anthropic_base_url, **options))


class RecordingReply:
    """A :class:`FakeProvider` reply (``fake_server.reply = ...``) that records the ``n`` of each request.

    Its text names only the request's seed and the choice index, so equal texts mean an equal seed."""

    def __init__(self) -> None:
        self.asked_n: list[int] = []
        """The ``n`` each request asked for, in the order they arrived."""

    def __call__(self, body: dict[str, Any], index: int) -> str:
        if index == 0:
            self.asked_n.append(int(body.get("n", 1)))
        return f"seed {body.get('seed')} choice {index}"
