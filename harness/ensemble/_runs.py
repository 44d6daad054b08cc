"""Running the repository's own tests at base and with a candidate, in a strict sandbox.

The sandbox is a :class:`harness.sandbox.DockerSandbox` of the instance image in the strict profile (no
network, read-only root, uid 1000, no capabilities) whose workspace ``/workspace`` is a copy of the
repository at base (``/testbed``); ``reset()`` puts it back between runs. A run:

1. applies the candidate with evaluation's chain (``git apply``, ``--reject``, ``patch --fuzz``); one
   that does not apply is a row with ``applied=False`` and no tests;
2. puts the selected test files back to base (``git checkout HEAD -- FILES``): a candidate's edits to
   them are not what is tested;
3. runs the environment's ``eval_commands`` and ``test_cmd`` on the selected files, in ``/workspace``,
   with every ``/testbed`` entry of the image's ``sys.path`` (an editable install's ``/testbed/src``)
   mapped to ``/workspace`` and ``/workspace`` itself first on ``PYTHONPATH``, so the tests import the
   candidate and not the image's copy; in SWE-bench's own images conda's ``testbed`` is activated first;
4. parses the output between swebench's markers with swebench's own log parser of the repository
   (``MAP_REPO_TO_PARSER``; a task swebench does not know uses ``harness.evaluation.parsers``) and keeps
   the ids of the files run (:func:`own_tests`).

Nothing of the task's hidden parts is known here: the task is a :class:`PublicRepoTask`, the tests are
files of the repository at base.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from harness.ensemble._discover import RepoView
from harness.errors import SandboxError
from harness.evaluation import patch_key
from harness.evaluation._apply import applied_method, apply_failure, apply_script
from harness.evaluation._script import ACTIVATE
from harness.evaluation.parsers import PASSING, get_parser
from harness.sandbox._types import CommandRunner, ExecResult
from harness.store import atomic_write_json
from harness.tasks._repo import EnvironmentSpec, PublicRepoTask
from harness.tasks._swebench import swebench_test_spec
from harness.tasks.images import TESTBED

WORKSPACE = "/workspace"
WORK = "/tmp/harness-ensemble"
START, END = ">>>>> Start Test Output", ">>>>> End Test Output"
RUNS_VERSION = "3"
"""Part of a cached run's key: bump when what a run does changes."""
_PATHS = (
    "import sys\n"
    f"t, w = {TESTBED!r}, {WORKSPACE!r}\n"
    "m = [w + p[len(t):] for p in sys.path if p == t or p.startswith(t + '/')]\n"
    "print(':'.join(dict.fromkeys([w, *m])))\n"
)


class RunSandbox(CommandRunner, Protocol):
    """What a run uses of a sandbox (:class:`harness.sandbox.DockerSandbox` has it all)."""

    async def write_file(self, path: str, content: str | bytes, *, mode: int = 0o644) -> None: ...

    async def reset(self) -> None: ...

    async def close(self) -> None: ...


RunSandboxFactory = Callable[[str], Awaitable[RunSandbox]]


async def strict_sandbox(image: str) -> RunSandbox:
    """A strict :class:`DockerSandbox` of ``image`` whose workspace is seeded from ``/testbed``, with the
    image's own ``PATH`` (its venv first: the strict profile's environment is otherwise the minimal one)."""
    from harness.sandbox import DockerSandbox, SandboxProfile
    from harness.sandbox._docker import shared_client

    env = await asyncio.to_thread(lambda: shared_client().images.get(image).attrs["Config"].get("Env") or [])
    path = next((e.split("=", 1)[1] for e in env if e.startswith("PATH=")), None)
    profile = SandboxProfile.strict(
        memory="3g", workspace_size="1g", tmp_size="512m", pids=512, env={"PATH": path} if path else {}
    )
    return await DockerSandbox.create(image, profile, base=TESTBED)


class Run(BaseModel):
    """One test run: the unedited repository (``patch_sha256 == ""``) or a candidate."""

    model_config = ConfigDict(extra="forbid")

    patch_sha256: str = ""
    applied: bool = True
    apply_method: str | None = None
    apply_error: str | None = None
    statuses: dict[str, str] = Field(default_factory=dict)
    """Test id -> status (PASSED, FAILED, ERROR, SKIPPED, XFAIL ...) as the repository's parser reads them."""
    timed_out: bool = False
    exit_code: int | None = None
    duration_s: float = 0.0
    cached: bool = False

    @property
    def passing(self) -> set[str]:
        return {t for t, s in self.statuses.items() if s in PASSING}


def _parser(task: PublicRepoTask, env: EnvironmentSpec) -> Callable[[str], dict[str, str]]:
    """swebench's log parser of the repository for its records, harness's named parser otherwise."""
    if env.spec_source.startswith("swebench"):
        from harness._extras import require

        parsers = require("swebench.harness.log_parsers", "swebench").MAP_REPO_TO_PARSER
        if task.repo in parsers:
            spec = swebench_test_spec(task)  # the public fields only: no test names are known
            parser = parsers[task.repo]
            return lambda text: dict(parser(text, spec))
    named = get_parser(env.log_parser)
    return lambda text: dict(named(text))


def test_script(env: EnvironmentSpec, test_files: Sequence[str]) -> str:
    """The bash script of a run (after the candidate is applied and the test files restored)."""
    lines = ["set -uo pipefail", ACTIVATE, *env.eval_commands]
    lines.append(f'export PYTHONPATH="$(python3 {WORK}/paths.py)${{PYTHONPATH:+:$PYTHONPATH}}"')
    lines.append(f"echo {shlex.quote(START)}")
    lines.append(" ".join([env.test_cmd, *map(shlex.quote, test_files)]))
    lines.append(f"echo {shlex.quote(END)}")
    return "\n".join(lines) + "\n"


def between_markers(log: str) -> str:
    start = log.find(START)
    if start < 0:
        return ""
    end = log.find(END, start)
    return log[start + len(START) : end if end >= 0 else len(log)]


class Runner:
    """Runs of one instance in one sandbox (opened on first need), cached on disk by content."""

    def __init__(
        self,
        task: PublicRepoTask,
        env: EnvironmentSpec,
        image: str,
        *,
        factory: RunSandboxFactory = strict_sandbox,
        timeout: float = 600.0,
        cache: Path | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.task, self.env, self.image, self.factory, self.timeout = task, env, image, factory, timeout
        self.cache, self.log_dir = cache, log_dir
        self._parse = _parser(task, env)
        self._box: RunSandbox | None = None
        self._opened = 0.0
        self.sandbox_s = 0.0
        """Seconds sandboxes of this runner were open (closed ones)."""
        self._dirty = False

    async def _fresh(self) -> RunSandbox:
        """The sandbox with its workspace at base (opened, or reset after a run)."""
        if self._box is None:
            self._opened = time.monotonic()
            self._box = await self.factory(self.image)
        elif self._dirty:
            await self._box.reset()  # also empties /tmp
        else:
            return self._box
        await self._box.write_file(f"{WORK}/paths.py", _PATHS)
        self._dirty = False
        return self._box

    async def close(self) -> None:
        if self._box is not None:
            box, self._box = self._box, None
            try:
                await box.close()
            finally:
                self.sandbox_s += time.monotonic() - self._opened

    def view(self) -> RepoView:
        """The repository at base as seen in the sandbox (``git ls-files``, ``git grep``)."""
        return _SandboxView(self)

    async def git(self, args: Sequence[str]) -> ExecResult:
        box = await self._fresh()
        return await box.run(["git", "-c", "safe.directory=*", *args], cwd=WORKSPACE, timeout=300)

    def _key(self, patch: str, tests: Sequence[str]) -> str:
        env = [self.env.test_cmd, list(self.env.eval_commands), self.env.log_parser]
        # patch_key: patches that apply the same way (index lines, CRLF ...) share their run.
        body = [RUNS_VERSION, self.image, env, list(tests), self.timeout, patch_key(patch)]
        return hashlib.sha256(json.dumps(body).encode()).hexdigest()

    async def run(self, patch: str, tests: Sequence[str], *, label: str) -> Run:
        """The run of ``patch`` (``""``: the unedited repository) on ``tests``, from the cache when there."""
        key = self._key(patch, tests)
        path = self.cache / f"{key[:2]}/{key}.json" if self.cache is not None else None
        if path is not None and path.is_file():
            try:
                return Run.model_validate_json(path.read_text(encoding="utf-8")).model_copy(
                    update={"cached": True}
                )
            except ValueError:
                pass  # a torn entry: run again
        run, log = await self._run(patch, tests)
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            (self.log_dir / f"{label}.log").write_text(log, encoding="utf-8", errors="replace")
        if path is not None:
            atomic_write_json(path, run.model_dump())
        return run

    async def _run(self, patch: str, tests: Sequence[str]) -> tuple[Run, str]:
        t0 = time.monotonic()
        box = await self._fresh()
        self._dirty = True
        run = Run(patch_sha256=_sha(patch))
        log = ""
        if patch.strip():
            await box.write_file(f"{WORK}/candidate.patch", patch)
            res = _checked(await box.run(apply_script(f"{WORK}/candidate.patch"), cwd=WORKSPACE, timeout=300))
            log += res.stdout + res.stderr
            run.apply_method = applied_method(res.stdout, patch)
            if run.apply_method is None:
                run.applied, run.apply_error = False, apply_failure(res.stdout, patch)
                run.duration_s = round(time.monotonic() - t0, 3)
                return run, log
        if tests:
            files = " ".join(map(shlex.quote, tests))
            res = _checked(
                await box.run(f"git -c safe.directory='*' checkout -q HEAD -- {files} 2>&1", cwd=WORKSPACE)
            )
            log += res.stdout
            await box.write_file(f"{WORK}/run.sh", test_script(self.env, tests))
            res = _checked(await box.run(f"bash {WORK}/run.sh 2>&1", cwd=WORKSPACE, timeout=self.timeout))
            out = res.stdout + res.stderr
            log += out
            run.timed_out, run.exit_code = res.status == "timeout", res.exit_code
            run.statuses = own_tests(self._parse(between_markers(out)), tests)
        run.duration_s = round(time.monotonic() - t0, 3)
        return run, log


def own_tests(statuses: dict[str, str], files: Sequence[str]) -> dict[str, str]:
    """The statuses of tests of ``files`` only, when the parser's ids name their file (``path::test``).

    swebench's pytest parsers take every line that starts with ``PASSED ``/``FAILED ``/``ERROR `` for a
    test: the summaries of inner sessions that pytest's own tests print (``FAILED
    test_select_simple.py::test_one``) and captured log lines (``ERROR    root:...``) too. Ids of the
    files run are kept; when no id names one of them (a parser of another shape), all are kept."""
    prefixes = tuple(f"{f}::" for f in files)
    own = {t: s for t, s in statuses.items() if t.startswith(prefixes)}
    return own if own else statuses


class _SandboxView:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    async def files(self) -> list[str]:
        res = await self.runner.git(["ls-files"])
        if not res.ok:
            raise SandboxError(
                f"git ls-files failed in the sandbox ({res.exit_code}): {res.stderr.strip()[-500:]}"
            )
        return res.stdout.splitlines()

    async def grep(self, patterns: Sequence[str], paths: Sequence[str]) -> list[str]:
        args = ["grep", "-l", "-E"] + [a for p in patterns for a in ("-e", p)] + ["--", *paths]
        res = await self.runner.git(args)
        if res.exit_code not in (0, 1):  # 1: nothing matched
            raise SandboxError(
                f"git grep failed in the sandbox ({res.exit_code}): {res.stderr.strip()[-500:]}"
            )
        return res.stdout.splitlines()


def _checked(res: ExecResult) -> ExecResult:
    """``res``, unless the sandbox itself failed (it could not run the command, or its command server
    died): then :class:`SandboxError`, so the run is neither cached nor judged and the instance is
    tried again on the next run. A timeout, a crash or running out of memory are the candidate's."""
    if res.status == "error" or (res.status == "killed" and res.exit_code is None):
        raise SandboxError(f"the sandbox failed during a run ({res.status}): {res.stderr.strip()[-500:]}")
    return res


def _sha(patch: str) -> str:
    return hashlib.sha256(patch.encode("utf-8", "surrogatepass")).hexdigest() if patch.strip() else ""
