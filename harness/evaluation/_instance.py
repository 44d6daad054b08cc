"""Evaluating one candidate patch on one repository task, as the swebench harness does.

In a fresh container of the instance image: apply the candidate (the chain of ``_apply``), then run the
eval script (``_script``: reset the test files, apply the test patch, run the test command on the test
directives, reset), keep its log, and grade it: for a SWE-bench record with swebench's own
``get_eval_report`` (``_swebench``), for a local task with ``parsers`` and :func:`grade` (local tasks
must run without the optional swebench, and their ids hold spaces inside brackets, which swebench's
pytest parser splits). Model failures (empty patch, patch that does not apply, failing tests) are report
outcomes; failures of images, the engine or the harness are ``outcome="error"``.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from harness._log import unit_log
from harness.errors import HarnessError, SandboxError
from harness.evaluation import _swebench
from harness.evaluation._apply import applied_method, apply_failure, apply_script
from harness.evaluation._report import InstanceReport, TestsStatus, grade, patch_sha256
from harness.evaluation._script import TEST_PATCH_FAILED, eval_script, test_command, test_output
from harness.evaluation.parsers import get_parser
from harness.sandbox._container import EvalContainer, EvalSandbox
from harness.store import atomic_write_text
from harness.tasks._repo import RepoTask
from harness.tasks.images import TESTBED

SandboxFactory = Callable[..., Awaitable[EvalSandbox]]
"""Makes the sandbox of one evaluation: called as ``factory(image)``, or ``factory(image, network=True)``
when the instance is evaluated with network."""
WORK = "/tmp/harness-eval"
INSTANCE_LOG = "run_instance.log"
"""The story of one evaluation in its log folder, as SWE-bench's: what was applied, the test command,
how it ended, timings and the verdict (every level; its INFO lines also reach the run's log)."""
log = logging.getLogger(__name__)


async def default_sandbox(image: str, *, network: bool = False) -> EvalSandbox:
    return await EvalContainer.start(image, network=network)


def task_network(task: RepoTask) -> bool:
    """Whether ``task``'s spec asks for network at evaluation (``--eval-network``; False by default)."""
    return bool(getattr(task.environment, "eval_network", False))


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
    network: bool | None = None,
) -> InstanceReport:
    """Evaluate ``patch`` on ``task`` in a fresh sandbox of ``image``. Never raises for the patch's sake.

    An empty or ``None`` patch is not run (swebench's rule) unless ``run_empty``: ``tasks validate``
    runs it to check that the ``FAIL_TO_PASS`` tests really fail on the base commit. Failures of the
    engine or the harness, and the whole evaluation outliving ``deadline`` (default: the test timeout
    plus 10 minutes), give ``outcome="error"``; a test command past ``test_timeout`` is the candidate's
    failure (``test_timed_out``, tests that did not report count as failed). ``network`` (default: the
    task's ``eval_network``) gives the container network; the report says which way it ran.
    """
    start = time.monotonic()
    report = InstanceReport(
        instance_id=task.instance_id,
        model_name_or_path=model_name,
        patch_is_None=patch is None,
        patch_exists=bool(patch and patch.strip()),
        patch_sha256=patch_sha256(patch),
        environment=image,
        network=task_network(task) if network is None else network,
    )
    if not report.patch_exists and not run_empty:
        report.outcome = "empty_patch"
        log.info("%s: empty patch, not evaluated", task.instance_id)
        return report
    limit = deadline if deadline is not None else test_timeout + 600
    path = log_dir / INSTANCE_LOG if log_dir is not None else None
    with unit_log(path, "harness.evaluation", task.instance_id) as ilog:
        ilog.info(
            "evaluating %s: patch sha256 %s (%d lines) in image %s, network %s, test timeout %.0f s",
            model_name or "a patch", report.patch_sha256, len((patch or "").splitlines()), image,
            report.network, test_timeout,
        )  # fmt: skip
        try:
            await asyncio.wait_for(
                _evaluate(task, patch or "", image, report, sandbox_factory, test_timeout, log_dir, ilog),
                limit,
            )
        except TimeoutError:
            report.outcome, report.error = "error", f"the evaluation outlived its deadline of {limit:.0f} s"
        except (HarnessError, OSError) as exc:
            report.outcome, report.error = "error", f"{type(exc).__name__}: {exc}"
        report.duration_s = round(time.monotonic() - start, 3)
        _verdict(ilog, report)
    return report


def _verdict(ilog: logging.Logger, report: InstanceReport) -> None:
    """The last line of an instance's log: its outcome, the hidden tests' counts and the time."""
    ts = report.tests_status
    counts = (
        f"FAIL_TO_PASS {len(ts.FAIL_TO_PASS.success)}/{len(ts.FAIL_TO_PASS.success) + len(ts.FAIL_TO_PASS.failure)}, "
        f"PASS_TO_PASS {len(ts.PASS_TO_PASS.success)}/{len(ts.PASS_TO_PASS.success) + len(ts.PASS_TO_PASS.failure)}"
    )
    if report.outcome == "error":
        ilog.error("verdict: error after %.1f s: %s", report.duration_s, report.error)
    else:
        ilog.info("verdict: %s (%s) after %.1f s", report.outcome, counts, report.duration_s)


async def _open(factory: SandboxFactory, image: str, network: bool) -> EvalSandbox:
    if not network:
        return await factory(image)
    try:
        return await factory(image, network=True)
    except TypeError as exc:
        raise SandboxError(f"this sandbox factory cannot give an evaluation network ({exc})") from exc


async def _evaluate(
    task: RepoTask,
    patch: str,
    image: str,
    report: InstanceReport,
    sandbox_factory: SandboxFactory,
    test_timeout: float,
    log_dir: Path | None,
    ilog: logging.Logger,
) -> None:
    logs: dict[str, str] = {}
    if patch:
        logs["patch.diff"] = patch
    t0 = time.monotonic()
    sandbox = await _open(sandbox_factory, image, report.network)
    ilog.info("container up in %.1f s", time.monotonic() - t0)
    try:
        if patch.strip():
            await sandbox.write_file(f"{WORK}/model.patch", patch)
            res = await sandbox.run(apply_script(f"{WORK}/model.patch"), cwd=TESTBED, timeout=300)
            logs["apply.log"] = res.stdout + res.stderr
            ilog.debug("apply output:\n%s", logs["apply.log"].rstrip())
            report.apply_method = applied_method(res.stdout, patch)
            if report.apply_method is None:
                report.outcome, report.error = "patch_failed", apply_failure(res.stdout, patch)
                report.log = _where(log_dir, "apply.log")
                ilog.info("the patch did not apply (%.1f s): %s", res.duration_ms / 1000, report.error)
                return
            ilog.info("patch applied with %s (%.1f s)", report.apply_method, res.duration_ms / 1000)
        report.patch_successfully_applied = report.patch_exists
        script = eval_script(task)
        logs["eval.sh"] = script
        await sandbox.write_file(f"{WORK}/test.patch", task.test_patch)
        await sandbox.write_file(f"{WORK}/eval.sh", script)
        cmd = f"bash {WORK}/eval.sh {WORK}/test.patch 2>&1"
        ilog.info("test command: %s (in eval.sh, timeout %.0f s)", test_command(task), test_timeout)
        res = await sandbox.run(cmd, cwd=TESTBED, timeout=test_timeout)
        ilog.info(
            "tests ended: %s, exit %s, %.1f s, %d bytes of output",
            res.status, res.exit_code, res.duration_ms / 1000, len(res.stdout) + len(res.stderr),
        )  # fmt: skip
        log = res.stdout + res.stderr
        if res.status == "timeout":
            log += f"\n\nTimeout error: {test_timeout:.0f} seconds exceeded.\n"
        logs["test_output.txt"] = log
        report.log = _where(log_dir, "test_output.txt")
        report.test_timed_out = res.status == "timeout"
        if res.status == "error":
            report.outcome, report.error = "error", f"the sandbox could not run the tests: {res.stderr}"
            return
        if any(line == TEST_PATCH_FAILED for line in log.splitlines()):
            report.outcome = "error"
            report.error = "the test patch does not apply on base_commit's test files: the record is broken"
            return
        report.tests_status, report.resolved = _grade(task, patch, log)
        report.outcome = "resolved" if report.resolved else "unresolved"
    finally:
        t0 = time.monotonic()
        await sandbox.close()
        ilog.debug("container removed in %.1f s", time.monotonic() - t0)
        if log_dir is not None:
            for name, text in logs.items():
                atomic_write_text(log_dir / name, text)


def _where(log_dir: Path | None, name: str) -> str | None:
    return str(log_dir / name) if log_dir is not None else None


def _grade(task: RepoTask, patch: str, log: str) -> tuple[TestsStatus, bool]:
    """Grade an eval log: swebench's ``get_eval_report`` for its records, ours for local tasks.

    A log whose test output did not end (timeout) reports no test, so every hidden test fails."""
    if not _swebench.knows(task):
        status = get_parser(task.environment.log_parser)(test_output(log))
        return grade(task.FAIL_TO_PASS, task.PASS_TO_PASS, status)
    with tempfile.TemporaryDirectory(prefix="harness-eval-") as tmp:
        path = Path(tmp) / "test_output.txt"
        path.write_text(log, encoding="utf-8", errors="surrogateescape")
        body: dict[str, Any] = _swebench.eval_report(task, patch, path)
    if not body.get("patch_successfully_applied"):
        return grade(task.FAIL_TO_PASS, task.PASS_TO_PASS, {})
    return TestsStatus.model_validate(body["tests_status"]), bool(body["resolved"])
