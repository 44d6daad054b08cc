"""Images on the nodes: the recipe the driver sends, and the host actor's side of it.

The driver never builds an instance image for the cluster. It sends an :class:`ImageRecipe` with each
sandbox; the node's host actor makes sure the image exists on its own engine before starting the
sandbox: built there by :class:`harness.tasks.images.TaskImages` from the same recipe (so the same
tag), at most once per node and tag (a lock per recipe in the actor, and a file lock on the node for
actors of other drivers), or pulled from a registry when the recipe names one (``--registry``: the
driver built the image and pushed it, :class:`Registry`). A recipe is plain data: the task without
its fix and hidden tests (images never hold them) and the base image, or the pushed image's name; no
keys, no credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from harness.errors import ImageError
from harness.tasks._pipbuild import UnsupportedEnvironment
from harness.tasks._repo import EnvironmentSpec, RepoTask
from harness.tasks.images import TaskImages

LOCKS = "node-image-locks"
"""The folder, in the node's image cache (``TaskImages.cache_dir``), of its file locks (one per recipe):
one per node and user, whatever temporary folder Ray gives each worker process."""


class ImageRecipe(BaseModel):
    """How to have an instance image on a node: build ``task``'s (``task`` has no fix and no hidden
    tests), or pull ``pushed`` from the registry the driver pushed it to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: RepoTask | None = None
    base_image: str | None = None
    pushed: str | None = None
    """``REGISTRY/NAME:TAG``: pull it instead of building."""

    @classmethod
    def of(cls, task: RepoTask, *, base_image: str | None = None) -> ImageRecipe:
        """The recipe of ``task``'s instance image; what only evaluation may read is left out."""
        public = task.model_copy(
            update={"patch": "", "test_patch": "", "FAIL_TO_PASS": (), "PASS_TO_PASS": ()}
        )
        return cls(task=public, base_image=base_image)

    @classmethod
    def pulled(cls, name: str) -> ImageRecipe:
        """The image ``name`` in a registry, pulled by the nodes that lack it."""
        return cls(pushed=name)

    @property
    def key(self) -> str:
        """The name the driver knows the image by (the node resolves it to the built tag)."""
        if self.pushed is not None:
            return self.pushed
        assert self.task is not None, "a recipe builds a task's image or pulls a pushed one"
        digest = hashlib.sha256(self.model_dump_json().encode()).hexdigest()
        return f"recipe:{self.task.instance_id}:{digest[:16]}"


class RecipeImages(TaskImages):
    """``TaskImages`` for a driver whose sandboxes run on the nodes: an instance image is not built
    here; its name is its recipe's key, or with :attr:`resolve` the tag a node made it under, and
    :attr:`recipes` maps either back to the recipe, which the node's host actor builds or finds. The
    checks that refuse an environment before anything is built stay."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base_arg: str | None = kwargs.get("base_image")
        self.recipes: dict[str, ImageRecipe] = {}
        self.resolve: Callable[[ImageRecipe], str] | None = None
        """The tag of a recipe's image as a node has it (``Cluster.image_tag``): ``harness eval``'s
        reports key their resume on the image's name, which must then be the local one."""

    def env_image(self, spec: EnvironmentSpec) -> str:
        if spec.unsupported:
            raise UnsupportedEnvironment(spec.unsupported)
        if spec.error:
            raise ImageError(spec.error)
        return ""  # made on the node with the instance image

    def instance_image(self, task: RepoTask, env_tag: str | None = None) -> str:
        self.env_image(task.environment)
        recipe = ImageRecipe.of(task, base_image=self._base_arg)
        name = recipe.key if self.resolve is None else self.resolve(recipe)
        self.recipes[name] = recipe
        return name


class Registry:
    """The driver's side of ``--registry HOST:PORT[/NAMESPACE]``: each image it built is pushed once
    (under the registry's name, a tag that is removed here afterwards: the nodes pull it by that name)."""

    def __init__(self, address: str, client: Any = None) -> None:
        self.address = address.rstrip("/")
        self._client = client
        self._pushed: dict[str, str] = {}
        self._lock = threading.Lock()

    def push(self, tag: str) -> str:
        """The registry's name of the local image ``tag``, pushed there first (once per tag)."""
        with self._lock:
            if tag not in self._pushed:
                self._pushed[tag] = self._push(tag)
            return self._pushed[tag]

    def _push(self, tag: str) -> str:
        import docker
        import docker.errors

        client = self._client = self._client or docker.from_env(timeout=600)
        repo, _, version = tag.rpartition(":")
        name = f"{self.address}/{repo.rsplit('/', 1)[-1].lower()}"
        try:
            client.images.get(tag).tag(name, tag=version)
            for line in client.images.push(name, tag=version, stream=True, decode=True):
                if "error" in line:
                    raise ImageError(f"pushing {tag} to {self.address} failed: {line['error']}")
        except docker.errors.APIError as exc:
            raise ImageError(
                f"pushing {tag} to {self.address} failed ({exc}); check that the registry answers "
                "(an insecure one must be in the engine's insecure-registries)"
            ) from exc
        finally:
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(f"{name}:{version}", noprune=True)  # the tag only, not the image
        return f"{name}:{version}"


@dataclass
class ImageCounts:
    """What a host actor did for each recipe: ``built`` here, ``found`` already there, ``pulled``."""

    built: dict[str, int] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    pulled: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, tag: str) -> None:
        counts: dict[str, int] = getattr(self, what)
        counts[tag] = counts.get(tag, 0) + 1

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"built": dict(self.built), "found": dict(self.found), "pulled": dict(self.pulled)}


class NodeImages:
    """The host actor's images: recipe key -> tag on this node, each recipe ensured once."""

    def __init__(self) -> None:
        self.counts = ImageCounts()
        self._tags: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def ensure(self, recipe: ImageRecipe) -> str:
        """The tag of ``recipe``'s image on this node, built or pulled first when it is not here."""
        key = recipe.key
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._tags:
                tag, what = await asyncio.to_thread(_ensure_on_node, recipe)
                self.counts.add(what, tag)
                self._tags[key] = tag
            return self._tags[key]


def _ensure_on_node(recipe: ImageRecipe) -> tuple[str, str]:
    """Build or pull under the node's file lock for this recipe; the tag and what was done."""
    images = TaskImages(base_image=recipe.base_image)
    locks = images.cache_dir / LOCKS
    locks.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(recipe.key.encode()).hexdigest()[:32]  # a key may hold '/' (a registry's)
    fd = os.open(locks / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if recipe.pushed is not None:
            if images.exists(recipe.pushed):
                return recipe.pushed, "found"
            _pull(images.client, recipe.pushed)
            return recipe.pushed, "pulled"
        assert recipe.task is not None
        before = {img.id for img in images.client.images.list()}
        tag = images.instance_image(recipe.task)
        built = images.client.images.get(tag).id not in before
        return tag, "built" if built else "found"
    finally:
        os.close(fd)  # closing releases the lock


def _pull(client: Any, name: str) -> None:
    repo, _, tag = name.rpartition(":")
    try:
        client.images.pull(repo, tag=tag)
    except Exception as exc:  # docker's APIError, a registry that does not answer
        raise ImageError(
            f"pulling {name} on this node failed ({exc}); check that the node reaches the registry "
            "(an insecure one must be in its engine's insecure-registries)"
        ) from exc
