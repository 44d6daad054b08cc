"""``--images swebench`` against a real registry (issue 13, item 6; docker tier).

A local registry (Debian's ``docker-registry``, serving 127.0.0.1 on a free port from a config and a
storage folder under the test's tmp) serves pallets__flask-4045 under SWE-bench's published name. The
image is made from our own local instance image of flask-4045 given SWE-bench's layout: the repository
in /testbed and the environment reachable only through ``source /opt/miniconda3/bin/activate; conda
activate testbed`` (a shell stand-in for Miniconda's script that puts /opt/miniconda3/envs/testbed/bin,
our venv, first on PATH; the image's PATH is SWE-bench's, with no venv on it: without the activation
there is no pytest). So it proves what the evaluation needs of SWE-bench's images without
downloading conda, which cannot be reached here. Then:

- ``harness tasks validate`` and ``harness eval`` with ``--images swebench --image-namespace
  127.0.0.1:PORT/swebench`` pull it (it was removed locally after the push) and run their containers
  from it (the containers' image id is the pushed image's), with the local build's verdicts;
- with a namespace no registry serves, one line says so and the local build gives the same verdict.

Docker's daemon treats 127.0.0.0/8 as an insecure registry by default (``docker info``), so plain
HTTP on loopback needs no daemon configuration; the test checks that too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.tasks import RepoTask, load_suite, prepare_tasks
from harness.tasks.images import TaskImages, swebench_image_name

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HARNESS_SHARED_DATA", ROOT.parent / "shared" / "data"))
LITE = SHARED / "swebench" / "SWE-bench_Lite-test.parquet"
REPOS = SHARED / "repos"
ID = "pallets__flask-4045"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

try:
    import swebench  # noqa: F401
except ImportError:
    if IN_CI:  # scripts/setup.sh always installs the extra
        raise
    pytest.skip("the swebench extra is not installed (scripts/setup.sh adds it)", allow_module_level=True)

ACTIVATE = """\
# Stand-in for Miniconda's bin/activate in SWE-bench's images: `conda activate ENV` puts ENV first on PATH.
conda() {
  if [ "$1" = activate ]; then
    export CONDA_DEFAULT_ENV="$2" CONDA_PREFIX="/opt/miniconda3/envs/$2"
    export PATH="/opt/miniconda3/envs/$2/bin:$PATH"
  else
    echo "conda $1: not in this stand-in" >&2
    return 1
  fi
}
export CONDA_DEFAULT_ENV=base CONDA_PREFIX=/opt/miniconda3
"""

LAYOUT = """\
FROM {base}
COPY activate /opt/miniconda3/bin/activate
RUN mkdir -p /opt/miniconda3/envs /opt/miniconda3/etc/profile.d \\
 && ln -s /opt/venv /opt/miniconda3/envs/testbed \\
 && ln -s /usr/bin/python3 /opt/miniconda3/bin/python \\
 && cp /opt/miniconda3/bin/activate /opt/miniconda3/etc/profile.d/conda.sh \\
 && echo "source /opt/miniconda3/etc/profile.d/conda.sh && conda activate testbed" > /root/.bashrc
ENV PATH=/opt/miniconda3/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENV VIRTUAL_ENV=
WORKDIR /testbed/
LABEL harness.kind="test-swebench-layout"
"""


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def _registry_binary() -> str:
    """Debian's docker-registry (scripts/setup.sh installs it as root; so does this, if it must)."""
    found = shutil.which("docker-registry")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "docker-registry"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            subprocess.run(install, env=env, capture_output=True)
        found = shutil.which("docker-registry")
    if found is None:
        _missing("Debian's docker-registry is not installed (as root: apt-get install -y docker-registry)")
    assert found is not None
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a registry process of this test's own, stopped afterwards."""
    binary = _registry_binary()
    tmp = tmp_path_factory.mktemp("registry")
    port = _free_port()  # not 5000: a packaged registry service may hold it on some machines
    config = tmp / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp / 'storage'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (tmp / "registry.log").open("wb")
    proc = subprocess.Popen(
        [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as res:
                    if res.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"docker-registry did not serve: {(tmp / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _task() -> RepoTask:
    if not (LITE.is_file() and REPOS.is_dir()):
        pytest.fail(f"SWE-bench data missing in {SHARED}: it is part of the test data", pytrace=False)
    (task,) = [t for t in load_suite(LITE, repos=REPOS) if t.instance_id == ID]
    (task,) = prepare_tasks([task], repos=REPOS)
    return task


@pytest.fixture(scope="module")
def published(registry: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """``(namespace, image id)``: flask-4045 in SWE-bench's layout, pushed under SWE-bench's name and
    then removed from the engine, so that only a pull can bring it back."""
    import docker.errors

    images = TaskImages()
    client = images.client
    info = client.info()
    assert "127.0.0.0/8" in (info.get("RegistryConfig") or {}).get("InsecureRegistryCIDRs", []), info.get(
        "RegistryConfig"
    )
    local = images.instance_image(_task())
    ctx = tmp_path_factory.mktemp("layout")
    (ctx / "activate").write_text(ACTIVATE)
    (ctx / "Dockerfile").write_text(LAYOUT.format(base=local))
    namespace = f"{registry}/swebench"
    name = swebench_image_name(_task(), namespace)
    image, _ = client.images.build(path=str(ctx), tag=name, network_mode="none", rm=True, forcerm=True)
    try:
        # what the evaluation must do in such an image: no pytest until the env is activated
        probe = (
            "command -v pytest || echo none; "
            "source /opt/miniconda3/bin/activate; conda activate testbed; command -v pytest"
        )
        out = client.containers.run(
            name, ["bash", "-c", probe], remove=True, network_mode="none", use_config_proxy=False
        ).decode()
        assert out.split() == ["none", "/opt/miniconda3/envs/testbed/bin/pytest"], out
        repo, _, tag = name.rpartition(":")
        for line in client.images.push(repo, tag=tag, stream=True, decode=True):
            assert "error" not in line, line
        client.images.remove(name)
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(image.id)
        yield namespace, str(image.id)
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(image.id, force=True)


def _spy_containers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The image id of every evaluation container started from now on (read from the engine)."""
    from harness.sandbox._container import EvalContainer

    seen: list[str] = []
    start = EvalContainer.start.__func__  # type: ignore[attr-defined]

    async def spy(cls: type[EvalContainer], image: str, /, **kwargs: Any) -> EvalContainer:
        box: EvalContainer = await start(cls, image, **kwargs)
        box._container.reload()
        seen.append(str(box._container.attrs["Image"]))
        return box

    monkeypatch.setattr(EvalContainer, "start", classmethod(spy))
    return seen


def _cli(*args: str) -> Any:
    from typer.testing import CliRunner

    from harness.cli import app

    return CliRunner().invoke(app, list(args))


def _preds(tmp_path: Path) -> Path:
    task = _task()
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"instance_id": ID, "model_name_or_path": "gold", "model_patch": task.patch}))
    return preds


def test_swebench_name_is_swebench_s_own(registry: str) -> None:
    assert swebench_image_name(_task()) == "swebench/sweb.eval.x86_64.pallets_1776_flask-4045:latest"
    assert swebench_image_name(_task(), f"{registry}/x").startswith(f"{registry}/x/sweb.eval.x86_64.pallets_")


def test_validate_runs_the_published_image_pulled_from_the_registry(
    published: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace, image_id = published
    seen = _spy_containers(monkeypatch)
    args = ["--repos", str(REPOS), "--images", "swebench", "--image-namespace", namespace]
    res = _cli("tasks", "validate", str(LITE), "-i", ID, "--json", *args)
    assert res.exit_code == 0, res.output
    assert "falling back" not in res.output, res.output
    assert seen == [image_id, image_id]  # gold and empty, each in a container of the pulled image
    (row,) = json.loads(res.stdout[: res.stdout.rindex("]") + 1])
    assert (row["gold"], row["empty"], row["ok"]) == ("resolved", "unresolved", True), res.output


def test_eval_runs_the_published_image_and_falls_back_with_one_line_when_nothing_serves(
    published: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace, image_id = published
    seen = _spy_containers(monkeypatch)
    preds = _preds(tmp_path)
    args = ["--suite", str(LITE), "--repos", str(REPOS), "--images", "swebench", "--image-namespace"]
    res = _cli("eval", str(preds), "--out", str(tmp_path / "official"), *args, namespace)
    assert res.exit_code == 0, res.output
    assert "falling back" not in res.output, res.output
    assert seen == [image_id]
    official = json.loads((tmp_path / "official" / ID / "report.json").read_text())[ID]
    assert official["resolved"] is True
    # the report names the image by its registry digest: an image pushed anew is evaluated anew
    env = official["harness"]["environment"]
    repo = swebench_image_name(_task(), namespace).rpartition(":")[0]
    assert env.startswith(f"{repo}@sha256:"), env
    assert TaskImages().client.images.get(env).id == image_id

    # a namespace no registry serves: one line, then the local build, with the same verdict
    seen.clear()
    dead = f"127.0.0.1:{_free_port()}/swebench"
    local = TaskImages().instance_image(_task())
    local_id = TaskImages().client.images.get(local).id
    res = _cli("eval", str(preds), "--out", str(tmp_path / "fallback"), *args, dead)
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if "falling back" in ln]
    assert len(lines) == 1 and dead in lines[0] and "connection refused" in lines[0], res.output
    assert seen == [local_id] and local_id != image_id
    fallback = json.loads((tmp_path / "fallback" / ID / "report.json").read_text())[ID]
    assert fallback["harness"]["environment"] == local
    assert fallback["resolved"] is official["resolved"] is True
    assert fallback["tests_status"] == official["tests_status"]


def test_a_registry_without_the_image_falls_back_for_that_instance(registry: str) -> None:
    """The registry answers, it has no such image: a line for that instance, nothing pulled."""
    lines: list[str] = []
    images = TaskImages(source="swebench", namespace=f"{registry}/nosuch", notify=lines.append)
    assert images.official_image(_task()) is None
    assert len(lines) == 1 and lines[0].startswith(f"{ID}: {registry}/nosuch/sweb.eval."), lines
    assert "falling back to the local build" in lines[0]
    assert TaskImages(source="local", notify=lines.append).official_image(_task()) is None
    assert len(lines) == 1
