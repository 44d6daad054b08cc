"""Bad CLI values that were accepted, ran, or ended in a traceback (issue 12, items 5 and 6).

Each case runs the real command (``CliRunner``) in an empty folder with HOME and the results folder
inside it. The library entry points a command calls first (loading a suite, a model, a run, starting a
sandbox or the viewer) are replaced by a tripwire, so a value that gets through shows up as a call of
the tripwire instead of as work. tests/test_cli_values.py sweeps every option; this file keeps the
reported failures by name. Written against the CLI only, so it also runs on the code before the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app

# What each command calls first; none may be reached with a bad value.
TRIPWIRES = [
    ("harness.tasks", "load_function_suite"),
    ("harness.tasks", "load_suite"),
    ("harness.selection.run", "run_select"),
    ("harness.selection.run", "load_pool_file"),
    ("harness.search._run", "run_comparison"),
    ("harness.models", "load"),
    ("harness.sandbox", "DockerSandbox"),
    ("harness.sandbox", "SandboxPool"),
    ("harness.report", "load_run"),
    ("harness.report", "compare_runs"),
    ("harness.viewer", "ViewerServer"),
    ("harness.pipeline._main", "run_pipeline"),
    ("harness.evaluation", "load_predictions"),
]


class Ran(Exception):
    """A tripwire was reached: the command started work with a value it should have refused."""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    import importlib

    root = tmp_path / "work"
    root.mkdir()
    (root / "home").mkdir()
    (root / "pool.jsonl").write_text('{"task_id": "HumanEval/0", "samples": ["x"]}\n')
    (root / "empty.jsonl").write_text("")
    (root / "no-messages.json").write_text("[]\n")
    monkeypatch.chdir(root)
    monkeypatch.setenv("HOME", str(root / "home"))
    monkeypatch.setenv("HARNESS_RESULTS", str(root / "results"))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(root / "cache"))
    for module, name in TRIPWIRES:

        def tripwire(*_a: object, _name: str = f"{module}.{name}", **_k: object) -> None:
            raise Ran(_name)

        monkeypatch.setattr(importlib.import_module(module), name, tripwire)
    yield root


def _refused(args: list[str], option: str, words: str = "") -> None:
    """Exit 2, one line on stderr naming ``option`` (and ``words``), no traceback, nothing ran or made."""
    before = sorted(p.name for p in Path.cwd().iterdir())
    res = CliRunner().invoke(app, args)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert not isinstance(res.exception, Ran), f"{args}: ran {res.exception} instead of refusing"
    assert res.exit_code == 2, (args, res.exit_code, res.output, res.exception)
    assert len(lines) == 1 and option in lines[0] and words in lines[0], (args, res.stderr)
    assert "Traceback" not in res.output
    assert sorted(p.name for p in Path.cwd().iterdir()) == before  # no results/, eval/, cache/


SELECT = ["select", "--pool-solutions", "pool.jsonl", "--pool-tests", "pool.jsonl"]
SEARCH = ["search", "--model", "scripted", "--executor", "local"]


@pytest.mark.parametrize(
    ("args", "option", "words"),
    [
        # Silently accepted: a negative slice bound dropped the last test (or task) without a word.
        ([*SELECT, "--test-limit", "-1"], "--test-limit", "-1"),
        ([*SELECT, "--limit-tasks", "-1"], "--limit-tasks", "-1"),
        ([*SEARCH, "--limit-tasks", "-1"], "--limit-tasks", "-1"),
        ([*SEARCH, "--budget", "programs=-1"], "--budget", "programs=-1"),
        ([*SEARCH, "--budget", "programs=1.5"], "--budget", "whole number"),  # was cut to 1
        ([*SEARCH, "--budget", "programs=1,programs=5"], "--budget", "twice"),  # the last one won
        ([*SEARCH, "--max-dollars", "-1"], "--max-dollars", "-1"),
        ([*SEARCH, "--visible", "nosuch"], "--visible", "nosuch"),  # ran as 'strategy'
        ([*SEARCH, "--timeout", "-1"], "--timeout", "-1"),
        ([*SEARCH, "--concurrency", "0"], "--concurrency", "0"),  # hung with no output
        (["exec", "--timeout", "-1", "--", "true"], "--timeout", "-1"),  # status timeout, exit 0
        (["exec", "--memory", "0", "--", "true"], "--memory", "no limit"),  # Docker: 0 is no limit
        (["view", "--host", ""], "--host", "every interface"),  # listened on every interface
        # Tracebacks.
        (["compare", "r1", "--n-boot", "0"], "--n-boot", "0"),  # IndexError
        (["compare", "r1", "--seed", "-1"], "--seed", "-1"),  # numpy ValueError
        (["view", "--port", "99999"], "--port", "99999"),  # OverflowError
        ([*SELECT, "--timeout", "nan"], "--timeout", "nan"),
        ([*SELECT, "--results-dir", "/proc/harness"], "--results-dir", "/proc"),
        ([*SEARCH, "--results-dir", "/sys/harness"], "--results-dir", "/sys"),
        (["run", "config.yaml", "--results", "/proc/harness"], "--results", "/proc"),
        (["report", "r1", "--out", "/proc/harness"], "--out", "/proc"),
        (["compare", "r1", "--md", "/proc/harness.md"], "--md", "/proc"),
        (["sample", "-m", "scripted", "--prompt", "hi", "--top-p", "5"], "--top-p", "5"),
        ([*SEARCH, "--budget", "programs=1e400"], "--budget", "programs=1e400"),  # OverflowError
        (["eval", "pool.jsonl", "--suite", ".", "--out", "/proc/harness"], "--out", "/proc"),
        # An empty file is no conversation.
        (["sample", "-m", "scripted", "--messages", "empty.jsonl"], "--messages", "empty"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_reported_bad_values_are_refused_before_anything_runs(
    work: Path, args: list[str], option: str, words: str
) -> None:
    if args[:2] == ["run", "config.yaml"]:
        (work / "config.yaml").write_text("suite: .\n")
    _refused(args, option, words)


def test_a_messages_file_without_messages_is_refused(work: Path) -> None:
    """``[]`` sent the model an empty conversation."""
    res = CliRunner().invoke(app, ["sample", "-m", "scripted", "--messages", "no-messages.json"])
    assert not isinstance(res.exception, Ran) and res.exit_code == 2, res.output
    assert "holds no messages" in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--strategies", "codet", "--set", "b4.beta0=1e4"], "b4 is not among the strategies run"),
        (["--strategies", "b4", "--set", "b4.nosuch=1"], "nosuch"),  # failed after the matrices
    ],
)
def test_select_set_is_checked_before_the_run(work: Path, extra: list[str], words: str) -> None:
    _refused([*SELECT, *extra], "--set", words)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--strategies", "line", "--set", "sfs.seeds=3"], "sfs is not among the strategies run"),
        (["--strategies", "sfs", "--set", "sfs.nosuch=3"], "nosuch"),  # failed in the first search
    ],
)
def test_search_set_is_checked_before_the_run(work: Path, extra: list[str], words: str) -> None:
    _refused([*SEARCH, *extra], "--set", words)


def test_search_refuses_unknown_task_ids(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--tasks HumanEval/0,HumanEval/nosuch`` ran one task and never said the other was unknown."""
    import harness.tasks

    class Task:
        def __init__(self, task_id: str) -> None:
            self.task_id = task_id

    monkeypatch.setattr(harness.tasks, "load_function_suite", lambda suite: [Task("HumanEval/0")])
    _refused([*SEARCH, "--tasks", "HumanEval/0,HumanEval/nosuch"], "--tasks", "HumanEval/nosuch")


def test_usage_errors_are_one_line(work: Path) -> None:
    """Not only values: an unknown option or a missing one is one line too, not Typer's boxed panel."""
    for args, words in (
        (["select", "--nosuch"], "No such option: --nosuch"),
        (["select"], "Missing option '--pool-solutions'"),
        (["nosuch"], "No such command 'nosuch'"),
    ):
        res = CliRunner().invoke(app, args)
        lines = res.stderr.strip().splitlines()
        assert res.exit_code == 2 and len(lines) == 1, res.stderr
        assert lines[0].startswith("Error: ") and words in lines[0], res.stderr
