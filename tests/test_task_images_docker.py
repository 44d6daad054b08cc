"""Task image builds with a Docker client whose config.json holds proxy credentials: an offline build
(``build_network=False``, the default) gets none of them, so no install command can bake them into a layer."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from harness.sandbox import images as sandbox_images
from harness.tasks import EnvironmentSpec, RepoSource, RepoTask
from harness.tasks.images import TaskImages

pytestmark = pytest.mark.docker

SECRET = "proxy-secret-do-not-leak"


def _repo(path: Path) -> str:
    """A one-commit repository; its SHA."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    path.mkdir()
    (path / "a.py").write_text("A = 1\n")
    for args in (["init", "-q", "-b", "main"], ["add", "a.py"], ["commit", "-q", "-m", "base"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, env=env, check=True, capture_output=True)
    return out.stdout.decode().strip()


def test_offline_build_gets_no_client_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = f"http://user:{SECRET}@proxy.invalid:3128"
    (tmp_path / "dcfg").mkdir()
    (tmp_path / "dcfg" / "config.json").write_text(
        json.dumps({"proxies": {"default": {"httpProxy": proxy, "httpsProxy": proxy}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dcfg"))
    sha = _repo(tmp_path / "src")
    task = RepoTask(
        instance_id="proxy-probe-1",
        repo="o/r",
        base_commit=sha,
        problem_statement="p",
        source=RepoSource(kind="path", location=str(tmp_path / "src")),
        environment=EnvironmentSpec(install=("env > /build-env.txt",)),
    )
    client = sandbox_images.docker_client()
    ti = TaskImages(base_image=sandbox_images.python_image(client), client=client, log_dir=tmp_path / "logs")
    tag = ti.instance_image(task)
    try:
        out = client.containers.run(tag, ["cat", "/build-env.txt"], remove=True, use_config_proxy=False)
        assert SECRET not in bytes(out).decode(), "the client's proxy credentials are in the image"
        history = json.dumps(client.api.history(tag))
        assert SECRET not in history
    finally:
        client.images.remove(tag, force=True)
