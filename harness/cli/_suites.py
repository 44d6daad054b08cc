"""Options and helpers shared by the commands that take a task suite and its instance images
(``harness tasks validate``, ``harness eval``, ``harness ensemble``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from harness.cli._common import InputDir
from harness.cli._values import ImageNamespace, OneOf

if TYPE_CHECKING:
    from collections.abc import Callable

    from harness.tasks import RepoTask
    from harness.tasks.images import TaskImages

REPOS = typer.Option(
    None,
    "--repos",
    parser=InputDir("--repos folder"),
    help="Local git repositories of SWE-bench records: DIR/<name>.git or DIR/<owner>__<name>.git "
    "(default: $HARNESS_SWEBENCH_REPOS, else GitHub).",
)
IMAGES = typer.Option(
    "local",
    "--images",
    parser=OneOf(("local", "swebench")),
    help="local: build instance images here; swebench: run SWE-bench's prebuilt instance images "
    "(pulled from --image-namespace when absent), falling back to the local build when none is served.",
)
NAMESPACE = typer.Option(
    "swebench",
    "--image-namespace",
    parser=ImageNamespace(),
    help="Registry and namespace of SWE-bench's images with --images swebench (default: Docker Hub's "
    "swebench; e.g. 127.0.0.1:5000/swebench).",
)


def task_images(
    base_image: str | None,
    source: str,
    namespace: str,
    notify: Callable[[str], None],
    kind: type[TaskImages] | None = None,
) -> TaskImages:
    """The task images of ``--images``; ``notify`` gets their build lines (a progress's notes)."""
    from harness.tasks.images import TaskImages

    return (kind or TaskImages)(
        base_image=base_image,
        source="swebench" if source == "swebench" else "local",
        namespace=namespace,
        notify=notify,
    )


def select_instances(tasks: list[RepoTask], ids: list[str]) -> list[RepoTask]:
    """The instances ``ids`` of ``tasks`` (all of them without ids); an unknown id is a ConfigError."""
    if not ids:
        return tasks
    from harness.errors import ConfigError

    missing = set(ids) - {t.instance_id for t in tasks}
    if missing:
        raise ConfigError(f"no such instances in the suite: {', '.join(sorted(missing))}")
    return [t for t in tasks if t.instance_id in ids]
