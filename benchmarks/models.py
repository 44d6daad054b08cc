"""Model-layer overhead and throughput against the fake OpenAI server, with the raw SDK as baseline.

    .venv/bin/python benchmarks/models.py [--json] [--requests 2000] [--concurrency 64] [--rounds 3]

The fake server (``python -m harness.models.testing``) runs in its own process on 127.0.0.1. In the
same run, interleaved in rounds so that load from other processes hits every variant alike:

* overhead per request, sequential (concurrency 1): a bare HTTP/1.1 client (one keep-alive socket, no
  SDK: the floor), the raw ``openai`` SDK (``chat.completions.create``), and
  ``harness.models.load("openai:...", base_url=...)`` (its default aiohttp transport) with the cache off
  (retry loop, semaphore, pricing, meter), with the cache on and missing (adds a SQLite lookup and a
  committed write), and with the cache on and hitting (no request at all). Reported as the difference
  of median wall-clock latencies and of the client's CPU time per request (``time.process_time``; the
  server is another process), which the machine's other load disturbs less, against the raw SDK and
  against the bare client. Target: < 1 ms over the raw SDK.
* requests/s at concurrency 64: the bare client (64 keep-alive sockets: the server's ceiling), the raw
  SDK, harness, harness with cache writes, and harness with ``transport="sdk"`` (the SDK's
  ``chat.completions.create`` under the wrapper); the median of ``--rounds`` rounds. Target: >= 1,000
  requests/s through harness.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import openai

from harness.models import HarnessModel, Message, Price, load

Call = Callable[[int], Awaitable[Any]]
OVERHEAD_TARGET_US = 1000.0
THROUGHPUT_TARGET_RPS = 1000.0
PRICE = Price(input=0.15, output=0.60)  # gpt-4o-mini's list price: the cost path runs as in a paid run
SEQUENTIAL = {
    "bare_http": "bare HTTP client, no SDK",
    "raw": "raw openai SDK",
    "harness": "harness, cache off",
    "harness_cache_miss": "harness, cache miss + write",
    "harness_cache_hit": "harness, cache hit",
}
THROUGHPUT = {
    "bare_http": "bare HTTP client, no SDK",
    "raw": "raw openai SDK",
    "harness": "harness, cache off",
    "harness_cache_miss": "harness, cache writes",
    "harness_sdk": "harness, transport=sdk",
}


def start_server() -> tuple[subprocess.Popen[str], str, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.models.testing", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("port="):
        proc.kill()
        raise SystemExit(f"fake server did not start: {line!r}")
    port = int(line.split("=", 1)[1])
    return proc, f"http://127.0.0.1:{port}/v1", port


def chat(i: int) -> list[Message]:
    return [Message(role="system", content="be brief"), Message(role="user", content=f"request {i}")]


def wire_body(i: int) -> dict[str, Any]:
    return {
        "model": "bench",
        "messages": [{"role": m.role, "content": m.content} for m in chat(i)],
        "n": 1,
        "temperature": 1.0,
        "top_p": 1.0,
        "max_tokens": 64,
        "seed": i,
    }


async def timed_sequential(call: Call, start: int, count: int) -> tuple[list[float], float]:
    """Wall-clock seconds of each call, and the client's CPU seconds for all of them."""
    out = []
    cpu0 = time.process_time()
    for i in range(start, start + count):
        t0 = time.perf_counter()
        await call(i)
        out.append(time.perf_counter() - t0)
    return out, time.process_time() - cpu0


async def throughput(call: Call, start: int, total: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await call(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(start, start + total)))
    return total / (time.perf_counter() - t0)


class BareConnection:
    """A minimal keep-alive HTTP/1.1 client on one socket (parses each JSON answer): no SDK at all."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, i: int) -> Any:
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        body = json.dumps(wire_body(i)).encode()
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        headers = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        length = int(headers.split("content-length:", 1)[1].split("\r\n", 1)[0])
        answer = json.loads(await reader.readexactly(length))
        if not answer.get("choices"):
            raise SystemExit(f"bare HTTP client: unexpected answer {answer!r}")
        return answer

    async def aclose(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def bare_http_throughput(port: int, start: int, total: int, concurrency: int) -> float:
    """Requests/s of ``concurrency`` bare connections, each sending its next request: the server's ceiling."""
    counter = itertools.count(start)
    end = start + total

    async def worker() -> None:
        conn = BareConnection(port)
        try:
            while (i := next(counter)) < end:
                await conn.request(i)
        finally:
            await conn.aclose()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - t0)


def make_calls(
    base_url: str, port: int, concurrency: int, cache_dir: Path
) -> tuple[dict[str, Call], list[Any]]:
    raw = openai.AsyncOpenAI(api_key="sk-bench", base_url=base_url, max_retries=0, timeout=60)
    bare = BareConnection(port)
    plain = load("openai:bench", base_url=base_url, cache=False, max_concurrency=concurrency, price=PRICE)
    via_sdk = load(
        "openai:bench",
        base_url=base_url,
        cache=False,
        max_concurrency=concurrency,
        price=PRICE,
        transport="sdk",
    )
    cached = load(
        "openai:bench",
        base_url=base_url,
        cache_path=cache_dir / "bench.sqlite",
        max_concurrency=concurrency,
        price=PRICE,
    )

    async def raw_call(i: int) -> Any:
        return await raw.chat.completions.create(**wire_body(i))

    def through(model: HarnessModel) -> Call:
        async def call(i: int) -> Any:
            return await model.sample(chat(i), max_tokens=64, seed=i)

        return call

    calls = {
        "bare_http": bare.request,
        "raw": raw_call,
        "harness": through(plain),
        "harness_cache_miss": through(cached),
        "harness_sdk": through(via_sdk),
    }
    return calls, [raw, bare, plain, cached, via_sdk]


async def run(
    base_url: str, port: int, requests: int, concurrency: int, rounds: int, cache_dir: Path
) -> dict[str, Any]:
    calls, clients = make_calls(base_url, port, concurrency, cache_dir)
    for call in calls.values():  # warm up connections, imports and the SQLite file
        await timed_sequential(call, 10_000_000, 50)

    lat: dict[str, list[float]] = {k: [] for k in SEQUENTIAL}
    cpu: dict[str, float] = dict.fromkeys(SEQUENTIAL, 0.0)
    per = max(-(-requests // rounds), 1)  # at least --requests in all
    for r in range(rounds):
        base = r * per
        for key, call in (
            ("bare_http", calls["bare_http"]),
            ("raw", calls["raw"]),
            ("harness", calls["harness"]),
            ("harness_cache_miss", calls["harness_cache_miss"]),
            ("harness_cache_hit", calls["harness_cache_miss"]),  # the same indices again: all cached
        ):
            walls, cpu_s = await timed_sequential(call, base, per)
            lat[key] += walls
            cpu[key] += cpu_s

    tp: dict[str, list[float]] = {k: [] for k in THROUGHPUT}
    total = max(requests, 1000)
    for r in range(rounds):
        base = 20_000_000 + r * total
        tp["bare_http"].append(await bare_http_throughput(port, base, total, concurrency))
        for key in ("raw", "harness", "harness_cache_miss", "harness_sdk"):
            tp[key].append(await throughput(calls[key], base, total, concurrency))

    for client in clients:
        await (client.close() if isinstance(client, openai.AsyncOpenAI) else client.aclose())
    return summarise(lat, cpu, tp, rounds * per, total, concurrency, rounds)


def summarise(
    lat: dict[str, list[float]],
    cpu: dict[str, float],
    tp: dict[str, list[float]],
    count: int,
    total: int,
    concurrency: int,
    rounds: int,
) -> dict[str, Any]:
    med = {k: statistics.median(v) * 1e6 for k, v in lat.items()}
    cpu_us = {k: v / count * 1e6 for k, v in cpu.items()}
    rps = {k: statistics.median(v) for k, v in tp.items()}
    over = {k: med[k] - med["raw"] for k in ("harness", "harness_cache_miss")}
    over_cpu = {k: cpu_us[k] - cpu_us["raw"] for k in ("harness", "harness_cache_miss")}
    over_bare = {k: med[k] - med["bare_http"] for k in ("raw", "harness", "harness_cache_miss")}
    over_bare_cpu = {k: cpu_us[k] - cpu_us["bare_http"] for k in ("raw", "harness", "harness_cache_miss")}
    return {
        "sequential_requests_per_variant": count,
        "median_latency_us": {k: round(v, 1) for k, v in med.items()},
        "client_cpu_us_per_request": {k: round(v, 1) for k, v in cpu_us.items()},
        "overhead_us": {k: round(v, 1) for k, v in over.items()},
        "overhead_cpu_us": {k: round(v, 1) for k, v in over_cpu.items()},
        "over_bare_http_us": {k: round(v, 1) for k, v in over_bare.items()},
        "over_bare_http_cpu_us": {k: round(v, 1) for k, v in over_bare_cpu.items()},
        "cache_hit_speedup_vs_raw": round(med["raw"] / med["harness_cache_hit"], 1),
        "throughput": {
            "concurrency": concurrency,
            "requests_per_round": total,
            "rounds": rounds,
            "rps_median": {k: round(v) for k, v in rps.items()},
            "harness_over_raw_sdk": round(rps["harness"] / rps["raw"], 3),
            "raw_sdk_over_bare_http": round(rps["raw"] / rps["bare_http"], 3),
            "harness_over_bare_http": round(rps["harness"] / rps["bare_http"], 3),
        },
        "targets": {
            "overhead_us_max": OVERHEAD_TARGET_US,
            "overhead_met": over["harness"] < OVERHEAD_TARGET_US,
            "throughput_rps_min": THROUGHPUT_TARGET_RPS,
            "throughput_met": rps["harness"] >= THROUGHPUT_TARGET_RPS,
        },
    }


def report(result: dict[str, Any], load_before: float, load_after: float) -> str:
    lat, cpu, tp = result["median_latency_us"], result["client_cpu_us_per_request"], result["throughput"]
    over, over_cpu, targets = result["overhead_us"], result["overhead_cpu_us"], result["targets"]
    met = {True: "met", False: "NOT met"}
    bare, bare_cpu = result["over_bare_http_us"], result["over_bare_http_cpu_us"]
    lines = [
        f"fake OpenAI server on 127.0.0.1 (own process); {os.cpu_count()} cores, "
        f"load average {load_before:.1f} before, {load_after:.1f} after",
        f"per request, sequential ({result['sequential_requests_per_variant']} requests per variant):",
        f"  {'variant':<29}{'median wall':>12}{'client CPU':>12}   {'vs raw SDK (wall / CPU)':<28}"
        "vs bare client (wall / CPU)",
    ]
    for key, label in SEQUENTIAL.items():
        if key in over:
            vs = f"{over[key]:+7.1f} us / {over_cpu[key]:+7.1f} us"
        elif key == "harness_cache_hit":
            vs = f"{result['cache_hit_speedup_vs_raw']:.0f}x faster (no request)"
        else:
            vs = "baseline" if key == "raw" else ""
        vs_bare = f"{bare[key]:+7.1f} us / {bare_cpu[key]:+7.1f} us" if key in bare else ""
        lines.append(f"  {label:<29}{lat[key]:9.1f} us{cpu[key]:9.1f} us   {vs:<28}{vs_bare}".rstrip())
    lines.append(
        f"  overhead of harness (cache off) over the raw SDK: {over['harness']:+.1f} us "
        f"(target < {targets['overhead_us_max']:.0f} us: {met[targets['overhead_met']]}); "
        f"over the bare client: {bare['harness']:+.1f} us"
    )
    lines.append(
        f"requests/s at concurrency {tp['concurrency']} ({tp['requests_per_round']} requests, "
        f"median of {tp['rounds']} rounds):"
    )
    rps = tp["rps_median"]
    for key, label in THROUGHPUT.items():
        lines.append(f"  {label:<29}{rps[key]:9d} req/s  {rps[key] / rps['raw']:5.2f}x raw SDK")
    lines.append(
        f"  harness: {rps['harness']} req/s (target >= {targets['throughput_rps_min']:.0f}: "
        f"{met[targets['throughput_met']]}); harness reaches {tp['harness_over_raw_sdk']:.2f}x the raw "
        f"SDK's rate and {tp['harness_over_bare_http']:.2f}x the bare client's, the raw SDK "
        f"{tp['raw_sdk_over_bare_http']:.2f}x the bare client's"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests per variant")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per measurement")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    proc, url, port = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(
                run(url, port, args.requests, args.concurrency, max(args.rounds, 1), Path(tmp))
            )
    finally:
        proc.terminate()
        proc.wait(10)
    load_after = os.getloadavg()[0]
    result["load_average"] = {"before": load_before, "after": load_after}
    print(json.dumps(result) if args.json else report(result, load_before, load_after))


if __name__ == "__main__":
    main()
