"""``harness sample`` against the fake server: JSON output, the cache across invocations, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.models.testing import FakeProvider

runner = CliRunner()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeProvider]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    with FakeProvider() as srv:
        yield srv


def test_sample_json_has_completions_usage_and_cost(server: FakeProvider) -> None:
    args = ["sample", "--model", "openai:gpt-4o-mini", "--base-url", server.openai_base_url]
    result = runner.invoke(app, [*args, "--prompt", "say hi", "--n", "3", "--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(out["completions"]) == 3
    for c in out["completions"]:
        assert set(c) >= {"text", "finish_reason", "usage", "cost_usd"} and c["text"].startswith("answer ")
    assert out["usage"]["output_tokens"] == 15 and out["usage"]["input_tokens"] == 5
    assert (
        out["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in out["completions"]))
        and out["cost_usd"] > 0
    )

    again = json.loads(
        runner.invoke(app, [*args, "--prompt", "say hi", "--n", "3", "--seed", "1", "--json"]).stdout
    )
    assert server.stats.received == 1 and again["requests"] == 0  # served from the cache
    assert all(c["cached"] for c in again["completions"])
    runner.invoke(app, [*args, "--prompt", "say hi", "--n", "3", "--seed", "1", "--no-cache", "--json"])
    assert server.stats.received == 2


def test_sample_reads_a_messages_file(server: FakeProvider, tmp_path: Path) -> None:
    f = tmp_path / "chat.json"
    f.write_text(json.dumps([{"role": "system", "content": "terse"}, {"role": "user", "content": "go"}]))
    args = ["sample", "-m", "openai:gpt-4o-mini", "--base-url", server.openai_base_url, "--messages", str(f)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("answer ")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-m", "nope:x", "--prompt", "hi"], "unknown model spec"),
        (["-m", "scripted", "--prompt", "hi", "--messages", "x.json"], "exactly one of --prompt"),
        (["-m", "vllm:/m", "--base-url", "http://x", "--prompt", "hi"], "--base-url works with"),
    ],
)
def test_sample_errors_are_friendly(args: list[str], needle: str) -> None:
    result = runner.invoke(app, ["sample", *args])
    assert result.exit_code == 2
    assert needle in " ".join(result.output.split())
