"""Serving one page of a long trajectory: the byte-offset pager vs reading the log from the start.

What the viewer does per poll of a live 10,000-event (and a 100,000-event) log: learn the new total and
return one page (200 events) near the end. The baseline reads the log with ``iter_events`` (what a
server without an index must do); the pager stats the file, scans only appended bytes, seeks and reads
one page. Both run in the same process on the same file, so the ratio is machine-independent.
Usage: ``python benchmarks/bench_trajectory_paging.py [--json] [--repeat 20]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.trajectory import TrajectoryLog, TrajectoryPager, iter_events

PAGE = 200


def write_log(path: Path, n: int) -> None:
    with TrajectoryLog(path) as log:
        for i in range(n):
            if i % 2:
                log.append(
                    "command", {"cmd": f"pytest -k case{i}", "exit_code": 0, "stdout": "1 passed\n" * 5}
                )
            else:
                log.append("model_response", {"text": f"thought {i} " * 20}, cost_usd=0.0004,
                           usage={"input_tokens": 900, "output_tokens": 40})  # fmt: skip


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def measure(n: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.jsonl"
        write_log(path, n)
        offset = n - PAGE

        def baseline() -> object:
            events = list(iter_events(path))  # total + page from a full read
            return len(events), events[offset:]

        pager = TrajectoryPager(path)
        t0 = time.perf_counter()
        pager.refresh()
        first_index = time.perf_counter() - t0

        def paged() -> object:
            return pager.refresh(), pager.page(offset, PAGE)

        with TrajectoryLog(path) as log:  # a live log: one event appended before each poll

            def paged_growing() -> object:
                log.append("note", {"text": "tick"})
                return pager.refresh(), pager.page(offset, PAGE)

            base, page, growing = (
                best_of(repeat, baseline),
                best_of(repeat, paged),
                best_of(repeat, paged_growing),
            )
    return {
        "events": n,
        "baseline_ms": 1000 * base,
        "pager_first_index_ms": 1000 * first_index,
        "pager_page_ms": 1000 * page,
        "pager_page_after_append_ms": 1000 * growing,
        "speedup": base / page,
        "speedup_growing": base / growing,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    rows = [measure(n, args.repeat) for n in (10_000, 100_000)]
    if args.json:
        print(json.dumps(rows))
        return
    for r in rows:
        print(
            f"{r['events']:>7} events: full read {r['baseline_ms']:.1f} ms; pager page {r['pager_page_ms']:.2f} ms "
            f"({r['speedup']:.0f}x), after an append {r['pager_page_after_append_ms']:.2f} ms "
            f"({r['speedup_growing']:.0f}x); first index {r['pager_first_index_ms']:.1f} ms"
        )


if __name__ == "__main__":
    main()
