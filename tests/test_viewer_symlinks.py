"""Symlinks out of the results folder, against the viewer on a real socket (127.0.0.1): a run folder, or
a file or folder inside a run, leading to files made here in a temporary folder outside the results
folder (a passwd-like file, a run's artefacts) must not be served by any endpoint that reads files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from harness.report._demo import make_demo_run
from harness.selection import Candidate, PassMatrix, Ranking
from harness.store import (
    Run,
    StageTotals,
    TaskOutcome,
    append_outcomes,
    write_candidates,
    write_matrix,
    write_rankings,
    write_stages,
)
from harness.trajectory import TrajectoryLog
from harness.viewer import ViewerServer

SECRET = "SECRET-7f3a"
OUT = "leads out of the results folder"


def _outside(tmp: Path) -> Path:
    """A run folder outside the results folder whose every file names ``SECRET``, plus a passwd-like
    file. Built with the real writers, so a viewer that follows the symlinks would read them fine."""
    outside = tmp / "outside"
    (outside / "passwd").parent.mkdir(parents=True)
    (outside / "passwd").write_text(f"root:x:0:0:{SECRET}:/root:/bin/bash\n")
    run = Run(outside, "private", "search", {"secret": SECRET})
    append_outcomes(run.dir, [TaskOutcome(task_id=f"{SECRET}-task", system=SECRET, resolved=1.0)])
    write_stages(run.dir, [StageTotals(stage=SECRET, cost_usd=1.0)])
    write_candidates(run, "HumanEval/0", [Candidate(id="c0", task_id="HumanEval/0", code=f"{SECRET} = 1")])
    write_matrix(run, PassMatrix("HumanEval/1", ["c0"], [f"{SECRET}-test"], np.ones((1, 1), dtype=np.int8)))
    ranking = Ranking(selector=SECRET, task_id="HumanEval/2", scores=[1.0], groups=[[0]])
    write_rankings(run, "HumanEval/2", [ranking], correct=[True])
    run.write_json("06_eval/iniconf__1/report.json", {"iniconf__1": {"resolved": True, "note": SECRET}})
    run.write_json("eval/money__1.json", {"chosen": 0, "note": SECRET})  # as harness run keeps them
    run.write_json("eval/money__1/c0/report.json", {"money__1": {"resolved": True, "note": SECRET}})
    with TrajectoryLog(run.path("trajectories", "t", "a.jsonl")) as log:
        log.append("note", {"text": SECRET})
    (run.dir / "search").mkdir()
    (run.dir / "search" / "leak.png").write_bytes(b"\x89PNG\r\n\x1a\n" + SECRET.encode())
    run.finish("done")
    run.close()
    return run.dir


def _link(link: Path, target: Path) -> None:
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    else:
        link.unlink(missing_ok=True)
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)


def _run(root: Path, run_id: str, task_id: str) -> Path:
    run = Run(root, run_id, "run", {})
    append_outcomes(run.dir, [TaskOutcome(task_id=task_id, system="s", resolved=1.0)])
    run.finish("done")
    run.close()
    return run.dir


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, list[httpx.Response]]]:
    tmp = tmp_path_factory.mktemp("symlinks")
    private = _outside(tmp)
    root = tmp / "results"
    make_demo_run(root, "demo", n_tasks=6)
    demo = root / "demo"
    _link(root / "linked", private)  # a whole run folder
    _link(_run(root, "summary-leak", "x") / "outcomes.jsonl", private / "outcomes.jsonl")
    _link(demo / "03_candidates" / "HumanEval__0.jsonl", private / "03_candidates" / "HumanEval__0.jsonl")
    _link(demo / "04_matrix" / "HumanEval__1.npz", private / "04_matrix" / "HumanEval__1.npz")
    _link(demo / "05_selection" / "HumanEval__2.json", private / "05_selection" / "HumanEval__2.json")
    _link(demo / "06_eval" / "HumanEval__3.json", tmp / "outside" / "passwd")
    _link(
        demo / "trajectories" / "HumanEval" / "4" / "leak.jsonl", private / "trajectories" / "t" / "a.jsonl"
    )
    _link(demo / "leak.png", private / "search" / "leak.png")
    _link(demo / "plots", private / "search")  # a folder: plots/leak.png
    _link(_run(root, "eval-leak", "iniconf__1") / "06_eval", private / "06_eval")
    _link(_run(root, "traj-leak", "t") / "trajectories", private / "trajectories")
    _link(_run(root, "pipe-leak", "money__1") / "eval", private / "eval")  # a pipeline run's evaluation
    pipe = _run(root, "pipe-report-leak", "money__1")
    (pipe / "eval").mkdir()
    (pipe / "eval" / "money__1.json").write_text('{"chosen": 0}')
    _link(pipe / "eval" / "money__1", private / "eval" / "money__1")
    seen: list[httpx.Response] = []

    def keep(resp: httpx.Response) -> None:
        resp.read()
        seen.append(resp)

    with ViewerServer(root) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        c.event_hooks["response"] = [keep]
        yield c, seen
    # Nothing any endpoint answered, error messages included, came from outside the results folder.
    assert seen and not [r.url for r in seen if SECRET.encode() in r.content]


def test_runs_list_marks_runs_leading_out_and_reads_nothing_there(
    linked: tuple[httpx.Client, list[httpx.Response]],
) -> None:
    c, _ = linked
    runs = {r["run_id"]: r for r in c.get("/api/runs").json()["runs"]}
    assert runs.keys() == {
        "demo",
        "linked",
        "summary-leak",
        "eval-leak",
        "traj-leak",
        "pipe-leak",
        "pipe-report-leak",
    }
    for name in ("linked", "summary-leak"):
        assert OUT in runs[name]["error"] and runs[name]["partial"] and runs[name]["systems"] == []
    assert "error" not in runs["demo"] and runs["demo"]["n_tasks"] == 6


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/run", {"run": "linked"}),
        ("/api/tasks", {"run": "linked"}),
        ("/api/task", {"run": "linked", "task": f"{SECRET}-task"}),
        ("/api/trajectory", {"run": "linked", "task": "t", "traj": "a"}),
        ("/api/plot", {"run": "linked", "name": "systems"}),
        ("/api/plot", {"run": "linked", "file": "search/leak.png"}),
        ("/api/run", {"run": "summary-leak"}),
        ("/api/tasks", {"run": "summary-leak"}),
    ],
)
def test_a_run_leading_out_is_refused_everywhere(
    linked: tuple[httpx.Client, list[httpx.Response]], path: str, params: dict[str, str]
) -> None:
    resp = linked[0].get(path, params=params)
    assert resp.status_code == 403 and OUT in resp.text


@pytest.mark.parametrize(
    ("run", "task", "what"),
    [
        ("demo", "HumanEval/0", "03_candidates/HumanEval__0.jsonl"),
        ("demo", "HumanEval/1", "04_matrix/HumanEval__1.npz"),
        ("demo", "HumanEval/2", "05_selection/HumanEval__2.json"),
        ("demo", "HumanEval/3", "06_eval/HumanEval__3.json"),
        ("eval-leak", "iniconf__1", "eval-leak/06_eval"),
        ("pipe-leak", "money__1", "pipe-leak/eval/money__1.json"),
        ("pipe-report-leak", "money__1", "pipe-report-leak/eval/money__1/c0/report.json"),
    ],
)
def test_a_task_artefact_leading_out_is_refused(
    linked: tuple[httpx.Client, list[httpx.Response]], run: str, task: str, what: str
) -> None:
    resp = linked[0].get("/api/task", params={"run": run, "task": task})
    assert resp.status_code == 403 and what in resp.json()["error"] and OUT in resp.json()["error"]


def test_trajectories_leading_out_are_not_listed_nor_served(
    linked: tuple[httpx.Client, list[httpx.Response]],
) -> None:
    c, _ = linked
    task = c.get("/api/task", params={"run": "demo", "task": "HumanEval/4"}).json()
    assert [t["traj_id"] for t in task["trajectories"]] == ["edit-0"]
    rows = {r["task_id"]: r for r in c.get("/api/tasks", params={"run": "demo"}).json()["rows"]}
    assert rows["HumanEval/4"]["n_trajectories"] == 1
    assert c.get("/api/run", params={"run": "demo"}).json()["n_trajectories"] == 6
    leak = c.get("/api/trajectory", params={"run": "demo", "task": "HumanEval/4", "traj": "leak"})
    assert leak.status_code == 403 and OUT in leak.text
    ok = c.get("/api/trajectory", params={"run": "demo", "task": "HumanEval/4", "traj": "edit-0"})
    assert ok.status_code == 200 and ok.json()["total"] > 0
    # A run whose whole trajectories folder leads out: no logs, the rest of the run is served.
    assert c.get("/api/task", params={"run": "traj-leak", "task": "t"}).json()["trajectories"] == []
    assert c.get("/api/run", params={"run": "traj-leak"}).json()["n_trajectories"] == 0
    gone = c.get("/api/trajectory", params={"run": "traj-leak", "task": "t", "traj": "a"})
    assert gone.status_code == 403


def test_pngs_leading_out_are_not_listed_nor_served(
    linked: tuple[httpx.Client, list[httpx.Response]],
) -> None:
    c, _ = linked
    assert c.get("/api/run", params={"run": "demo"}).json()["run_plots"] == []
    for rel in ("leak.png", "plots/leak.png"):
        assert c.get("/api/plot", params={"run": "demo", "file": rel}).status_code == 404
    png = c.get("/api/plot", params={"run": "demo", "name": "systems"})
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
