"""The prompts of the pipeline's model stages: relevance, ranking, the testing loop, the editing loop.

Written by us (not CodeMonkeys' text), each asking for one tagged answer so that parsing is simple and
an off-format answer can be named precisely in a corrective message. Every prompt is built from a
:class:`harness.tasks.PublicRepoTask` and repository files only: no hidden test can reach one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.pipeline.edits import FORMAT_HELP
from harness.tasks._repo import PublicRepoTask

RELEVANCE_SYSTEM = """You help triage a GitHub issue. You are shown the issue and ONE file of the \
repository. Decide whether someone fixing the issue needs to read or edit this file.

Answer in exactly this form:
<verdict>relevant</verdict> or <verdict>not relevant</verdict>
<summary>two or three sentences: what the file does and, when relevant, how it relates to the \
issue</summary>"""

RANKING_SYSTEM = """You help fix a GitHub issue. You are given the issue and summaries of the files that \
may matter for it. Order the files from the most to the least important to read for fixing the issue.

Answer with every path once, one per line, most important first, inside <ranking> ... </ranking>."""

TESTING_SYSTEM = """You write a reproduction test for a GitHub issue in a Python repository.

The test is a standalone Python script run as `python3 SCRIPT` from the repository root (which is on \
the import path). It must print what it observes, then exit with code 0 if the issue is fixed, 2 if the \
issue is still present, and 1 (an uncaught exception does that) if something unexpected happens.

Each answer holds exactly one of:
<test>
the whole script (a new version replaces the previous one)
</test>
which is run on the unedited repository (where the issue should be present, so exit code 2 is \
expected), and you are shown the output; or, when the last test you wrote reproduces the issue:
<done/>

You have {max_turns} turns."""

EDITING_SYSTEM = """You fix a GitHub issue in a Python repository by editing its files.

Each answer holds either edits, a new version of the reproduction test, both, or <done/>:

{format_help}

<test>
a new version of the reproduction test (only if the current one is wrong)
</test>

Edits apply to the current state of the files (earlier edits stay applied). After each answer the \
edits are applied and the reproduction test is run on the unedited and on the edited repository \
(exit 0 = fixed, 2 = not fixed, anything else = crashed); you see the results. Answer <done/> when \
the issue is fixed. You have {max_turns} turns."""


def issue_block(task: PublicRepoTask) -> str:
    parts = [f"# Issue ({task.repo})\n\n{task.problem_statement.strip()}\n"]
    if task.hints_text.strip():
        parts.append(f"## Hints\n\n{task.hints_text.strip()}\n")
    return "\n".join(parts)


def fenced(path: str, text: str) -> str:
    fence = "````" if "```" in text else "```"
    return f"{path}\n{fence}\n{text.rstrip()}\n{fence}\n"


def relevance_prompt(task: PublicRepoTask, path: str, text: str) -> str:
    return f"{issue_block(task)}\n# File\n\n{fenced(path, text)}\nIs this file relevant to the issue?"


def ranking_prompt(task: PublicRepoTask, summaries: Mapping[str, str]) -> str:
    listed = "\n\n".join(f"## {path}\n{summary.strip()}" for path, summary in summaries.items())
    return f"{issue_block(task)}\n# Candidate files\n\n{listed}\n\nRank these {len(summaries)} files."


def context_block(files: Mapping[str, str]) -> str:
    if not files:
        return "# Code\n\n(no file was found relevant)\n"
    return "# Code\n\n" + "\n".join(fenced(path, text) for path, text in files.items())


def testing_prompt(task: PublicRepoTask, files: Mapping[str, str]) -> str:
    return f"{issue_block(task)}\n{context_block(files)}\nWrite a script that reproduces the issue."


def editing_prompt(
    task: PublicRepoTask, files: Mapping[str, str], test: str, unedited_output: str | None
) -> str:
    parts = [issue_block(task), context_block(files)]
    if test.strip():
        parts.append(f"# Reproduction test\n\n{fenced('reproduce.py', test)}")
        if unedited_output is not None:
            parts.append(f"Its result on the unedited repository:\n\n{unedited_output}\n")
    else:
        parts.append("# Reproduction test\n\n(none was written; you may write one with <test>)\n")
    parts.append("Edit the repository to fix the issue.")
    return "\n".join(parts)


def editing_system(max_turns: int) -> str:
    return EDITING_SYSTEM.format(format_help=FORMAT_HELP, max_turns=max_turns)


def list_paths(paths: Sequence[str]) -> str:
    return ", ".join(paths) if paths else "(none)"
