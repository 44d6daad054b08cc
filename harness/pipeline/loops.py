"""The two loops of one trajectory: the testing loop and the editing loop (CodeMonkeys' stages 2 and 3).

Both run in the trajectory's own sandbox, whose workspace holds the repository at ``base_commit``
(``workdir``); ``unedited`` is a read-only copy of it (``/testbed`` in the instance image) where a
test runs on the unedited code. Reproduction tests are standalone scripts written outside the
repository (``/tmp/harness-repro/``), so they never enter the candidate's diff, and run as
``python3 SCRIPT`` from the root with the root on ``PYTHONPATH``: exit 0 = fixed, 2 = not fixed,
anything else = crashed.

* :func:`testing_loop`: the model writes ``<test>SCRIPT</test>``; it runs on the unedited
  repository and the model sees the exit code and output; it revises, or answers ``<done/>``, up to
  ``max_turns`` model calls. The result is the last test written (empty when none was).
* :func:`editing_loop`: the model answers with search/replace edits (:mod:`harness.pipeline.edits`),
  optionally a new ``<test>``, or ``<done/>``. Edits are applied to the current files and written into
  the sandbox, except on paths :func:`unwritable` refuses (an existing file the loop could not read, a
  folder, a symbolic link out of the repository: errors for the model); then the test runs on the unedited and the edited repository, and the model sees the
  edit feedback, the diff so far and both results. The candidate is the sandbox's ``diff()``.

An answer with no action gets a corrective message and costs a turn. Model failures (including the
budget) end a loop early with what it has (``stopped`` says why); failures of the sandbox backend
propagate, so the runner can redo the trajectory.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from harness.errors import BudgetExceeded, ModelError, SandboxError
from harness.models import Spend
from harness.models._types import Message, Model
from harness.pipeline import prompts
from harness.pipeline._chat import Chat
from harness.pipeline.edits import FORMAT_HELP, EditFormatError, apply_edits, parse_edits
from harness.sandbox._types import CommandRunner
from harness.tasks._repo import PublicRepoTask
from harness.trajectory import TrajectoryLog

REPRO_DIR = "/tmp/harness-repro"
OUTPUT_LIMIT = 3000

_TEST = re.compile(r"<test>\s*\n?(.*?)</test>", re.DOTALL | re.IGNORECASE)
_DONE = re.compile(r"<done\s*/?>", re.IGNORECASE)
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\n(.*?)\n?```\s*$", re.DOTALL)
_SEARCH_MARK = re.compile(r"^\s*<{5,9} ?SEARCH\s*$", re.MULTILINE)


class LoopSandbox(CommandRunner, Protocol):
    """What the loops use of a :class:`harness.sandbox.Sandbox`."""

    async def write_file(self, path: str, content: str | bytes, *, mode: int = 0o644) -> None: ...

    async def diff(self) -> str: ...


@dataclass(frozen=True)
class Roots:
    """Where the repository is inside the sandbox: the editable workspace and the unedited copy."""

    workdir: str = "/workspace"
    unedited: str = "/testbed"


@dataclass
class TestRun:
    exit_code: int | None
    status: str
    output: str

    @property
    def verdict(self) -> str:
        if self.status == "timeout":
            return "timed out"
        if self.exit_code == 0 and self.status == "ok":
            return "fixed"
        return "not fixed" if self.exit_code == 2 else "crashed"

    def render(self, where: str) -> str:
        return f"On the {where}: exit code {self.exit_code} ({self.verdict})\n{self.output or '(no output)'}"


@dataclass
class TestingResult:
    test: str = ""
    unedited: TestRun | None = None
    turns: int = 0
    done: bool = False
    stopped: str = ""
    spent: Spend = field(default_factory=Spend)


@dataclass
class EditingResult:
    patch: str = ""
    test: str = ""
    edited: TestRun | None = None
    turns: int = 0
    done: bool = False
    stopped: str = ""
    edits_applied: int = 0
    edits_failed: int = 0
    spent: Spend = field(default_factory=Spend)


_CHECK = """
import json, os, sys
root = os.path.realpath(sys.argv[1])
out = {}
for path, new in json.load(sys.stdin):
    full = os.path.join(root, path)
    real = os.path.realpath(full)
    parent = os.path.dirname(full)
    while len(parent) > len(root) and not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    if real != root and not real.startswith(root + os.sep):
        out[path] = "leads outside the repository (through a symbolic link)"
    elif os.path.isdir(full):
        out[path] = "is a folder, not a file"
    elif not os.path.isdir(parent):
        out[path] = os.path.relpath(parent, root) + " is a file, not a folder"
    elif new and os.path.lexists(full):
        out[path] = ("already exists but is not a text file the edits can read (binary, not UTF-8 or "
                     "too large), so it may not be replaced as a new file")
    elif not os.access(full if os.path.exists(full) else parent, os.W_OK):
        out[path] = "is read-only"
print(json.dumps(out))
"""


async def unwritable(
    sandbox: LoopSandbox, workdir: str, paths: Sequence[str], known: Mapping[str, str]
) -> dict[str, str]:
    """The ``paths`` (relative to ``workdir``) an edit may not write, with why, checked in the sandbox.

    ``known`` are the files the loop read: a path outside it is a new file, refused when something is
    already there (a file it could not read: binary, not UTF-8, too large; a folder git does not
    track). Paths leading outside ``workdir`` through a symbolic link, or under a file, are refused
    too: the write would escape the repository or fail (a sandbox error that would end the trajectory).
    """
    if not paths:
        return {}
    listed = json.dumps([[p, p not in known] for p in paths])
    # The paths go in on stdin: argv has a size limit, and no path is rewritten on its way.
    res = await sandbox.run(["python3", "-c", _CHECK, workdir], cwd=workdir, timeout=60, stdin=listed)
    if not res.ok:
        raise SandboxError(f"could not check the edited paths: {res.stderr.strip()[-500:]}")
    found = json.loads(res.stdout)
    return {
        str(p): f"{p}: {why}. Edit the files shown to you, or create another one." for p, why in found.items()
    }


def extract_test(text: str) -> str | None:
    """The script of the last ``<test>`` block (a code fence inside it is removed), or None."""
    found = _TEST.findall(text)
    if not found:
        return None
    script = str(found[-1])
    m = _FENCE.match(script)
    return (m.group(1) if m else script).strip("\n") + "\n"


def _tail(text: str, limit: int = OUTPUT_LIMIT) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


async def run_test(
    sandbox: LoopSandbox, script: str, root: str, name: str, *, timeout: float, log: TrajectoryLog | None
) -> TestRun:
    """Run ``script`` from ``root`` (``root`` on ``PYTHONPATH``); the run is logged as a ``test_run``."""
    path = f"{REPRO_DIR}/{name}.py"
    await sandbox.write_file(path, script)
    res = await sandbox.run(
        f"python3 {shlex.quote(path)}", cwd=root, timeout=timeout, env={"PYTHONPATH": root}
    )
    run = TestRun(res.exit_code, res.status, _tail(res.stdout + res.stderr))
    if log is not None:
        log.append(
            "test_run",
            {
                "test_id": name,
                "root": root,
                "status": res.status,
                "exit_code": res.exit_code,
                "output": run.output,
                "verdict": run.verdict,
            },
        )
    return run


async def testing_loop(
    task: PublicRepoTask,
    model: Model,
    sandbox: LoopSandbox,
    files: Mapping[str, str],
    *,
    roots: Roots = Roots(),
    max_turns: int = 4,
    timeout: float = 60.0,
    temperature: float = 0.0,
    log: TrajectoryLog | None = None,
) -> TestingResult:
    """Write and revise a reproduction test on the unedited repository; see the module docstring."""
    start = time.monotonic()
    chat = Chat(
        model,
        [
            Message(role="system", content=prompts.TESTING_SYSTEM.format(max_turns=max_turns)),
            Message(role="user", content=prompts.testing_prompt(task, files), cache=True),
        ],
        log=log,
        temperature=temperature,
    )
    result = TestingResult()
    for turn in range(1, max_turns + 1):
        result.turns = turn
        try:
            comp = await chat.ask()
        except (ModelError, BudgetExceeded) as exc:
            result.stopped = f"model failed: {type(exc).__name__}: {exc}"
            break
        left = max_turns - turn
        script = extract_test(comp.text)
        if script is not None and script.strip():
            result.test = script
            result.unedited = await run_test(
                sandbox, script, roots.unedited, f"testing_{turn}", timeout=timeout, log=log
            )
            hint = " (as expected before a fix)" if result.unedited.verdict == "not fixed" else ""
            reply = result.unedited.render("unedited repository") + hint
            reply += f"\n\nRevise the test with <test>, or answer <done/> if it reproduces the issue. ({left} turns left.)"
        elif _DONE.search(comp.text):
            if result.test:
                result.done = True
                break
            reply = f"There is no test yet: write one in <test> ... </test> first. ({left} turns left.)"
        else:
            reply = (
                "Your answer holds no action. Answer with the whole script in <test> ... </test>, or "
                f"<done/> when your last test reproduces the issue. ({left} turns left.)"
            )
            if log is not None:
                log.append("note", {"kind": "off_format", "stage": "testing", "turn": turn})
        if left:
            chat.say(reply)
    if not result.done and not result.stopped:
        result.stopped = f"turn limit ({max_turns})"
    result.spent = chat.spent
    result.spent.time_s = time.monotonic() - start
    return result


async def editing_loop(
    task: PublicRepoTask,
    model: Model,
    sandbox: LoopSandbox,
    files: Mapping[str, str],
    repo_sources: Mapping[str, str],
    test: str,
    *,
    unedited_run: TestRun | None = None,
    roots: Roots = Roots(),
    max_turns: int = 4,
    timeout: float = 60.0,
    temperature: float = 0.0,
    log: TrajectoryLog | None = None,
) -> EditingResult:
    """Edit the repository until the test passes or the model is done; see the module docstring.

    ``files`` are the context shown in the prompt; ``repo_sources`` every text file of the repository
    (what edits may touch, at ``base_commit``).
    """
    start = time.monotonic()
    shown = unedited_run.render("unedited repository") if unedited_run is not None else None
    chat = Chat(
        model,
        [
            Message(role="system", content=prompts.editing_system(max_turns)),
            Message(role="user", content=prompts.editing_prompt(task, files, test, shown), cache=True),
        ],
        log=log,
        temperature=temperature,
    )
    result = EditingResult(test=test)
    current = dict(repo_sources)
    unedited_for = test if unedited_run is not None else None
    unedited = unedited_run
    for turn in range(1, max_turns + 1):
        result.turns = turn
        try:
            comp = await chat.ask()
        except (ModelError, BudgetExceeded) as exc:
            result.stopped = f"model failed: {type(exc).__name__}: {exc}"
            break
        left = max_turns - turn
        text = comp.text
        new_test = extract_test(text)
        has_edits = bool(_SEARCH_MARK.search(text))
        done = bool(_DONE.search(text))
        if new_test is None and not has_edits:
            if done:
                result.done = True
                break
            if log is not None:
                log.append("note", {"kind": "off_format", "stage": "editing", "turn": turn})
            if left:
                chat.say(
                    f"Your answer holds no edit block, no <test> and no <done/>.\n{FORMAT_HELP}\n"
                    f"({left} turns left.)"
                )
            continue
        parts: list[str] = []
        if has_edits:
            try:
                blocks = parse_edits(text)
            except EditFormatError as exc:
                parts.append(f"Your edits could not be read: {exc}")
                result.edits_failed += 1
            else:
                outcome = apply_edits(current, blocks)
                refused = await unwritable(sandbox, roots.workdir, outcome.changed, current)
                if refused:
                    outcome = apply_edits(current, blocks, refused=refused)
                for path, content in outcome.changed_sources.items():
                    await sandbox.write_file(f"{roots.workdir}/{path}", content)
                current = outcome.sources
                result.edits_applied += len(outcome.applied)
                result.edits_failed += len(outcome.errors)
                diff = await sandbox.diff()
                if log is not None:
                    log.append(
                        "edit",
                        {
                            "paths": outcome.changed,
                            "diff": diff,
                            "feedback": outcome.feedback(),
                            "methods": [a.method for a in outcome.applied],
                        },
                    )
                parts.append(outcome.feedback())
                parts.append(f"The diff of the repository so far:\n```diff\n{diff.strip() or '(empty)'}\n```")
        if new_test is not None and new_test.strip():
            result.test = new_test
        if result.test.strip():
            if unedited_for != result.test:
                unedited = await run_test(
                    sandbox, result.test, roots.unedited, f"editing_{turn}_unedited", timeout=timeout, log=log
                )
                unedited_for = result.test
            result.edited = await run_test(
                sandbox, result.test, roots.workdir, f"editing_{turn}_edited", timeout=timeout, log=log
            )
            if unedited is not None:
                parts.append(unedited.render("unedited repository"))
            parts.append(result.edited.render("edited repository"))
        if done:
            result.done = True
            break
        if left:
            chat.say("\n\n".join(parts) + f"\n\nEdit further, or answer <done/>. ({left} turns left.)")
    if not result.done and not result.stopped:
        result.stopped = f"turn limit ({max_turns})"
    result.patch = await sandbox.diff()
    result.spent = chat.spent
    result.spent.time_s = time.monotonic() - start
    return result
