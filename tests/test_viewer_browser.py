"""The viewer driven in headless Chromium (Debian's ``/usr/bin/chromium`` through Playwright; nothing
is downloaded). Screenshots land in ``tests/artifacts/``. The UI is asserted on the fabricated demo
run (``harness.report._demo``: hostile text, a 10,000-event log, a live run) and on a real run that
``harness run`` makes in Docker; the README's screenshots come from real runs, by
``scripts/screenshots.py``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.evaluation import _report as swebench_report
from harness.report._demo import HOSTILE, make_demo_run
from harness.store import Run, TaskOutcome, append_outcomes
from harness.trajectory import TrajectoryLog
from harness.viewer import ViewerServer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _shot(page: Any, name: str, *, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def _until(page: Any, expr: str, timeout_s: float = 30.0) -> None:
    """Wait until the JS expression is true. (``wait_for_function`` compiles its predicate with
    ``eval``, which the viewer's Content-Security-Policy rightly forbids; ``evaluate`` goes through
    the DevTools protocol instead.)"""
    for _ in range(int(timeout_s / 0.1)):
        if page.evaluate(expr):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"never became true: {expr}")


def _big_trajectory(log: TrajectoryLog, n: int) -> None:
    log.append("start", {"task_id": "HumanEval/7"})
    i = 1
    while i < n - 1:
        log.append("model_response", {"text": f"thought {i}"}, cost_usd=0.0004,
                   usage={"input_tokens": 900, "output_tokens": 40})  # fmt: skip
        log.append(
            "command", {"cmd": f"pytest -q -k case{i}", "exit_code": i % 3 and 1, "stdout": "1 passed"}
        )
        i += 2
    while i < n:
        log.append("note", {"text": "budget spent"})
        i += 1


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    make_demo_run(root, "demo-select", n_tasks=12)
    big = Run(root, "search-mcts", "search", {"strategy": "mcts"})
    append_outcomes(big.dir, [TaskOutcome(task_id="HumanEval/7", system="mcts", resolved=1.0, oracle=True)])
    with TrajectoryLog(big.path("trajectories", "HumanEval/7", "mcts-0.jsonl")) as log:
        _big_trajectory(log, 10_000)
    big.finish("done")
    big.close()
    repo = Run(root, "repo-agent", "run", {"suite": "local"})
    append_outcomes(repo.dir, [TaskOutcome(task_id="iniconf__1", system="agent", resolved=0.0, oracle=False)])
    group = swebench_report.TestGroup(success=["test_a"], failure=[f"test_b[{HOSTILE}]"])
    report = swebench_report.InstanceReport(
        instance_id="iniconf__1", patch_exists=True, patch_successfully_applied=True, resolved=False,
        tests_status=swebench_report.TestsStatus(FAIL_TO_PASS=group),
    )  # fmt: skip
    repo.write_json("06_eval/iniconf__1/report.json", report.to_swebench())
    repo.finish("done")
    repo.close()
    return root


@pytest.fixture(scope="module")
def server(results: Path) -> Iterator[ViewerServer]:
    with ViewerServer(results) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright import sync_api
    except ImportError:  # the browser tier's engine is missing: CI must fail, never skip (conftest.py)
        reason = "pip install playwright (no browser download)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield pg
    ctx.close()
    assert errors == []  # no script errors and no CSP violations on any page


def test_click_through_runs_run_task_trajectory(page: Any, server: ViewerServer) -> None:
    page.goto(server.url + "/")
    page.wait_for_selector("#runs tr.run-row")
    assert page.locator("#runs tr.run-row").count() == 3
    _shot(page, "runs")

    page.click("text=demo-select")
    page.wait_for_selector("#systems")
    _until(page, "[...document.querySelectorAll('img.plot')].every(i => i.complete && i.naturalWidth > 0)")
    assert page.locator("img.plot").count() == 3
    assert page.locator("#tasks tr.task-row").count() == 12
    _shot(page, "run", full_page=True)

    expected = page.request.get(server.url + "/api/tasks?run=demo-select&status=missed&system=codet").json()
    page.select_option("#f-system", "codet")
    page.select_option("#f-status", "missed")
    _until(page, f"document.querySelectorAll('#tasks tr.task-row').length === {len(expected['rows'])}")
    page.select_option("#f-status", "")
    page.fill("#f-text", "HumanEval/1")
    _until(page, "document.querySelectorAll('#tasks tr.task-row').length === 3")  # 1, 10, 11
    page.fill("#f-text", "HumanEval/3")
    _until(page, "document.querySelectorAll('#tasks tr.task-row').length === 1")

    page.click("#tasks a:text('HumanEval/3')")
    page.wait_for_selector("#heatmap")
    page.wait_for_selector("#scores td.top")
    assert page.locator("#outcomes tbody tr").count() == 4
    page.select_option("#order", "codet")
    _shot(page, "task")

    page.click("#trajectories a")
    page.wait_for_selector("#events li.ev-end")
    assert page.locator("#events li").count() == 22
    assert page.locator("#events pre.diff .d-add").count() == 4
    _shot(page, "trajectory")


def test_task_table_draws_only_the_latest_filters_answer(page: Any, server: ViewerServer) -> None:
    # Two quick filter changes send two requests; the first one's answer is held back until the
    # second is drawn, as a loaded machine may do. The older answer must not replace the table.
    want = page.request.get(server.url + "/api/tasks?run=demo-select&status=missed&system=codet").json()
    assert 0 < want["filtered"] < want["total"]
    page.goto(server.url + "/#/run/demo-select")
    page.wait_for_selector("#tasks tr.task-row")
    held: list[Any] = []

    def hold_the_first(route: Any) -> None:
        if not held and "system=codet" in route.request.url and "status=" not in route.request.url:
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/tasks?*", hold_the_first)
    page.select_option("#f-system", "codet")
    page.select_option("#f-status", "missed")
    _until(page, "document.getElementById('tasks').dataset.answered === '2'")
    shown = "[...document.querySelectorAll('#tasks tr.task-row td:first-child')].map(td => td.textContent)"
    assert page.evaluate(shown) == [r["task_id"] for r in want["rows"]]
    assert len(held) == 1
    held[0].continue_()
    _until(page, "document.getElementById('tasks').dataset.answered === '3'")
    assert page.evaluate(shown) == [r["task_id"] for r in want["rows"]]
    assert page.input_value("#f-status") == "missed"


def test_hostile_model_output_is_shown_as_text(page: Any, server: ViewerServer) -> None:
    page.goto(server.url + "/#/traj/demo-select/HumanEval%2F0/edit-0")
    page.wait_for_selector("#events li.ev-model_response")
    assert HOSTILE in page.locator("#events li.ev-model_response").first.inner_text()
    page.goto(server.url + "/#/task/demo-select/HumanEval%2F0")
    page.wait_for_selector("#candidates details")
    page.click("#candidates details summary >> nth=0")
    assert HOSTILE in page.locator("#candidates").inner_text()
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"], #app script').length") == 0


def test_repository_task_evaluation(page: Any, server: ViewerServer) -> None:
    page.goto(server.url + "/#/task/repo-agent/iniconf__1")
    page.wait_for_selector("#evaluation")
    text = page.inner_text("#evaluation")
    assert "not resolved" in text and "FAIL_TO_PASS: 1 pass, 1 fail" in text and HOSTILE in text
    assert page.evaluate("window.__xss") is None


def test_10000_event_trajectory_pages(page: Any, server: ViewerServer) -> None:
    page.goto(server.url + "/#/traj/search-mcts/HumanEval%2F7/mcts-0")
    page.wait_for_selector("#ev-199")
    assert page.locator("#events li").count() == 200
    assert "page 1 of 50" in page.inner_text("#page-info")
    assert "10,000 events" in page.inner_text("#traj-stats")
    _shot(page, "trajectory-10000")
    page.click("#p-next")
    page.wait_for_selector("#ev-200")
    assert page.locator("#events li").count() == 200 and page.locator("#ev-199").count() == 0
    page.click("#p-last")
    page.wait_for_selector("#ev-9999")
    assert "page 50 of 50" in page.inner_text("#page-info")
    page.fill("#page-jump", "25")
    page.press("#page-jump", "Enter")
    page.wait_for_selector("#ev-4800")
    page.uncheck("label.chip.ev-command input")  # type filter hides commands on the page
    assert page.locator("#ev-4800").is_hidden() and page.locator("#ev-4801").is_visible()  # odd: responses


def test_live_follow(page: Any, server: ViewerServer, results: Path) -> None:
    run = Run(results, "live-run", "search", {"live": True})
    append_outcomes(run.dir, [TaskOutcome(task_id="t1", system="best-of-n", resolved=0.0, oracle=False)])
    run.mark("search", "t1", "done")
    run.mark("search", "t2", "running")
    log = TrajectoryLog(run.path("trajectories", "t2", "bon-0.jsonl"))
    log.append("start", {"task_id": "t2"})

    page.goto(server.url + "/")
    page.wait_for_selector("#runs a:text('live-run')")
    page.click("#runs a:text('live-run')")
    page.wait_for_selector("#partial")
    assert "run status is 'running'" in page.inner_text("#partial")
    append_outcomes(run.dir, [TaskOutcome(task_id="t2", system="best-of-n", resolved=1.0, oracle=True)])
    _until(page, "document.querySelectorAll('#tasks tr.task-row').length === 2")

    page.goto(server.url + "/#/traj/live-run/t2/bon-0")
    page.wait_for_selector("#ev-0")
    assert page.is_checked("#follow")
    for i in range(3):
        log.append("model_response", {"text": f"live step {i}"}, cost_usd=0.01)
    page.wait_for_selector("#ev-3")
    assert "live step 2" in page.inner_text("#ev-3")
    log.append("end", {"task_id": "t2"})
    page.wait_for_selector("#traj-stats .badge.ok")  # 'ended'
    _shot(page, "live-follow")
    log.close()
    run.mark("search", "t2", "done")
    run.finish("done")
    run.close()
    page.goto(server.url + "/#/run/live-run")
    page.wait_for_selector("#systems")
    assert page.locator("#partial").count() == 0


def test_unknown_and_unreadable_lines_do_not_blank_the_trajectory(
    page: Any, server: ViewerServer, results: Path
) -> None:
    # A newer harness's event type, a hostile one and a line that is not JSON, amid ordinary events.
    path = results / "search-mcts" / "trajectories" / "HumanEval" / "7" / "odd.jsonl"
    with TrajectoryLog(path) as log:
        log.append("start", {"task_id": "HumanEval/7"})
    with open(path, "a") as fh:
        fh.write(json.dumps({"v": 1, "seq": 1, "type": "tool_result", "data": {"ok": True}}) + "\n")
        fh.write(json.dumps({"v": 1, "seq": 2, "type": HOSTILE}) + "\n")
        fh.write("Killed\n")
        fh.write(json.dumps({"v": 1, "seq": 4, "type": "end", "data": {"outcome": "done"}}) + "\n")
    page.goto(server.url + "/#/traj/search-mcts/HumanEval%2F7/odd")
    page.wait_for_selector("#events li.ev-end")
    assert page.locator("#events li").count() == 5
    unknown = page.locator("#events li.ev-unknown")
    assert unknown.count() == 2
    assert "unknown event" in unknown.first.inner_text() and "tool_result" in unknown.first.inner_text()
    assert "<script>window.__xss=1</script>" in unknown.nth(1).inner_text()  # as text
    assert "Killed" in page.inner_text("#events li.ev-unreadable")
    assert "unknown 2" in page.inner_text("#traj-stats")
    assert page.evaluate("window.__xss") is None
    _shot(page, "trajectory-unknown-events")
    page.uncheck("label.chip.ev-unknown input")
    assert unknown.first.is_hidden() and page.locator("#events li.ev-end").is_visible()


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run made by the project's command, as docs/pipeline.md gives it: ``harness run
    tasks/local/example-run.yaml`` (one local task in Docker, two trajectories, the scripted model)."""
    results = tmp_path_factory.mktemp("real-results")
    harness = Path(sys.executable).parent / "harness"
    config = ROOT / "tasks" / "local" / "example-run.yaml"
    cmd = [str(harness), "run", str(config), "--run-id", "example", "--results", str(results), "--json"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return results


@pytest.fixture(scope="module")
def real_server(real_run: Path) -> Iterator[ViewerServer]:
    with ViewerServer(real_run) as srv:  # outlives each test's page, which polls until it closes
        yield srv


@pytest.mark.docker
def test_click_through_a_real_pipeline_run(real_server: ViewerServer, page: Any) -> None:
    page.goto(real_server.url + "/")
    page.wait_for_selector("#runs a:text('example')")
    row = page.locator("#runs tr.run-row")
    assert row.count() == 1 and "pipeline" in row.inner_text() and "done" in row.inner_text()

    page.click("#runs a:text('example')")
    page.wait_for_selector("#systems")
    assert page.locator("#partial").count() == 0
    assert "100.0%" in page.inner_text("#systems")  # the scripted model's choice resolves the task
    assert page.locator("#tasks tr.task-row").count() == 1
    _shot(page, "real-run")

    page.click("#tasks a:text('local__unitconv-1')")
    page.wait_for_selector("#trajectories a")
    names = page.locator("#trajectories a").all_inner_texts()
    assert sorted(names) == ["context", "selection", "t0", "t1"]  # two editing trajectories
    page.wait_for_selector("#heatmap")  # candidates x the reproduction test
    evaluation = page.inner_text("#evaluation")  # the chosen candidate's hidden-test report
    assert "not resolved" not in evaluation and "resolved" in evaluation and "FAIL_TO_PASS" in evaluation
    _shot(page, "real-task")

    page.click("#trajectories a:text('t0')")
    page.wait_for_selector("#events li.ev-end")
    for kind in ("start", "model_request", "model_response", "edit", "end"):
        assert page.locator(f"#events li.ev-{kind}").count() > 0, kind
    assert page.locator("#events pre.diff .d-add").count() > 0
    _shot(page, "real-trajectory")
