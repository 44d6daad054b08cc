"""``repos:`` in a ``harness run`` config: a SWE-bench suite's records read their repositories from a
folder of local git repositories, as ``--repos`` does for ``harness eval`` and ``tasks validate``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.pipeline import select_tasks
from harness.pipeline._config import load_config

pytestmark = pytest.mark.unit


def _config(tmp_path: Path, shared_data: Path, **extra: object) -> Path:
    cfg = {
        "suite": str(shared_data / "swebench" / "SWE-bench_Lite-test.parquet"),
        "tasks": ["pallets__flask-4045", "psf__requests-2317"],
        "models": {"default": {"spec": "scripted"}},
        **extra,
    }
    path = tmp_path / "run.json"
    path.write_text(json.dumps(cfg))
    return path


def test_repos_in_the_config_point_records_at_local_repositories(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARNESS_SWEBENCH_REPOS", raising=False)
    # Relative to the config file's folder, as the suite is.
    rel = os.path.relpath(shared_data / "repos", tmp_path)
    cfg, base = load_config(_config(tmp_path, shared_data, repos=rel))
    tasks = select_tasks(cfg, base)
    sources = {t.instance_id: t.source for t in tasks}
    assert sources["pallets__flask-4045"] is not None
    assert Path(sources["pallets__flask-4045"].location) == (shared_data / "repos" / "flask.git").resolve()
    assert Path(sources["psf__requests-2317"].location) == (shared_data / "repos" / "requests.git").resolve()


def test_without_repos_records_keep_the_github_default(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARNESS_SWEBENCH_REPOS", raising=False)
    cfg, base = load_config(_config(tmp_path, shared_data))
    assert all(t.source is None for t in select_tasks(cfg, base))


def test_a_repos_folder_that_does_not_exist_is_a_clear_error(tmp_path: Path, shared_data: Path) -> None:
    cfg, base = load_config(_config(tmp_path, shared_data, repos="nowhere"))
    with pytest.raises(ConfigError, match="not a folder"):
        select_tasks(cfg, base)
