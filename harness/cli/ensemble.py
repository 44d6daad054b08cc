"""``harness ensemble PREDS... --suite S --selector votes|regression|b4 --out DIR``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from harness.cli._common import (
    InputFile,
    Int,
    OneOf,
    OutputDir,
    console,
    friendly_errors,
    log_file,
    print_json,
    progress_bar,
    seconds,
)
from harness.cli._suites import IMAGES, NAMESPACE, REPOS, select_instances, task_images


def ensemble_cmd(
    predictions: list[Path] = typer.Argument(
        ...,
        parser=InputFile("predictions file"),
        help="Predictions files, one per system (order = tie rule).",
    ),
    suite: Path = typer.Option(
        ...,
        "--suite",
        parser=InputFile("suite", dirs=True),
        help="A folder of local tasks or a SWE-bench file.",
    ),
    selector: str = typer.Option(
        "votes", "--selector", parser=OneOf(("votes", "regression", "b4")), help="votes, regression or b4."
    ),
    out: Path = typer.Option(
        Path("ensemble"), "--out", parser=OutputDir("--out folder"), help="Where choices and predictions go."
    ),
    instance: list[str] = typer.Option([], "--instance", "-i", help="Only these instance ids."),
    concurrency: int = typer.Option(1, "--concurrency", "-j", parser=Int(1, 64), help="Instances at a time."),
    max_test_files: int = typer.Option(
        4, "--max-test-files", parser=Int(1, 100), help="Related test files run per instance, at most."
    ),
    test_timeout: float = typer.Option(
        600.0, "--test-timeout", parser=seconds(), help="Seconds for one test run."
    ),
    cache: Path | None = typer.Option(
        None,
        "--cache",
        parser=OutputDir("--cache folder"),
        help="Test runs by content (default ~/.cache/harness/ensemble).",
    ),
    repos: Path | None = REPOS,
    images: str = IMAGES,
    image_namespace: str = NAMESPACE,
) -> None:
    """Choose one patch per instance among several systems' predictions, without the hidden tests.

    Writes OUT/predictions.jsonl (evaluate it with `harness eval`), OUT/choices.jsonl and a folder per
    instance with its choice, log and test runs. Resumable: a rerun skips instances already chosen."""
    from harness.ensemble import Ensemble, Settings, load_systems
    from harness.evaluation import Evaluator
    from harness.tasks import load_suite, prepare_tasks
    from harness.tasks._local import default_cache_dir

    systems, cands = load_systems(predictions)
    tasks = select_instances(load_suite(suite, repos=repos), instance)
    tasks = [t for t in tasks if t.instance_id in cands or instance]
    if selector != "votes":
        tasks = prepare_tasks(tasks, repos=repos, only={t.instance_id for t in tasks})
    settings = Settings(selector=selector, max_test_files=max_test_files, test_timeout=test_timeout)  # type: ignore[arg-type]

    with log_file(out / "harness.log", f"ensemble of {len(systems)} systems"), progress_bar() as bar:
        ens = Ensemble(
            settings,
            Evaluator(task_images(None, images, image_namespace, notify=bar.note), concurrency=concurrency),
            out,
            cache=cache or default_cache_dir() / "ensemble",
            concurrency=concurrency,
            progress=bar,
        )
        summary = asyncio.run(ens.run(tasks, systems, cands))
    for err in summary.errors:
        console.print(f"{err.instance_id}: error: {err.error}", markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"chose {summary.chosen}/{summary.instances} ({summary.reused} reused, {len(summary.errors)} errors, "
        f"{len(summary.no_candidates)} without candidates); predictions in {out / 'predictions.jsonl'}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    print_json(summary.model_dump())
    if summary.errors:
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.command("ensemble")(friendly_errors(ensemble_cmd))
