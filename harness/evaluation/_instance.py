"""Evaluating one candidate patch on one repository task, as the swebench harness does.

In a fresh container of the instance image: apply the candidate (the fallback chain of ``_apply``),
put the test files back to ``base_commit`` (a candidate may not edit the hidden tests away), apply the
test patch, run the test command on the test patch's files, parse the output, and grade it against
``FAIL_TO_PASS`` and ``PASS_TO_PASS``. Model failures (empty patch, patch that does not apply, failing
tests) are report outcomes; failures of images, the engine or the harness are ``outcome="error"``.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from harness.errors import HarnessError
from harness.evaluation._apply import applied_method, apply_script, patch_files
from harness.evaluation._container import EvalContainer, EvalSandbox
from harness.evaluation._report import InstanceReport, grade
from harness.evaluation.parsers import get_parser
from harness.store import atomic_write_text
from harness.tasks._repo import RepoTask
from harness.tasks.images import TESTBED

SandboxFactory = Callable[[str], Awaitable[EvalSandbox]]
WORK = "/tmp/harness-eval"


async def default_sandbox(image: str) -> EvalSandbox:
    return await EvalContainer.start(image)


async def evaluate_patch(
    task: RepoTask,
    patch: str | None,
    image: str,
    *,
    model_name: str = "",
    sandbox_factory: SandboxFactory = default_sandbox,
    test_timeout: float = 900.0,
    log_dir: Path | None = None,
    run_empty: bool = False,
    deadline: float | None = None,
) -> InstanceReport:
    """Evaluate ``patch`` on ``task`` in a fresh sandbox of ``image``. Never raises for the patch's sake.

    An empty or ``None`` patch is not run (swebench's rule) unless ``run_empty``: ``tasks validate``
    runs it to check that the ``FAIL_TO_PASS`` tests really fail on the base commit. Failures of the
    engine or the harness, and the whole evaluation outliving ``deadline`` (default: the test timeout
    plus 10 minutes), give ``outcome="error"``; a test command past ``test_timeout`` is the candidate's
    failure (``test_timed_out``, tests that did not report count as failed).
    """
    start = time.monotonic()
    report = InstanceReport(
        instance_id=task.instance_id,
        model_name_or_path=model_name,
        patch_is_None=patch is None,
        patch_exists=bool(patch and patch.strip()),
    )
    if not report.patch_exists and not run_empty:
        report.outcome = "empty_patch"
        return report
    limit = deadline if deadline is not None else test_timeout + 600
    try:
        await asyncio.wait_for(
            _evaluate(task, patch or "", image, report, sandbox_factory, test_timeout, log_dir), limit
        )
    except TimeoutError:
        report.outcome, report.error = "error", f"the evaluation outlived its deadline of {limit:.0f} s"
    except (HarnessError, OSError) as exc:
        report.outcome, report.error = "error", f"{type(exc).__name__}: {exc}"
    report.duration_s = round(time.monotonic() - start, 3)
    return report


async def _evaluate(
    task: RepoTask,
    patch: str,
    image: str,
    report: InstanceReport,
    sandbox_factory: SandboxFactory,
    test_timeout: float,
    log_dir: Path | None,
) -> None:
    logs: dict[str, str] = {}
    sandbox = await sandbox_factory(image)
    try:
        if patch.strip():
            await sandbox.write_file(f"{WORK}/model.patch", patch)
            res = await sandbox.run(apply_script(f"{WORK}/model.patch"), cwd=TESTBED, timeout=300)
            logs["apply.log"] = res.stdout + res.stderr
            report.apply_method = applied_method(res.stdout)
            if report.apply_method is None:
                report.outcome = "patch_failed"
                return
        report.patch_successfully_applied = report.patch_exists
        test_files = patch_files(task.test_patch)
        await sandbox.write_file(f"{WORK}/test.patch", task.test_patch)
        res = await sandbox.run(_prepare_tests(task, test_files), cwd=TESTBED, timeout=300)
        logs["test_patch.log"] = res.stdout + res.stderr
        if not res.ok:
            report.outcome, report.error = "error", f"the test patch does not apply: {res.stderr[-500:]}"
            return
        cmd = f"{task.environment.test_cmd} {' '.join(shlex.quote(f) for f in test_files)}"
        res = await sandbox.run(cmd, cwd=TESTBED, timeout=test_timeout)
        logs["test_output.txt"] = f"+ {cmd}\n{res.stdout}{res.stderr}"
        report.test_timed_out = res.status == "timeout"
        if res.status == "error":
            report.outcome, report.error = "error", f"the sandbox could not run the tests: {res.stderr}"
            return
        status = get_parser(task.environment.log_parser)(res.stdout + "\n" + res.stderr)
        report.tests_status, report.resolved = grade(task.FAIL_TO_PASS, task.PASS_TO_PASS, status)
        report.outcome = "resolved" if report.resolved else "unresolved"
    finally:
        await sandbox.close()
        if log_dir is not None:
            for name, text in logs.items():
                atomic_write_text(log_dir / name, text)
            if patch:
                atomic_write_text(log_dir / "patch.diff", patch)


def _prepare_tests(task: RepoTask, test_files: list[str]) -> str:
    """Shell: restore the test files to ``base_commit`` (or remove them), then apply the test patch."""
    base = shlex.quote(task.base_commit)
    lines = ["set -e"]
    for f in test_files:
        q = shlex.quote(f)
        lines.append(
            f"if git cat-file -e {base}:{q} 2>/dev/null; then git checkout -q {base} -- {q}; else rm -f {q}; fi"
        )
    lines.append(f"git apply -v {WORK}/test.patch")
    return "\n".join(lines) + "\n"
