"""``harness tasks validate SUITE`` and ``harness eval PREDICTIONS --suite SUITE``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from harness.cli._common import (
    ImageRef,
    InputFile,
    Int,
    OutputDir,
    console,
    friendly_errors,
    log_file,
    print_json,
    progress_bar,
    seconds,
)
from harness.cli._suites import IMAGES, NAMESPACE, REPOS, select_instances, task_images
from harness.cli._values import ClusterAddress, ImageNamespace

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from harness.cluster import Cluster
    from harness.evaluation import Evaluator, SystemsRun
    from harness.tasks import RepoTask

tasks_app = typer.Typer(help="Repository task suites: validate them.", no_args_is_help=True)

_BASE = typer.Option(
    None,
    "--base-image",
    parser=ImageRef(),
    help="Base image of task images (default: the sandbox's Python image).",
)
# Each instance is a Docker container of its own: more than 64 at once is a typo, not a plan.
_CONC = typer.Option(2, "--concurrency", "-j", parser=Int(1, 64), help="Instances evaluated at a time.")
_SUITE = InputFile("suite", dirs=True)
_CLUSTER = typer.Option(
    None,
    "--cluster",
    parser=ClusterAddress(),
    help="Run the evaluation containers on the nodes of a Ray cluster (auto, or ray://HOST:PORT); "
    "images, reports and the summary stay here. Needs the ray extra; see docs/cluster.md.",
)
_RETRIES = typer.Option(
    2,
    "--retries",
    parser=Int(0, 10),
    help="With --cluster: how many more times an instance whose sandbox or image step failed (a lost "
    "node) is evaluated, on the other nodes; the summary's retried counts them.",
)
_REGISTRY = typer.Option(
    None,
    "--registry",
    parser=ImageNamespace(),
    help="With --cluster: a Docker registry, HOST:PORT or HOST:PORT/NAMESPACE; instance images are "
    "built here, pushed there and pulled by the nodes that lack them (default: each node builds them).",
)
_EVAL_NET = typer.Option(
    False,
    "--eval-network",
    help="Give evaluation containers network (requests' tests call httpbin.org); off by default.",
)


@tasks_app.command("validate")
@friendly_errors
def validate(
    suite: Path = typer.Argument(
        ..., parser=_SUITE, help="A folder of local tasks or a SWE-bench parquet/JSON/JSONL file."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        parser=OutputDir("--out folder"),
        help="Where reports and logs go (default: none kept).",
    ),
    instance: list[str] = typer.Option([], "--instance", "-i", help="Only these instance ids."),
    base_image: str | None = _BASE,
    concurrency: int = _CONC,
    json_out: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
    repos: Path | None = REPOS,
    eval_network: bool = _EVAL_NET,
    images: str = IMAGES,
    image_namespace: str = NAMESPACE,
) -> None:
    """Check that every gold patch resolves its task and the empty patch resolves none.

    SWE-bench records get their environments from swebench's specs; an instance this machine cannot
    build (``unsupported: needs Python 3.7``) is reported as such and not evaluated."""
    from rich.table import Table

    from harness.evaluation import Evaluator, validate_tasks
    from harness.tasks import load_suite, prepare_tasks

    tasks = select_instances(load_suite(suite, repos=repos), instance)
    tasks = prepare_tasks(tasks, repos=repos, eval_network=eval_network)
    unsupported = {t.instance_id: t.environment.unsupported for t in tasks if t.environment.unsupported}
    runnable = [t for t in tasks if t.instance_id not in unsupported]
    with log_file(_log_path(out, "tasks-validate"), f"tasks validate {suite}"), progress_bar() as bar:
        evaluator = Evaluator(
            task_images(base_image, images, image_namespace, notify=bar.note), concurrency=concurrency
        )
        rows = asyncio.run(validate_tasks(runnable, evaluator, out, bar)) if runnable else []
    if json_out:
        print_json(
            [{**r.model_dump(), "ok": r.ok} for r in rows]
            + [
                {
                    "instance_id": i,
                    "gold": "unsupported",
                    "empty": "unsupported",
                    "problems": [why],
                    "ok": None,
                    "unsupported": why,
                }
                for i, why in unsupported.items()
            ]
        )
    title = f"{suite}: {sum(r.ok for r in rows)}/{len(rows)} tasks valid"
    table = Table()
    for col in ("instance", "gold", "empty", "build", "eval", "problems"):
        table.add_column(col)
    for r in rows:
        style = None if r.ok else "red"
        table.add_row(
            r.instance_id,
            r.gold,
            r.empty,
            r.build,
            f"{r.eval_s:.0f}s",
            "; ".join(r.problems) or "ok",
            style=style,
        )
    for i, why in unsupported.items():
        table.add_row(i, "-", "-", "-", "-", why, style="yellow")
    console.print(table)
    # Below the table, on one line: a title over a table this wide would wrap.
    title += f", {len(unsupported)} unsupported" if unsupported else ""
    console.print(title, markup=False, highlight=False, soft_wrap=True)
    if not all(r.ok for r in rows):
        raise typer.Exit(1)


def eval_cmd(
    predictions: list[Path] = typer.Argument(
        ...,
        parser=InputFile("predictions file", dirs=True),
        help="predictions.jsonl: instance_id, model_name_or_path, model_patch. Several files, or a folder "
        "of *.jsonl, evaluate many systems at once (OUT/<system>/..., OUT/systems.json).",
    ),
    suite: Path = typer.Option(
        ..., "--suite", parser=_SUITE, help="A folder of local tasks or a SWE-bench file."
    ),
    out: Path = typer.Option(
        Path("eval"),
        "--out",
        parser=OutputDir("--out folder"),
        help="Reports go to OUT/<instance_id>/report.json, the command's log to OUT/harness.log.",
    ),
    base_image: str | None = _BASE,
    concurrency: int = _CONC,
    test_timeout: float = typer.Option(
        900.0, "--test-timeout", parser=seconds(), help="Seconds for one test run."
    ),
    repos: Path | None = REPOS,
    eval_network: bool = _EVAL_NET,
    images: str = IMAGES,
    image_namespace: str = NAMESPACE,
    cluster: str | None = _CLUSTER,
    retries: int = _RETRIES,
    registry: str | None = _REGISTRY,
    instance: list[str] = typer.Option(
        [], "--instance", "-i", help="Only these instance ids (predictions of others are skipped)."
    ),
    local_repos_only: bool = typer.Option(
        False,
        "--local-repos-only",
        help="Only instances whose repository is on this machine (--repos, or a local task); "
        "predictions of others are skipped.",
    ),
) -> None:
    """Evaluate predictions on a suite, SWE-bench style. Resumable: an instance is evaluated again only
    when its patch or its environment changed. Several predictions files (or a folder of them) are
    several systems: identical patches are evaluated once (docs/swebench.md, Many systems)."""
    from harness.evaluation import Evaluator, failures, load_predictions
    from harness.tasks import load_suite, prepare_tasks

    tasks = load_suite(suite, repos=repos)
    if instance or local_repos_only:
        tasks = select_instances(tasks, instance)
        if local_repos_only:
            tasks = [t for t in tasks if t.source is not None and t.source.kind == "path"]
    if len(predictions) > 1 or predictions[0].is_dir():
        _eval_systems(
            predictions,
            tasks,
            out,
            repos,
            eval_network,
            cluster,
            filtered=bool(instance or local_repos_only),
            evaluator_args=(base_image, images, image_namespace, concurrency, test_timeout),
            on_cluster=(retries, registry),
        )
        return
    preds = load_predictions(predictions[0])
    if instance or local_repos_only:
        kept = {t.instance_id for t in tasks}
        preds = [p for p in preds if p.instance_id in kept]
    # Only the predicted instances get environments: reading a spec's requirements may need GitHub.
    tasks = prepare_tasks(tasks, repos=repos, eval_network=eval_network, only={p.instance_id for p in preds})
    with log_file(_log_path(out, "eval"), f"eval {predictions[0]} into {out}"), progress_bar() as bar:
        evaluator = Evaluator(
            task_images(base_image, images, image_namespace, notify=bar.note),
            concurrency=concurrency,
            test_timeout=test_timeout,
        )
        if cluster is None:
            summary = asyncio.run(evaluator.run_predictions(tasks, preds, out, bar))
        else:
            from harness.cluster import run_on_cluster

            def on(c: Cluster) -> Awaitable[dict[str, object]]:
                _to_cluster(c, evaluator, registry, retries, (base_image, images, image_namespace, bar.note))
                return evaluator.run_predictions(tasks, preds, out, bar)

            summary = run_on_cluster(cluster, on)
    # One line per instance swebench counts as an error, with its cause and log, before the totals.
    for line in failures(evaluator.reports):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"resolved {summary['resolved_instances']}/{summary['submitted_instances']} "
        f"(patch failed {summary['patch_failed_instances']}, empty {summary['empty_patch_instances']}, "
        f"errors {summary['infra_error_instances']}, unsupported {summary['unsupported_instances']}); "
        f"reports in {out}"
    )
    print_json(summary)
    if summary["infra_error_instances"]:
        raise typer.Exit(3)


def _eval_systems(
    paths: list[Path],
    tasks: list[RepoTask],
    out: Path,
    repos: Path | None,
    eval_network: bool,
    cluster: str | None,
    *,
    filtered: bool,
    evaluator_args: tuple[str | None, str, str, int, float],
    on_cluster: tuple[int, str | None] = (0, None),
) -> None:
    """``harness eval A.jsonl B.jsonl ...`` or ``harness eval FOLDER``: many systems, one evaluation."""
    from harness.evaluation import Evaluator, failures, load_systems, run_systems
    from harness.tasks import prepare_tasks

    systems = load_systems(paths)
    if filtered:
        kept = {t.instance_id for t in tasks}
        systems = [(s, [p for p in preds if p.instance_id in kept]) for s, preds in systems]
    wanted = {p.instance_id for _, preds in systems for p in preds}
    tasks = prepare_tasks(tasks, repos=repos, eval_network=eval_network, only=wanted)
    base_image, images, namespace, concurrency, test_timeout = evaluator_args

    def notify(line: str) -> None:
        console.print(line, markup=False, highlight=False, soft_wrap=True)

    names = ", ".join(s.name for s, _ in systems)
    notify(f"{len(systems)} systems ({names}) on {len(wanted)} instances")
    what = f"eval of {len(systems)} systems ({names}) into {out}"
    with log_file(_log_path(out, "eval"), what), progress_bar() as bar:
        evaluator = Evaluator(
            task_images(base_image, images, namespace, notify=bar.note),
            concurrency=concurrency,
            test_timeout=test_timeout,
        )
        if cluster is None:
            run = asyncio.run(run_systems(evaluator, tasks, systems, out, progress=bar))
        else:
            from harness.cluster import run_on_cluster

            def on(c: Cluster) -> Awaitable[SystemsRun]:
                _to_cluster(
                    c, evaluator, on_cluster[1], on_cluster[0], (base_image, images, namespace, bar.note)
                )
                return run_systems(evaluator, tasks, systems, out, progress=bar)

            run = run_on_cluster(cluster, on)
    if (
        cluster is not None and evaluator.retried
    ):  # evaluations tried again after their sandbox failed (a lost node)
        notify(f"retried: {json.dumps(dict(sorted(evaluator.retried.items())))}")
    result = run.evaluation
    infra = 0
    for system, _ in systems:
        # One line per instance swebench counts as an error, with its cause and log, before the totals.
        for line in failures(run.reports[system.name]):
            notify(f"{system.name}: {line}")
    for system, _ in systems:
        cells = result.cells[system.name]
        resolved = sum(c.resolved for c in cells.values())
        errors = sum(c.outcome == "error" for c in cells.values())
        infra += errors
        notify(f"{system.name}: resolved {resolved}/{len(cells)} (infrastructure errors {errors})")
    notify(
        f"{result.pairs} predictions, {result.evaluations} distinct patches ({result.shared} predictions "
        f"share another system's evaluation); reports in {out}/<system>/, combined in {out}/systems.json"
    )
    if infra:
        raise typer.Exit(3)


def _to_cluster(
    c: Cluster,
    evaluator: Evaluator,
    registry: str | None,
    retries: int,
    image_args: tuple[str | None, str, str, Callable[[str], None]],
) -> None:
    """Evaluate in containers on the nodes of ``c``, trying an instance whose sandbox failed (a lost
    node) ``retries`` more times. With ``registry`` the images are built here and pulled there; else
    each node builds the image of the recipe the evaluator names (``image_args``: :func:`_images`'s)."""
    from harness.cluster import RecipeImages, Registry

    pushing = None if registry is None else Registry(registry)
    if pushing is None:
        evaluator.images = task_images(*image_args, RecipeImages)
    on_nodes = evaluator.images if isinstance(evaluator.images, RecipeImages) else None
    evaluator.sandbox_factory, evaluator.retries = c.eval_sandboxes(pushing, on_nodes), retries


def _log_path(out: Path | None, command: str) -> Path:
    """``OUT/harness.log``, or ``$HARNESS_CACHE_DIR/logs/<command>.log`` (appended) without one (``tasks
    validate``). ``eval``'s ``OUT/harness.log`` sits beside SWE-bench's layout (reports, ``summary.json``),
    which nothing reading the folder lists; each instance's story is its ``run_instance.log``."""
    if out is not None:
        return out / "harness.log"
    from harness.tasks._loaders import cache_dir

    return cache_dir() / "logs" / f"{command}.log"


def register(app: typer.Typer) -> None:
    app.add_typer(tasks_app, name="tasks")
    app.command("eval")(friendly_errors(eval_cmd))
