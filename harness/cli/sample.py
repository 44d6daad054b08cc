"""``harness sample``: ask any model spec for completions, through the same wrapper runs use."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from pydantic_core import PydanticCustomError

from harness.cli._common import SEED, InputFile, Int, ModelSpec, Number, Url, friendly_errors, print_json
from harness.errors import ConfigError


def _read_messages(path: Path) -> list[Any]:
    """A JSON list of ``{"role", "content"}`` objects, or JSONL with one message a line."""
    from harness.models import Message

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read --messages {path}: {exc}") from exc
    try:
        data = (
            json.loads(text)
            if text.lstrip().startswith("[")
            else [json.loads(x) for x in text.splitlines() if x.strip()]
        )
        chat = [Message.model_validate(m) for m in data]
    except ValueError as exc:
        raise ConfigError(
            f"--messages {path}: expected a JSON list (or JSONL) of {{'role', 'content'}} objects: {exc}"
        ) from exc
    if not chat:  # `[]` or blank lines: the model would be sent an empty conversation
        raise ConfigError(f"--messages {path} holds no messages")
    return chat


_MESSAGES_FILE = InputFile("--messages file")


def _messages_file(ctx: typer.Context, value: Path | None) -> Path | None:
    """``--messages``: an existing, non-empty file, and never together with ``--prompt`` (said first, so
    that mistake is named rather than the file)."""
    if value is None:
        return None
    if ctx.params.get("prompt") is not None:
        raise typer.BadParameter("give exactly one of --prompt TEXT or --messages FILE")
    try:
        return _MESSAGES_FILE(value)
    except PydanticCustomError as exc:
        raise typer.BadParameter(exc.message()) from exc


def sample(
    model: str = typer.Option(
        ..., "--model", "-m", parser=ModelSpec(), help="Model spec, e.g. openai:gpt-4o-mini, vllm:/path."
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", parser=Url(), help="An OpenAI-compatible server (vllm serve)."
    ),
    prompt: str | None = typer.Option(None, "--prompt", "-p", help="One user message."),
    messages: Path | None = typer.Option(
        None, "--messages", callback=_messages_file, help="A JSON/JSONL file of chat messages."
    ),
    system: str | None = typer.Option(None, "--system", help="A system message before --prompt."),
    n: int = typer.Option(1, "--n", parser=Int(1, 10_000), help="Completions to sample."),
    temperature: float = typer.Option(
        1.0, "--temperature", parser=Number(0.0, 2.0), help="0..2 (OpenAI's range; Anthropic takes 0..1)."
    ),
    top_p: float = typer.Option(
        1.0, "--top-p", parser=Number(0.0, 1.0, min_open=True), help="Nucleus sampling mass, in (0, 1]."
    ),
    max_tokens: int = typer.Option(1024, "--max-tokens", parser=Int(1, 10_000_000)),
    stop: list[str] | None = typer.Option(None, "--stop", help="A stop string (repeatable)."),
    seed: int | None = typer.Option(None, "--seed", parser=SEED),
    logprobs: bool = typer.Option(False, "--logprobs", help="Ask for per-token log-probabilities."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Bypass the response cache."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Sample completions from a model and print them with their usage and cost."""
    from harness.models import Message, Usage, load

    if (prompt is None) == (messages is None):
        raise ConfigError("give exactly one of --prompt TEXT or --messages FILE")
    if messages is not None:
        chat = _read_messages(messages)
    else:
        chat = ([Message(role="system", content=system)] if system else []) + [
            Message(role="user", content=prompt or "")
        ]
    options: dict[str, Any] = {}
    if base_url:
        if not model.startswith(("openai:", "anthropic:")):
            raise ConfigError("--base-url works with openai: and anthropic: specs")
        options["base_url"] = base_url
    if no_cache:
        options["cache"] = False
    llm = load(model, **options)

    async def run() -> list[Any]:
        try:
            return await llm.sample(
                chat,
                n=n,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
                stop=stop or None,
                seed=seed,
                logprobs=logprobs,
            )
        finally:
            await llm.aclose()

    completions = asyncio.run(run())
    total = llm.meter.total
    usage = sum((c.usage for c in completions), Usage())
    if as_json:
        print_json(
            {
                "model": llm.name,
                "completions": [
                    c.model_dump(include={"text", "finish_reason", "usage", "cost_usd", "logprobs", "cached"})
                    for c in completions
                ],
                "usage": usage.model_dump(),
                "cost_usd": round(total.cost_usd, 8),
                "requests": total.requests,
            }
        )
        return
    for i, c in enumerate(completions):
        if len(completions) > 1:
            typer.echo(f"--- completion {i} ({c.finish_reason}{', cached' if c.cached else ''})")
        typer.echo(c.text)
    u = usage
    typer.secho(
        f"[{llm.name}] input {u.input_tokens} (+{u.cache_read_tokens} cache read, {u.cache_write_tokens} "
        f"cache write), output {u.output_tokens} tokens; ${total.cost_usd:.6f}; {total.requests} requests",
        err=True,
        dim=True,
    )


def register(app: typer.Typer) -> None:
    app.command("sample")(friendly_errors(sample))
