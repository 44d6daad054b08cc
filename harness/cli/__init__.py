"""The ``harness`` command. Each sub-module registers its own commands; heavy imports stay inside them."""

from __future__ import annotations

import importlib

import typer

from harness.cli._common import OneLineErrors, friendly_errors

app = typer.Typer(
    name="harness",
    cls=OneLineErrors,
    help="Spend test-time compute on code generation and pick the best result.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# Modules that define `register(app: typer.Typer) -> None`. Order is the order in --help.
_COMMAND_MODULES = ["sandbox", "sample", "select", "pools", "tasks", "ensemble", "run", "search", "inspect"]


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"harness.cli.{name}")
        module.register(app)


@app.command()
@friendly_errors
def version() -> None:
    """Print harness's version."""
    import harness

    typer.echo(harness.__version__)


_register_all()


def main() -> None:
    app()
