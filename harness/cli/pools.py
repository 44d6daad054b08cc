"""``harness pools import``: another tool's samples as our pool format (what ``harness select`` reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli._common import InputFile, OneOf, OutputFile, console, friendly_errors, print_json

pools_app = typer.Typer(help="Candidate and test pools: import other tools' samples.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(pools_app, name="pools")


@pools_app.command("import")
@friendly_errors
def import_(
    source: Annotated[
        Path,
        typer.Argument(parser=InputFile("pool file"), help="The file to read (JSONL, or bigcode's JSON)."),
    ],
    out: Annotated[Path, typer.Option(parser=OutputFile("pool file"), help="Where to write our JSONL pool.")],
    format_: Annotated[
        str,
        typer.Option(
            "--format",
            parser=OneOf(("auto", "ours", "codet", "human-eval", "evalplus", "bigcode", "tests-jsonl")),
            help="auto (detected from the file) | ours | codet | human-eval (task_id, completion) | evalplus "
            "(task_id, solution or completion) | bigcode (a JSON list per task of programs) | tests-jsonl "
            "(task_id, test or tests).",
        ),
    ] = "auto",
    kind: Annotated[
        str, typer.Option(parser=OneOf(("solutions", "tests")), help="solutions | tests")
    ] = "solutions",
    suite: Annotated[
        str, typer.Option(parser=OneOf(("humaneval", "mbpp")), help="humaneval | mbpp")
    ] = "humaneval",
    as_json: Annotated[bool, typer.Option("--json", help="Print what was read as one JSON object.")] = False,
) -> None:
    """Read SOURCE (any format harness select detects), match its records to the suite's tasks (by task
    id, position or prompt), and write them to --out in our pool format. Prints what was read and skipped."""
    from harness.selection.importers import import_pool
    from harness.tasks import load_function_suite, write_pool

    tasks = load_function_suite(suite)
    imported = import_pool(source.resolve(), kind, tasks, fmt=format_, suite=suite)  # type: ignore[arg-type]
    write_pool(out, imported.pool)
    if as_json:
        print_json({**imported.report.to_json(), "out": str(out)})
        return
    for line in imported.report.lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {len(imported.pool)} tasks to {out}", markup=False, highlight=False, soft_wrap=True)
