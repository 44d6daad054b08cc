"""The sandbox images: recipes in ``sandboxes/``, tags derived from a hash of each recipe.

Two images, built by :func:`build_images` (the ``harness sandbox build`` command):

- ``harness-base:<hash12>``: Debian bookworm with ``sandboxes/base/packages.txt``. When a registry can be
  reached (or ``debian:bookworm-slim`` is already local) it is built from ``sandboxes/base/Dockerfile``;
  otherwise with ``debootstrap --variant=minbase`` and ``docker import`` (needs root and Debian's mirror).
  ``$HARNESS_BASE_METHOD`` (``registry`` or ``debootstrap``) forces one way.
- ``harness-python:<hash12>``: ``sandboxes/python/Dockerfile`` on the base (uid 1000, ``/workspace``,
  ``/base`` for the workspace's seed content, ``python3`` 3.11 on ``PATH``).

Each is also tagged ``:latest``. A tag exists only if its build succeeded, so a build is skipped when
the tag of the current recipe exists; editing a recipe (or the base's) changes the hash and rebuilds.
Build logs go to ``<cache>/sandbox/build-logs/<name>-<hash12>.log`` (``<cache>`` is
``$XDG_CACHE_HOME/harness`` or ``~/.cache/harness``).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness._progress import Progress, SilentProgress
from harness.errors import EngineUnavailable, ImageError

RECIPES = Path(os.environ.get("HARNESS_SANDBOX_RECIPES", Path(__file__).resolve().parents[2] / "sandboxes"))
SUITE = "bookworm"
MIRROR = os.environ.get("HARNESS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
REGISTRY_BASE = "debian:bookworm-slim"
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_RECIPE_VERSION = "1"

Say = Callable[[str], None]
"""Where a build's output lines go, one at a time (``harness sandbox build``: the DEBUG log)."""
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageSpec:
    """One image: its repository name, recipe hash and folder."""

    name: str
    digest: str
    folder: Path

    @property
    def tag(self) -> str:
        return f"{self.name}:{self.digest[:12]}"

    @property
    def alias(self) -> str:
        return f"{self.name}:latest"


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harness" / "sandbox"


def log_dir() -> Path:
    return cache_dir() / "build-logs"


def packages() -> list[str]:
    """The Debian packages of the base image (``sandboxes/base/packages.txt``)."""
    text = _read(RECIPES / "base" / "packages.txt")
    return [ln.split("#", 1)[0].strip() for ln in text.splitlines() if ln.split("#", 1)[0].strip()]


def base_spec() -> ImageSpec:
    folder = RECIPES / "base"
    h = _hash(_RECIPE_VERSION, SUITE, " ".join(packages()), _read(folder / "Dockerfile"))
    return ImageSpec("harness-base", h, folder)


def python_spec() -> ImageSpec:
    folder = RECIPES / "python"
    h = _hash(_RECIPE_VERSION, base_spec().digest, _read(folder / "Dockerfile"))
    return ImageSpec("harness-python", h, folder)


def docker_client(timeout: int = 600) -> Any:
    """A docker-py client that answers, or :class:`EngineUnavailable` naming the fix."""
    import docker

    try:
        client = docker.from_env(timeout=timeout, max_pool_size=64)
        client.ping()
    except Exception as exc:
        raise EngineUnavailable(
            f"no Docker engine answers ({type(exc).__name__}: {exc}); "
            "run `bash scripts/ensure-docker.sh` (or set DOCKER_HOST)"
        ) from exc
    return client


def image_exists(client: Any, ref: str) -> bool:
    import docker.errors

    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def resolve(spec: ImageSpec, client: Any | None = None) -> str:
    """The tag of ``spec``'s current recipe, else its ``:latest`` alias; :class:`ImageError` if neither."""
    client = client or docker_client()
    for ref in (spec.tag, spec.alias):
        if image_exists(client, ref):
            return ref
    raise ImageError(f"the sandbox image {spec.name} is not built: run `harness sandbox build`")


def python_image(client: Any | None = None) -> str:
    """The Python runner image to start sandboxes from (e.g. ``harness-python:3f2a...``)."""
    return resolve(python_spec(), client)


def base_image(client: Any | None = None) -> str:
    return resolve(base_spec(), client)


def build_images(*, force: bool = False, progress: Progress | None = None) -> list[str]:
    """Build what is missing (all with ``force``); return the tags of both images.

    Idempotent and quick when the tags exist. Holds a file lock so concurrent builds do not race.
    Raises :class:`ImageError` (with the log's path) when a build fails. ``progress`` gets a step per
    image built; the builds' output lines go to the DEBUG log (and to their build logs).
    """
    bar = progress or SilentProgress()
    client = docker_client()
    log_dir().mkdir(parents=True, exist_ok=True)
    base, py = base_spec(), python_spec()
    bar.start(None, "checking sandbox images")
    with open(cache_dir() / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if force or not image_exists(client, base.tag):
            _build_base(client, base, bar)
        _tag(client, base.tag, base.alias)
        if force or not image_exists(client, py.tag):
            bar.start(None, f"building {py.tag} on {base.tag}")
            _docker_build(client, py, {"BASE": base.tag}, logger.debug)
        _tag(client, py.tag, py.alias)
    logger.info("sandbox images: %s, %s", base.tag, py.tag)
    return [base.tag, py.tag]


def _build_base(client: Any, spec: ImageSpec, bar: Progress) -> None:
    method = os.environ.get("HARNESS_BASE_METHOD") or _pick_method(client, bar)
    if method == "registry":
        bar.start(None, f"building {spec.tag} from {REGISTRY_BASE}")
        _docker_build(client, spec, {}, logger.debug)
    elif method == "debootstrap":
        bar.start(None, f"building {spec.tag} from Debian {SUITE} with debootstrap")
        _debootstrap_base(spec, logger.debug)
    else:
        raise ImageError(f"HARNESS_BASE_METHOD={method!r}: use 'registry' or 'debootstrap'")


def _pick_method(client: Any, bar: Progress) -> str:
    """``registry`` when ``debian:bookworm-slim`` is local or can be pulled within 20 s."""
    if image_exists(client, REGISTRY_BASE):
        return "registry"
    bar.start(None, f"probing the registry for {REGISTRY_BASE} (20 s at most)")
    try:
        proc = subprocess.run(
            ["docker", "pull", "-q", REGISTRY_BASE], capture_output=True, timeout=20, check=False
        )
    except (subprocess.TimeoutExpired, FileNotFoundError):
        return "debootstrap"
    return "registry" if proc.returncode == 0 else "debootstrap"


def _debootstrap_base(spec: ImageSpec, say: Say) -> None:
    log = log_dir() / f"{spec.name}-{spec.digest[:12]}.log"
    debootstrap_image(spec.tag, SUITE, packages(), log, say)


def debootstrap_image(
    tag: str,
    suite: str,
    include: list[str],
    log: Path,
    say: Say,
    *,
    components: tuple[str, ...] = ("main",),
) -> None:
    """Build ``tag`` from Debian ``suite`` with ``debootstrap --variant=minbase --include=...`` and
    ``docker import`` (``PATH``, ``LANG=C.UTF-8``, ``CMD bash``). Needs root, ``debootstrap`` and
    Debian's mirror (``$HARNESS_DEBIAN_MIRROR``); the sandbox base and the SWE-bench Python bases
    (``harness.tasks.swebench_images``) are both made here. :class:`ImageError` names the log."""
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        raise ImageError(
            f"{tag} is built from Debian {suite} with debootstrap (no registry answers), which needs "
            "root and `apt-get install debootstrap`; run as root (or make a registry reachable)"
        )
    log.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="harness-rootfs-", dir="/var/tmp"))
    rootfs = work / "rootfs"
    try:
        with open(log, "w") as fh:
            cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(include)}"]
            if components != ("main",):
                cmd.append(f"--components={','.join(components)}")
            _stream([*cmd, suite, str(rootfs), MIRROR], fh, say, "debootstrap")
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for p in (rootfs / junk).glob("*"):
                    if p.is_file():
                        p.unlink()
            say(f"importing the root file system as {tag}")
            script = (
                f'tar -C "$1" -c . | docker import --change "ENV PATH={PATH_ENV}" '
                f'--change "ENV LANG=C.UTF-8" --change \'CMD ["/bin/bash"]\' - "$2"'
            )
            _stream(["bash", "-o", "pipefail", "-c", script, "_", str(rootfs), tag], fh, say, "import")
    except ImageError as exc:
        raise ImageError(f"{exc}; see the build log {log}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _stream(cmd: list[str], fh: Any, say: Say, what: str) -> None:
    fh.write(f"$ {' '.join(cmd)}\n")
    fh.flush()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        fh.write(line)
        if line.strip():
            say(f"{what}: {line.strip()[:100]}")
    if proc.wait() != 0:
        raise ImageError(f"{what} failed (exit {proc.returncode})")


def _docker_build(client: Any, spec: ImageSpec, buildargs: dict[str, str], say: Say) -> None:
    import docker.errors

    log = log_dir() / f"{spec.name}-{spec.digest[:12]}.log"
    logger.info("building %s, its build log: %s", spec.tag, log)
    with open(log, "w") as fh:
        try:
            for chunk in client.api.build(
                path=str(spec.folder), tag=spec.tag, buildargs=buildargs, rm=True, forcerm=True, decode=True
            ):
                if "error" in chunk:
                    fh.write(str(chunk["error"]) + "\n")
                    raise ImageError(f"building {spec.tag} failed: {chunk['error']}; see the build log {log}")
                text = str(chunk.get("stream", "")).rstrip()
                if text:
                    fh.write(text + "\n")
                    say(f"{spec.name}: {text.splitlines()[-1][:100]}")
        except docker.errors.APIError as exc:
            raise ImageError(f"building {spec.tag} failed: {exc}; see the build log {log}") from exc


def _tag(client: Any, src: str, alias: str) -> None:
    name, tag = alias.rsplit(":", 1)
    client.images.get(src).tag(name, tag)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ImageError(
            f"sandbox recipe {path} is missing ({exc}); is the project checkout complete?"
        ) from exc


def _hash(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()
