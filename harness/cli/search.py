"""``harness search``: compare search strategies at equal budget on a function suite."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from harness.cli._common import (
    STRATEGY_LIST,
    Budget,
    Int,
    KeyValue,
    ModelSpec,
    Number,
    OneOf,
    OutputDir,
    RunId,
    Url,
    console,
    friendly_errors,
    log_file,
    print_json,
    progress_bar,
    seconds,
)
from harness.cli._values import ClusterAddress, json_or_text, parse_settings
from harness.errors import ConfigError


def _check_overrides(names: list[str], overrides: dict[str, dict[str, Any]]) -> None:
    """Every ``--set`` names a strategy that runs, with settings its config takes. Checked before the run
    starts: a setting of a strategy not run was ignored, and a misspelt one failed the run in its first
    search, after the results folder was made."""
    from harness.search import make_strategy

    stray = sorted(set(overrides) - set(names))
    if stray:
        raise typer.BadParameter(
            f"{', '.join(stray)} is not among the strategies run ({', '.join(names)})", param_hint="'--set'"
        )
    for name, settings in overrides.items():
        try:
            make_strategy(name, **settings)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--set'") from exc


def _model_options(items: list[str]) -> dict[str, Any]:
    """``match=contains`` -> ``{"match": "contains"}`` (values parsed as JSON when they parse)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"bad --model-option {item!r}: use KEY=VALUE, e.g. match=contains")
        out[key.strip()] = json_or_text(raw)
    return out


def _make_model(
    spec: str, base_url: str | None, max_dollars: float | None = None, options: dict[str, Any] | None = None
) -> Any:
    """A model from the model layer's spec syntax (``openai:gpt-4o-mini``, ``anthropic:...``,
    ``vllm:...``, ``replay:FILE``), recording its spend under the ``search`` stage. ``max_dollars`` is a
    run-wide safety cap (the model layer's :class:`~harness.models.Budget`), on top of the per-search
    budgets that make the comparison fair. ``options`` go to ``load`` as they are (``--model-option``,
    e.g. ``match=contains`` for ``replay:`` with feedback-driven strategies)."""
    from harness.models import Budget, BudgetLimits, load

    kwargs: dict[str, Any] = {**(options or {}), "stage": "search"}
    if base_url is not None:
        kwargs["base_url"] = base_url
    if max_dollars is not None:
        kwargs["budget"] = Budget(BudgetLimits(cost_usd=max_dollars))
    return load(spec, **kwargs)


@asynccontextmanager
async def _executor(
    kind: str, timeout_s: float, concurrency: int, run_id: str, cluster: Any = None
) -> AsyncIterator[Any]:
    """``docker``: a pool of strict Docker sandboxes (one per concurrent search), labelled with the
    search's ``run_id`` as ``harness run`` labels its own, so ``harness sandbox gc --run-id`` collects
    what a killed search left; on the nodes of ``cluster`` (a ``harness.cluster.Cluster``) when given.
    ``local``: a plain subprocess (trusted code only)."""
    from harness.search import LocalExecutor, PoolExecutor

    if kind == "local":
        yield LocalExecutor(timeout_s=timeout_s, concurrency=concurrency)
        return
    if kind != "docker":
        raise ConfigError("--executor is docker or local")
    from harness.sandbox import SandboxPool

    factory = None if cluster is None else functools.partial(cluster.sandbox, run_id=run_id)
    async with SandboxPool(max_size=concurrency, run_id=run_id, factory=factory) as pool:
        yield PoolExecutor(pool, timeout_s=timeout_s)


def _visible_tests(suite: str, mode: str, task_ids: list[str]) -> dict[str, Any]:
    """``examples``: the docstring examples of the *original* HumanEval prompt of each task (public
    text; CodeT's prompts had them removed), else of the task's own prompt."""
    if mode != "examples":
        return {}
    from harness.search import docstring_tests
    from harness.tasks import load_function_suite

    prompts: dict[str, tuple[str, str]] = {}
    if suite == "humaneval":
        prompts = {t.task_id: (t.prompt, t.entry_point) for t in load_function_suite("humaneval-pypi")}
    out: dict[str, Any] = {}
    for tid in task_ids:
        if tid in prompts:
            out[tid] = docstring_tests(*prompts[tid])
    return {k: v for k, v in out.items() if v}


def register(app: typer.Typer) -> None:
    @app.command("search")
    @friendly_errors
    def search(
        model: Annotated[
            str, typer.Option(parser=ModelSpec(), help="Model spec, e.g. openai:gpt-4o-mini or replay:codet.")
        ],
        suite: Annotated[
            str,
            typer.Option(
                parser=OneOf(("humaneval", "humaneval-pypi", "mbpp")),
                help="humaneval | humaneval-pypi | mbpp",
            ),
        ] = "humaneval",
        strategies: Annotated[
            str,
            typer.Option(
                parser=STRATEGY_LIST,
                # Checked before the other options, so a misspelt strategy is the one named (as it was
                # when the body checked it first), whatever else is wrong.
                is_eager=True,
                help="Comma list: best_of_n,line,mcts,best_first,sfs",
            ),
        ] = ("best_of_n,line,mcts,best_first,sfs"),
        budget: Annotated[
            str,
            typer.Option(parser=Budget(), help="Per task: programs=10 | calls=30 | tokens=100000 | ..."),
        ] = ("programs=10"),
        seeds: Annotated[
            int,
            typer.Option(parser=Int(1, 1000), help="Paired seeds (every strategy sees the same seeds)."),
        ] = 1,
        limit_tasks: Annotated[
            int | None, typer.Option(parser=Int(1), help="Only the first N tasks.")
        ] = None,
        tasks: Annotated[str | None, typer.Option(help="Comma list of task ids.")] = None,
        allocation: Annotated[
            str,
            typer.Option(
                parser=OneOf(("uniform", "adaptive")), help="uniform | adaptive (also runs uniform)"
            ),
        ] = "uniform",
        visible: Annotated[
            str,
            typer.Option(
                parser=OneOf(("examples", "strategy")),
                help="examples (original prompt's examples) | strategy (its own tests setting)",
            ),
        ] = "examples",
        executor: Annotated[
            str,
            typer.Option(
                parser=OneOf(("docker", "local")), help="docker (sandbox) | local (trusted code only)"
            ),
        ] = "docker",
        timeout: Annotated[float, typer.Option(parser=seconds(), help="Seconds per visible test.")] = 3.0,
        concurrency: Annotated[
            int, typer.Option(parser=Int(1, 256), help="Units (searches) running at once.")
        ] = 4,
        base_url: Annotated[
            str | None, typer.Option(parser=Url(), help="OpenAI-compatible server, e.g. vllm serve.")
        ] = None,
        max_dollars: Annotated[
            float | None,
            typer.Option(
                parser=Number(0.0, min_open=True),
                help="Run-wide dollar cap (a safety net; searches hitting it stop).",
            ),
        ] = None,
        set_: Annotated[
            list[str] | None,
            typer.Option(
                "--set",
                parser=KeyValue(dotted=True, example="sfs.seeds=3"),
                help="STRATEGY.FIELD=VALUE, repeatable.",
            ),
        ] = None,
        model_option: Annotated[
            list[str] | None,
            typer.Option(
                "--model-option",
                parser=KeyValue(),
                help="KEY=VALUE for the model spec, repeatable; e.g. match=contains for replay:FILE.",
            ),
        ] = None,
        run_id: Annotated[str | None, typer.Option(parser=RunId(), help="Resume or name a run.")] = None,
        results_dir: Annotated[
            Path | None,
            typer.Option(parser=OutputDir("results folder"), help="Default: $HARNESS_RESULTS or results/"),
        ] = None,
        cluster: Annotated[
            str | None,
            typer.Option(
                parser=ClusterAddress(),
                help="With --executor docker: the sandboxes on the nodes of a Ray cluster (auto, or "
                "ray://HOST:PORT); model calls, budgets and results stay here. Needs the ray extra; see "
                "docs/cluster.md.",
            ),
        ] = None,
        plot: Annotated[bool, typer.Option(help="Write the budget-curve PNG.")] = True,
        as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    ) -> None:
        """Run every strategy on every task at the same budget with paired seeds; report pass@1 of the
        choice, oracle coverage and the spend to the first correct program, with budget curves."""
        from harness.search import BudgetLimits
        from harness.search._adaptive import AdaptiveConfig
        from harness.search._compare import CompareConfig
        from harness.store import check_run_id, default_results_dir, new_run_id
        from harness.tasks import load_function_suite

        if cluster is not None and executor != "docker":
            raise typer.BadParameter(
                "runs sandboxes on a cluster: use it with --executor docker", param_hint="'--cluster'"
            )
        names = [s.strip() for s in strategies.split(",") if s.strip()]
        overrides = parse_settings(set_ or [], example="sfs.seeds=3")
        _check_overrides(names, overrides)
        all_tasks = load_function_suite(suite)
        if tasks:
            wanted = {t.strip() for t in tasks.split(",") if t.strip()}
            missing = sorted(wanted - {t.task_id for t in all_tasks})
            if missing or not wanted:
                # Unknown ids were dropped without a word: a typo ran fewer tasks than asked.
                raise typer.BadParameter(
                    f"no such tasks in {suite}: {', '.join(missing) or repr(tasks)}", param_hint="'--tasks'"
                )
            all_tasks = [t for t in all_tasks if t.task_id in wanted]
        if limit_tasks is not None:
            all_tasks = all_tasks[:limit_tasks]
        if not all_tasks:
            raise ConfigError("no tasks selected")
        cfg = CompareConfig(
            suite=suite,
            model=model,
            strategies=names,
            budget=BudgetLimits.parse(budget),
            seeds=seeds,
            allocation="adaptive" if allocation == "adaptive" else "uniform",
            adaptive=AdaptiveConfig(),
            overrides=overrides,
            task_ids=[t.task_id for t in all_tasks],
        )
        from harness.search._run import run_comparison, show_summary

        model_options = _model_options(model_option or [])
        # Only passed when given, so a stand-in ``_make_model(spec, base_url, max_dollars)`` still fits.
        made = (
            _make_model(model, base_url, max_dollars, model_options)
            if model_options
            else _make_model(model, base_url, max_dollars)
        )
        rid = check_run_id(run_id or new_run_id("search"))
        console.print(f"run {rid} (a rerun with --run-id {rid} resumes it)", soft_wrap=True)
        extra: dict[str, Any] = {"visible": visible, "executor": executor, "timeout": timeout}
        if model_options:
            extra["model_options"] = model_options
        visible_tests = _visible_tests(suite, visible, cfg.task_ids)

        results = results_dir or default_results_dir()
        bar = progress_bar(not as_json)

        async def compare(on: Any = None) -> dict[str, Any]:
            try:
                return await run_comparison(
                    cfg,
                    all_tasks,
                    made,
                    lambda: _executor(executor, timeout, concurrency, rid, on),
                    visible=visible_tests,
                    results_dir=results,
                    run_id=rid,
                    extra_config=extra,
                    plot_png=plot,
                    concurrency=concurrency,
                    progress=bar,
                )
            finally:
                # The model's HTTP session and connections close on the loop that opened them (left to
                # the garbage collector, an SDK client warns, or worse, mid-parse: CPython gh-106905).
                close = getattr(made, "aclose", None)
                if close is not None:
                    await close()

        with log_file(results / rid / "harness.log", f"search run {rid}"), bar:
            if cluster is None:
                summary = asyncio.run(compare())
            else:
                from harness.cluster import run_on_cluster

                summary = run_on_cluster(cluster, compare, run_id=rid)
        if as_json:
            print_json(summary)
        else:
            show_summary(console, summary)
