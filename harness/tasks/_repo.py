"""Repository-level tasks: SWE-bench records and the local suite in ``tasks/local``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RepoSource(BaseModel):
    """Where a task's repository comes from: a local git directory (or plain tree) or a git URL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["path", "url"] = "url"
    """``path``: a directory on this machine; ``url``: a git remote to clone."""
    location: str
    """The directory or the URL."""


class EnvironmentSpec(BaseModel):
    """How to prepare and test a task's repository inside its image."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    python: str = "3"
    """The Python the environment uses (the base image's ``python3`` when ``"3"``)."""
    pip_packages: tuple[str, ...] = ("pytest==8.3.4", "pluggy==1.5.0", "iniconfig==2.0.0", "packaging==24.2")
    """Exact pins of pure-Python wheels put into the environment image at build time (the sandbox has
    no network). They are fetched on the host with ``pip download --no-deps``, so list every dependency."""
    install: tuple[str, ...] = ()
    """Shell commands run in the repository when the instance image is built."""
    build_network: bool = False
    """Whether ``install`` may reach the network. Off by default: local tasks need none. When on, the
    build reaches package registries only as the host's Docker does (here through a proxy whose CA
    the install commands must trust)."""
    test_cmd: str = "python3 -m pytest -rA -p no:cacheprovider"
    """The test command; the test files of the test patch are appended to it."""
    log_parser: str = "pytest"
    """Name of the parser of the test output (see ``harness.evaluation.parsers``)."""
    builder: Literal["wheels", "pip"] = "wheels"
    """``wheels``: ``pip_packages`` (pure-Python wheels fetched on the host) unpacked into the sandbox's
    Python image, offline (local tasks). ``pip``: a venv on the Debian base that has ``python``, filled by
    pip through the build network (``requirements``, then ``pip_packages``); the instance layer runs
    ``pre_install`` and ``install`` in the repository (SWE-bench specs, ``harness.tasks.swebench_environment``)."""
    requirements: tuple[str, ...] = ()
    """``pip`` builder: lines of a requirements file installed first (the spec's ``packages``, translated)."""
    pre_install: tuple[str, ...] = ()
    """``pip`` builder: shell commands run in the repository before ``install`` (instance layer)."""
    eval_commands: tuple[str, ...] = ()
    """Shell commands the evaluation runs before the tests (SWE-bench's ``eval_commands``)."""
    eval_network: bool = False
    """Whether evaluation containers of this task have network (``--eval-network``; off by default:
    candidate code runs there). Reports say which way the instance ran. Not part of any image recipe."""
    unsupported: str = ""
    """Why this environment cannot be built here (``unsupported: needs Python 3.7``); empty when it can.
    Image builds refuse such a spec before building anything; nothing runs it on another Python."""
    error: str = ""
    """Why the environment could not be prepared (its requirements could not be read: the repository
    is unreachable); builds raise :class:`ImageError` with it, so only this instance fails."""
    spec_source: str = ""
    """Where the spec came from (``swebench==4.1.0 pallets/flask 2.0``), for reports and the recipe hash."""


class RepoTask(BaseModel):
    """A SWE-bench task instance: an issue on a repository at ``base_commit`` and its hidden tests.

    ``patch`` (the gold fix), ``test_patch``, ``FAIL_TO_PASS`` and ``PASS_TO_PASS`` are ground truth:
    only evaluation reads them. Agents get :meth:`public_view`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    hints_text: str = ""
    patch: str = ""
    test_patch: str = ""
    FAIL_TO_PASS: tuple[str, ...] = ()
    PASS_TO_PASS: tuple[str, ...] = ()
    version: str = ""
    environment_setup_commit: str = ""
    created_at: str = ""
    source: RepoSource | None = None
    """Where to get the repository; ``None`` means ``https://github.com/<repo>.git``."""
    environment: EnvironmentSpec = Field(default_factory=EnvironmentSpec)
    suite: str = ""

    def repo_source(self) -> RepoSource:
        return self.source or RepoSource(kind="url", location=f"https://github.com/{self.repo}.git")

    def public_view(self) -> PublicRepoTask:
        """What an agent may see: the issue and the repository, without the fix or the hidden tests."""
        return PublicRepoTask(
            instance_id=self.instance_id,
            repo=self.repo,
            base_commit=self.base_commit,
            problem_statement=self.problem_statement,
            hints_text=self.hints_text,
            version=self.version,
            created_at=self.created_at,
            suite=self.suite,
        )


class PublicRepoTask(BaseModel):
    """A :class:`RepoTask` without ``patch``, ``test_patch``, ``FAIL_TO_PASS`` and ``PASS_TO_PASS``."""

    model_config = ConfigDict(frozen=True)

    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    hints_text: str = ""
    version: str = ""
    created_at: str = ""
    suite: str = ""
