"""``harness select``: the offline selection experiment on a suite's candidate and test pools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli._common import (
    SEED,
    SELECTOR_LIST,
    InputFile,
    Int,
    KeyValue,
    OneOf,
    OutputDir,
    RunId,
    console,
    friendly_errors,
    log_file,
    print_json,
    progress_bar,
    seconds,
)
from harness.cli._values import ClusterAddress, parse_settings
from harness.errors import ConfigError


def parse_strategies(text: str) -> list[str]:
    """A comma list of selectors (``name`` or ``name:label``); ``all`` is every registered selector."""
    from harness.selection import SELECTORS

    names = [s.strip() for s in text.split(",") if s.strip()]
    if names == ["all"]:
        return list(SELECTORS)
    unknown = [n for n in names if n.split(":", 1)[0] not in SELECTORS]
    if unknown or not names:
        raise ConfigError(f"unknown strategies {unknown}; choose from all, {', '.join(SELECTORS)}")
    return names


def check_params(names: list[str], params: dict[str, dict[str, Any]]) -> None:
    """Every ``--set`` names a chosen strategy (or its selector) and fits that selector's parameters.
    Checked before any matrix is built: a parameter of a strategy not run was ignored, and a misspelt
    field failed the run only after its matrices were built."""
    from harness.selection.selectors import SELECTORS, validate_params

    selectors = {n.split(":", 1)[0] for n in names}
    stray = sorted(set(params) - set(names) - selectors)
    if stray:
        raise typer.BadParameter(
            f"{', '.join(stray)} is not among the strategies run ({', '.join(names)})", param_hint="'--set'"
        )
    for name in names:
        selector = name.split(":", 1)[0]
        chosen = dict(params.get(name, params.get(selector, {})))
        if "seed" in SELECTORS[selector].params.model_fields:
            chosen.setdefault("seed", 0)  # the run's seed, as the experiment gives it
        try:
            validate_params(selector, chosen)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--set'") from exc


def seeds_of(seed: int | None, seeds: int | None) -> list[int]:
    if seed is not None and seeds is not None:
        raise ConfigError("pass --seed S (one seed) or --seeds K (seeds 0..K-1), not both")
    if seeds is not None:
        if seeds < 1:
            raise ConfigError("--seeds must be at least 1")
        return list(range(seeds))
    return [seed if seed is not None else 0]


def register(app: typer.Typer) -> None:
    @app.command("select")
    @friendly_errors
    def select(
        pool_solutions: Annotated[
            Path,
            typer.Option(
                parser=InputFile("pool file"),
                help="Solution samples: CodeT's JSONL (prompt, samples) or our pool JSONL.",
            ),
        ],
        pool_tests: Annotated[
            Path, typer.Option(parser=InputFile("pool file"), help="Test-generation samples, same formats.")
        ],
        suite: Annotated[
            str, typer.Option(parser=OneOf(("humaneval", "mbpp")), help="humaneval | mbpp")
        ] = "humaneval",
        strategies: Annotated[
            str,
            typer.Option(parser=SELECTOR_LIST, help="Comma list of selectors (name or name:label), or all."),
        ] = "all",
        protocol: Annotated[
            str,
            typer.Option(
                parser=OneOf(("codet", "b4", "both")), help="codet | b4 | both (every figure is labelled)"
            ),
        ] = "both",
        test_limit: Annotated[
            int, typer.Option(parser=Int(0), help="First K tests per test sample (CodeT: 5; 0 keeps all).")
        ] = 5,
        n_samples: Annotated[
            int | None, typer.Option(parser=Int(1), help="Pool-size study: subsample N samples per task.")
        ] = None,
        seed: Annotated[
            int | None, typer.Option(parser=SEED, help="One seed for subsampling and random selectors.")
        ] = None,
        seeds: Annotated[
            int | None, typer.Option(parser=Int(1, 1000), help="Average over seeds 0..K-1 (mean ± std).")
        ] = None,
        limit_tasks: Annotated[
            int | None, typer.Option(parser=Int(1), help="Only the first N tasks of the pool.")
        ] = None,
        mode: Annotated[
            str,
            typer.Option(
                parser=OneOf(("isolated", "faithful")),
                help="isolated (a bad test costs its own cell) | faithful (as CodeT's code)",
            ),
        ] = "isolated",
        timeout: Annotated[
            float | None,
            typer.Option(parser=seconds(), help="Seconds per test (default: the engine's, 0.1 as CodeT)."),
        ] = None,
        chunk: Annotated[
            int,
            typer.Option(
                parser=Int(1, 64),
                help="Candidates per forked child. 1 (default): each has a process and a uid of its own, "
                "so none can touch another's cells. Above 1 is about 1.7x faster on the full HumanEval "
                "pools, for trusted pools only: a hostile candidate can forge the rows of those after it "
                "in its child (docs/security.md).",
            ),
        ] = 1,
        clock: Annotated[
            str,
            typer.Option(
                parser=OneOf(("wall", "cpu")),
                help="What the per-test timeout measures: wall (default, as CodeT's executor) or cpu "
                "(the test's own CPU time: the same cells on a busy machine; isolated mode).",
            ),
        ] = "wall",
        extraction: Annotated[
            str,
            typer.Option(
                parser=OneOf(("auto", "codet", "program")),
                help="How solution samples become programs. auto (default): a sample that defines the "
                "entry point runs as written, others are completions cut as CodeT does; codet: every "
                "sample a completion; program: every sample a whole program.",
            ),
        ] = "auto",
        no_curves: Annotated[
            bool,
            typer.Option("--no-curves", help="Skip the pool-size curves (selected pass@1 at k samples)."),
        ] = False,
        set_: Annotated[
            list[str] | None,
            typer.Option(
                "--set",
                parser=KeyValue(dotted=True, example="b4.beta0=1e4"),
                help="STRATEGY.FIELD=VALUE selector parameter, repeatable.",
            ),
        ] = None,
        run_id: Annotated[
            str | None, typer.Option(parser=RunId(), help="Name a run, or resume it (reuses its matrices).")
        ] = None,
        results_dir: Annotated[
            Path | None,
            typer.Option(parser=OutputDir("results folder"), help="Default: $HARNESS_RESULTS or results/"),
        ] = None,
        cache_dir: Annotated[
            Path | None,
            typer.Option(
                parser=OutputDir("cache folder"),
                help="Engine cache by content hash (default: $HARNESS_CACHE_DIR/selection).",
            ),
        ] = None,
        cluster: Annotated[
            str | None,
            typer.Option(
                parser=ClusterAddress(),
                help="Run the engine's lanes on the nodes of a Ray cluster (auto, or ray://HOST:PORT); "
                "results, cache and artefacts stay here. Needs the ray extra; see docs/cluster.md.",
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    ) -> None:
        """Build the pass matrix of every task (candidates x generated tests, in the sandbox), rank the
        candidates with each selector and print pass@1 under CodeT's and B4's protocols, with oracle."""
        from harness.selection.run import SelectConfig, file_digest, import_pool_file, run_select
        from harness.store import check_run_id, default_results_dir, new_run_id
        from harness.tasks import load_function_suite
        from harness.tasks._loaders import cache_dir as harness_cache_dir

        names = parse_strategies(strategies)
        params = parse_settings(set_ or [], example="b4.beta0=1e4")
        check_params(names, params)
        run_seeds = seeds_of(seed, seeds)
        suite_tasks = load_function_suite(suite)
        sol_path, test_path = pool_solutions.resolve(), pool_tests.resolve()
        imported = (
            import_pool_file(sol_path, "solutions", suite_tasks),
            import_pool_file(test_path, "tests", suite_tasks),
        )
        for item in imported:  # what was read and skipped, on stderr (with --json too)
            for line in item.report.lines():
                console.print(line, markup=False, highlight=False, soft_wrap=True)
        pools = (imported[0].pool, imported[1].pool)
        cfg = SelectConfig.model_validate(
            {
                "suite": suite,
                "pool_solutions": str(sol_path),
                "pool_tests": str(test_path),
                "pool_digests": {"solutions": file_digest(sol_path), "tests": file_digest(test_path)},
                "strategies": names,
                "params": params,
                "protocol": protocol,
                "test_limit": test_limit or None,
                "n_samples": n_samples,
                "seeds": run_seeds,
                "limit_tasks": limit_tasks,
                "mode": mode,
                "timeout_s": timeout,
                "extraction": extraction,
                "chunk": chunk,
                "clock": clock,
                "cluster": cluster,
            }
        )
        results, rid = results_dir or default_results_dir(), check_run_id(run_id or new_run_id("select"))
        # On stderr, with --json too: stdout keeps the one JSON object of --json.
        with log_file(results / rid / "harness.log", f"select run {rid}"), progress_bar() as progress:
            report = run_select(
                cfg,
                suite_tasks,
                pools,
                results_dir=results,
                run_id=rid,
                progress=progress,
                cache=cache_dir or harness_cache_dir() / "selection",
                curves=not no_curves,
            )
        if as_json:
            print_json({k: v for k, v in report.summary.items() if k != "rows"})
            return
        from rich.console import Console

        table = report.result.table()
        s = report.summary
        table.title = f"{s['suite']} · {s['n_tasks']} tasks · {s['mode']} · {table.title}"
        out = Console()
        if not out.is_terminal:  # piped (e.g. scripts/main.sh | tee): do not wrap the table at 80 columns
            out = Console(width=max(out.width, 110))
        out.print(table)
        reused = " (resumed: table reprinted)" if s.get("resumed") and s["matrices_built"] == 0 else ""
        console.print(
            f"matrices: {s['matrices_built']} built, {s.get('matrices_cached', 0)} from the engine's cache, "
            f"{s['matrices_reused']} reused from the run folder",
            highlight=False,
        )
        console.print(f"results: {report.run_dir}{reused}")
