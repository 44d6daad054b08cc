"""Environment and instance layers of the ``pip`` builder (SWE-bench specs, no conda).

* environment (``harness-task-env:<hash>``): the Debian Python base (``_pybase``) plus a venv in
  ``/opt/venv`` (first on ``PATH``, so ``python``, ``pip`` and ``pytest`` are the spec's), filled with
  the spec's requirements and then its ``pip_packages`` with their exact pins;
* instance (``harness-task-<id>:<hash>``): the environment plus the repository at ``base_commit`` in
  ``/testbed`` (``checkout_at``: no remote, no newer commit, nothing of the test patch), ``pre_install``
  and ``install`` run in it, then committed as SWE-bench does (``git commit -am SWE-bench``).

Build network: each layer is a container run from the layer below and committed (``docker commit``).
pip reaches the index through the host's proxy settings (``HTTP(S)_PROXY``/``NO_PROXY`` of this
process) and the host's CA bundle (``$HARNESS_BUILD_CA_BUNDLE``, default
``/etc/ssl/certs/ca-certificates.crt``): both sit in a read-only bind mount, ``/run/harness-build``,
that the commit does not keep, and are exported by a script there, so neither enters the image's
files, its environment (``Config.Env``) or its history. The Docker client's stored proxies
(``config.json``, maybe with credentials) are never used.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import ImageError
from harness.sandbox.images import PATH_ENV
from harness.tasks._repo import EnvironmentSpec, RepoTask

PIP_RECIPE = "1"
VENV = "/opt/venv"
MOUNT = "/run/harness-build"
BOOTSTRAP = ("pip==24.2", "setuptools==75.1.0", "wheel==0.44.0")
"""The venv's own tools before anything else (Debian's venv brings pip 20.3 on bullseye); the
spec's pins come after and win (flask pins ``setuptools==70.0.0``)."""
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")
DEFAULT_CA = "/etc/ssl/certs/ca-certificates.crt"
BUILD_TIMEOUT_S = 3 * 3600
"""A layer's build may take this long (an environment compiling source distributions)."""


class UnsupportedEnvironment(ImageError):
    """The environment cannot be built on this machine (``unsupported: needs Python 3.7``)."""


def ca_bundle() -> Path:
    path = Path(os.environ.get("HARNESS_BUILD_CA_BUNDLE") or DEFAULT_CA)
    if not path.is_file():
        raise ImageError(
            f"the CA bundle for build network {path} is missing: set HARNESS_BUILD_CA_BUNDLE to the "
            "bundle the host trusts (Debian: apt-get install ca-certificates)"
        )
    return path


def build_env_script() -> str:
    """``env.sh`` of the build mount: the CA bundle and the host's proxy settings, for pip, git, curl."""
    ca = f"{MOUNT}/ca.crt"
    lines = [
        f"export PIP_CERT={ca} SSL_CERT_FILE={ca} REQUESTS_CA_BUNDLE={ca} CURL_CA_BUNDLE={ca} GIT_SSL_CAINFO={ca}",
        "export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore",
    ]
    for var in PROXY_VARS:
        for name in (var, var.lower()):
            if os.environ.get(name):
                lines.append(f"export {name}={shlex.quote(os.environ[name])}")
    return "\n".join(lines) + "\n"


def env_steps(spec: EnvironmentSpec) -> list[str]:
    """Shell steps of the environment layer (run with ``set -e`` in the base image)."""
    pip = f"{VENV}/bin/python -m pip install"
    steps = [f"python3 -m venv {VENV}", f"{pip} {' '.join(BOOTSTRAP)}"]
    if spec.requirements:
        steps.append(f"{pip} -r {MOUNT}/requirements.txt")
    if spec.pip_packages:
        steps.append(f"{pip} {' '.join(shlex.quote(p) for p in spec.pip_packages)}")
    steps += [
        "git config --system user.name harness",
        "git config --system user.email harness@harness.invalid",
        "git config --system --add safe.directory '*'",
        "rm -rf /root/.cache",
    ]
    return steps


def instance_steps(task: RepoTask) -> list[str]:
    """Shell steps of the instance layer (in ``/testbed``, the venv first on ``PATH``)."""
    env = task.environment
    steps = ["cd /testbed"]
    if re.fullmatch(r"\d+(\.\d+)*", task.version):
        # setuptools_scm reads the version from tags, and the image has none (SWE-bench's clone had
        # the older ones): without this pytest installs as 0.1.dev1 and its own minversion refuses it.
        steps.append(f"export SETUPTOOLS_SCM_PRETEND_VERSION={task.version}.0")
    steps += [*env.pre_install, *env.install]
    steps += ["git commit --allow-empty -qam SWE-bench", "rm -rf /root/.cache"]
    return steps


def run_and_commit(
    client: Any,
    image: str,
    steps: Sequence[str],
    tag: str,
    *,
    log_path: Path,
    files: dict[str, str] | None = None,
    tree: tuple[Path, str] | None = None,
    changes: Sequence[str] = (),
    network: bool = True,
) -> None:
    """Run ``steps`` in a container of ``image`` and commit it as ``tag``.

    ``files`` go into the build mount (``/run/harness-build``, read-only, not committed) beside the CA
    bundle and ``env.sh``; ``tree`` is ``(folder, destination)`` copied into the container first.
    :class:`ImageError` with the log's path and its last lines when a step fails."""
    from harness.sandbox import _cleanup

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="harness-build-") as mount_dir:
        mount = Path(mount_dir)
        mount.chmod(0o755)
        shutil.copyfile(ca_bundle(), mount / "ca.crt")
        (mount / "env.sh").write_text(build_env_script())
        for name, text in (files or {}).items():
            (mount / name).write_text(text)
        script = ["set -e", f". {MOUNT}/env.sh", "set -x", *steps]
        (mount / "build.sh").write_text("\n".join(script) + "\n")
        labels = {**_cleanup.owner_labels(_cleanup.resolve_run_id(None)), "harness.kind": "task-build"}
        _cleanup.install()
        try:
            container = client.containers.create(
                image,
                ["bash", f"{MOUNT}/build.sh"],
                volumes={str(mount): {"bind": MOUNT, "mode": "ro"}},
                network_mode="bridge" if network else "none",
                user="0:0",
                labels=labels,
                use_config_proxy=False,
            )
        except Exception as exc:  # docker-py and requests errors alike
            raise ImageError(f"building {tag}: no container of {image}: {type(exc).__name__}: {exc}") from exc
        _cleanup.track(str(container.id))
        try:
            if tree is not None:
                container.put_archive("/", _tar(*tree))
            container.start()
            # No log streaming: a step silent for longer than the client's read timeout (an sdist
            # compiling) would end the stream with an exception. Wait, then keep the whole log.
            code = int(container.wait(timeout=BUILD_TIMEOUT_S).get("StatusCode", -1))
            log_path.write_bytes(container.logs())
            if code != 0:
                tail = "".join(log_path.read_text("utf-8", "replace").splitlines(True)[-20:])
                raise ImageError(f"building {tag} failed (exit {code})\nlog: {log_path}\n{tail}")
            repo, _, name = tag.rpartition(":")
            container.commit(repository=repo, tag=name, changes=list(changes))
        except ImageError:
            raise
        except Exception as exc:  # docker-py and requests errors alike: the engine failed the build
            raise ImageError(f"building {tag} failed: {type(exc).__name__}: {exc}\nlog: {log_path}") from exc
        finally:
            container.remove(force=True)
            _cleanup.untrack(str(container.id))


def _tar(folder: Path, dest: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(folder, arcname=dest.strip("/"))
    return buf.getvalue()


def image_changes(kind: str, label: str, *, workdir: str = "/") -> list[str]:
    """Dockerfile instructions the commit applies: the venv first on ``PATH``, no build command."""
    return [
        f"ENV PATH={VENV}/bin:{PATH_ENV}",
        f"ENV VIRTUAL_ENV={VENV}",
        "ENV LANG=C.UTF-8",
        f"WORKDIR {workdir}",
        'CMD ["/bin/bash"]',
        f'LABEL harness.kind="{kind}" harness.recipe="{PIP_RECIPE}" harness.spec="{label}"',
    ]
