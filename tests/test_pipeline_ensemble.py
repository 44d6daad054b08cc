"""Ensembles inside ``harness run``: other systems' predictions join our candidates before selection.

The scripted model (``tests/pipeline_policy.py``) plays the trajectories; sandboxes are host folders
(``tests/pipeline_host.py``), as in ``test_pipeline_core.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pipeline_policy
import pytest
from pipeline_host import host_deps

from harness.errors import ConfigError, DataError
from harness.pipeline import load_config, parse_config
from harness.pipeline._main import run_pipeline
from harness.selection import Candidate

ROOT = Path(__file__).resolve().parents[1]
TID = "local__unitconv-1"
PRICE = {"input": 3.0, "output": 15.0}


@pytest.fixture(autouse=True)
def _fresh_policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pipeline_policy.reset()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def _wrong_first_edit() -> None:
    # The policy hands editing plans out in turn; plan 3 is a wrong edit it gives up with, so our
    # only trajectory writes a patch that does not fix the issue.
    pipeline_policy._counters[(TID, "editing")] = 3


def _predictions(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(**over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "suite": str(ROOT / "tasks" / "local"),
        "tasks": [TID],
        "models": {
            "default": {"spec": "scripted", "policy": "pipeline_policy:policy", "options": {"price": PRICE}}
        },
        "n_trajectories": 1,
        "testing_turns": 3,
        "editing_turns": 4,
    }
    cfg.update(over)
    return cfg


def _candidates(run_dir: Path) -> list[Candidate]:
    text = (run_dir / "03_candidates" / f"{TID}.jsonl").read_text()
    return [Candidate.model_validate_json(line) for line in text.splitlines()]


def test_an_external_fix_wins_selection_and_the_run_resumes(tmp_path: Path) -> None:
    gold = str(pipeline_policy.RECORDS[TID]["patch"])
    other = _predictions(
        tmp_path / "other.jsonl",
        [
            {"instance_id": TID, "model_name_or_path": "other-sys", "model_patch": gold},
            {"instance_id": "elsewhere__x-1", "model_name_or_path": "other-sys", "model_patch": "diff"},
        ],
    )
    empty = _predictions(
        tmp_path / "empty.jsonl", [{"instance_id": TID, "model_name_or_path": "quiet", "model_patch": ""}]
    )
    cfg = parse_config(_config(ensemble=[str(other), str(empty)]))
    results, lines = tmp_path / "results", []
    _wrong_first_edit()
    summary = run_pipeline(
        cfg, ROOT, results_dir=results, run_id="e", deps=host_deps(tmp_path / "sb"), progress=lines.append
    )
    run_dir = results / "e"
    sel = json.loads((run_dir / "selection" / f"{TID}.json").read_text())
    # Ours (wrong) first, the other system's fix second; the empty prediction was dropped.
    assert len(sel["candidates"]) == 2 and sel["candidates"][1] == gold and sel["groups"] == [[0], [1]]
    assert sel["chosen"] == 1 and sel["method"] == "agent" and not sel["fell_back"]
    assert sel["votes"]["scores"] == [0.0, 1.0]
    cands = _candidates(run_dir)
    assert [(c.provenance.source, c.provenance.model) for c in cands] == [
        ("ours", "scripted:scripted"),
        (f"predictions:{other}", "other-sys"),
    ]
    assert [c.id for c in cands] == ["ours:0", "ext:other:0"]
    ev = json.loads((run_dir / "eval" / f"{TID}.json").read_text())
    assert ev["candidate_resolved"] == [False, True] and ev["resolved"] is True
    assert summary["resolved"] == 1
    preds = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    assert preds == [{"instance_id": TID, "model_name_or_path": "harness-e", "model_patch": gold}]
    assert any("ensemble: 1 external candidates for 1 of 1 tasks" in line for line in lines)
    assert any(f"candidate 1 of 2 from predictions:{other} (other-sys)" in line for line in lines)

    # A run killed before selection finished: context and the trajectory are read back, only voting
    # and selection run again, over the same merged candidates, and choose the same.
    (run_dir / "selection" / f"{TID}.json").unlink()
    pipeline_policy.reset()
    again = run_pipeline(cfg, ROOT, results_dir=results, run_id="e", deps=host_deps(tmp_path / "sb2"))
    assert again["resumed"] and again["resolved"] == 1
    assert pipeline_policy.SEEN and not any("by editing its files" in p for p in pipeline_policy.SEEN)
    assert not any("reproduction test for a GitHub issue" in p for p in pipeline_policy.SEEN)
    assert json.loads((run_dir / "selection" / f"{TID}.json").read_text())["chosen"] == 1
    assert _candidates(run_dir) == cands
    # A finished run reruns without calling a model.
    pipeline_policy.reset()
    third = run_pipeline(cfg, ROOT, results_dir=results, run_id="e", deps=host_deps(tmp_path / "sb3"))
    assert pipeline_policy.SEEN == [] and third["resolved"] == 1


def test_votes_pick_an_external_fix_and_duplicates_keep_ours_first(tmp_path: Path) -> None:
    gold = str(pipeline_policy.RECORDS[TID]["patch"])
    # Two systems wrote the same fix (one with different whitespace): one distinct candidate.
    lines = gold.splitlines(keepends=True)
    k = next(i for i, ln in enumerate(lines) if ln.startswith("+") and not ln.startswith("+++"))
    lines[k] = lines[k].rstrip("\n") + "   \n"
    spaced = "".join(lines)
    assert spaced != gold
    a = _predictions(
        tmp_path / "a.jsonl", [{"instance_id": TID, "model_name_or_path": "a", "model_patch": gold}]
    )
    b = _predictions(
        tmp_path / "b.jsonl", [{"instance_id": TID, "model_name_or_path": "b", "model_patch": spaced}]
    )
    cfg = parse_config(_config(ensemble=[str(a), str(b)], selector="votes", evaluate=False))
    _wrong_first_edit()
    run_pipeline(cfg, ROOT, results_dir=tmp_path / "res", run_id="v", deps=host_deps(tmp_path / "sb"))
    sel = json.loads((tmp_path / "res" / "v" / "selection" / f"{TID}.json").read_text())
    assert sel["groups"] == [[0], [1, 2]] and sel["chosen"] == 1 and sel["votes"]["scores"] == [0.0, 1.0]
    assert [c.provenance.model for c in _candidates(tmp_path / "res" / "v")] == ["scripted:scripted", "a"]


def test_ensemble_paths_are_resolved_from_the_config_folder_and_checked_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    (folder / "other").mkdir(parents=True)
    _predictions(folder / "other" / "p.jsonl", [])
    data = _config(ensemble=["other/p.jsonl"], suite=str(ROOT / "tasks" / "local"))
    path = folder / "run.json"
    path.write_text(json.dumps(data))
    cfg, base = load_config(path)
    assert base == folder.resolve() and cfg.ensemble == [str((folder / "other" / "p.jsonl").resolve())]
    with pytest.raises(ConfigError, match="ensemble names a predictions file twice"):
        parse_config(_config(ensemble=["x.jsonl", "x.jsonl"]))
    with pytest.raises(ConfigError, match="ensemble"):
        parse_config(_config(ensemble="x.jsonl"))
    # A missing file fails the run before any model call.
    missing = parse_config(_config(ensemble=[str(tmp_path / "nope.jsonl")]))
    with pytest.raises(DataError, match="predictions file not found"):
        run_pipeline(missing, ROOT, results_dir=tmp_path / "res", run_id="m", deps=host_deps(tmp_path / "sb"))
    assert pipeline_policy.SEEN == []


def test_the_example_config_runs(tmp_path: Path) -> None:
    cfg, base = load_config(ROOT / "tasks" / "local" / "example-run.yaml")
    summary = run_pipeline(
        cfg, base, results_dir=tmp_path / "res", run_id="x", deps=host_deps(tmp_path / "sb")
    )
    assert summary["n_tasks"] == 1 and summary["resolved"] == 1
