"""Fuzzy search/replace matching in a large file: candidate windows vs scoring every window.

The baseline is the same matcher with the candidate-window shortcut switched off (every window of
the file scored with ``difflib``), run in the same process on the same file, so the ratio is
machine-independent. Both must find the same place. Usage:
``python benchmarks/bench_pipeline_edits.py [--json] [--lines 5000] [--search 20] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import random
import time

import harness.pipeline.edits as edits
from harness.pipeline.edits import EditBlock, apply_edits

WORDS = ["alpha", "beta", "gamma", "delta", "value", "compute", "result", "index", "total", "name"]


def make_case(lines: int, search: int, seed: int = 0) -> tuple[str, str, int]:
    """A file of similar-looking lines and a search text copied from its middle with two typos."""
    rng = random.Random(seed)
    rows = [
        f"    {rng.choice(WORDS)}_{i} = {rng.choice(WORDS)}({i}, {rng.choice(WORDS)})\n" for i in range(lines)
    ]
    start = lines // 2
    text = "".join(rows[start : start + search]).replace("(", "( ", 1).replace(")", " )", 1)
    return "".join(rows), text, start + 1


def run(src: str, search: str, repeat: int) -> tuple[float, int]:
    best, line = float("inf"), -1
    for _ in range(repeat):
        t = time.perf_counter()
        out = apply_edits({"f.py": src}, [EditBlock("f.py", search, "    pass\n")])
        best = min(best, time.perf_counter() - t)
        line = out.applied[0].line if out.applied else -1
    return best, line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=5000)
    ap.add_argument("--search", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    src, search, expected = make_case(args.lines, args.search)
    ours, line_ours = run(src, search, args.repeat)
    saved = edits.FULL_SCAN_WORK
    edits.FULL_SCAN_WORK = 10**12  # the baseline: every window scored
    try:
        base, line_base = run(src, search, 1)
    finally:
        edits.FULL_SCAN_WORK = saved
    result = {
        "lines": args.lines,
        "search_lines": args.search,
        "candidate_windows_s": round(ours, 4),
        "every_window_s": round(base, 4),
        "speedup": round(base / ours, 1),
        "same_match": line_ours == line_base == expected,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"fuzzy match, {args.lines}-line file, {args.search}-line search: candidate windows "
            f"{ours:.3f} s, every window {base:.3f} s, x{result['speedup']} (same match: {result['same_match']})"
        )


if __name__ == "__main__":
    main()
