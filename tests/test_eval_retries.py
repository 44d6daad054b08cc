"""``harness eval``'s retries: an instance whose image could not be made because the node making it was
lost (a ``SandboxError`` from the image step) is tried again, like one whose sandbox failed, and the
summary's ``retried`` counts both. Seen on a loaded machine in the Ray tier: two instances' steps landed
on the node the test removed, and the one in its image step ended as an infrastructure error.

The "images" here are the tasks' repository folders and the sandboxes host folders
(``tests/pipeline_host.py``): no engine, only the retry logic and a real evaluation of a gold patch.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pipeline_host import HostSandbox

from harness.errors import SandboxError
from harness.evaluation import Evaluator
from harness.tasks import load_suite
from harness.tasks._repo import RepoTask

ROOT = Path(__file__).resolve().parents[1]


class LosingImages:
    """Stands in for the cluster's images: making an instance image fails ``losses`` times (the node
    was lost), then gives the task's repository folder."""

    client = None

    def __init__(self, losses: int) -> None:
        self.losses, self.calls = losses, 0

    def official_image(self, task: RepoTask) -> None:
        return None

    def env_image(self, spec: Any) -> str:
        return ""

    def instance_image(self, task: RepoTask, env_tag: str | None = None) -> str:
        self.calls += 1
        if self.calls <= self.losses:
            raise SandboxError("making the image on node 467a58848af2: the node was lost (injected)")
        return task.repo_source().location


def _evaluate(tmp_path: Path, losses: int, retries: int) -> tuple[Any, Evaluator, LosingImages]:
    (tmp_path / "sb").mkdir()
    (task,) = [t for t in load_suite(ROOT / "tasks" / "local") if t.instance_id == "local__unitconv-1"]
    images = LosingImages(losses)

    async def sandbox(image: str, **_kw: Any) -> HostSandbox:
        return HostSandbox(image, tmp_path / "sb")

    ev = Evaluator(images, sandbox_factory=sandbox, retries=retries)  # type: ignore[arg-type]
    return asyncio.run(ev.evaluate(task, task.patch, model_name="gold")), ev, images


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the tasks' repositories go there


def test_an_image_lost_with_its_node_is_made_again_and_the_instance_evaluated(tmp_path: Path) -> None:
    report, ev, images = _evaluate(tmp_path, losses=1, retries=1)
    assert images.calls == 2
    assert report.outcome == "resolved", report
    assert ev.retried == {"local__unitconv-1": 1}


def test_without_retries_left_the_lost_image_is_an_infrastructure_error(tmp_path: Path) -> None:
    report, ev, images = _evaluate(tmp_path, losses=2, retries=1)
    assert images.calls == 2
    assert report.outcome == "error" and report.error is not None
    assert report.error.startswith("SandboxError: making the image on node 467a58848af2"), report.error
    assert ev.retried == {"local__unitconv-1": 1}
