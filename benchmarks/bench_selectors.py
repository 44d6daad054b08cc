"""B4 and CodeT on a 100 x 500 pass matrix: our vectorised selectors vs a per-set loop baseline.

The baseline is B4's formula evaluated the way the released code does it (one sub-matrix slice per
consensus set), run in the same process on the same matrix, so the ratio is machine-independent.
Usage: ``python benchmarks/bench_selectors.py [--json] [--repeat 20]``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable

import numpy as np

from harness.selection import PassMatrix, select


def realistic_matrix(n: int = 100, m: int = 500, seed: int = 0) -> PassMatrix:
    """Consensus structure like real pools: a few big clusters of identical rows plus noise rows."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((8, m)) < 0.5
    rows = prototypes[rng.integers(0, 8, size=n)]
    noisy = rng.random(n) < 0.5
    rows[noisy] = rng.random((int(noisy.sum()), m)) < 0.3
    cells = rows.astype(np.int8)
    return PassMatrix("bench", [f"c{i}" for i in range(n)], [f"t{j}" for j in range(m)], cells)


def b4_loop(e: np.ndarray, beta0: float = 1e5, alpha: float = 1e3) -> list[float]:
    def term(ones: float, size: float, a: float = 1.0, b: float = 1.0) -> float:
        x, y = ones + a, size - ones + b
        return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)

    rows = [tuple(r) for r in e.tolist()]
    scores = {}
    for layout in set(rows):
        y = np.array(layout)
        x = np.array([r == layout for r in rows])
        e1, e0 = e[~x][:, y == 1], e[~x][:, y == 0]
        scores[layout] = (
            term(x.sum(), len(x), a=alpha)
            + term(y.sum(), len(y), a=alpha)
            + term(e1.sum(), e1.size)
            + term(e0.sum(), e0.size, b=beta0)
        )
    return [scores[r] for r in rows]


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    m = realistic_matrix()
    e = m.passed.astype(np.int8)
    assert np.allclose(select("b4", m).scores, b4_loop(e), rtol=1e-9, atol=1e-6)
    b4_ms = best_ms(lambda: select("b4", m), args.repeat)
    loop_ms = best_ms(lambda: b4_loop(e), max(3, args.repeat // 5))
    out: dict[str, object] = {
        "shape": list(m.shape),
        "b4_ms": b4_ms,
        "b4_loop_baseline_ms": loop_ms,
        "codet_ms": best_ms(lambda: select("codet", m), args.repeat),
        "b4_budget_ms": 50.0,
        "b4_speedup_vs_loop": loop_ms / b4_ms,
        "b4_within_budget": b4_ms <= 50.0,
    }
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:>22}: {value:.3f}" if isinstance(value, float) else f"{key:>22}: {value}")


if __name__ == "__main__":
    main()
