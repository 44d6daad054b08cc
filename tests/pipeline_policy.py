"""A scripted model that plays realistic pipeline trajectories on tasks/local (test helper, not a test).

It reads only what it is shown: the stage from the system prompt, the task from the issue text, and
the loop's feedback. What it *knows* is test data written by us: a reproduction script per task and
the edits of the task's gold patch (as a perfect engineer would write them). Its plans, handed out in
turn to the conversations of a task:

* relevance: files of the gold patch are relevant; ``__init__.py`` gets an off-format answer;
  everything else is not relevant;
* testing loop: the first conversation of a task starts with prose and no test (off-format), then
  writes the test; the others write it at once; ``<done/>`` after seeing it run;
* editing loop, plan k = conversation index mod 4:
  0 the gold edits at once; 1 a malformed block (no =======), then a SEARCH text that matches
  nothing, then the gold edits;
  2 the gold edits with a syntax error first (the test crashes), then repairs it;
  3 a wrong edit (a comment), sees the test still fail, and gives up with it (a wrong candidate);
* selection: runs the reproduction test on every candidate, then chooses the one holding the gold
  patch's added lines.

With ``PIPELINE_POLICY_HOLD_EDITING=K`` in the environment, the (K+1)-th editing conversation of a
task hangs (a model that never answers), so a test can kill the run at a known point. With
``PIPELINE_POLICY_LEDGER=FILE``, every answer is also appended to FILE as a JSON line (stage, task):
the calls a run really paid for, across the processes of a killed and resumed run.

``SEEN`` keeps every prompt it was shown, for the test that no hidden test ever reaches a model.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "tasks" / "local"

REPRO = {
    "local__unitconv-1": """import sys
from unitconv import convert

got = convert(1, "km^2", "m^2")
print("1 km^2 in m^2 =", got)
sys.exit(0 if abs(got - 1_000_000) < 1e-6 else 2)
""",
    "local__globmatch-1": """import sys
from globmatch import match

got = match("src/**/test_*.py", "src/test_a.py")
print("src/**/test_*.py matches src/test_a.py:", got)
sys.exit(0 if got else 2)
""",
    "local__money-1": """import sys
from money import Money

parts = Money("1000", "JPY").allocate([1, 1, 1])
amounts = [p.amount for p in parts]
print("allocated:", amounts)
sys.exit(0 if all(a == a.to_integral_value() for a in amounts) and sum(amounts) == 1000 else 2)
""",
}

SEEN: list[str] = []
_counters: dict[tuple[str, str], int] = {}


def reset() -> None:
    SEEN.clear()
    _counters.clear()


def _records() -> dict[str, dict[str, object]]:
    out = {}
    for path in sorted(TASKS.glob("*/task.json")):
        rec = json.loads(path.read_text())
        out[rec["instance_id"]] = rec
    return out


RECORDS = _records()


def gold_blocks(patch: str) -> list[tuple[str, str, str]]:
    """(path, search, replace) per hunk of a unified diff."""
    blocks: list[tuple[str, str, str]] = []
    path = ""
    search: list[str] | None = None
    replace: list[str] = []

    def flush() -> None:
        if search is not None:
            blocks.append((path, "".join(search), "".join(replace)))

    for line in patch.splitlines(keepends=True):
        if line.startswith("+++ "):
            flush()
            search = None
            path = line[4:].strip().removeprefix("b/")
        elif line.startswith("@@"):
            flush()
            search, replace = [], []
        elif search is not None and line.startswith(" "):
            search.append(line[1:])
            replace.append(line[1:])
        elif search is not None and line.startswith("-") and not line.startswith("---"):
            search.append(line[1:])
        elif search is not None and line.startswith("+"):
            replace.append(line[1:])
    flush()
    return blocks


def render(blocks: list[tuple[str, str, str]]) -> str:
    return "\n".join(f"{path}\n<<<<<<< SEARCH\n{s}=======\n{r}>>>>>>> REPLACE\n" for path, s, r in blocks)


def _task_of(text: str) -> str:
    for tid, rec in RECORDS.items():
        first = str(rec["problem_statement"]).strip().splitlines()[0]
        if first in text:
            return tid
    raise AssertionError(f"the policy cannot tell the task of: {text[:200]!r}")


def _next(tid: str, stage: str) -> int:
    k = _counters.get((tid, stage), 0)
    _counters[(tid, stage)] = k + 1
    return k


_STAGES = {
    "triage a GitHub issue": "relevance",
    "Order the files": "ranking",
    "reproduction test for a GitHub issue": "testing",
    "by editing its files": "editing",
    "reviewing candidate patches": "selection",
}


def policy(messages: list[object], index: int) -> str:
    answer = _answer(messages, index)
    ledger = os.environ.get("PIPELINE_POLICY_LEDGER")
    if ledger:
        system = str(getattr(messages[0], "content", ""))
        stage = next(s for k, s in _STAGES.items() if k in system)
        tid = _task_of(str(getattr(messages[1], "content", "")))
        with open(ledger, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"stage": stage, "task": tid}) + "\n")
    return answer


def _answer(messages: list[object], index: int) -> str:
    system = str(getattr(messages[0], "content", ""))
    intro = str(getattr(messages[1], "content", ""))
    last = str(getattr(messages[-1], "content", ""))
    SEEN.extend(str(getattr(m, "content", "")) for m in messages)
    tid = _task_of(intro)
    rec = RECORDS[tid]
    gold = gold_blocks(str(rec["patch"]))
    gold_files = {b[0] for b in gold}
    own = [str(getattr(m, "content", "")) for m in messages if getattr(m, "role", "") == "assistant"]
    if "triage a GitHub issue" in system:
        path = intro.split("# File\n\n", 1)[1].splitlines()[0].strip()
        if path.endswith("__init__.py"):
            return "Hmm, this one re-exports names; hard to say."
        if path in gold_files:
            return (
                f"<verdict>relevant</verdict>\n<summary>{path} holds the code the issue is about.</summary>"
            )
        return "<verdict>not relevant</verdict>\n<summary>Unrelated helpers.</summary>"
    if "Order the files" in system:
        listed = re.findall(r"^## (\S+)$", intro, re.MULTILINE)
        ordered = sorted(listed, key=lambda p: (p not in gold_files, p))
        return "<ranking>\n" + "\n".join(f"{i + 1}. {p}" for i, p in enumerate(ordered)) + "\n</ranking>"
    if "reproduction test for a GitHub issue" in system:
        if not own:
            if _next(tid, "testing") == 0:
                return "Let me think about how to reproduce this: I'd call the function from the issue."
            return f"<test>\n{REPRO[tid]}</test>"
        if "holds no action" in last or "no test yet" in last:
            return f"<test>\n{REPRO[tid]}</test>"
        return "The test reproduces the issue.\n<done/>"
    if "by editing its files" in system:
        if not own:
            k = _next(tid, "editing")
            hold = int(os.environ.get("PIPELINE_POLICY_HOLD_EDITING", "0"))
            if hold and k >= hold:
                time.sleep(3600)
            plan = k % 4
            path, s, r = gold[0]
            if plan == 0:
                return "Plan 0.\n" + render(gold)
            if plan == 1:  # a block with no ======= line
                return f"Plan 1.\n{path}\n<<<<<<< SEARCH\n{s}>>>>>>> REPLACE\n"
            if plan == 2:
                return "Plan 2.\n" + render([(path, s, r + "@@@ oops\n"), *gold[1:]])
            first = next(
                line[1:]
                for line in str(rec["patch"]).splitlines()
                if line.startswith("-") and not line.startswith("---")
            )
            return "Plan 3.\n" + render([(path, first + "\n", first + "  # see issue\n")])
        plan = int(own[0].split(".", 1)[0].split()[-1])
        fixed = "On the edited repository: exit code 0 (fixed)" in last
        if fixed:
            return "The test passes now.\n<done/>"
        if plan == 1 and "could not be read" in last:
            wrong = "def nothing_like_this():\n    return None\n"
            return "Fixing the format.\n" + render([(gold[0][0], wrong, gold[0][2])])
        if plan == 1:
            return "I copied the lines wrong; here they are exactly.\n" + render(gold)
        if plan == 2:
            path, s, r = gold[0]
            return "A syntax error; repairing it.\n" + render([(path, r + "@@@ oops\n", r)])
        return "I could not find a better fix.\n<done/>"
    if "reviewing candidate patches" in system:
        if not own:
            return f"<test>\n{REPRO[tid]}</test>"
        added = [
            line[1:].strip()
            for line in str(rec["patch"]).splitlines()
            if line.startswith("+") and not line.startswith("+++")
        ]
        sections = re.split(r"^## Candidate (\d+)", intro, flags=re.MULTILINE)
        for k in range(1, len(sections) - 1, 2):
            body = sections[k + 1]
            if all(a in body for a in added if a):
                return (
                    f"<choice>{sections[k]}</choice>\n<reason>It makes the reproduction test pass.</reason>"
                )
        return "<give_up/>"
    raise AssertionError(f"unknown stage: {system[:80]!r}")
