"""The viewer's HTTP API on a real socket (127.0.0.1), over runs written with the real store APIs."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.report._demo import HOSTILE, make_demo_run
from harness.store import Run, TaskOutcome, append_outcomes
from harness.trajectory import TrajectoryLog, TrajectoryPager, UnknownEvent
from harness.viewer import ViewerServer


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    make_demo_run(root, "demo", n_tasks=8)
    run = Run(root, "big", "search", {"n": 10_000})
    append_outcomes(run.dir, [TaskOutcome(task_id="HumanEval/7", system="mcts", resolved=1.0)])
    with TrajectoryLog(run.path("trajectories", "HumanEval/7", "mcts-0.jsonl")) as log:
        for i in range(10_000):
            log.append("command", {"cmd": f"step {i}", "exit_code": 0, "stdout": "ok"}, cost_usd=0.001)
    run.close()
    return root


@pytest.fixture(scope="module")
def client(results: Path) -> Iterator[httpx.Client]:
    with ViewerServer(results) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        assert server.host == "127.0.0.1"
        yield c


def test_runs_and_run(client: httpx.Client) -> None:
    runs = client.get("/api/runs").json()["runs"]
    assert {r["run_id"] for r in runs} >= {"demo", "big"}
    big = next(r for r in runs if r["run_id"] == "big")
    assert big["partial"] and big["status"] == "running"
    run = client.get("/api/run", params={"run": "demo"}).json()
    assert [s["system"] for s in run["systems"]] == ["random", "max-pass", "codet", "b4"]
    assert run["plots"] == ["systems", "candidates", "stages"] and run["n_tasks"] == 8
    png = client.get("/api/plot", params={"run": "demo", "name": "stages"})
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"


def test_task_filters_and_paging(client: httpx.Client) -> None:
    everything = client.get("/api/tasks", params={"run": "demo", "limit": 3}).json()
    assert everything["total"] == 8 and everything["filtered"] == 8 and len(everything["rows"]) == 3
    page3 = client.get("/api/tasks", params={"run": "demo", "limit": 3, "offset": 6}).json()
    assert len(page3["rows"]) == 2
    for status in ("resolved", "unresolved", "missed", "no-oracle"):
        body = client.get("/api/tasks", params={"run": "demo", "status": status, "system": "b4"}).json()
        for row in body["rows"]:
            cell = next(c for c in row["cells"] if c["system"] == "b4")
            if status == "resolved":
                assert cell["resolved"] == 1
            elif status == "unresolved":
                assert cell["resolved"] == 0
            elif status == "missed":
                assert cell["oracle"] > 0 and cell["resolved"] < 1
            else:
                assert cell["oracle"] == 0
    one = client.get("/api/tasks", params={"run": "demo", "q": "humaneval/3"}).json()
    assert [r["task_id"] for r in one["rows"]] == ["HumanEval/3"]


def test_task_details(client: httpx.Client) -> None:
    task = client.get("/api/task", params={"run": "demo", "task": "HumanEval/0"}).json()
    m = task["matrix"]
    assert len(m["cells"]) == len(m["candidate_ids"]) == len(task["correct"]) == len(task["candidates"])
    assert {r["selector"] for r in task["rankings"]} == {"random", "max-pass", "codet", "b4"}
    assert task["trajectories"][0]["traj_id"] == "edit-0" and task["trajectories"][0]["n_events"] > 5
    assert HOSTILE in task["candidates"][0]["code"]  # served as data; the page renders it as text


def test_repository_task_shows_its_swebench_report(client: httpx.Client, results: Path) -> None:
    from harness.evaluation._report import InstanceReport, TestGroup, TestsStatus

    run = Run(results, "repo", "run", {})
    append_outcomes(run.dir, [TaskOutcome(task_id="iniconf__1", system="agent", resolved=1.0)])
    rep = InstanceReport(
        instance_id="iniconf__1", resolved=True, patch_exists=True, patch_successfully_applied=True,
        tests_status=TestsStatus(FAIL_TO_PASS=TestGroup(success=["t_a"]), PASS_TO_PASS=TestGroup(failure=["t_b"])),
    )  # fmt: skip
    run.write_json("06_eval/iniconf__1/report.json", rep.to_swebench())
    run.close()
    task = client.get("/api/task", params={"run": "repo", "task": "iniconf__1"}).json()
    assert task["evaluation"]["resolved"] is True
    assert task["evaluation"]["tests_status"]["PASS_TO_PASS"]["failure"] == ["t_b"]
    sneaky = client.get("/api/task", params={"run": "repo", "task": "../repo/06_eval/iniconf__1"})
    assert sneaky.status_code == 404


def test_pipeline_task_shows_its_chosen_candidates_report(client: httpx.Client, results: Path) -> None:
    from harness.evaluation._report import InstanceReport, TestGroup, TestsStatus

    # As harness run keeps them: eval/<key>.json names the chosen candidate, eval/<key>/c<k>/ its report.
    run = Run(results, "pipe", "pipeline", {})
    append_outcomes(run.dir, [TaskOutcome(task_id="local__money-1", system="pipeline:agent", resolved=1.0)])
    run.write_json("eval/local__money-1.json", {"version": 1, "task_id": "local__money-1", "chosen": 1})
    for k, resolved in ((0, False), (1, True)):
        rep = InstanceReport(
            instance_id="local__money-1", resolved=resolved, patch_successfully_applied=True,
            outcome="resolved" if resolved else "unresolved",
            tests_status=TestsStatus(FAIL_TO_PASS=TestGroup(success=["t_a"] if resolved else [], failure=[] if resolved else ["t_a"])),
        )  # fmt: skip
        run.write_json(
            f"eval/local__money-1/c{k}/report.json", {"local__money-1": rep.model_dump(mode="json")}
        )
    run.close()
    task = client.get("/api/task", params={"run": "pipe", "task": "local__money-1"}).json()
    assert task["evaluation"]["resolved"] is True and task["evaluation"]["outcome"] == "resolved"
    assert task["evaluation"]["tests_status"]["FAIL_TO_PASS"]["success"] == ["t_a"]
    (run.dir / "eval" / "local__money-1.json").write_text(json.dumps({"chosen": -1}))  # nothing chosen
    assert (
        client.get("/api/task", params={"run": "pipe", "task": "local__money-1"}).json()["evaluation"] is None
    )


def test_trajectory_paging_on_10000_events(client: httpx.Client) -> None:
    args = {"run": "big", "task": "HumanEval/7", "traj": "mcts-0"}
    first = client.get("/api/trajectory", params={**args, "offset": 0, "limit": 200}).json()
    assert first["total"] == 10_000 and len(first["events"]) == 200
    assert first["events"][0]["data"]["cmd"] == "step 0" and first["types"] == {"command": 10_000}
    last = client.get("/api/trajectory", params={**args, "offset": 9_900, "limit": 200}).json()
    assert [e["i"] for e in last["events"]] == list(range(9_900, 10_000))
    assert last["events"][-1]["cum_cost"] == pytest.approx(10.0)
    assert last["total_cost"] == pytest.approx(10.0) and not last["ended"]
    capped = client.get("/api/trajectory", params={**args, "limit": 100_000}).json()
    assert len(capped["events"]) == 500  # a page is never the whole log


def test_live_trajectory_grows_and_torn_lines_wait(client: httpx.Client, results: Path) -> None:
    run = Run(results, "live", "search", {})
    path = run.path("trajectories", "t", "a.jsonl")
    log = TrajectoryLog(path)
    log.append("start", {"task_id": "t"})
    args = {"run": "live", "task": "t", "traj": "a"}
    assert client.get("/api/trajectory", params=args).json()["total"] == 1
    log.append("note", {"text": "more", "x": float("nan")})
    with open(path, "a") as fh:
        fh.write('{"v": 1, "seq": 2, "type": "no')  # a write in progress
    body = client.get("/api/trajectory", params=args).json()
    assert body["total"] == 2 and body["events"][1]["data"]["x"] is None  # NaN is not JSON: null
    log.close()
    run.close()


def test_bad_names_are_404_and_headers_are_strict(client: httpx.Client) -> None:
    for params in ({"run": "../etc"}, {"run": ".."}, {"run": "nope"}):
        assert client.get("/api/run", params=params).status_code == 404
    bad = {"run": "demo", "task": "../../..", "traj": "passwd"}
    assert client.get("/api/trajectory", params=bad).status_code == 404
    assert client.get("/api/task", params={"run": "demo", "task": "nope"}).status_code == 404
    assert client.get("/api/plot", params={"run": "demo", "name": "nope"}).status_code == 404
    page = client.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="/static/app.js">' in page.text
    assert client.get("/static/traj.js").status_code == 200


def test_harness_view_command(results: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from harness.cli import main; main()", "view", str(results), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url is not None, line
        runs = httpx.get(url.group(0) + "/api/runs", timeout=30).json()["runs"]
        assert "demo" in {r["run_id"] for r in runs}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert "viewer stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_pager_follows_appends_and_replacement(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with TrajectoryLog(path) as log:
        for i in range(5):
            log.append("model_response", {"text": str(i)}, cost_usd=0.5)
    pager = TrajectoryPager(path)
    assert pager.refresh() == 5 and pager.total_cost == 2.5 and pager.cost_before(2) == 1.0
    assert [e.model_dump().get("data", {}).get("text") for e in pager.page(3, 10)] == ["3", "4"]
    assert pager.page(10, 5) == []
    with TrajectoryLog(path) as log:
        log.append("end")
    assert pager.refresh() == 6 and pager.type_counts == {"model_response": 5, "end": 1}
    path.unlink()
    with TrajectoryLog(path) as log:  # a fresh log under the same name
        log.append("start")
    assert pager.refresh() == 1 and pager.page(0, 5)[0].type == "start"
    with open(path, "a") as fh:
        fh.write(json.dumps({"v": 99, "seq": 1, "type": "note"}) + "\n")
    pager.refresh()
    (newer,) = pager.page(1, 1)
    assert isinstance(newer, UnknownEvent) and "newer harness (format v99)" in newer.reason


@pytest.mark.parametrize(
    ("bad", "kind", "reason"),
    [
        (b"[1, 2]", "unknown", "not an event (a JSON list)"),
        (b'{"v": 1, "seq": 1, "type": "no-such-type", "cost_usd": 0.25}', "unknown", "type 'no-such-type'"),
        (b'{"v": 1, "seq": 1, "type": {"x": 1}}', "unknown", "type {'x': 1}"),
        (b'{"v": 2, "seq": 1, "type": "note"}', "unknown", "newer harness (format v2)"),
        (b'{"v": "2", "seq": 1, "type": "note"}', "unknown", "newer harness (format v2)"),
        (b'{"v": 1, "seq": "one", "type": "note"}', "unknown", "seq: Input should be a valid integer"),
        (b'{"v": 1, "seq": 1, "type": "note", "span": 7}', "unknown", "span: Extra inputs"),
        (b'{"v": 1, "seq": 1, "type": "note", "data": {"message": "caf\xe9"}}', "unreadable", "not UTF-8"),
        (b"Traceback (most recent call last):", "unreadable", "not a JSON line"),
    ],
)
def test_a_line_that_is_no_event_is_shown_in_its_place(
    tmp_path: Path, bad: bytes, kind: str, reason: str
) -> None:
    # One odd line (a newer harness's event, garbage) must not hide the rest of the log.
    path = tmp_path / "t.jsonl"
    with TrajectoryLog(path) as log:
        log.append("start", cost_usd=0.5)
    with open(path, "ab") as fh:
        fh.write(bad + b"\n" + b'{"v": 1, "seq": 2, "type": "end"}\n')
    pager = TrajectoryPager(path)
    assert pager.refresh() == 3
    start, odd, end = pager.page(0, 5)
    assert start.type == "start" and end.type == "end"
    assert isinstance(odd, UnknownEvent) and odd.type == kind and reason in odd.reason
    assert odd.raw == bad.decode("utf-8", "replace")
    assert pager.type_counts == {"start": 1, kind: 1, "end": 1}
    assert pager.total_cost == (0.75 if b"0.25" in bad else 0.5)


def test_task_table_counts_each_trajectory_once(client: httpx.Client, results: Path) -> None:
    # A repository task id has no "/", so its folder name is the task id itself (as the pipeline
    # writes ``trajectories/<key>/t<i>.jsonl``); each log is one trajectory, not two.
    run = Run(results, "repo-trajs", "pipeline", {})
    append_outcomes(run.dir, [TaskOutcome(task_id="local__unitconv-1", system="ours", resolved=1.0)])
    for name in ("context", "t0", "t1"):
        with TrajectoryLog(run.path("trajectories", "local__unitconv-1", f"{name}.jsonl")) as log:
            log.append("start")
    run.close()
    (row,) = client.get("/api/tasks", params={"run": "repo-trajs"}).json()["rows"]
    task = client.get("/api/task", params={"run": "repo-trajs", "task": "local__unitconv-1"}).json()
    assert len(task["trajectories"]) == 3
    assert row["n_trajectories"] == 3


def test_an_unreadable_run_does_not_hide_the_others(tmp_path: Path) -> None:
    # A run killed mid-record by an older harness and resumed kept a malformed line in the middle of
    # its outcomes: that run cannot be read, the runs page still lists every run, that one with why.
    make_demo_run(tmp_path, "good", n_tasks=2)
    run = Run(tmp_path, "torn", "search", {})
    append_outcomes(run.dir, [TaskOutcome(task_id="t/0", system="line", resolved=1.0)])
    run.close()
    with open(run.dir / "outcomes.jsonl", "a") as fh:
        fh.write(
            '{"v": 1, "task_id": "t/1", "sys{"v": 1, "task_id": "t/2", "system": "line", "resolved": 0}\n'
        )
    with ViewerServer(tmp_path) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        resp = c.get("/api/runs")
        assert resp.status_code == 200, resp.text
        runs = {r["run_id"]: r for r in resp.json()["runs"]}
        assert runs.keys() == {"good", "torn"}
        assert runs["good"]["n_tasks"] == 2 and "error" not in runs["good"]
        assert runs["torn"]["partial"] and "outcomes.jsonl:2" in runs["torn"]["error"]
        assert runs["torn"]["dir"] == "torn" and runs["torn"]["kind"] == "search"
        assert c.get("/api/run", params={"run": "torn"}).status_code == 500  # the run page says why


def test_a_trajectory_with_unknown_and_unreadable_lines_is_served_whole(
    client: httpx.Client, results: Path
) -> None:
    # A newer harness's event type, a garbage type and a line that is not JSON: each is a row of its
    # own with its raw text, and every other event of the page is there.
    run = Run(results, "odd", "search", {})
    append_outcomes(run.dir, [TaskOutcome(task_id="t", system="s", resolved=1.0)])
    path = run.path("trajectories", "t", "a.jsonl")
    with TrajectoryLog(path) as log:
        log.append("start", {"task_id": "t"})
        log.append("model_response", {"text": "hello"}, cost_usd=0.25)
    newer = {"v": 1, "seq": 2, "ts": 1.5, "type": "tool_result", "data": {"ok": True}, "cost_usd": 0.5}
    with open(path, "a") as fh:
        fh.write(json.dumps(newer) + "\n")
        fh.write('{"v": 1, "seq": 3, "type": "<img src=x onerror=alert(1)>"}\n')
        fh.write("Killed\n")
        fh.write('{"v": 1, "seq": 5, "type": "end", "data": {"outcome": "done"}}\n')
    run.close()
    args = {"run": "odd", "task": "t", "traj": "a"}
    resp = client.get("/api/trajectory", params=args)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total"] == 6 and body["ended"] and body["total_cost"] == pytest.approx(0.75)
    assert body["types"] == {"start": 1, "model_response": 1, "unknown": 2, "unreadable": 1, "end": 1}
    events = body["events"]
    kinds = ["start", "model_response", "unknown", "unknown", "unreadable", "end"]
    assert [e["type"] for e in events] == kinds
    assert json.loads(events[2]["raw"]) == newer and "'tool_result'" in events[2]["reason"]
    assert (events[2]["seq"], events[2]["ts"], events[2]["cost_usd"]) == (2, 1.5, 0.5)
    assert events[1]["cum_cost"] == pytest.approx(0.25) and events[2]["cum_cost"] == pytest.approx(0.75)
    assert events[4] == {"i": 4, "cum_cost": pytest.approx(0.75), "type": "unreadable", "raw": "Killed",
                         "reason": "not a JSON line (Expecting value)", "cost_usd": 0.0}  # fmt: skip
    assert events[5]["data"] == {"outcome": "done"}
    one = client.get("/api/trajectory", params={**args, "offset": 3, "limit": 1}).json()["events"]
    assert [e["i"] for e in one] == [3] and "onerror" in one[0]["raw"]
    (traj,) = client.get("/api/task", params={"run": "odd", "task": "t"}).json()["trajectories"]
    assert traj["n_events"] == 6 and traj["types"]["unknown"] == 2
