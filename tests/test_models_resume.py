"""A 200-request batch killed halfway with SIGKILL and rerun: no request reaches the server twice.

The fake server answers 100 requests, then holds every later one unanswered. Once the client's cache
holds those 100 answers, the client process is killed with SIGKILL; the held connections are closed
unanswered and the batch is run again in a new process, against the same cache file.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.models.testing import FakeProvider

CLIENT = """
import asyncio, json, sys
from harness.models import Message, RetryPolicy, load

async def main() -> None:
    url, cache, out = sys.argv[1:4]
    m = load("openai:gpt-4o-mini", base_url=url, cache_path=cache, max_concurrency=8,
             retry=RetryPolicy(backoff_base=0.01, backoff_max=0.05))
    prompts = [f"request {i:03d}" for i in range(200)]
    results = await asyncio.gather(
        *(m.sample([Message(role="user", content=p)], seed=i) for i, p in enumerate(prompts)))
    total = m.meter.total
    with open(out, "w") as fh:
        json.dump({"texts": [r[0].text for r in results], "requests": total.requests,
                   "cached": total.cached_completions, "paid": total.paid_usd,
                   "dollars": total.cost_usd}, fh)
    await m.aclose()

asyncio.run(main())
"""


def _rows(cache: Path) -> int:
    if not cache.exists():
        return 0
    try:
        with sqlite3.connect(cache, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # the table is not created yet


def _wait_for(condition: Callable[[], bool], what: str, limit: float = 180.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def test_killed_batch_reruns_without_a_duplicate_request(tmp_path: Path) -> None:
    script, cache, out = tmp_path / "client.py", tmp_path / "responses.sqlite", tmp_path / "out.json"
    script.write_text(CLIENT)
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    with FakeProvider() as server:
        server.hold_after(100)
        cmd = [sys.executable, str(script), server.openai_base_url, str(cache), str(out)]
        victim = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_for(lambda: server.stats.answered == 100 and server.stats.held > 0, "100 answers")
            _wait_for(lambda: _rows(cache) == 100, "100 committed cache rows")
        finally:
            victim.send_signal(signal.SIGKILL)
            victim.wait()
        assert victim.returncode == -signal.SIGKILL and not out.exists()
        server.drop_held()

        rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        stats = server.stats

    prompts = [f"request {i:03d}" for i in range(200)]
    assert stats.answered == 200
    assert stats.answered_by_prompt == dict.fromkeys(prompts, 1)  # no prompt answered twice
    result = json.loads(out.read_text())
    expected = [
        f"answer {hashlib.sha256(p.encode()).hexdigest()[:10]} s{i} choice 0" for i, p in enumerate(prompts)
    ]
    assert result["texts"] == expected  # nothing lost, in order
    assert result["requests"] == 100 and result["cached"] == 100
    assert 0 < result["paid"] < result["dollars"]
