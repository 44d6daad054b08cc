"""The backend-independent sandbox checks (``harness.sandbox.conformance``) against ``DockerSandbox``."""

from __future__ import annotations

import hashlib
import io
import tarfile
from typing import Any

import pytest

from harness.sandbox import DockerSandbox, Sandbox, python_image
from harness.sandbox._docker import shared_client
from harness.sandbox.conformance import CHECKS, SandboxFactory

pytestmark = pytest.mark.docker

RUN_ID = "pytest-sandbox-conformance"

BASE_FILES: dict[str, bytes] = {
    "pkg/__init__.py": b"",
    "pkg/mod.py": b"def f():\n    return 1\n",
    "README.md": b"# seeded\n",
    "data.bin": bytes(range(256)),
    "to_delete.txt": b"delete me\n",
}


def seeded_image(client: Any, python_image: str) -> str:
    """``python_image`` plus :data:`BASE_FILES` in ``/base``; built once per content hash."""
    h = hashlib.sha256(python_image.encode())
    for name, data in sorted(BASE_FILES.items()):
        h.update(name.encode() + b"\0" + data + b"\0")
    tag = f"harness-sandbox-test:{h.hexdigest()[:12]}"
    import docker.errors

    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        files = {**{f"base/{k}": v for k, v in BASE_FILES.items()}}
        files["Dockerfile"] = f"FROM {python_image}\nCOPY base/ /base/\n".encode()
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True)
    return tag


@pytest.fixture(scope="module")
def image() -> str:
    client = shared_client()
    return seeded_image(client, python_image(client))


@pytest.fixture
def factory(image: str) -> SandboxFactory:
    async def make() -> Sandbox:
        return await DockerSandbox.create(image, run_id=RUN_ID)

    return make


@pytest.mark.parametrize("name", list(CHECKS))
async def test_docker_sandbox_conforms(name: str, factory: SandboxFactory) -> None:
    await CHECKS[name](factory)


async def test_seeded_workspace_and_diff_of_changes(factory: SandboxFactory) -> None:
    """With a non-empty base: modified, deleted and added files all show in the diff."""
    sb = await factory()
    try:
        assert (await sb.read_file("pkg/mod.py")).startswith(b"def f()")
        await sb.write_file("pkg/mod.py", "def f():\n    return 2\n")
        await sb.run("rm to_delete.txt")
        await sb.write_file("new.py", "x = 1\n")
        patch = await sb.diff()
        assert "-    return 1\n+    return 2" in patch
        assert "deleted file mode" in patch and "to_delete.txt" in patch
        assert "new file mode" in patch and "b/new.py" in patch
    finally:
        await sb.close()
    assert not shared_client().containers.list(all=True, filters={"label": f"harness.run_id={RUN_ID}"}, ignore_removed=True)
