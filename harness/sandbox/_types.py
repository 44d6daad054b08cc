"""Typed records and the ``Sandbox`` seam."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

ExecStatus = Literal["ok", "nonzero", "timeout", "oom", "killed", "error"]


class ExecResult(BaseModel):
    """What one command did. Failures of the command are data here, never exceptions.

    ``status``: ``ok`` (exit 0), ``nonzero`` (exited non-zero), ``timeout`` (killed at its deadline, with
    its whole process tree), ``oom`` (killed by the memory limit), ``killed`` (died of another signal),
    ``error`` (the sandbox could not run it; ``stderr`` says why).

    ``killed`` with ``exit_code`` None: the sandbox's command server died during the command (killed,
    most likely by the command itself: ``kill -9 $PPID``, ``kill -9 -1``), so how the command ended is
    unknown. ``stderr`` ends with a line saying so; ``stdout`` and ``stderr`` hold what the server had
    relayed before it died; ``duration_ms`` is the time until then. ``harness exec`` exits 125 for it.
    """

    model_config = ConfigDict(frozen=True)

    status: ExecStatus
    exit_code: int | None
    stdout: str
    stderr: str
    duration_ms: float
    truncated: bool = False
    """True when stdout or stderr exceeded the output cap and its middle was cut."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class SandboxProfile(BaseModel):
    """Resource and security settings of a sandbox. The defaults are the strict profile."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["strict", "compat"] = "strict"
    network: bool = False
    """False: ``--network none``. Untrusted code never gets a network by default."""
    read_only_root: bool = True
    user: str = "1000:1000"
    """Commands run as this user; ``compat`` runs as root."""
    memory: str = "1g"
    """Memory limit; swap is set equal so the sandbox cannot swap."""
    cpus: float = 1.0
    pids: int = 256
    nofile: int = 1024
    fsize: str = "512m"
    """Largest file a process may write."""
    tmp_size: str = "256m"
    workspace_size: str = "512m"
    workspace: str = "/workspace"
    max_lifetime_s: float = 3600.0
    """The container stops by itself after this long, whatever happens to the harness."""
    default_timeout_s: float = 60.0
    output_cap_bytes: int = 1_000_000
    """Per stream; beyond it the head and tail are kept and ``truncated`` is set."""
    env: dict[str, str] = Field(default_factory=dict)
    """The *only* environment the sandbox sees (never the host's)."""
    cap_add: list[Literal["SETUID", "SETGID", "KILL", "SYS_NICE"]] = Field(default_factory=list)
    """Capabilities kept (the strict profile drops all others). Only for a supervisor that runs as root
    and starts untrusted code under uids of its own (the pass-matrix worker: :meth:`supervisor`)."""

    @classmethod
    def strict(cls, **overrides: object) -> SandboxProfile:
        return cls.model_validate({"name": "strict", **overrides})

    @classmethod
    def supervisor(cls, **overrides: object) -> SandboxProfile:
        """Strict, but the command server and its commands run as root with only ``CAP_SETUID``,
        ``CAP_SETGID``, ``CAP_KILL`` and ``CAP_SYS_NICE``: a supervisor inside (the pass-matrix worker)
        runs each untrusted program under a fresh uid of its own, which can neither signal nor trace the
        supervisor, nor write what it runs or reads; the supervisor keeps a higher CPU priority than its
        programs (which have no capability left), so that starting them never waits behind them."""
        caps = ["SETUID", "SETGID", "KILL", "SYS_NICE"]
        base: dict[str, object] = {"name": "strict", "user": "0:0", "cap_add": caps}
        return cls.model_validate({**base, **overrides})

    @classmethod
    def compat(cls, **overrides: object) -> SandboxProfile:
        """For images that need root or a writable root (e.g. SWE-bench environment images)."""
        base: dict[str, object] = {"name": "compat", "read_only_root": False, "user": "0:0"}
        return cls.model_validate({**base, **overrides})


class CommandRunner(Protocol):
    """A thing that runs commands: the one ``run`` signature of every sandbox.

    :class:`Sandbox` and the narrower protocols of what a stage uses of one (``EvalSandbox`` for
    evaluation, ``LoopSandbox`` for the pipeline's loops, ``RunSandbox`` for ensemble runs) extend it
    rather than declaring ``run`` again; ``DockerSandbox``, ``EvalContainer``,
    ``harness.cluster.RaySandbox`` and the test fakes implement it (nothing inherits from it).
    """

    async def run(
        self,
        cmd: str | Sequence[str],
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | bytes | None = None,
    ) -> ExecResult:
        """Run ``cmd`` (a shell string or an argv list). Never raises for what the command does."""
        ...


@runtime_checkable
class Sandbox(CommandRunner, Protocol):
    """An isolated place to run untrusted commands. Every backend passes ``harness.sandbox.conformance``."""

    id: str

    async def write_file(self, path: str, content: str | bytes, *, mode: int = 0o644) -> None: ...

    async def read_file(self, path: str) -> bytes: ...

    async def diff(self) -> str:
        """A unified diff (``git apply``-able) of the workspace against its base."""
        ...

    async def reset(self) -> None:
        """Put the workspace back to its base and kill every process the commands left behind."""
        ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Sandbox: ...

    async def __aexit__(self, *exc: object) -> None: ...
