"""Python base images for SWE-bench environments, without conda: one Debian suite per Python version.

SWE-bench's own images download Miniconda, and no registry may answer (``FROM python:3.9`` fails), so
each Python a spec asks for comes from the Debian suite that ships it, built with debootstrap
(``harness.sandbox.images.debootstrap_image``, the code that makes the sandbox base) and ``docker
import``. Build tools are present: some exact pins exist only as source distributions.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from pathlib import Path
from typing import Any

from harness.errors import ImageError

SUITES: dict[str, str] = {"3.9": "bullseye", "3.11": "bookworm", "3.13": "trixie"}
"""The Python versions this machine can give an environment, and the Debian suite holding each."""

PACKAGES: tuple[str, ...] = (
    "python3",
    "python3-venv",
    "python3-dev",
    "build-essential",
    "pkg-config",
    "libffi-dev",
    "libssl-dev",
    "git",
    "patch",
    "ca-certificates",
)
"""Debian packages of every Python base: the interpreter, venv, a C tool chain and headers (source
distributions must build), git and patch (evaluation applies patches with them)."""

BASE_RECIPE = "1"


def supported_pythons() -> tuple[str, ...]:
    return tuple(SUITES)


def base_tag(python: str) -> str:
    """The tag of the base image for ``python`` (a hash of suite, packages and recipe)."""
    suite = SUITES.get(python)
    if suite is None:
        raise ImageError(f"unsupported: needs Python {python} (this machine has {', '.join(SUITES)})")
    digest = hashlib.sha256(json.dumps([BASE_RECIPE, suite, PACKAGES]).encode()).hexdigest()
    return f"harness-swebench-base:py{python}-{digest[:12]}"


def ensure_base(client: Any, python: str, log_dir: Path) -> str:
    """The base image for ``python``, built by debootstrap when its tag is missing (under a file lock,
    so parallel builders make it once)."""
    from harness.sandbox import images as sandbox_images

    tag = base_tag(python)
    if sandbox_images.image_exists(client, tag):
        return tag
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"base-py{python}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not sandbox_images.image_exists(client, tag):
            log = log_dir / f"{tag.replace(':', '-')}.log"
            sandbox_images.debootstrap_image(tag, SUITES[python], list(PACKAGES), log, lambda _m: None)
    return tag
