"""The host's secrets stay out of sandboxes, including those of the Docker client's own configuration:
``~/.docker/config.json`` (``$DOCKER_CONFIG``) may hold proxy URLs with credentials, which docker-py copies
into every container it creates unless told not to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.sandbox import DockerSandbox
from harness.sandbox.images import docker_client

pytestmark = [pytest.mark.docker, pytest.mark.asyncio]

RUN_ID = "pytest-sandbox-isolation"
SECRET = "proxy-secret-do-not-leak"


async def test_docker_client_proxy_credentials_stay_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = f"http://user:{SECRET}@proxy.invalid:3128"
    (tmp_path / "config.json").write_text(
        json.dumps({"proxies": {"default": {"httpProxy": proxy, "httpsProxy": proxy, "noProxy": "x"}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    client = docker_client(timeout=120)
    async with DockerSandbox(run_id=RUN_ID, client=client) as sb:
        r = await sb.run("env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'")
        assert SECRET not in r.stdout and "proxy" not in r.stdout.lower(), r.stdout
        env = client.api.inspect_container(sb.id)["Config"]["Env"]
        assert not [e for e in env if "proxy" in e.lower()], env
