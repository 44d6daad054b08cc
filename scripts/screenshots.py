"""The README's viewer screenshots, taken from real runs made by the project's own commands.

    .venv/bin/python scripts/screenshots.py [--results DIR]     # default: results/readme-screenshots

Two runs land in a results folder of their own (``results/`` is not in git):

* ``humaneval-select``: the main job's selection run (``scripts/main.sh``), with its settings:
  ``harness select --suite humaneval`` on CodeT's released CodeGen-Mono-16B pools (100 solutions and
  100 test generations per task, from ``$HARNESS_DATA``/``../shared/data`` or downloaded once),
  ``--limit-tasks 20`` (the main job's default size), every selector;
* ``local-pipeline``: ``harness run`` on the local tasks of ``tasks/local`` in Docker, with the
  scripted model of the tests (``tests/pipeline_policy.py``; nothing here can reach a hosted model).
  That policy knows reproduction tests for three of the twelve tasks (unitconv, globmatch, money), so
  the run takes those three, four trajectories each.

Then it starts ``harness view`` on the folder, opens it in headless Chromium (Debian's
``/usr/bin/chromium`` through the ``playwright`` package, as the browser tests do) and writes
``docs/screenshots/{runs,run,task,pipeline,trajectory}.png``.

Idempotent: both commands resume a run by its id, so a rerun reuses the finished runs (seconds) and
only rewrites the images. Needs the Docker engine and the sandbox images (``bash scripts/setup.sh``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "screenshots"
BIN = Path(sys.executable).parent
SELECT_RUN = "humaneval-select"
PIPELINE_RUN = "local-pipeline"
PIPELINE_TASKS = ["local__unitconv-1", "local__globmatch-1", "local__money-1"]
POOLS = "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _harness(*args: str, env: dict[str, str] | None = None) -> None:
    cmd = [str(BIN / "harness"), *args]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)


def select_run(results: Path) -> None:
    """The main job's ``harness select`` (scripts/main.sh), resumed when it exists."""
    from harness.tasks import default_data_dir, download_codet_data

    data = default_data_dir()
    if not (data / "codet" / f"{POOLS}_test_case.jsonl").is_file():
        data = download_codet_data()
    pools = data / "codet" / POOLS
    env = {**os.environ, "HARNESS_DATA": str(data)}
    _harness(
        "select", "--suite", "humaneval",
        "--pool-solutions", f"{pools}_code_solution.jsonl", "--pool-tests", f"{pools}_test_case.jsonl",
        "--limit-tasks", "20", "--run-id", SELECT_RUN, "--results-dir", str(results),
        env=env,
    )  # fmt: skip


def pipeline_config() -> dict[str, object]:
    """The pipeline run's config: tasks/local, the scripted model of the tests, as the Docker tests."""
    return {
        "suite": str(ROOT / "tasks" / "local"),
        "tasks": PIPELINE_TASKS,
        "models": {
            "default": {
                "spec": "scripted",
                "policy": f"{ROOT / 'tests' / 'pipeline_policy.py'}:policy",
                "options": {"price": {"input": 3.0, "output": 15.0}},
            }
        },
        "n_trajectories": 4,
        "testing_turns": 3,
        "editing_turns": 4,
        "selection_turns": 3,
        "limits": {"trajectories": 2, "vote_sandboxes": 2},
        "test_timeout": 60,
    }


def pipeline_run(results: Path) -> None:
    """``harness run CONFIG --run-id local-pipeline``, resumed when it exists."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "local-pipeline.json"
        config.write_text(json.dumps(pipeline_config(), indent=2))
        _harness("run", str(config), "--run-id", PIPELINE_RUN, "--results", str(results))


@contextmanager
def viewer(results: Path) -> Iterator[str]:
    """``harness view RESULTS --port 0`` in a process of its own; yields its URL."""
    proc = subprocess.Popen(
        [str(BIN / "harness"), "view", str(results), "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            found = re.search(r"http://[\w.\[\]:]+", line)
            if found:
                yield found.group(0)
                break
        else:
            raise RuntimeError(f"harness view ended without a URL (exit {proc.wait()})")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def until(page: Any, expr: str, timeout_s: float = 60.0) -> None:
    """Wait until the JS expression is true (``wait_for_function`` would need ``eval``, which the
    viewer's Content-Security-Policy forbids)."""
    for _ in range(int(timeout_s / 0.1)):
        if page.evaluate(expr):
            return
        page.wait_for_timeout(100)
    raise RuntimeError(f"never became true: {expr}")


def shoot(page: Any, name: str, *, full_page: bool = False, at: str | None = None) -> None:
    """Write ``docs/screenshots/NAME.png`` of the page scrolled to the top, or to element ``at``."""
    if at is None:
        page.evaluate("window.scrollTo(0, 0)")
    else:
        top = "(sel) => document.querySelector(sel).getBoundingClientRect().top + window.scrollY"
        page.evaluate("(y) => window.scrollTo(0, y)", page.evaluate(top, at) - 100)  # below the header
    DOCS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS / f"{name}.png"), full_page=full_page)
    print(f"wrote {DOCS / f'{name}.png'}", flush=True)


def screenshots(url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.goto(url + "/")
        page.wait_for_selector(f"#runs a:text('{SELECT_RUN}')")
        page.wait_for_selector(f"#runs a:text('{PIPELINE_RUN}')")
        shoot(page, "runs")

        page.click(f"#runs a:text('{SELECT_RUN}')")
        page.wait_for_selector("#systems")
        until(page, "[...document.querySelectorAll('img.plot')].every(i => i.complete && i.naturalWidth > 0)")
        shoot(page, "run", full_page=True)

        # A task where the selectors disagree reads best: the first where CodeT's choice is not sure.
        rows = page.request.get(f"{url}/api/tasks?run={SELECT_RUN}&system=codet&status=missed").json()
        task = rows["rows"][0]["task_id"] if rows["rows"] else "HumanEval/0"
        page.goto(f"{url}/#/task/{SELECT_RUN}/{task.replace('/', '%2F')}")
        page.wait_for_selector("#heatmap")
        page.wait_for_selector("#scores td.top")
        page.select_option("#order", "codet")
        shoot(page, "task", at="#order")

        page.goto(f"{url}/#/task/{PIPELINE_RUN}/{PIPELINE_TASKS[0]}")
        page.wait_for_selector("#trajectories a")
        page.wait_for_selector("#evaluation")
        shoot(page, "pipeline")

        # Trajectory t1 recovers from a malformed edit block and a SEARCH text that matches nothing
        # (tests/pipeline_policy.py, plan 1): its timeline shows errors, edits and test runs.
        page.click("#trajectories a:text('t1')")
        page.wait_for_selector("#events li.ev-end")
        shoot(page, "trajectory", at="#events li.ev-edit:has(.d-add)")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results" / "readme-screenshots")
    results = parser.parse_args().results.resolve()
    results.mkdir(parents=True, exist_ok=True)
    select_run(results)
    pipeline_run(results)
    with viewer(results) as url:
        screenshots(url)


if __name__ == "__main__":
    main()
