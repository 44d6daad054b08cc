"""``harness sandbox build``, ``harness sandbox gc`` and ``harness exec``."""

from __future__ import annotations

import time

import typer

from harness.cli._common import console, friendly_errors

sandbox_app = typer.Typer(help="Sandbox images and leaked containers.", no_args_is_help=True)


@sandbox_app.command("build")
@friendly_errors
def build(force: bool = typer.Option(False, "--force", help="Rebuild even when the tags exist.")) -> None:
    """Build the sandbox images (base, Python runner) when their recipe changed; quick otherwise."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from harness.sandbox import images

    start = time.monotonic()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("checking sandbox images", total=None)
        tags = images.build_images(force=force, progress=lambda msg: bar.update(task, description=msg))
    console.print(f"sandbox images ready ({time.monotonic() - start:.1f} s): {', '.join(tags)}")


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")
