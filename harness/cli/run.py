"""``harness run CONFIG``: the repository-task pipeline over a suite, resumable by run id."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli._common import (
    InputFile,
    OutputDir,
    RunId,
    console,
    friendly_errors,
    log_file,
    print_json,
    progress_bar,
)
from harness.cli._values import ClusterAddress, ImageNamespace


def register(app: typer.Typer) -> None:
    @app.command("run")
    @friendly_errors
    def run(
        config: Annotated[
            Path,
            typer.Argument(
                parser=InputFile("config"), help="A YAML or JSON pipeline config (docs/pipeline.md)."
            ),
        ],
        run_id: Annotated[
            str | None,
            typer.Option(parser=RunId(), help="Name the run; rerunning an existing id resumes it."),
        ] = None,
        results_dir: Annotated[
            Path | None,
            typer.Option(
                "--results", parser=OutputDir("results folder"), help="Default: $HARNESS_RESULTS or results/"
            ),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the summary as one JSON object.")
        ] = False,
        cluster: Annotated[
            str | None,
            typer.Option(
                parser=ClusterAddress(),
                help="Run every sandbox on the nodes of a Ray cluster (auto, or ray://HOST:PORT; overrides "
                "the config's cluster); models, budgets, the cache and the results stay here. Needs the "
                "ray extra; see docs/cluster.md.",
            ),
        ] = None,
        registry: Annotated[
            str | None,
            typer.Option(
                parser=ImageNamespace(),
                help="With --cluster: a Docker registry, HOST:PORT or HOST:PORT/NAMESPACE; images are "
                "built here, pushed there and pulled by the nodes (overrides the config's registry). "
                "Default: each node builds them.",
            ),
        ] = None,
    ) -> None:
        """Context, N testing+editing trajectories per task, voting/B4, selection, hidden-test evaluation."""
        from harness.pipeline._config import load_config
        from harness.pipeline._main import run_pipeline
        from harness.store import check_run_id, default_results_dir, new_run_id

        cfg, base = load_config(config)
        rid = check_run_id(run_id or new_run_id("pipeline"))
        console.print(f"run {rid}")
        results = results_dir or default_results_dir()
        with log_file(results / rid / "harness.log", f"run {rid}"), progress_bar(not as_json) as progress:
            data = run_pipeline(
                cfg,
                base,
                results_dir=results,
                run_id=rid,
                progress=progress,
                cluster=cluster,
                registry=registry,
            )
        if as_json:
            print_json(data)
            return
        for t in data["tasks"]:
            console.print(
                f"{t['task_id']:<28} resolved {t['resolved']:.0f}  oracle {t['oracle']}  "
                f"random {t['random_pick'] if t['random_pick'] is not None else '-'}  "
                f"${t['cost_usd']:.4f}  {t['time_s']:.1f}s"
            )
        for s in data["stages"]:
            console.print(
                f"  stage {s['stage']:<11} calls {s['calls']:>4}  tokens {s['input_tokens']}/{s['output_tokens']}"
                f"  ${s['cost_usd']:.4f}  {s['time_s']:.1f}s"
            )
        console.print(
            f"resolved {data['resolved']:.0f}/{data['n_tasks']}  oracle {data['oracle']:.2f}  "
            f"random {data['random_pick']:.2f}  ${data['cost_usd']:.4f}  results: {data['run_dir']}"
        )
