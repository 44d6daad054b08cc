"""A fabricated but realistic run, written through the real store APIs, for the unit and browser tests
and for trying the viewer (``python -m harness.report._demo results``). Deterministic for a given
``seed``. Its figures are invented: the README's screenshots are of real runs
(``scripts/screenshots.py``), never of this one.

It writes what a selection run writes: the manifest and index rows, ``outcomes.jsonl`` for several
selectors (with ``resolved@N`` / ``oracle@N`` extras for the candidate-count curve), ``stages.json``,
per-task pass matrices and rankings, and one editing trajectory per task.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np

from harness.selection import Candidate, PassMatrix, Provenance, Ranking
from harness.store import (
    Run,
    StageTotals,
    TaskOutcome,
    append_outcomes,
    write_candidates,
    write_matrix,
    write_rankings,
    write_stages,
)
from harness.trajectory import TrajectoryLog

SYSTEMS = ("random", "max-pass", "codet", "b4")
HOSTILE = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


def _rankings(task_id: str, m: PassMatrix, correct: np.ndarray) -> list[Ranking]:
    passes = m.passed.sum(axis=1).astype(float)
    out = []
    for name in SYSTEMS:
        if name == "random":
            scores = [0.0] * len(passes)
        elif name == "max-pass":
            scores = passes.tolist()
        else:  # a consensus-style score: passes weighted by agreement with the others
            agree = (m.passed[:, None, :] == m.passed[None, :, :]).all(axis=2).sum(axis=1)
            scores = (passes * (np.sqrt(agree) if name == "codet" else agree)).tolist()
        groups: dict[float, list[int]] = {}
        for i, s in enumerate(scores):
            groups.setdefault(s, []).append(i)
        ordered = [groups[s] for s in sorted(groups, reverse=True)]
        out.append(Ranking(selector=name, task_id=task_id, scores=scores, groups=ordered))
    return out


def _cells(rng: random.Random, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A plausible matrix: candidates are correct or in one of two wrong behaviour clusters; tests are
    right (passed by correct code, sometimes by wrong code) or wrong in the way one cluster is wrong."""
    p = rng.choice([0.0, 0.1, 0.3, 0.6, 0.9])
    cluster = [0 if rng.random() < p else rng.choice([1, 2]) for _ in range(n)]
    tests = [0 if rng.random() < 0.6 else rng.choice([1, 2]) for _ in range(k)]
    cells = np.zeros((n, k), dtype=np.int8)
    for i, c in enumerate(cluster):
        for j, t in enumerate(tests):
            ok = c == t or (t == 0 and c != 0 and rng.random() < 0.2)
            cells[i, j] = 1 if ok else (2 if rng.random() < 0.05 else 0)
    cells[rng.randrange(n), rng.randrange(k)] = 3  # one timeout, as real matrices have
    return cells, np.array([c == 0 for c in cluster])


def _trajectory(log: TrajectoryLog, rng: random.Random, task_id: str, steps: int, hostile: bool) -> None:
    log.append("start", {"task_id": task_id, "model": "demo-coder-7b"})
    for step in range(steps):
        log.append(
            "model_request", {"messages": [{"role": "user", "content": f"Step {step}: fix {task_id}"}]}
        )
        text = f"I will edit solution.py (step {step})."
        if hostile and step == 0:
            text += " " + HOSTILE
        tin, tout = rng.randint(800, 4000), rng.randint(40, 400)
        log.append(
            "model_response",
            {"text": text, "finish_reason": "stop", "model": "demo-coder-7b"},
            cost_usd=round(tin * 1e-6 + tout * 4e-6, 6),
            usage={"input_tokens": tin, "output_tokens": tout},
        )
        log.append(
            "command",
            {
                "cmd": "python -m pytest -q tests/",
                "status": "ok",
                "exit_code": step % 2,
                "stdout": f"{3 - step % 2} passed, {step % 2} failed\n",
                "stderr": "",
                "duration_ms": rng.randint(200, 2000),
            },
        )
        log.append(
            "edit",
            {
                "path": "solution.py",
                "diff": (
                    "--- a/solution.py\n+++ b/solution.py\n@@ -1,3 +1,3 @@\n def solve(xs):\n"
                    f"-    return sorted(xs)[{step}]\n+    return sorted(xs)[{step + 1}]\n"
                ),
            },
        )
        log.append(
            "test_run",
            {
                "test_id": "visible",
                "status": "pass" if step % 2 else "fail",
                "passed": 2 + step % 2,
                "failed": 1 - step % 2,
                "output": "..F" if step % 2 == 0 else "...",
            },
        )
    log.append("end", {"task_id": task_id, "outcome": "submitted", "cost_usd": log.cost_usd})


def make_demo_run(
    results_dir: str | Path,
    run_id: str = "demo-select",
    *,
    n_tasks: int = 12,
    seed: int = 0,
    steps: int = 4,
    finish: bool = True,
    systems: tuple[str, ...] = SYSTEMS,
) -> Run:
    """Write a demo selection run under ``results_dir`` and return it (closed)."""
    rng = random.Random(seed)
    run = Run(
        results_dir, run_id, "select", {"demo": True, "seed": seed, "systems": list(systems)}, seeds=[seed]
    )
    stages = {
        s: StageTotals(stage=s) for s in ("02_tests", "03_candidates", "04_matrix", "05_selection", "06_eval")
    }
    for t in range(n_tasks):
        task_id = f"HumanEval/{t}"
        n, k = rng.randint(5, 12), rng.randint(4, 9)
        cells, correct = _cells(rng, n, k)
        m = PassMatrix(
            task_id, [f"c{i}" for i in range(n)], [f"t{j}" for j in range(k)], cells.astype(np.int8)
        )
        rankings = _rankings(task_id, m, correct)
        write_matrix(run, m)
        write_candidates(
            run,
            task_id,
            [
                Candidate(
                    id=f"c{i}",
                    task_id=task_id,
                    code=f"def solve(xs):\n    return sorted(xs)[{i % 3}]\n"
                    + (f"# {HOSTILE}\n" if t == 0 and i == 0 else ""),
                    provenance=Provenance(source="demo", model="demo-coder-7b", sample_index=i),
                )
                for i in range(n)
            ],
        )
        write_rankings(run, task_id, [r for r in rankings if r.selector in systems], correct=correct.tolist())
        run.mark("04_matrix", task_id, "done")
        oracle, rand = bool(correct.any()), float(correct.mean())
        outs = []
        for r in rankings:
            if r.selector not in systems:
                continue
            top = r.top
            resolved = float(correct[top].mean()) if r.selector != "random" else rand
            cost = round(rng.uniform(0.002, 0.02), 5)
            extra: dict[str, float | int | str | bool | None] = {}
            for sub in (1, 2, 4, 8):
                if sub <= n:
                    extra[f"oracle@{sub}"] = float(correct[:sub].any())
                    extra[f"resolved@{sub}"] = (
                        float(correct[:sub].mean())
                        if r.selector == "random"
                        else float(correct[:sub][np.argmax(np.array(r.scores[:sub]))])
                    )
            outs.append(
                TaskOutcome(
                    task_id=task_id,
                    system=r.selector,
                    seed=seed,
                    resolved=resolved,
                    oracle=oracle,
                    random_pick=rand,
                    n_candidates=n,
                    selected=f"c{top[0]}",
                    cost_usd=cost,
                    input_tokens=rng.randint(2000, 9000),
                    output_tokens=rng.randint(300, 2000),
                    time_s=round(rng.uniform(1, 9), 2),
                    extra=extra,
                )
            )
        append_outcomes(run.dir, outs)
        with TrajectoryLog(run.path("trajectories", task_id, "edit-0.jsonl")) as log:
            _trajectory(log, rng, task_id, steps, hostile=t == 0)
        run.mark("06_eval", task_id, "done")
        for name, st in stages.items():
            st.calls += n if name in ("02_tests", "03_candidates") else 1
            st.input_tokens += rng.randint(1000, 5000) if name in ("02_tests", "03_candidates") else 0
            st.output_tokens += rng.randint(200, 900) if name in ("02_tests", "03_candidates") else 0
            st.cost_usd += rng.uniform(0.001, 0.01) if name in ("02_tests", "03_candidates") else 0.0
            st.time_s += rng.uniform(0.5, 4.0)
    write_stages(run.dir, stages.values())
    if finish:
        run.finish("done")
    run.close()
    return run


if __name__ == "__main__":
    out = make_demo_run(sys.argv[1] if len(sys.argv) > 1 else "results")
    sys.stdout.write(f"wrote {out.dir}\n")
