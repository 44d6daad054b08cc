"""``harness sandbox build``, ``harness sandbox gc`` and ``harness exec``."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TYPE_CHECKING, Any

import typer

from harness.cli._common import (
    ImageRef,
    MemorySize,
    OneOf,
    RunId,
    console,
    friendly_errors,
    log_file,
    print_json,
    progress_bar,
    seconds,
)

if TYPE_CHECKING:
    from harness.sandbox import ExecResult

sandbox_app = typer.Typer(help="Sandbox images and leaked containers.", no_args_is_help=True)


@sandbox_app.command("build")
@friendly_errors
def build(force: bool = typer.Option(False, "--force", help="Rebuild even when the tags exist.")) -> None:
    """Build the sandbox images (base, Python runner) when their recipe changed; quick otherwise.
    Logs to ``~/.cache/harness/sandbox/build-logs/harness.log`` (each build's own output beside it)."""
    from harness.sandbox import images

    start = time.monotonic()
    with log_file(images.log_dir() / "harness.log", "sandbox build"), progress_bar() as bar:
        tags = images.build_images(force=force, progress=bar)
    console.print(f"sandbox images ready ({time.monotonic() - start:.1f} s): {', '.join(tags)}")


@sandbox_app.command("gc")
@friendly_errors
def gc_cmd(
    run_id: str | None = typer.Option(
        None, "--run-id", parser=RunId(), help="Remove every container of this run."
    ),
    everything: bool = typer.Option(False, "--all", help="Remove every harness-managed container."),
) -> None:
    """Remove sandbox containers a killed harness left behind (never containers harness did not start).

    Without options: the harness containers on this host whose owner process is gone.
    """
    from harness.sandbox import gc
    from harness.sandbox.images import docker_client

    removed = gc(run_id=run_id, everything=everything, client=docker_client(timeout=60))
    for name in removed:
        typer.echo(name)
    console.print(f"removed {len(removed)} container(s)")


_EXIT = {"ok": 0, "timeout": 124, "oom": 137, "error": 125}
"""``harness exec``'s exit code by status; ``nonzero`` and ``killed`` are in :func:`_exit_code`."""


def _exit_code(result: ExecResult) -> int:
    """The command's own code, 124 timeout, 137 OOM, 128+N killed by signal N, 125 when the sandbox
    failed: ``error``, or ``killed`` without an exit code (the command server died mid-command, so the
    command's own end is unknown). docs/sandbox.md has the same table."""
    if result.status == "nonzero":
        return result.exit_code if result.exit_code is not None else 1
    if result.status == "killed":
        return 125 if result.exit_code is None else 128 - result.exit_code
    return _EXIT[result.status]


@friendly_errors
def exec_cmd(
    cmd: list[str] = typer.Argument(..., help="The command and its arguments (put them after --)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the output."),
    # At most the sandbox's lifetime (SandboxProfile.max_lifetime_s): its container is gone after that.
    timeout: float = typer.Option(
        60.0, "--timeout", parser=seconds(3600.0), help="Seconds before the command is killed (at most 3600)."
    ),
    memory: str = typer.Option("1g", "--memory", parser=MemorySize(), help="Memory limit, e.g. 512m or 2g."),
    image: str | None = typer.Option(
        None, "--image", parser=ImageRef(), help="Image (default: the Python runner image)."
    ),
    profile: str = typer.Option(
        "strict",
        "--profile",
        parser=OneOf(("strict", "compat")),
        help="strict or compat (root, writable root).",
    ),
) -> None:
    """Run one command in a fresh sandbox (strict: no network, read-only root, uid 1000).

    The exit code mirrors the command's (124 on timeout, 137 on OOM, 128+N when killed by signal N, 125
    when the sandbox failed, e.g. the command killed the sandbox's command server).
    """
    from harness.errors import ConfigError
    from harness.sandbox import DockerSandbox, SandboxProfile

    if profile not in ("strict", "compat"):
        raise ConfigError(f"--profile {profile!r}: use strict or compat")
    prof = (SandboxProfile.strict if profile == "strict" else SandboxProfile.compat)(
        memory=memory, default_timeout_s=timeout
    )

    async def go() -> Any:
        async with DockerSandbox(image, prof) as sb:
            return await sb.run(cmd, timeout=timeout)

    result = asyncio.run(go())
    if as_json:
        print_json(result.model_dump())
    else:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        if result.truncated:
            console.print("[yellow]output was truncated (head and tail kept)[/]")
        if result.status in ("timeout", "oom", "error"):
            console.print(f"[red]{result.status}[/]")
    raise typer.Exit(_exit_code(result))


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")
    app.command("exec", context_settings={"ignore_unknown_options": True})(exec_cmd)
