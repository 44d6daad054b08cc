"""The selection loop: a model tells the top candidates apart by writing and running tests, then names one.

The model sees the issue and the diffs of the top ``top_k`` candidates (3, as CodeMonkeys; ranked by
votes unless a ranking is given; candidates that did not apply or are empty are left out) with their
vote counts. Each turn it answers with exactly one action:

* ``<test>SCRIPT</test>``: a standalone Python script (exit 0 = fixed, 2 = not fixed, 1 = crashed) run
  in ``/testbed`` of every shown candidate and of the unedited repository; it gets the exit codes and
  the output tails back;
* ``<command candidate="K">SHELL</command>``: one shell command in candidate ``K``'s sandbox
  (``0`` = the unedited repository); sandboxes keep their state between commands;
* ``<choice>K</choice>`` with an optional ``<reason>...</reason>``: the answer;
* ``<give_up/>``: no opinion.

An answer with no action, several, or a candidate number out of range gets a corrective message and
costs a turn. After ``max_turns`` model calls without a choice, on ``<give_up/>``, or when the model
layer fails for good (including its budget), the result falls back to the vote winner
(``fell_back=True``). With a single candidate to show, no model is called. Sandboxes are fresh
containers of the task's instance image (no network), one per shown candidate plus one for the
unedited repository, started on first use and closed at the end. Hidden tests never enter them.
A failure of the sandbox backend (:class:`harness.errors.SandboxError`) is not the model's fault and
propagates, so the pipeline can retry the stage rather than record a fallback.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import BudgetExceeded, ConfigError, ModelError
from harness.evaluation._apply import applied_method, apply_script
from harness.evaluation._instance import SandboxFactory, default_sandbox
from harness.models._types import Completion, Message, Model, Usage
from harness.pipeline.voting import WORK, PatchMatrix, cell_of, rank_patches
from harness.sandbox._container import EvalSandbox
from harness.selection._types import Cell, Ranking
from harness.tasks._repo import PublicRepoTask
from harness.tasks.images import TESTBED
from harness.trajectory import TrajectoryLog

SYSTEM = """You are reviewing candidate patches for a GitHub issue. Several engineers wrote a fix \
independently; your job is to find out which candidate really fixes the issue without breaking \
anything else, and to name it.

Each of your answers must hold exactly one action:

1. Run a test on every candidate and on the unedited repository:
<test>
a standalone Python script, run from the repository root (/testbed, which is on the import path): \
print what you observe, then exit 0 if the issue is fixed, 2 if it is not fixed, 1 if something \
unexpected happens
</test>

2. Run one shell command in the repository of one candidate (candidate 0 is the unedited repository):
<command candidate="1">grep -rn "def parse" --include=*.py .</command>

3. Name the best candidate and say why in a sentence or two:
<choice>1</choice>
<reason>Only candidate 1 also handles the empty input the issue mentions.</reason>

4. If you cannot tell them apart at all: <give_up/>

Write tests that tell the candidates apart: look at how the diffs differ and probe exactly there, \
including edge cases from the issue. You have {max_turns} turns."""

MAX_DIFF_CHARS = 20_000
"""A candidate's diff is cut there in the prompt (the model can still read the files by command)."""

_TEST = re.compile(r"<test>\s*\n?(.*?)</test>", re.DOTALL)
_COMMAND = re.compile(r"<command\s+candidate\s*=\s*[\"']?(\d+)[\"']?\s*>(.*?)</command>", re.DOTALL)
_CHOICE = re.compile(r"<choice>\s*(.*?)\s*</choice>", re.DOTALL)
_REASON = re.compile(r"<reason>(.*?)</reason>", re.DOTALL)
_GIVE_UP = re.compile(r"<give_up\s*/?>")
_FENCE = re.compile(r"^\s*```[a-z]*\n(.*?)\n```\s*$", re.DOTALL)


@dataclass
class SelectionResult:
    """The pick: ``index`` into the ``candidates`` given to :func:`select_patch`."""

    index: int
    reason: str
    fell_back: bool
    turns: int = 0
    calls: int = 0
    """Model calls answered (a turn whose call failed, e.g. on the budget, is a turn but no call)."""
    shown: list[int] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "reason": self.reason,
            "fell_back": self.fell_back,
            "turns": self.turns,
            "calls": self.calls,
            "shown": self.shown,
            "usage": self.usage.model_dump(),
            "cost_usd": self.cost_usd,
            "duration_s": self.duration_s,
        }


def shown_candidates(
    candidates: Sequence[str], matrix: PatchMatrix | None, ranking: Ranking | None, top_k: int
) -> list[int]:
    """Indices of the candidates to show, best first: applied, non-empty, in ranking order."""
    order = [i for g in ranking.groups for i in g] if ranking is not None else list(range(len(candidates)))
    keep = [
        i
        for i in order
        if candidates[i].strip() and (matrix is None or i >= len(matrix.applied) or matrix.applied[i])
    ]
    return keep[:top_k]


def _intro(
    task: PublicRepoTask, candidates: Sequence[str], shown: list[int], matrix: PatchMatrix | None
) -> str:
    parts = [f"# Issue ({task.repo})\n\n{task.problem_statement.strip()}\n"]
    if task.hints_text.strip():
        parts.append(f"## Hints\n\n{task.hints_text.strip()}\n")
    informative = int(matrix.informative.sum()) if matrix is not None else 0
    for k, i in enumerate(shown, start=1):
        votes = ""
        if matrix is not None and informative:
            passed = int(((matrix.matrix.cells[i] == Cell.PASS) & matrix.informative).sum())
            votes = f" - passes {passed} of {informative} generated reproduction tests"
        diff = candidates[i].strip()
        if len(diff) > MAX_DIFF_CHARS:
            diff = diff[:MAX_DIFF_CHARS] + f"\n... ({len(diff) - MAX_DIFF_CHARS} more characters cut)"
        parts.append(f"## Candidate {k}{votes}\n\n```diff\n{diff}\n```\n")
    parts.append("Answer with one action.")
    return "\n".join(parts)


class _Sandboxes:
    """Lazily started sandboxes: key 0 = unedited repository, key k = shown candidate k."""

    def __init__(self, image: str | None, factory: SandboxFactory, patches: dict[int, str]) -> None:
        self.image, self.factory, self.patches = image, factory, patches
        self.open: dict[int, EvalSandbox] = {}
        self.broken: dict[int, str] = {}

    async def get(self, key: int) -> EvalSandbox | str:
        if key in self.broken:
            return self.broken[key]
        if key not in self.open:
            if self.image is None:
                return "running commands is not available here"
            sb = await self.factory(self.image)
            self.open[key] = sb
            patch = self.patches.get(key, "")
            if patch.strip():
                await sb.write_file(f"{WORK}/candidate.patch", patch)
                res = await sb.run(apply_script(f"{WORK}/candidate.patch"), cwd=TESTBED, timeout=300)
                if applied_method(res.stdout) is None:
                    self.broken[key] = "the candidate's patch does not apply"
                    return self.broken[key]
        return self.open[key]

    async def close(self) -> None:
        for sb in self.open.values():
            await sb.close()
        self.open.clear()


def _tail(text: str, limit: int = 1500) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


async def _run_test(boxes: _Sandboxes, script: str, keys: list[int], timeout: float, n_run: int) -> str:
    lines = []
    for key in keys:
        sb = await boxes.get(key)
        label = "unedited repository" if key == 0 else f"candidate {key}"
        if isinstance(sb, str):
            lines.append(f"### {label}: not run ({sb})")
            continue
        path = f"{WORK}/select_{n_run}.py"
        await sb.write_file(path, script)
        res = await sb.run(
            f"python3 {shlex.quote(path)}", cwd=TESTBED, timeout=timeout, env={"PYTHONPATH": TESTBED}
        )
        verdict = {
            Cell.PASS: "fixed",
            Cell.FAIL: "not fixed",
            Cell.ERROR: "crashed",
            Cell.TIMEOUT: "timed out",
        }
        out = _tail(res.stdout + res.stderr)
        lines.append(f"### {label}: exit code {res.exit_code} ({verdict[cell_of(res)]})\n{out}")
    return "\n\n".join(lines)


def _parse(text: str, n_shown: int) -> tuple[str, Any] | str:
    """(action, argument) or a corrective message for the model."""
    found: list[tuple[str, Any]] = []
    found += [("test", m.group(1)) for m in _TEST.finditer(text)]
    found += [("command", (int(m.group(1)), m.group(2).strip())) for m in _COMMAND.finditer(text)]
    found += [("choice", m.group(1)) for m in _CHOICE.finditer(text)]
    found += [("give_up", None) for _ in _GIVE_UP.finditer(text)]
    if not found:
        return (
            "Your answer holds no action. Answer with exactly one of <test>...</test>, "
            '<command candidate="K">...</command>, <choice>K</choice> or <give_up/>.'
        )
    if len(found) > 1:
        return f"Your answer holds {len(found)} actions; give exactly one per answer."
    kind, arg = found[0]
    if kind == "choice":
        if not re.fullmatch(r"\d+", arg) or not 1 <= int(arg) <= n_shown:
            return f"<choice> must be a candidate number from 1 to {n_shown}, got {arg!r}."
        reason = _REASON.search(text)
        return kind, (int(arg), reason.group(1).strip() if reason else "")
    if kind == "command" and not 0 <= arg[0] <= n_shown:
        return f"candidate must be 0 (the unedited repository) to {n_shown}, got {arg[0]}."
    if kind == "test":
        m = _FENCE.match(arg)
        arg = m.group(1) if m else arg
        if not arg.strip():
            return "The <test> block is empty: put a Python script in it."
    return kind, arg


async def select_patch(
    task: PublicRepoTask,
    model: Model,
    candidates: Sequence[str],
    matrix: PatchMatrix | None = None,
    *,
    ranking: Ranking | None = None,
    top_k: int = 3,
    max_turns: int = 8,
    image: str | None = None,
    sandbox_factory: SandboxFactory = default_sandbox,
    log: TrajectoryLog | None = None,
    temperature: float = 0.0,
    max_tokens: int = 4096,
    test_timeout: float = 60.0,
) -> SelectionResult:
    """Run the selection loop over ``candidates`` (diffs); see the module docstring.

    ``matrix`` (from :func:`harness.pipeline.voting.build_patch_matrix`) gives the vote ranking and the
    fallback; without it the ranking is ``ranking`` or the given order. ``image`` is the task's
    instance image; without it the model can only read the diffs and choose.
    """
    if not isinstance(task, PublicRepoTask):
        raise ConfigError("select_patch takes a PublicRepoTask (task.public_view()), never the full task")
    if not candidates:
        raise ConfigError("select_patch needs at least one candidate")
    start = time.monotonic()
    if ranking is None and matrix is not None:
        ranking = rank_patches(matrix, "votes")
    shown = shown_candidates(candidates, matrix, ranking, top_k)
    fallback = shown[0] if shown else (ranking.top[0] if ranking is not None and ranking.top else 0)
    result = SelectionResult(index=fallback, reason="", fell_back=True, shown=shown)
    if log is not None:
        log.append("start", {"task_id": task.instance_id, "stage": "selection", "shown": shown})
    if len(shown) <= 1:
        result.fell_back = False
        result.reason = (
            "only one candidate to choose from" if shown else "no candidate applies; vote winner kept"
        )
        return _finish(result, log, start)
    boxes = _Sandboxes(image, sandbox_factory, {k: candidates[i] for k, i in enumerate(shown, start=1)})
    messages = [
        Message(role="system", content=SYSTEM.format(max_turns=max_turns)),
        Message(role="user", content=_intro(task, candidates, shown, matrix), cache=True),
    ]
    try:
        for turn in range(1, max_turns + 1):
            result.turns = turn
            if log is not None:
                log.append(
                    "model_request", {"messages": [messages[-1].model_dump(include={"role", "content"})]}
                )
            try:
                comp: Completion = (
                    await model.sample(messages, n=1, temperature=temperature, max_tokens=max_tokens)
                )[0]
            except (ModelError, BudgetExceeded) as exc:
                result.reason = f"the model failed ({type(exc).__name__}: {exc}); vote winner kept"
                if log is not None:
                    log.append("error", {"message": str(exc), "kind": type(exc).__name__})
                return _finish(result, log, start)
            result.usage, result.cost_usd = result.usage + comp.usage, result.cost_usd + comp.cost_usd
            result.calls += 1
            if log is not None:
                log.append(
                    "model_response",
                    {"text": comp.text, "finish_reason": comp.finish_reason}
                    | ({"cached": True} if comp.cached else {}),
                    cost_usd=comp.cost_usd,
                    usage=comp.usage.model_dump(),
                )
            messages.append(Message(role="assistant", content=comp.text))
            left = max_turns - turn
            parsed = _parse(comp.text, len(shown))
            if isinstance(parsed, str):
                reply = f"{parsed}\n({left} turns left.)"
            else:
                kind, arg = parsed
                if kind == "choice":
                    result.index, result.reason, result.fell_back = shown[arg[0] - 1], arg[1], False
                    return _finish(result, log, start)
                if kind == "give_up":
                    result.reason = "the model gave up; vote winner kept"
                    return _finish(result, log, start)
                if kind == "test":
                    out = await _run_test(boxes, arg, list(range(len(shown) + 1)), test_timeout, turn)
                else:
                    key, cmd = arg
                    sb = await boxes.get(key)
                    if isinstance(sb, str):
                        out = f"not run: {sb}"
                    else:
                        res = await sb.run(cmd, cwd=TESTBED, timeout=test_timeout)
                        out = f"exit code {res.exit_code}\n{_tail(res.stdout + res.stderr, 4000)}"
                if log is not None:
                    log.append(
                        "command", {"cmd": arg if kind == "test" else arg[1], "kind": kind, "output": out}
                    )
                reply = f"{out}\n\n({left} turns left.)" if left else out
            if left == 0:
                break
            messages.append(Message(role="user", content=reply))
        result.reason = f"no choice after {max_turns} turns; vote winner kept"
        return _finish(result, log, start)
    finally:
        await boxes.close()


def _finish(result: SelectionResult, log: TrajectoryLog | None, start: float) -> SelectionResult:
    result.duration_s = round(time.monotonic() - start, 3)
    if log is not None:
        log.append(
            "end",
            {"outcome": "fell_back" if result.fell_back else "chosen", **result.to_json()},
            cost_usd=0.0,
        )
    return result
