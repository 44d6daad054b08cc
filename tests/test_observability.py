"""Logging and progress (issue 16, items 2 and 3): the ``Progress`` implementations, ``-v`` on every
command, a run's ``harness.log`` and what never lands in it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

import harness.selection.run as select_run
from harness import _log
from harness._progress import (
    LineProgress,
    NoteProgress,
    Progress,
    RichProgress,
    SilentProgress,
    as_progress,
)
from harness.cli import app
from harness.models import HarnessModel, Message, Price, RetryPolicy
from harness.models._errors import TransientFailure
from harness.models._types import Completion, SampleParams
from harness.selection import PassMatrix
from harness.selection.experiment import TaskData
from harness.tasks import FunctionTask, Pool, PoolRecord, load_function_suite, write_pool

KEY = "sk-test-0123456789abcdefNEVERLOGGED"


@pytest.fixture(autouse=True)
def _clean_harness_logger() -> Iterator[None]:
    """Each test starts and ends without the handlers a CLI run set on the ``harness`` logger."""
    logger = logging.getLogger("harness")
    before, level = list(logger.handlers), logger.level
    yield
    for handler in logger.handlers:
        if handler not in before:
            logger.removeHandler(handler)
    logger.setLevel(level)
    _log._State.verbose = False


# -- the protocol's implementations --------------------------------------------------------------------


def test_every_implementation_is_a_progress() -> None:
    for made in (
        SilentProgress(),
        LineProgress(io.StringIO()),
        NoteProgress(print),
        RichProgress(_console()),
    ):
        assert isinstance(made, Progress)


def test_silent_progress_shows_nothing_but_logs_steps_and_notes(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="harness.progress")
    with SilentProgress() as p:
        p.start(3, "things")
        p.advance()
        p.advance(2)
        p.note("one thing happened")
    assert capsys.readouterr() == ("", "")
    said = [r.getMessage() for r in caplog.records]
    assert said[0] == "things: started (3 to do)"
    assert "one thing happened" in said
    assert said[-1].startswith("things: 3/3 done in ")
    # Not shown by a display: the terminal's log handler may print it (with -v).
    assert not any(getattr(r, "shown", False) for r in caplog.records)


def test_line_progress_prints_tenths_and_notes() -> None:
    out = io.StringIO()
    with LineProgress(out) as p:
        p.start(100, "programs")
        for _ in range(100):
            p.advance()
        p.note("halfway there")
        p.start(None, "curves")
        p.advance(5)
    lines = out.getvalue().splitlines()
    counts = [ln for ln in lines if ln.startswith("programs: ")]
    # The start, then one line per tenth (the last one the end's): not one line per program.
    assert [c.split(",")[0] for c in counts] == [f"programs: {k}/100" for k in range(0, 101, 10)]
    assert "halfway there" in lines
    assert lines[-2] == "curves ..."
    assert lines[-1].startswith("curves: done, 5, ")


def test_line_progress_notes_are_marked_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="harness.progress")
    LineProgress(io.StringIO()).note("printed already")
    (record,) = caplog.records
    assert getattr(record, "shown", False) is True


def _console() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=100)


def test_rich_progress_draws_bars_and_prints_notes() -> None:
    console = _console()
    with RichProgress(console) as p:
        p.start(4, "programs")
        p.advance(4)
        p.note("a note above the bar")
        p.start(None, "building an image")
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "a note above the bar" in text
    assert "programs" in text and "4/4" in text
    assert "building an image" in text


def test_note_progress_and_as_progress() -> None:
    lines: list[str] = []
    p = as_progress(lines.append)
    assert isinstance(p, NoteProgress)
    p.start(2, "x")
    p.advance(2)
    p.note("said")
    assert lines == ["said"]
    assert isinstance(as_progress(None), SilentProgress)
    silent = SilentProgress()
    assert as_progress(silent) is silent


# -- -v on every command -------------------------------------------------------------------------------


def _commands() -> list[tuple[str, Any]]:
    def walk(group: Any, prefix: str) -> Iterator[tuple[str, Any]]:
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                yield from walk(cmd, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", cmd

    return sorted(walk(typer.main.get_command(app), ""))


COMMANDS = _commands()


def test_the_long_commands_are_among_them() -> None:
    names = {n for n, _ in COMMANDS}
    assert {"select", "eval", "run", "search", "tasks validate", "sandbox build"} <= names


@pytest.mark.parametrize("name,command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_takes_verbose(name: str, command: Any) -> None:
    (opt,) = [p for p in command.params if "--verbose" in getattr(p, "opts", [])]
    assert "-v" in opt.opts and opt.default is False
    res = CliRunner().invoke(app, [*name.split(), "--help"])
    assert res.exit_code == 0 and "--verbose" in res.output


def test_verbose_sets_debug_and_the_default_keeps_the_terminal_to_warnings() -> None:
    assert CliRunner().invoke(app, ["version"]).exit_code == 0
    logger = logging.getLogger("harness")
    (terminal,) = [h for h in logger.handlers if getattr(h, "_harness_handler", "") == "terminal"]
    assert terminal.level == logging.WARNING and logger.level == logging.INFO
    assert CliRunner().invoke(app, ["version", "-v"]).exit_code == 0
    (terminal,) = [h for h in logger.handlers if getattr(h, "_harness_handler", "") == "terminal"]
    assert terminal.level == logging.DEBUG and logger.level == logging.DEBUG


# -- a run's log ---------------------------------------------------------------------------------------


TASKS = ("HumanEval/0", "HumanEval/1")


def _pools(tmp_path: Path) -> tuple[Path, Path]:
    sols, tests = tmp_path / "solutions.jsonl", tmp_path / "tests.jsonl"
    write_pool(sols, Pool("solutions", [PoolRecord(task_id=t, kind="solutions", samples=["    return 1\n"] * 2)
                                       for t in TASKS]))  # fmt: skip
    write_pool(tests, Pool("tests", [PoolRecord(task_id=t, kind="tests", samples=["assert f() == 1\n"])
                                     for t in TASKS]))  # fmt: skip
    return sols, tests


async def _fake_build(
    tasks: Sequence[FunctionTask], *_: Any, progress: Progress, **__: Any
) -> dict[str, TaskData]:
    """Two programs, one test: the first program passes and is right. Counts its work as the engine."""
    progress.start(2 * len(tasks), "fake matrices")
    logging.getLogger("harness.selection.build").debug("a debug line of the build")
    logging.getLogger("harness.models").warning("retrying after 401 (key %s)", KEY)
    out = {}
    for t in tasks:
        m = PassMatrix(t.task_id, [f"{t.task_id}#0", f"{t.task_id}#1"], ["x0"], np.array([[1], [0]], np.int8),
                       candidate_counts=np.array([1, 1]))  # fmt: skip
        out[t.task_id] = TaskData(m, np.array([True, False]), 2, readings=["codet", "codet"], executed=2)
        progress.advance(2)
    return out


def _select(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> Any:
    monkeypatch.setattr(select_run, "_default_build", lambda: _fake_build)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    sols, tests = _pools(tmp_path)
    args = [
        "select", "--pool-solutions", str(sols), "--pool-tests", str(tests), "--strategies", "codet,maxpass",
        "--results-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"), "--no-curves",
        *extra,
    ]  # fmt: skip
    return CliRunner().invoke(app, args)


def test_select_writes_harness_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(load_function_suite("humaneval")) == 164
    res = _select(tmp_path, monkeypatch, "--run-id", "r1", "--json")
    assert res.exit_code == 0, res.output
    log = (tmp_path / "results" / "r1" / "harness.log").read_text()
    assert "select run r1" in log.splitlines()[0]  # what runs comes first
    assert "pass matrices: 2 task(s) to build (isolated mode)" in log  # a progress note
    assert "fake matrices: started (4 to do)" in log and "fake matrices: 4/4 done in" in log
    assert "select r1: 2 tasks; matrices 2 built" in log
    assert "DEBUG" not in log and "a debug line of the build" not in log  # INFO without -v
    # A warning reaches the terminal (stderr) and the file; the key in the environment reaches neither.
    assert "retrying after 401 (key ***)" in log and "retrying after 401" in res.stderr
    assert KEY not in log and KEY not in res.stderr and KEY not in res.stdout
    # stdout stays one JSON document, with the progress on stderr.
    assert res.stdout.count("\n") == 1 and res.stdout.startswith("{")
    assert "fake matrices" in res.stderr


def test_select_verbose_logs_debug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    res = _select(tmp_path, monkeypatch, "--run-id", "r2", "-v")
    assert res.exit_code == 0, res.output
    log = (tmp_path / "results" / "r2" / "harness.log").read_text()
    assert "DEBUG" in log and "a debug line of the build" in log
    assert "a debug line of the build" in res.stderr  # -v: DEBUG on the terminal too
    assert KEY not in log


def test_unit_log_writes_every_level_and_reaches_the_run_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with (
        _log.log_file(tmp_path / "harness.log"),
        _log.unit_log(tmp_path / "i" / "run.log", "harness.x", "i1") as lg,
    ):
        lg.debug("detail %s", KEY)
        lg.info("verdict")
    unit = (tmp_path / "i" / "run.log").read_text()
    assert "detail ***" in unit and "verdict" in unit and KEY not in unit
    run = (tmp_path / "harness.log").read_text()
    assert "harness.x.i1: verdict" in run and "detail" not in run
    assert "harness.x.i1" not in logging.Logger.manager.loggerDict  # not kept for ever


# -- what the stages log -------------------------------------------------------------------------------


class _Flaky:
    """A backend whose first request fails as a 503 whose message holds the key."""

    provider, model_id, native_n, cache_by_default, default_concurrency = "stub", "flaky", True, False, 1

    def __init__(self) -> None:
        self.calls = 0

    async def generate(self, messages: Sequence[Message], params: SampleParams) -> list[Completion]:
        self.calls += 1
        if self.calls == 1:
            raise TransientFailure(f"HTTP 503 (sent with {KEY})", status=503)
        return [Completion(text="ok")]

    async def aclose(self) -> None:
        pass


async def test_a_model_call_retry_is_a_warning_without_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    model = HarnessModel(_Flaky(), name="stub:flaky", price=Price(), retry=RetryPolicy(backoff_base=0.001))
    with _log.log_file(tmp_path / "harness.log"):
        (answer,) = await model.sample([Message(role="user", content="hi")])
    assert answer.text == "ok"
    log = (tmp_path / "harness.log").read_text()
    assert "WARNING harness.models._wrapper: stub:flaky: attempt 1 of 6 failed (TransientFailure" in log
    assert "HTTP 503 (sent with ***)" in log and KEY not in log


def test_commands_without_a_folder_of_their_own_log_to_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.cli.tasks import _log_path

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    # `tasks validate --out OUT` logs beside its rows; without --out, into the cache (eval always has an OUT).
    assert _log_path(tmp_path / "out", "tasks-validate") == tmp_path / "out" / "harness.log"
    assert _log_path(None, "tasks-validate") == tmp_path / "cache" / "logs" / "tasks-validate.log"


def test_search_writes_harness_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.cli.search as cli_search

    def policy(messages: Sequence[Message], _rng: Any) -> str:
        return "```python\ndef f():\n    return 1\n```"

    from test_search_fakes import ScriptedModel

    model = ScriptedModel(policy)
    monkeypatch.setattr(cli_search, "_make_model", lambda spec, base_url, max_dollars: model)
    args = [
        "search", "--model", "scripted", "--suite", "humaneval-pypi", "--limit-tasks", "1",
        "--strategies", "best_of_n", "--budget", "programs=2", "--executor", "local",
        "--results-dir", str(tmp_path), "--run-id", "s1", "--no-plot", "--json",
    ]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    log = (tmp_path / "s1" / "harness.log").read_text()
    assert "search run s1" in log.splitlines()[0]
    assert "search units (uniform allocation): 1/1 done in" in log
    assert "search s1: 1 units, 0 failed; paid: " in log


@pytest.mark.docker
def test_sandbox_build_shows_progress_and_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.sandbox import images

    res = CliRunner().invoke(app, ["sandbox", "build"])
    assert res.exit_code == 0, res.output
    assert "checking sandbox images" in res.stderr  # the step, as lines off a terminal
    tail = (images.log_dir() / "harness.log").read_text().splitlines()[-4:]
    assert any("sandbox images: harness-base:" in line for line in tail)
