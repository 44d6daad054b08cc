"""A pipeline run made by an older harness (its manifest lacks options added since) resumes after an
upgrade while those options hold their defaults, and is refused when one does not.

The run is the cheap one of ``test_pipeline_core.py`` (scripted model, host-folder sandboxes); the
older harness is imitated by deleting keys from the manifest on disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pipeline_policy
import pytest
from pipeline_host import host_deps

from harness.errors import StoreError
from harness.pipeline import parse_config
from harness.pipeline._main import run_pipeline

ROOT = Path(__file__).resolve().parents[1]


def _config(**over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "suite": str(ROOT / "tasks" / "local"),
        "tasks": ["local__unitconv-1"],
        "models": {
            "default": {
                "spec": "scripted",
                "policy": "pipeline_policy:policy",
                "options": {"price": {"input": 3.0, "output": 15.0}},
            }
        },
        "n_trajectories": 2,
        "testing_turns": 3,
        "editing_turns": 4,
        "selector": "votes",
        "evaluate": False,
        "limits": {"trajectories": 2},
    }
    cfg.update(over)
    return cfg


def _drop(manifest: Path, *keys: str) -> None:
    """Rewrite ``manifest`` as a harness without the options ``keys`` (dotted for nested ones) wrote it."""
    data = json.loads(manifest.read_text())
    for key in keys:
        *parents, leaf = key.split(".")
        where = data["config"]
        for part in parents:
            where = where[part]
        del where[leaf]
    manifest.write_text(json.dumps(data))


def test_a_run_from_an_older_harness_resumes_when_new_options_are_at_their_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    pipeline_policy.reset()
    cfg = parse_config(_config())
    results = tmp_path / "results"
    first = run_pipeline(cfg, ROOT, results_dir=results, run_id="old", deps=host_deps(tmp_path / "sb"))
    assert not first["resumed"] and first["n_tasks"] == 1
    manifest = results / "old" / "manifest.json"
    _drop(manifest, "cache_dir", "sandbox_memory", "limits.tasks", "models.ranking")
    pipeline_policy.reset()
    again = run_pipeline(cfg, ROOT, results_dir=results, run_id="old", deps=host_deps(tmp_path / "sb2"))
    assert again["resumed"] and pipeline_policy.SEEN == []  # nothing redone
    assert [t["cost_usd"] for t in again["tasks"]] == [t["cost_usd"] for t in first["tasks"]]
    assert json.loads(manifest.read_text())["config"] == cfg.model_dump(mode="json")


def test_a_run_from_an_older_harness_is_refused_when_a_new_option_is_not_at_its_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    pipeline_policy.reset()
    cfg = parse_config(_config(first_alone=False))
    results = tmp_path / "results"
    run_pipeline(cfg, ROOT, results_dir=results, run_id="old", deps=host_deps(tmp_path / "sb"))
    manifest = results / "old" / "manifest.json"
    _drop(manifest, "first_alone")
    before = manifest.read_text()
    with pytest.raises(
        StoreError, match=r"first_alone: absent from the manifest \(so its default, true\), false"
    ):
        run_pipeline(cfg, ROOT, results_dir=results, run_id="old", deps=host_deps(tmp_path / "sb2"))
    assert manifest.read_text() == before
