"""``--images swebench`` without an engine: SWE-bench's published names (swebench's own code), which
tasks have one, and the eval script's activation of SWE-bench's conda env. The pull, the registry and the
fallback run against a real registry in tests/test_swebench_images_docker.py."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.evaluation import eval_script
from harness.tasks import EnvironmentSpec, RepoTask, load_suite
from harness.tasks.images import TaskImages, swebench_image_name

pytest.importorskip("swebench", reason="the swebench extra is not installed (scripts/setup.sh adds it)")

ROOT = Path(__file__).resolve().parents[1]


class _NoEngine:
    """A Docker client stand-in that fails the test on any use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the engine was used ({name})")


def _record(instance_id: str, repo: str, version: str, env: EnvironmentSpec | None = None) -> RepoTask:
    fields: dict[str, Any] = {"instance_id": instance_id, "repo": repo, "version": version}
    fields.update(base_commit="a" * 40, problem_statement="p", patch="", test_patch="")
    if env is not None:
        fields["environment"] = env
    return RepoTask(**fields)


SWEBENCH_ENV = EnvironmentSpec(builder="pip", python="3.9", spec_source="swebench==4.1.0 pallets/flask 2.0")


def test_published_names_are_swebench_s() -> None:
    flask = _record("pallets__flask-4045", "pallets/flask", "2.0")
    assert swebench_image_name(flask) == "swebench/sweb.eval.x86_64.pallets_1776_flask-4045:latest"
    assert (
        swebench_image_name(flask, "127.0.0.1:5000/swebench")
        == "127.0.0.1:5000/swebench/sweb.eval.x86_64.pallets_1776_flask-4045:latest"
    )
    # lower-cased as swebench writes it
    odd = _record("Owner__Repo-1", "owner/repo", "1.0")
    assert swebench_image_name(odd, "ns") == "ns/sweb.eval.x86_64.owner_1776_repo-1:latest"


def test_official_images_only_when_asked_and_only_for_swebench_records() -> None:
    flask = _record("pallets__flask-4045", "pallets/flask", "2.0", SWEBENCH_ENV)
    assert TaskImages(client=_NoEngine()).official_image(flask) is None  # --images local: nothing asked
    images = TaskImages(client=_NoEngine(), source="swebench")
    local = load_suite(ROOT / "tasks" / "local")[0]
    assert images.official_image(local) is None  # a local task: SWE-bench publishes no image of it
    unsupported = SWEBENCH_ENV.model_copy(update={"unsupported": "unsupported: needs Python 3.6"})
    assert images.official_image(flask.model_copy(update={"environment": unsupported})) is None


def test_eval_script_activates_swebench_conda_env_only_where_it_is(tmp_path: Path) -> None:
    """SWE-bench's images keep the repository's Python in conda's ``testbed``, off PATH until activated
    (as swebench's own eval script does); harness's images have no /opt/miniconda3 and nothing changes."""
    task = load_suite(ROOT / "tasks" / "local")[0]
    script = eval_script(task)
    lines = script.splitlines()
    activate = [ln for ln in lines if "conda activate testbed" in ln]
    assert activate == [
        "if [ -f /opt/miniconda3/bin/activate ]; then source /opt/miniconda3/bin/activate; "
        "conda activate testbed; fi"
    ]
    # before anything that runs the repository's Python (eval_commands, install, the tests)
    assert lines.index(activate[0]) < next(i for i, ln in enumerate(lines) if ln.startswith("git config"))
    # where there is no conda, the step is a no-op under the script's own `set -u`
    res = subprocess.run(
        ["bash", "-c", f"set -uxo pipefail; {activate[0]}; echo reached"], capture_output=True, text=True
    )
    assert res.returncode == 0 and res.stdout.strip() == "reached", res.stderr
