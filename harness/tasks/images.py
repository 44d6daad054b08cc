"""Task images: base -> environment -> instance, each tagged by a hash of its recipe and inputs.

* **base**: the sandbox's Python image (``harness.sandbox.images``) or any image given by name.
* **environment** (``harness-task-env:<hash>``): the base plus the test tooling. The wheels of
  ``EnvironmentSpec.pip_packages`` are downloaded on the host (``pip download --no-deps``, cached under
  ``~/.cache/harness/wheels/``) and unpacked into the image's site-packages by the image's own Python,
  so the build needs no network, no pip in the image and no proxy certificate.
* **instance** (``harness-task-<id>:<hash>``): the environment plus the repository at ``base_commit``
  in ``/testbed``: fetched by SHA into a fresh repository, so there is no remote, no commit newer than
  ``base_commit``, no reflog, and nothing of the test patch.

An image whose tag exists is reused; any change of recipe or input changes the tag. Build logs go to
``~/.cache/harness/build-logs/<name>.log``; a failed build raises :class:`ImageError` naming the log.

With ``source="swebench"`` a SWE-bench record's instance image is SWE-bench's own prebuilt one, by its
published name (swebench's ``TestSpec.instance_image_key``, e.g.
``swebench/sweb.eval.x86_64.pallets_1776_flask-4045:latest``; the namespace is configurable), pulled when
absent; when no registry serves it the local layers are built instead, and ``notify`` says so in one line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from harness.errors import DataError, EngineUnavailable, ImageError
from harness.tasks._local import default_cache_dir, git
from harness.tasks._pipbuild import (
    PIP_RECIPE,
    UnsupportedEnvironment,
    env_steps,
    image_changes,
    instance_steps,
    run_and_commit,
)
from harness.tasks._pybase import ensure_base
from harness.tasks._repo import EnvironmentSpec, RepoTask
from harness.tasks._swebench import swebench_test_spec

RECIPE_VERSION = "1"
SWEBENCH_NAMESPACE = "swebench"
"""Where SWE-bench publishes its instance images (Docker Hub)."""
ImageSource = Literal["local", "swebench"]
TESTBED = "/testbed"
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_LOCK = threading.Lock()
logger = logging.getLogger(__name__)

_INSTALL_WHEELS = (
    "import site, sys, zipfile, pathlib; "
    "dest = site.getsitepackages()[0]; pathlib.Path(dest).mkdir(parents=True, exist_ok=True); "
    "[zipfile.ZipFile(w).extractall(dest) for w in sorted(pathlib.Path('/tmp/wheels').glob('*.whl'))]"
)


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _repo_name(instance_id: str) -> str:
    name = re.sub(r"[^a-z0-9._-]+", "-", instance_id.lower()).strip("._-")
    return f"harness-task-{name[:100] or 'x'}"


class TaskImages:
    """Builds and caches the environment and instance images of repository tasks."""

    def __init__(
        self,
        *,
        base_image: str | None = None,
        client: Any = None,
        cache_dir: Path | None = None,
        log_dir: Path | None = None,
        source: ImageSource = "local",
        namespace: str = SWEBENCH_NAMESPACE,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self._base_name = base_image
        self._client = client
        self.cache_dir = cache_dir or default_cache_dir()
        self.log_dir = log_dir or self.cache_dir / "build-logs"
        self.source = source
        """``local``: build every image here; ``swebench``: SWE-bench's prebuilt instance images first."""
        self.namespace = namespace
        """Registry and namespace of SWE-bench's images (``swebench``: Docker Hub's; ``127.0.0.1:5000/x``)."""
        self.notify = notify or _stderr_line
        """Where the one-line notice of a fallback to the local build goes."""
        self._pull_lock = threading.Lock()
        self._no_registry: set[str] = set()

    @property
    def client(self) -> Any:
        if self._client is None:
            import docker

            try:
                self._client = docker.from_env(timeout=600)
                self._client.ping()
            except Exception as exc:
                raise EngineUnavailable(
                    f"no Docker engine answers ({exc}); run `bash scripts/ensure-docker.sh`"
                ) from exc
        return self._client

    def base_image(self) -> str:
        """The base image name: the one given, ``$HARNESS_TASK_BASE_IMAGE``, or the sandbox's Python image."""
        name = self._base_name or os.environ.get("HARNESS_TASK_BASE_IMAGE")
        if name is None:
            name = _sandbox_python_image()
        if not self.exists(name):
            raise ImageError(
                f"base image {name!r} is missing: run `harness sandbox build` (or pass another base image)"
            )
        return name

    def exists(self, tag: str) -> bool:
        import docker.errors

        try:
            self.client.images.get(tag)
        except docker.errors.ImageNotFound:
            return False
        return True

    def official_image(self, task: RepoTask) -> str | None:
        """SWE-bench's prebuilt instance image of ``task`` when ``source`` is ``swebench``, pulled when
        absent, as an immutable reference: ``NAME@sha256:<digest>`` once it came from a registry (the
        resume key then changes with the image), else its image id. ``None`` (build it here) when the
        source is ``local``, ``task`` is not a SWE-bench record, or no registry serves the image: then one
        line through ``notify`` says so, once per run for a registry that does not answer at all."""
        if self.source != "swebench" or not _is_swebench_record(task):
            return None
        import docker.errors

        name = swebench_image_name(task, self.namespace)
        with self._pull_lock:
            try:
                image = self.client.images.get(name)
            except docker.errors.ImageNotFound:
                if self.namespace in self._no_registry:
                    return None
                image = self._pull(task, name)
                if image is None:
                    return None
            except docker.errors.APIError as exc:
                raise ImageError(f"the Docker engine could not look up {name}: {exc}") from exc
        repo = name.rsplit(":", 1)[0]  # the name always ends in a tag (":latest")
        pinned = [d for d in image.attrs.get("RepoDigests") or [] if d.startswith(f"{repo}@")]
        return str(pinned[0]) if pinned else str(image.id)

    def _pull(self, task: RepoTask, name: str) -> Any:
        """The pulled image, or ``None`` after the one-line notice of the fallback."""
        import docker.errors

        repo, _, tag = name.rpartition(":")
        try:
            return self.client.images.pull(repo, tag=tag)
        except docker.errors.NotFound as exc:  # the registry answered: it has no such image
            self.notify(
                f"{task.instance_id}: {name} could not be pulled ({_first_line(exc)}); "
                "falling back to the local build"
            )
        except docker.errors.DockerException as exc:  # no registry answers: no other pull would do better
            self._no_registry.add(self.namespace)
            self.notify(
                f"--images swebench: no registry serves {self.namespace} ({_first_line(exc)}); "
                "falling back to local builds for every instance"
            )
        return None

    def env_image(self, spec: EnvironmentSpec) -> str:
        """The environment image of ``spec``, built when its tag is missing.

        :class:`UnsupportedEnvironment` before anything is built when the spec is ``unsupported``."""
        if spec.unsupported:
            raise UnsupportedEnvironment(spec.unsupported)
        if spec.error:
            raise ImageError(spec.error)
        if spec.builder == "pip":
            return self._pip_env_image(spec)
        base = self.base_image()
        base_id = self.client.images.get(base).id
        py = self._python_version(base)
        wheels = self._wheels(spec.pip_packages, py)
        wheel_hashes = [(w.name, hashlib.sha256(w.read_bytes()).hexdigest()) for w in wheels]
        tag = f"harness-task-env:{_digest(RECIPE_VERSION, base_id, wheel_hashes, spec.python)[:16]}"
        if self.exists(tag):
            return tag
        with tempfile.TemporaryDirectory(prefix="harness-env-") as ctx_dir:
            ctx = Path(ctx_dir)
            (ctx / "wheels").mkdir()
            for w in wheels:
                shutil.copy2(w, ctx / "wheels" / w.name)
            dockerfile = "\n".join(
                [
                    f"FROM {base}",
                    "USER root",
                    "COPY wheels /tmp/wheels",
                    f'RUN python3 -c "{_INSTALL_WHEELS}" && rm -rf /tmp/wheels && python3 -m pytest --version',
                    "RUN git config --system user.name harness && git config --system user.email "
                    "harness@harness.invalid && git config --system --add safe.directory '*'",
                    f'LABEL harness.kind="task-env" harness.recipe="{RECIPE_VERSION}"',
                ]
            )
            (ctx / "Dockerfile").write_text(dockerfile + "\n")
            self._build(ctx, tag, log_name=tag.replace(":", "-"))
        return tag

    def instance_image(self, task: RepoTask, env_tag: str | None = None) -> str:
        """The instance image of ``task``: the repository at ``base_commit`` in ``/testbed``."""
        if task.environment.unsupported:
            raise UnsupportedEnvironment(task.environment.unsupported)
        if task.environment.error:
            raise ImageError(task.environment.error)
        env_tag = env_tag or self.env_image(task.environment)
        env = task.environment
        if env.builder == "pip":
            return self._pip_instance_image(task, env_tag)
        key = _digest(
            RECIPE_VERSION, env_tag, task.instance_id, task.base_commit, env.install, env.build_network
        )
        tag = f"{_repo_name(task.instance_id)}:{key[:16]}"
        if self.exists(tag):
            return tag
        with tempfile.TemporaryDirectory(prefix="harness-inst-") as ctx_dir:
            ctx = Path(ctx_dir)
            checkout_at(task, ctx / "repo")
            lines = [f"FROM {env_tag}", "USER root", f"COPY repo {TESTBED}", f"WORKDIR {TESTBED}"]
            lines += [f"RUN {cmd}" for cmd in task.environment.install]
            lines.append(f'LABEL harness.kind="task-instance" harness.task="{task.instance_id}"')
            (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
            log_name = f"{_repo_name(task.instance_id)}-{key[:16]}"
            self._build(ctx, tag, log_name=log_name, network=task.environment.build_network)
        return tag

    def _pip_env_image(self, spec: EnvironmentSpec) -> str:
        base = ensure_base(self.client, spec.python, self.log_dir)
        # The steps carry the bootstrap pins and the spec's packages; the requirements are a file.
        recipe = (PIP_RECIPE, base, spec.python, env_steps(spec), spec.requirements)
        tag = f"harness-task-env:{_digest(*recipe)[:16]}"
        if self.exists(tag):
            return tag
        with _LOCK:
            if not self.exists(tag):
                logger.info("building environment image %s (pip, in a container)", tag)
                run_and_commit(
                    self.client,
                    base,
                    env_steps(spec),
                    tag,
                    log_path=self.log_dir / f"{tag.replace(':', '-')}.log",
                    files={"requirements.txt": "\n".join(spec.requirements) + "\n"},
                    changes=image_changes("task-env", spec.spec_source),
                )
        return tag

    def _pip_instance_image(self, task: RepoTask, env_tag: str) -> str:
        steps = instance_steps(task)
        key = _digest(PIP_RECIPE, env_tag, task.instance_id, task.base_commit, steps)
        tag = f"{_repo_name(task.instance_id)}:{key[:16]}"
        if self.exists(tag):
            return tag
        with tempfile.TemporaryDirectory(prefix="harness-inst-") as ctx_dir:
            checkout_at(task, Path(ctx_dir) / "repo")
            logger.info("building instance image %s of %s (pip, in a container)", tag, task.instance_id)
            run_and_commit(
                self.client,
                env_tag,
                steps,
                tag,
                log_path=self.log_dir / f"{_repo_name(task.instance_id)}-{key[:16]}.log",
                tree=(Path(ctx_dir) / "repo", TESTBED),
                changes=image_changes("task-instance", task.instance_id, workdir=TESTBED),
                network=task.environment.build_network,
            )
        return tag

    def _build(self, ctx: Path, tag: str, *, log_name: str, network: bool = False) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{log_name}.log"
        logger.info("building image %s (network %s), its build log: %s", tag, network, log_path)
        error: str | None = None
        with log_path.open("w", encoding="utf-8") as log:
            try:
                for chunk in self.client.api.build(
                    path=str(ctx),
                    tag=tag,
                    rm=True,
                    forcerm=True,
                    decode=True,
                    network_mode="default" if network else "none",
                    # The client's config.json proxies (credentials included) become build args that
                    # every RUN sees and may bake into a layer: only a build with a network needs them.
                    use_config_proxy=network,
                ):
                    if "stream" in chunk:
                        log.write(chunk["stream"])
                    if "error" in chunk:
                        error = str(chunk["error"])
                        log.write(f"ERROR: {error}\n")
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.write(f"ERROR: {error}\n")
        if error is not None:
            tail = "".join(log_path.read_text(encoding="utf-8").splitlines(True)[-15:])
            raise ImageError(f"building {tag} failed: {error}\nlog: {log_path}\n{tail}")

    def _python_version(self, base: str) -> str:
        out = self.client.containers.run(
            base,
            ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            remove=True,
            network_mode="none",
            use_config_proxy=False,
        )
        return bytes(out).decode().strip()

    def _wheels(self, packages: tuple[str, ...], python: str) -> list[Path]:
        """Wheels of ``packages`` for ``python``, downloaded once into ``<cache>/wheels/<hash>/``."""
        dest = self.cache_dir / "wheels" / _digest(packages, python)[:16]
        with _LOCK:
            if not (dest / ".complete").is_file():
                dest.mkdir(parents=True, exist_ok=True)
                cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
                cmd += ["--python-version", python, "--dest", str(dest), *packages]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise ImageError(
                        f"pip could not download the test tooling {list(packages)}: {proc.stderr[-2000:]}"
                    )
                (dest / ".complete").write_text("ok\n")
        wheels = sorted(dest.glob("*.whl"))
        if not wheels:
            raise ImageError(f"no wheels in {dest}; delete the folder and retry")
        return wheels


def checkout_at(task: RepoTask, dest: Path) -> None:
    """A fresh git repository in ``dest`` holding ``task.base_commit`` and its ancestors only.

    The commit is fetched by SHA (no remote is configured, no tags, no other refs), checked out on
    ``main`` with ref logging off, and the fetch's traces are removed. :class:`DataError` when
    ``base_commit`` is not a full SHA.
    """
    source = task.repo_source().location
    # Both come from task records: a base_commit or location starting with `-` would be a git option
    # (`--upload-pack=CMD` runs CMD on this host), so the commit must be a full SHA and `--` ends options.
    if not _SHA.fullmatch(task.base_commit):
        raise DataError(
            f"{task.instance_id}: base_commit {task.base_commit[:80]!r} is not a full commit SHA "
            "(40 or 64 hex digits); fix the task record"
        )
    dest.mkdir(parents=True)
    git(["init", "-q", "-b", "main"], dest)
    git(["config", "core.logAllRefUpdates", "false"], dest)
    # --update-shallow: a shallow source (../shared/data/repos holds each commit at depth 1) refuses
    # to hand over a commit whose parents it lacks unless this repository may become shallow too.
    fetch = ["-c", "uploadpack.allowAnySHA1InWant=true", "fetch", "-q", "--no-tags", "--update-shallow"]
    git([*fetch, "--", source, task.base_commit], dest)
    git(["checkout", "-q", "-B", "main", task.base_commit], dest)
    (dest / ".git" / "FETCH_HEAD").unlink(missing_ok=True)
    shutil.rmtree(dest / ".git" / "logs", ignore_errors=True)
    git(["gc", "-q", "--prune=now"], dest)


def swebench_image_name(task: RepoTask, namespace: str = SWEBENCH_NAMESPACE) -> str:
    """The name SWE-bench publishes ``task``'s instance image under, computed by swebench itself
    (``TestSpec.instance_image_key``: ``<namespace>/sweb.eval.<arch>.<id>:latest``, ``__`` written
    ``_1776_``). The TestSpec is made directly, not by ``make_test_spec``: that one also writes the
    environment scripts, which read requirements from GitHub."""
    spec = swebench_test_spec(task, namespace=namespace)
    return str(spec.instance_image_key)


def _is_swebench_record(task: RepoTask) -> bool:
    """Whether ``task``'s environment is SWE-bench's spec (so SWE-bench publishes an image of it)."""
    env = task.environment
    return env.builder == "pip" and env.spec_source.startswith("swebench") and not env.unsupported


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _sandbox_python_image() -> str:
    """The Python runner image of ``harness.sandbox.images``, when that module provides one."""
    import importlib

    try:
        images: object = importlib.import_module("harness.sandbox.images")
    except ImportError:
        images = None
    for attr in ("python_image", "PYTHON_IMAGE", "python_image_tag"):
        value = getattr(images, attr, None)
        if callable(value):
            value = value()
        if isinstance(value, str):
            return value
    raise ImageError(
        "no base image: set HARNESS_TASK_BASE_IMAGE or pass --base-image "
        "(an image with python3, git and patch)"
    )
